// The master's consumer-group coordinator over real sockets: members join and get pushes, split
// evenly, hand partitions over revoke-before-grant, leave, die or time out; the group's shape is
// enforced; bound sessions apply their offsets once and shut out stale keys; offset resets and group
// deletion go to a real broker; sessions survive a master restart; bad input is refused clearly.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { TubeError, createLogger } from '../../src/common/index.js';
import type { Master } from '../../src/master/index.js';
import {
  callJson,
  commitOffsetsMessage,
  createTopicMessage,
  deleteGroupMessage,
  describeGroupMessage,
  dial,
  encodeProduceRequest,
  fetchOffsetsMessage,
  groupHeartbeatMessage,
  leaveGroupMessage,
  listGroupsMessage,
  opcodes,
  resetGroupOffsetsMessage,
  type Connection,
  type TopicPartition,
} from '../../src/protocol/index.js';
import { labels, recordingLogger, TestMember, type MemberRegistry } from './group-helpers.js';
import { connectTo, eventually, FakeBroker, startMaster, tempRoot } from './helpers.js';

const dirs = tempRoot('tubemq-master-groups-');
after(() => dirs.remove());

/** Asserts that `promise` rejects with a TubeError named `name` whose message matches; returns it. */
async function refused(promise: Promise<unknown>, name: string, message?: RegExp): Promise<TubeError> {
  const error = await promise.then(
    () => assert.fail(`expected ${name}, got success`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof TubeError, `expected a TubeError, got ${String(error)}`);
  assert.equal(error.errorName, name, error.message);
  if (message !== undefined) assert.match(error.message, message);
  return error;
}

const sub = (topic: string, streamIds: string[] = []) => ({ topic, streamIds });
const tp = (topic: string, partition: number): TopicPartition => ({ topic, partition });

/** Members created by a test, closed after it; every push they got is checked for double grants. */
let registry: MemberRegistry = new Set();
afterEach(() => {
  const members = [...registry];
  registry = new Set();
  for (const member of members) member.close();
  for (const member of members) {
    assert.deepEqual(member.violations, [], 'a partition was granted while another member owned it');
  }
});
const join = (master: Master, request: Parameters<typeof TestMember.join>[1], follow = true) =>
  TestMember.join(master, request, { registry, follow });

describe('consumer groups: membership and balancing', () => {
  let master: Master;
  let admin: Connection;
  let broker: FakeBroker;
  const log = recordingLogger();

  before(async () => {
    master = await startMaster(dirs.fresh(), { logger: log.logger, topicApplyTimeoutMs: 200 });
    admin = await connectTo(master);
    broker = await FakeBroker.online(master, 1);
    for (const [name, partitions] of [
      ['t4', 4],
      ['t6', 6],
      ['other', 2],
    ] as const) {
      await callJson(admin, createTopicMessage, { name, partitions });
    }
  });
  after(async () => {
    // The figures for the closing note: every settled change, by group.
    const settled = log.lines.filter((line) => line.msg === 'group stable');
    console.log(
      `group stable: ${settled.map((line) => `${String(line.group)}=${String(line.rebalanceMs)}ms`).join(' ')}`,
    );
    broker.close();
    admin.close();
    await master.close();
  });

  test('a lone member gets every partition pushed on its connection, and describe shows it stable', async () => {
    const member = await join(master, { group: 'solo', clientId: 'app-1', subscriptions: [sub('t4')] });
    assert.match(member.memberId, /^app-1-[0-9a-f]{12}$/);
    assert.equal(member.answer.sessionTimeoutMs, 10_000);
    assert.equal(member.answer.heartbeatIntervalMs, 1000);
    await member.untilAssigned(4);
    assert.deepEqual(member.assigned, ['t4:0', 't4:1', 't4:2', 't4:3']);
    assert.equal(member.pushes.at(-1)?.memberId, member.memberId);

    const described = await callJson(admin, describeGroupMessage, { group: 'solo' });
    assert.equal(described.state, 'stable');
    assert.deepEqual(described.subscriptions, [sub('t4')]);
    assert.equal(described.members.length, 1);
    const [only] = described.members;
    assert.equal(only?.memberId, member.memberId);
    assert.equal(only?.clientId, 'app-1');
    assert.match(only?.host ?? '', /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(labels(only?.assigned ?? []), member.assigned);
    assert.deepEqual(labels(only?.owned ?? []), member.assigned);

    const listed = await callJson(admin, listGroupsMessage, {});
    assert.deepEqual(
      listed.groups.find((group) => group.group === 'solo'),
      { group: 'solo', state: 'stable', members: 1, topics: ['t4'] },
    );
  });

  test('three members split six partitions two each, every partition once, and the master logs the rebalance', async () => {
    const members = [];
    for (const clientId of ['a', 'b', 'c']) {
      members.push(await join(master, { group: 'three', clientId, subscriptions: [sub('t6')] }));
    }
    for (const member of members) await member.untilAssigned(2);
    const all = members.flatMap((member) => member.assigned ?? []);
    assert.deepEqual(all.sort(), ['t6:0', 't6:1', 't6:2', 't6:3', 't6:4', 't6:5']);
    const stableLines = () =>
      log.lines.filter((line) => line.msg === 'group stable' && line.group === 'three');
    // The line comes once the last member has reported what it was pushed.
    await eventually(() => stableLines().at(-1)?.members === 3);
    const stable = stableLines();
    const last = stable.at(-1)!;
    assert.equal(last.members, 3);
    assert.ok(
      typeof last.rebalanceMs === 'number' && last.rebalanceMs < 1000,
      `rebalanceMs ${String(last.rebalanceMs)}`,
    );
    console.log(`three members: rebalanceMs per change ${stable.map((line) => line.rebalanceMs).join(', ')}`);
  });

  test('revoke before grant: a joining member gets nothing its peer still reports owning', async () => {
    const first = await join(
      master,
      { group: 'handover', clientId: 'old', subscriptions: [sub('t4')] },
      false,
    );
    await first.untilAssigned(4);
    await first.heartbeat(first.pushes.at(-1)!.partitions);

    const second = await join(master, { group: 'handover', clientId: 'new', subscriptions: [sub('t4')] });
    await first.untilAssigned(2);
    await second.until((member) => member.pushes.length > 0, 5000, 'a first push');
    assert.deepEqual(second.assigned, [], 'nothing while the old owner still reports all four');

    // The old owner lets go of what was revoked: now the new one gets it.
    const kept = first.pushes.at(-1)!.partitions;
    await first.heartbeat(kept);
    await second.untilAssigned(2);
    assert.deepEqual([...(first.assigned ?? []), ...(second.assigned ?? [])].sort(), [
      't4:0',
      't4:1',
      't4:2',
      't4:3',
    ]);
    const described = await callJson(admin, describeGroupMessage, { group: 'handover' });
    assert.equal(described.state, 'stable');
  });

  test('a leave and a closed connection hand the partitions to the others at once', async () => {
    const a = await join(master, { group: 'leaving', clientId: 'a', subscriptions: [sub('t4')] });
    const b = await join(master, { group: 'leaving', clientId: 'b', subscriptions: [sub('t4')] });
    const c = await join(master, { group: 'leaving', clientId: 'c', subscriptions: [sub('t4')] });
    await Promise.all([a, b, c].map((member) => member.until((m) => (m.assigned?.length ?? 0) >= 1)));

    await c.leave();
    c.close();
    await a.untilAssigned(2);
    await b.untilAssigned(2);

    b.close(); // like kill -9: the master sees the connection go
    await a.untilAssigned(4);
    const described = await callJson(admin, describeGroupMessage, { group: 'leaving' });
    assert.deepEqual(
      described.members.map((member) => member.memberId),
      [a.memberId],
    );
    // Leaving twice is no error.
    await callJson(admin, leaveGroupMessage, { group: 'leaving', memberId: c.memberId });
  });

  test('a member that stops heartbeating is removed after its session timeout; its heartbeat then gets 411', async () => {
    // Outside the double-grant check: to the master a timed-out member owns nothing, while this
    // one still thinks it does (a real consumer drops its partitions itself after the timeout).
    const quiet = await TestMember.join(master, {
      group: 'expiry',
      clientId: 'quiet',
      subscriptions: [sub('t4')],
      sessionTimeoutMs: 1000,
    });
    const alive = await join(master, {
      group: 'expiry',
      clientId: 'alive',
      subscriptions: [sub('t4')],
      sessionTimeoutMs: 1000,
    });
    assert.equal(alive.answer.heartbeatIntervalMs, 333, 'a third of the session timeout');
    const timer = setInterval(() => void alive.heartbeat().catch(() => undefined), 200);
    try {
      await alive.untilAssigned(2);
      const started = Date.now();
      await alive.untilAssigned(4, 5000);
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 3000, `expired after ${tookMs} ms`);
      await refused(quiet.heartbeat([]), 'NOT_REGISTERED', /is not in group "expiry"/);
    } finally {
      clearInterval(timer);
      quiet.close();
    }
  });

  test('a member with other topics or filters gets GROUP_MISMATCH naming the difference; an empty group forgets its shape', async () => {
    const first = await join(master, { group: 'shape', subscriptions: [sub('t4', ['x', 'y'])] });
    await refused(
      join(master, { group: 'shape', subscriptions: [sub('t6')] }),
      'GROUP_MISMATCH',
      /reads topics \[t4\], this member asks for \[t6\]/,
    );
    await refused(
      join(master, { group: 'shape', subscriptions: [sub('t4', ['x'])] }),
      'GROUP_MISMATCH',
      /filters topic "t4" on stream ids \["x", "y"\], this member on stream ids \["x"\]/,
    );
    // Same set in another order and with a duplicate is the same shape.
    const second = await join(master, { group: 'shape', subscriptions: [sub('t4', ['y', 'x', 'x'])] });
    await first.leave();
    await second.leave();
    const third = await join(master, { group: 'shape', subscriptions: [sub('other')] });
    await third.untilAssigned(2);
  });

  test('bad input: a bad group name, an unknown topic, a topic twice, bound offsets off the map', async () => {
    // Raw bytes, since the client-side codec refuses to encode a bad name.
    const raw = await admin
      .request(
        opcodes.JOIN_GROUP,
        Buffer.from(JSON.stringify({ group: 'bad\u0001name', clientId: 'x', subscriptions: [sub('t4')] })),
      )
      .then(
        () => assert.fail('expected BAD_REQUEST'),
        (error: unknown) => error,
      );
    assert.ok(raw instanceof TubeError);
    assert.equal(raw.errorName, 'BAD_REQUEST');
    assert.match(raw.message, /group: must not contain control characters/);

    await refused(join(master, { subscriptions: [sub('nope')] }), 'NOT_FOUND', /topic "nope" does not exist/);
    await refused(join(master, { subscriptions: [sub('t4'), sub('t4')] }), 'BAD_REQUEST', /subscribed twice/);
    await refused(
      join(master, {
        subscriptions: [sub('t4')],
        bound: { sessionKey: 'k', offsets: [{ topic: 't4', partition: 9, offset: 0 }] },
      }),
      'NOT_FOUND',
      /topic "t4" has 4 partitions \(0\.\.3\), not 9/,
    );
    await refused(
      join(master, {
        subscriptions: [sub('t4')],
        bound: { sessionKey: 'k', offsets: [{ topic: 't6', partition: 0, offset: 0 }] },
      }),
      'BAD_REQUEST',
      /name topic "t6", which this member does not read/,
    );
    const tooMany = Array.from({ length: 501 }, (_, index) => `s${index}`);
    const error = await admin
      .request(
        opcodes.JOIN_GROUP,
        Buffer.from(JSON.stringify({ group: 'g', clientId: 'x', subscriptions: [sub('t4', tooMany)] })),
      )
      .then(
        () => assert.fail('expected BAD_REQUEST'),
        (caught: unknown) => caught as TubeError,
      );
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.match(error.message, /500/);
  });

  test('a heartbeat from a member nobody knows is NOT_REGISTERED', async () => {
    await refused(
      callJson(admin, groupHeartbeatMessage, { group: 'ghost', memberId: 'm-1', owned: [] }),
      'NOT_REGISTERED',
    );
  });
});

/** A master and a real broker (id 1) with topic `b` (2 partitions) and `r` (2 partitions). */
async function startCluster(
  dataDir?: string,
  brokerDir?: string,
  options: Parameters<typeof startMaster>[1] = {},
) {
  const log = recordingLogger();
  const masterDir = dataDir ?? dirs.fresh();
  const master = await startMaster(masterDir, { logger: log.logger, groupPauseTimeoutMs: 3000, ...options });
  const broker = await Broker.start({
    brokerId: 1,
    host: '127.0.0.1',
    port: 0,
    dataDir: brokerDir ?? dirs.fresh(),
    masters: [{ host: '127.0.0.1', port: master.port }],
    logger: createLogger({ name: 'broker', level: 'silent' }),
  });
  await broker.whenRegistered();
  const admin = await connectTo(master);
  const brokerConnection = (await dial({ host: '127.0.0.1', port: broker.port }, { clientId: 'test' }))
    .connection;
  if (dataDir === undefined) {
    for (const name of ['b', 'r']) await callJson(admin, createTopicMessage, { name, partitions: 2 });
    // A commit may not pass a partition's end: give each of b's partitions 100 messages.
    const messages = Array.from({ length: 100 }, (_, index) => ({ value: `m${index}` }));
    for (const partition of [0, 1]) {
      await brokerConnection.request(
        opcodes.PRODUCE,
        encodeProduceRequest({ topic: 'b', partition, acks: 'written', messages }),
      );
    }
  }
  return {
    master,
    broker,
    admin,
    brokerConnection,
    log,
    masterDir,
    async committed(group: string): Promise<(number | null)[]> {
      const { offsets } = await callJson(brokerConnection, fetchOffsetsMessage, {
        group,
        partitions: [tp('b', 0), tp('b', 1)],
      });
      return offsets.map(({ offset }) => offset);
    },
    async close() {
      admin.close();
      brokerConnection.close();
      await broker.close();
      await master.close();
    },
  };
}

describe('consumer groups: bound sessions, resets and deletion against a real broker', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster.close());

  const bound = (sessionKey: string, offsets: [number, number]) => ({
    sessionKey,
    offsets: offsets.map((offset, partition) => ({ topic: 'b', partition, offset })),
  });

  test('a bound session is applied once while three members join in turn with the same key', async () => {
    const { master, admin } = cluster;
    const first = await join(master, {
      group: 'once',
      subscriptions: [sub('b')],
      bound: bound('job-1', [5, 7]),
    });
    await first.untilAssigned(2);
    assert.deepEqual(await cluster.committed('once'), [5, 7]);
    // The member processes and commits; later joins with the same key must not reset that.
    await callJson(cluster.brokerConnection, commitOffsetsMessage, {
      group: 'once',
      offsets: [
        { topic: 'b', partition: 0, offset: 50 },
        { topic: 'b', partition: 1, offset: 70 },
      ],
    });
    const second = await join(master, {
      group: 'once',
      subscriptions: [sub('b')],
      bound: bound('job-1', [5, 7]),
    });
    await second.untilAssigned(1);
    const third = await join(master, {
      group: 'once',
      subscriptions: [sub('b')],
      bound: bound('job-1', [5, 7]),
    });
    await third.until((member) => member.pushes.length > 0);
    await first.untilAssigned(1);
    assert.deepEqual(await cluster.committed('once'), [50, 70], 'applied exactly once');
    const described = await callJson(admin, describeGroupMessage, { group: 'once' });
    assert.deepEqual(described.session, { sessionKey: 'job-1', applied: true });
    const applied = cluster.log.lines.filter(
      (line) => line.msg === 'bound session applied' && line.group === 'once',
    );
    assert.equal(applied.length, 1);
  });

  test('a new key evicts the old session (427 on its next heartbeat), resets the offsets, and the old key is stale', async () => {
    const { master } = cluster;
    const old = await join(master, { group: 'keys', subscriptions: [sub('b')], bound: bound('k1', [1, 1]) });
    await old.untilAssigned(2);
    assert.deepEqual(await cluster.committed('keys'), [1, 1]);

    const fresh = await join(master, {
      group: 'keys',
      subscriptions: [sub('b')],
      bound: bound('k2', [3, 4]),
    });
    // The old member is told to give everything up (it follows at once), then is removed.
    await old.untilAssigned(0);
    await fresh.untilAssigned(2);
    assert.deepEqual(await cluster.committed('keys'), [3, 4]);
    await refused(old.heartbeat([]), 'STALE_SESSION', /moved on to a newer session key/);

    const stale = await refused(
      join(master, { group: 'keys', subscriptions: [sub('b')], bound: bound('k1', [0, 0]) }),
      'STALE_SESSION',
    );
    assert.match(stale.hint ?? '', /"k2"/);
  });

  test('bound offsets a broker refuses (past the end) are logged and the group goes on from its committed offsets', async () => {
    const { master } = cluster;
    const member = await join(master, {
      group: 'past-end',
      subscriptions: [sub('b')],
      bound: bound('p1', [500, 0]),
    });
    await member.untilAssigned(2);
    assert.deepEqual(await cluster.committed('past-end'), [null, null]);
    assert.ok(
      cluster.log.lines.some(
        (line) =>
          line.group === 'past-end' &&
          String(line.msg).startsWith('a broker refused the bound session offsets'),
      ),
    );
    const described = await callJson(cluster.admin, describeGroupMessage, { group: 'past-end' });
    assert.deepEqual(described.session, { sessionKey: 'p1', applied: false });
  });

  test('reset-offsets: GROUP_NOT_EMPTY with members, paused and applied with force, at once without members', async () => {
    const { master, admin } = cluster;
    const offsets = [
      { topic: 'b', partition: 0, offset: 11 },
      { topic: 'b', partition: 1, offset: 12 },
    ];
    const a = await join(master, { group: 'reset', subscriptions: [sub('b')] });
    const b = await join(master, { group: 'reset', subscriptions: [sub('b')] });
    await a.untilAssigned(1);
    await b.untilAssigned(1);
    await refused(
      callJson(admin, resetGroupOffsetsMessage, { group: 'reset', offsets }),
      'GROUP_NOT_EMPTY',
      /has 2 live members/,
    );

    const pushesBefore = a.pushes.length;
    const { committed } = await callJson(admin, resetGroupOffsetsMessage, {
      group: 'reset',
      offsets,
      force: true,
    });
    assert.equal(committed, 2);
    assert.deepEqual(await cluster.committed('reset'), [11, 12]);
    // The members were paused (an empty push) and assigned again.
    assert.ok(a.pushes.slice(pushesBefore).some((push) => push.partitions.length === 0));
    await a.untilAssigned(1);
    await b.untilAssigned(1);

    await a.leave();
    await b.leave();
    await callJson(admin, resetGroupOffsetsMessage, {
      group: 'reset',
      offsets: [{ topic: 'b', partition: 0, offset: 21 }],
    });
    assert.deepEqual(await cluster.committed('reset'), [21, 12]);
    await refused(
      callJson(admin, resetGroupOffsetsMessage, {
        group: 'reset',
        offsets: [{ topic: 'b', partition: 5, offset: 0 }],
      }),
      'NOT_FOUND',
      /has 2 partitions/,
    );
  });

  test('a forced reset whose members do not let go in time is UNAVAILABLE, and the group gets its partitions back', async () => {
    const { master, admin } = cluster;
    const stuck = await join(master, { group: 'stuck', subscriptions: [sub('b')] }, false);
    await stuck.untilAssigned(2);
    await stuck.heartbeat(stuck.pushes.at(-1)!.partitions);
    const resetting = callJson(admin, resetGroupOffsetsMessage, {
      group: 'stuck',
      offsets: [{ topic: 'b', partition: 0, offset: 1 }],
      force: true,
    });
    await stuck.untilAssigned(0);
    const described = await callJson(admin, describeGroupMessage, { group: 'stuck' });
    assert.equal(described.state, 'rebalancing', 'paused');
    await refused(resetting, 'UNAVAILABLE', /did not release their partitions within 3000 ms/);
    await stuck.untilAssigned(2);
    assert.deepEqual(await cluster.committed('stuck'), [null, null], 'nothing committed');
  });

  test('delete group: GROUP_NOT_EMPTY with members, then offsets and session go, then NOT_FOUND', async () => {
    const { master, admin } = cluster;
    const member = await join(master, {
      group: 'doomed',
      subscriptions: [sub('b')],
      bound: bound('d1', [2, 2]),
    });
    await member.untilAssigned(2);
    await refused(callJson(admin, deleteGroupMessage, { group: 'doomed' }), 'GROUP_NOT_EMPTY');
    await member.leave();
    const { deletedOffsets } = await callJson(admin, deleteGroupMessage, { group: 'doomed' });
    assert.equal(deletedOffsets, 2);
    assert.deepEqual(await cluster.committed('doomed'), [null, null]);
    const described = await callJson(admin, describeGroupMessage, { group: 'doomed' });
    assert.equal(described.session, undefined);
    assert.equal(described.state, 'empty');
    await refused(callJson(admin, deleteGroupMessage, { group: 'doomed' }), 'NOT_FOUND', /does not exist/);
  });
});

