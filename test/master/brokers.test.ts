// Brokers as the master sees them, through real sockets with fake brokers: registration, placement
// over two brokers, assignment pushes, CREATE_TOPIC waiting for the brokers to apply, heartbeats and
// going offline.
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { TubeError } from '../../src/common/index.js';
import type { Master } from '../../src/master/index.js';
import {
  brokerHeartbeatMessage,
  callJson,
  createTopicMessage,
  listBrokersMessage,
  registerBrokerMessage,
  type BrokerInfo,
  type Connection,
} from '../../src/protocol/index.js';
import { connectTo, eventually, FakeBroker, sleep, startMaster, tempRoot } from './helpers.js';

const dirs = tempRoot('tubemq-master-brokers-');
after(() => dirs.remove());

/** Everything a test opened, closed after it whatever happened. */
const opened: { brokers: FakeBroker[]; connections: Connection[]; masters: Master[] } = {
  brokers: [],
  connections: [],
  masters: [],
};
afterEach(async () => {
  for (const broker of opened.brokers.splice(0)) broker.close();
  for (const connection of opened.connections.splice(0)) connection.close();
  for (const master of opened.masters.splice(0)) await master.close();
});

async function setUp(options: Parameters<typeof startMaster>[1] = {}) {
  const master = await startMaster(dirs.fresh(), options);
  opened.masters.push(master);
  const admin = await connectTo(master);
  opened.connections.push(admin);
  const broker = async (id: number, brokerOptions?: Parameters<typeof FakeBroker.online>[2]) => {
    const fake = await FakeBroker.online(master, id, brokerOptions);
    opened.brokers.push(fake);
    return fake;
  };
  const brokers = async (): Promise<BrokerInfo[]> => (await callJson(admin, listBrokersMessage, {})).brokers;
  return { master, admin, broker, brokers };
}

