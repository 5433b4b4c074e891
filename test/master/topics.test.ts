// Topic requests through a real socket: create, list, describe, metadata, the exact refusals a user
// sees (NOT_FOUND, ALREADY_EXISTS, no broker online), ifNotExists and the settings defaults.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TubeError, topicDefaults } from '../../src/common/index.js';
import type { Master } from '../../src/master/index.js';
import {
  callJson,
  clusterStatusMessage,
  createTopicMessage,
  describeTopicMessage,
  listTopicsMessage,
  metadataMessage,
  type Connection,
} from '../../src/protocol/index.js';
import { connectTo, FakeBroker, startMaster, tempRoot } from './helpers.js';

const dirs = tempRoot('tubemq-master-topics-');
after(() => dirs.remove());

/** Asserts that `promise` rejects with a TubeError of `name` and `message`; returns it. */
async function refused(promise: Promise<unknown>, name: string, message: string): Promise<TubeError> {
  const error = await promise.then(
    () => assert.fail(`expected ${name}, got success`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof TubeError, `expected a TubeError, got ${String(error)}`);
  assert.equal(error.errorName, name);
  assert.equal(error.message, message);
  return error;
}

describe('master topics', () => {
  let master: Master;
  let admin: Connection;
  let broker: FakeBroker;

  before(async () => {
    master = await startMaster(dirs.fresh());
    admin = await connectTo(master);
    broker = await FakeBroker.online(master, 1);
  });
  after(async () => {
    broker.close();
    admin.close();
    await master.close();
  });

  test('create, then list, describe and metadata show the topic with defaults filled in', async () => {
    // Goal: a created topic is visible through every read path, with the settings the creator left
    // out taken from topicDefaults.
    const { created, topic } = await callJson(admin, createTopicMessage, { name: 'orders', partitions: 3 });
    assert.equal(created, true);
    assert.deepEqual(
      { ...topic, createdAtMs: 0 },
      {
        name: 'orders',
        partitions: 3,
        stores: topicDefaults.stores,
        retentionMs: topicDefaults.retentionMs,
        retentionBytes: topicDefaults.retentionBytes,
        ackFloor: topicDefaults.ackFloor,
        createdAtMs: 0,
        placement: [1, 1, 1],
      },
    );
    await callJson(admin, createTopicMessage, {
      name: 'audit',
      partitions: 1,
      retentionMs: 60_000,
      ackFloor: 'fsync',
    });

    const listed = await callJson(admin, listTopicsMessage, {});
    assert.deepEqual(
      listed.topics.map((each) => each.name),
      ['audit', 'orders'],
      'sorted by name',
    );
    const described = await callJson(admin, describeTopicMessage, { name: 'audit' });
    assert.equal(described.topic.retentionMs, 60_000);
    assert.equal(described.topic.ackFloor, 'fsync');

    const one = await callJson(admin, metadataMessage, { topics: ['orders'] });
    assert.deepEqual(one.topics, [topic]);
    assert.equal(one.brokers.length, 1);
    assert.equal(one.brokers[0]?.state, 'online');
    assert.equal(one.brokers[0]?.port, broker.port);
    const all = await callJson(admin, metadataMessage, { topics: [] });
    assert.deepEqual(
      all.topics.map((each) => each.name),
      ['audit', 'orders'],
    );

    const status = await callJson(admin, clusterStatusMessage, {});
    assert.equal(status.topicCount, 2);
    assert.equal(status.partitionCount, 4);
    assert.equal(status.master.port, master.port);
    assert.equal(status.master.masterId, `master-127.0.0.1:${master.port}`);
    assert.equal(status.master.role, 'leader');
    assert.ok(status.master.metadataVersion >= 3, 'broker + two topics each bumped the version');
  });

  test('METADATA and DESCRIBE_TOPIC of an unknown topic are NOT_FOUND with the topic and a hint', async () => {
    // Goal: the exact wording the CLI prints (`error: topic "x" does not exist`) and the facts a
    // client acts on.
    for (const call of [
      callJson(admin, metadataMessage, { topics: ['orders', 'nope'] }),
      callJson(admin, describeTopicMessage, { name: 'nope' }),
    ]) {
      const error = await refused(call, 'NOT_FOUND', 'topic "nope" does not exist');
      assert.deepEqual(error.details, { topic: 'nope' });
      assert.equal(error.hint, 'create it with `tubemq topic create nope`');
    }
  });

  test('creating an existing topic is ALREADY_EXISTS unless ifNotExists', async () => {
    // Goal: a second create is refused with the contract's message, and ifNotExists answers
    // created=false with the existing topic unchanged (not the new request's settings).
    await callJson(admin, createTopicMessage, { name: 'dup', partitions: 2 });
    const error = await refused(
      callJson(admin, createTopicMessage, { name: 'dup', partitions: 5 }),
      'ALREADY_EXISTS',
      'topic "dup" already exists',
    );
    assert.match(error.hint ?? '', /--if-not-exists/);
    const again = await callJson(admin, createTopicMessage, {
      name: 'dup',
      partitions: 5,
      ifNotExists: true,
    });
    assert.equal(again.created, false);
    assert.equal(again.topic.partitions, 2);
  });

  test('concurrent creates of one name: exactly one wins', async () => {
    // Goal: the check-then-write of CREATE_TOPIC is not racy when requests arrive together.
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => callJson(admin, createTopicMessage, { name: 'race', partitions: 1 })),
    );
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    const listed = await callJson(admin, listTopicsMessage, {});
    assert.equal(listed.topics.filter((topic) => topic.name === 'race').length, 1);
  });

  test('brokers naming an unknown id is BAD_REQUEST', async () => {
    // Goal: a typo in --brokers is a usage error naming the id, and nothing is created.
    await refused(
      callJson(admin, createTopicMessage, { name: 'bad-brokers', partitions: 1, brokers: [1, 42] }),
      'BAD_REQUEST',
      'broker 42 is not registered',
    );
    await refused(
      callJson(admin, describeTopicMessage, { name: 'bad-brokers' }),
      'NOT_FOUND',
      'topic "bad-brokers" does not exist',
    );
  });

  test('an invalid request is BAD_REQUEST and the connection keeps serving', async () => {
    // Goal: validation errors come back as answers, not as a dropped connection.
    const bad = await admin
      .request(createTopicMessage.opcode, Buffer.from('{"name":"x","partitions":0}'))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(bad instanceof TubeError && bad.errorName === 'BAD_REQUEST');
    await callJson(admin, listTopicsMessage, {});
  });
});

describe('master topics without brokers', () => {
  test('CREATE_TOPIC with no broker online is UNAVAILABLE "no broker is online"', async () => {
    // Goal: placement refuses rather than creating a topic nobody serves.
    const master = await startMaster(dirs.fresh());
    const admin = await connectTo(master);
    try {
      const error = await refused(
        callJson(admin, createTopicMessage, { name: 'orphan', partitions: 1 }),
        'UNAVAILABLE',
        'no broker is online',
      );
      assert.equal(error.retriable, true);
      assert.deepEqual((await callJson(admin, listTopicsMessage, {})).topics, []);
    } finally {
      admin.close();
      await master.close();
    }
  });
});