describe('consumer groups: sessions survive a master restart', () => {
  test('after a restart the applied session is kept: the same key joins without a reset, an old key is stale', async () => {
    const brokerDir = dirs.fresh();
    // Compacting after every change puts the sessions through meta.json as well as meta.wal.
    let cluster = await startCluster(undefined, brokerDir, { metaCompactAfterChanges: 1 });
    const masterDir = cluster.masterDir;
    const bound = (sessionKey: string) => ({
      sessionKey,
      offsets: [
        { topic: 'b', partition: 0, offset: 8 },
        { topic: 'b', partition: 1, offset: 9 },
      ],
    });
    try {
      const first = await join(cluster.master, {
        group: 'durable',
        subscriptions: [sub('b')],
        bound: bound('s1'),
      });
      await first.untilAssigned(2);
      first.close();
      const second = await join(cluster.master, {
        group: 'durable',
        subscriptions: [sub('b')],
        bound: bound('s2'),
      });
      await second.untilAssigned(2);
      assert.deepEqual(await cluster.committed('durable'), [8, 9]);
      await callJson(cluster.brokerConnection, commitOffsetsMessage, {
        group: 'durable',
        offsets: [{ topic: 'b', partition: 0, offset: 80 }],
      });
      second.close();
    } finally {
      await cluster.close();
    }

    cluster = await startCluster(masterDir, brokerDir);
    try {
      const listed = await callJson(cluster.admin, listGroupsMessage, {});
      assert.deepEqual(listed.groups, [{ group: 'durable', state: 'empty', members: 0, topics: [] }]);
      const described = await callJson(cluster.admin, describeGroupMessage, { group: 'durable' });
      assert.deepEqual(described.session, { sessionKey: 's2', applied: true });
      await refused(
        join(cluster.master, { group: 'durable', subscriptions: [sub('b')], bound: bound('s1') }),
        'STALE_SESSION',
      );
      const again = await join(cluster.master, {
        group: 'durable',
        subscriptions: [sub('b')],
        bound: bound('s2'),
      });
      await again.untilAssigned(2);
      assert.deepEqual(await cluster.committed('durable'), [80, 9], 'not applied a second time');
    } finally {
      for (const member of registry) member.close();
      await cluster.close();
    }
  });
});