describe('broker registry and placement', () => {
  test('REGISTER_BROKER answers the heartbeat interval and the current assignment', async () => {
    // Goal: a broker learns how often to heartbeat and what it serves from the registration answer,
    // including topics created before it came (here: after a restart of the broker).
    const { master, admin, broker } = await setUp({ heartbeatIntervalMs: 250 });
    const first = await broker(1);
    await callJson(admin, createTopicMessage, { name: 'early', partitions: 2 });
    first.close();
    const again = await FakeBroker.connect(master, 1);
    opened.brokers.push(again);
    const response = await again.register();
    assert.equal(response.heartbeatIntervalMs, 250);
    assert.deepEqual(
      response.assignment.topics.map(({ name, hostedPartitions }) => ({ name, hostedPartitions })),
      [{ name: 'early', hostedPartitions: [0, 1] }],
    );
  });

  test('partitions are placed round-robin over online brokers sorted by id, and each gets its push', async () => {
    // Goal: partition p goes to brokers[p % n]; each hosting broker is pushed exactly its partitions
    // with all the topic's settings.
    const { admin, broker } = await setUp();
    const b2 = await broker(2);
    const b1 = await broker(1);
    const { topic } = await callJson(admin, createTopicMessage, { name: 'spread', partitions: 5, stores: 2 });
    assert.deepEqual(topic.placement, [1, 2, 1, 2, 1]);
    await eventually(() => b1.pushes.length > 0 && b2.pushes.length > 0);
    const hosted = (fake: FakeBroker) => fake.pushes.at(-1)?.topics.find((each) => each.name === 'spread');
    assert.deepEqual(hosted(b1)?.hostedPartitions, [0, 2, 4]);
    assert.deepEqual(hosted(b2)?.hostedPartitions, [1, 3]);
    assert.equal(hosted(b1)?.partitions, 5);
    assert.equal(hosted(b2)?.stores, 2);

    // `brokers` restricts placement to the named ones; only that broker is pushed.
    const pushesOfB1 = b1.pushes.length;
    const only = await callJson(admin, createTopicMessage, { name: 'only-two', partitions: 3, brokers: [2] });
    assert.deepEqual(only.topic.placement, [2, 2, 2]);
    await eventually(() => b2.pushes.some((push) => push.topics.some((each) => each.name === 'only-two')));
    assert.equal(b1.pushes.length, pushesOfB1, 'a broker whose assignment did not change is not pushed');
  });

  test('CREATE_TOPIC answers only after the hosting broker reports the version applied', async () => {
    // Goal: a produce right after `topic create` finds the partitions ready, because the answer
    // waits for the broker's heartbeat with appliedVersion >= the topic's version.
    const { admin, broker } = await setUp({ topicApplyTimeoutMs: 5000 });
    const slow = await broker(1, { applyDelayMs: 300 });
    const startedAt = Date.now();
    await callJson(admin, createTopicMessage, { name: 'waited', partitions: 1 });
    const answeredAt = Date.now();
    const push = slow.pushes.at(-1);
    assert.ok(push !== undefined);
    const reported = slow.heartbeatsSent.find((beat) => beat.appliedVersion >= push.version);
    assert.ok(reported !== undefined, 'the broker reported the version');
    assert.ok(reported.atMs <= answeredAt, 'the answer came after the report');
    assert.ok(answeredAt - startedAt >= 250, `answered after ${answeredAt - startedAt} ms, before the apply`);
    assert.ok(answeredAt - startedAt < 3000, 'answered on the report, not on the timeout');
  });

  test('CREATE_TOPIC still succeeds after topicApplyTimeoutMs when the broker never applies', async () => {
    // Goal: a stuck broker delays creation by at most the timeout and does not fail it.
    const { admin, broker } = await setUp({ topicApplyTimeoutMs: 300 });
    const stuck = await broker(1, { neverApply: true });
    stuck.startHeartbeats(50);
    const startedAt = Date.now();
    const { created } = await callJson(admin, createTopicMessage, { name: 'unapplied', partitions: 1 });
    const elapsed = Date.now() - startedAt;
    assert.equal(created, true);
    assert.ok(elapsed >= 280, `waited ${elapsed} ms`);
    assert.ok(elapsed < 2000, `waited ${elapsed} ms`);
  });

  test('a heartbeat behind the metadata version is answered with the assignment, an up-to-date one with none', async () => {
    // Goal: a broker that missed a push catches up on its next heartbeat; steady heartbeats stay empty.
    const { admin, broker } = await setUp({ topicApplyTimeoutMs: 100 });
    const b1 = await broker(1, { applyPushes: false });
    await callJson(admin, createTopicMessage, { name: 'missed', partitions: 1 });
    const behind = await b1.heartbeat();
    assert.deepEqual(
      behind.assignment?.topics.map((each) => each.name),
      ['missed'],
    );
    assert.deepEqual(await b1.heartbeat(), {});
  });

  test('a broker missing heartbeats goes offline, stays listed, is refused NOT_REGISTERED, and comes back by registering', async () => {
    // Goal: the liveness rule (no heartbeat for brokerTimeoutMs → offline) and the way back.
    const { broker, brokers } = await setUp({ brokerTimeoutMs: 300, heartbeatIntervalMs: 50 });
    const b1 = await broker(1);
    const b2 = await broker(2);
    b1.startHeartbeats(50);
    b2.startHeartbeats(50);
    await sleep(450);
    assert.deepEqual(
      (await brokers()).map((each) => each.state),
      ['online', 'online'],
      'heartbeats keep both online past the timeout',
    );
    b2.stopHeartbeats();
    await eventually(
      async () => (await brokers()).find((each) => each.brokerId === 2)?.state === 'offline',
      2000,
    );
    const listed = await brokers();
    assert.deepEqual(
      listed.map(({ brokerId, state }) => ({ brokerId, state })),
      [
        { brokerId: 1, state: 'online' },
        { brokerId: 2, state: 'offline' },
      ],
    );
    assert.ok((listed[1]?.lastHeartbeatAtMs ?? 0) > 0);

    const error = await b2.heartbeat().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TubeError && error.errorName === 'NOT_REGISTERED', String(error));
    await b2.register();
    assert.equal((await brokers()).find((each) => each.brokerId === 2)?.state, 'online');
  });

  test('a broker whose connection closes goes offline at once', async () => {
    // Goal: a crashed broker (connection gone) is not reported online until its timeout.
    const { broker, brokers } = await setUp({ brokerTimeoutMs: 60_000 });
    const b1 = await broker(1);
    assert.equal((await brokers())[0]?.state, 'online');
    b1.close();
    await eventually(async () => (await brokers())[0]?.state === 'offline', 1000);
  });

  test('placement skips offline brokers, and naming an offline broker is UNAVAILABLE', async () => {
    // Goal: partitions never land on a broker that cannot serve them.
    const { admin, broker } = await setUp({ topicApplyTimeoutMs: 200 });
    await broker(1);
    const b2 = await broker(2);
    b2.close();
    await sleep(50);
    const { topic } = await callJson(admin, createTopicMessage, { name: 'live-only', partitions: 2 });
    assert.deepEqual(topic.placement, [1, 1]);
    const error = await callJson(admin, createTopicMessage, {
      name: 'on-two',
      partitions: 1,
      brokers: [2],
    }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TubeError && error.errorName === 'UNAVAILABLE');
    assert.equal(error.message, 'broker 2 is offline');
  });

  test('the same id online at another address is refused; the same address replaces the old session', async () => {
    // Goal: two brokers sharing an id never both serve; a broker that reconnects is taken back.
    const { master, broker, brokers } = await setUp();
    const first = await broker(1, { port: 9101 });
    const impostor = await FakeBroker.connect(master, 1, { port: 9102 });
    opened.brokers.push(impostor);
    const error = await impostor.register().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TubeError && error.errorName === 'ALREADY_EXISTS', String(error));

    const reconnected = await FakeBroker.connect(master, 1, { port: 9101 });
    opened.brokers.push(reconnected);
    await reconnected.register();
    // The old session is dropped: its connection is closed, and the broker stays online through the new one.
    await eventually(() => first.connection.closed, 1000);
    await sleep(20);
    assert.equal((await brokers())[0]?.state, 'online');
    await reconnected.heartbeat();
  });

  test('a moved broker (offline, then back at a new address) is listed at the new address', async () => {
    // Goal: addresses follow the broker; clients are not sent to where it used to be.
    const { broker, brokers } = await setUp();
    const old = await broker(3, { port: 9201 });
    old.close();
    await eventually(async () => (await brokers())[0]?.state === 'offline', 1000);
    await broker(3, { port: 9202 });
    const listed = await brokers();
    assert.equal(listed[0]?.port, 9202);
    assert.equal(listed[0]?.state, 'online');
  });

  test('a registration must be a valid request', async () => {
    // Goal: id 0 (reserved for "none") is refused by the codec, as BAD_REQUEST.
    const { admin } = await setUp();
    const error = await admin
      .request(registerBrokerMessage.opcode, Buffer.from('{"brokerId":0,"host":"h","port":1}'))
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    assert.ok(error instanceof TubeError && error.errorName === 'BAD_REQUEST');
    const unknown = await callJson(admin, brokerHeartbeatMessage, { brokerId: 7, appliedVersion: 0 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(unknown instanceof TubeError && unknown.errorName === 'NOT_REGISTERED');
  });
});
