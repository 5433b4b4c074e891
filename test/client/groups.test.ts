// Goal: balanced consumer groups against a real master and broker — members of a group split 6
// partitions evenly as they join and leave (2 members 3/3, 3 members 2/2/2, back to 3/3 after a
// close()), every message produced meanwhile is delivered exactly once (checked by content) and in
// offset order per partition; members with other topics or filters are refused GROUP_MISMATCH; a
// bound start is applied once per session key as members join in turn, and a newer key wins.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Admin,
  Consumer,
  Producer,
  type ConsumedMessage,
  type ConsumerOptions,
} from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { closeClusterClients, startClusterClients, type ClusterFixture, until } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;

before(async () => {
  ({ cluster, admin, producer } = await startClusterClients(
    { master: { groupHeartbeatIntervalMs: 200 } },
    { lingerMs: 1 },
  ));
});
after(() => closeClusterClients({ cluster, admin, producer }));

/** A member in push mode recording what it was handed. */
class Member {
  readonly consumer: Consumer;
  readonly delivered: ConsumedMessage[] = [];
  running: Promise<void> | undefined;

  constructor(
    options: Omit<ConsumerOptions, 'masters'>,
    readonly log: ConsumedMessage[],
  ) {
    this.consumer = new Consumer({ masters: cluster.masters, ...options });
  }

  async start(): Promise<void> {
    this.running = this.consumer.run((message) => {
      // Copies: the value views a fetch answer's buffer.
      const copy = { ...message, value: Buffer.from(message.value) } as ConsumedMessage;
      this.delivered.push(copy);
      this.log.push(copy);
    });
    // Handled here so a rejection before the test awaits it is not an unhandled one.
    this.running.catch(() => undefined);
    await this.consumer.start();
  }

  owns(): number {
    return this.consumer.assignment().length;
  }
}

test('members split 6 partitions evenly as they join and leave; every message exactly once, in order', async (t) => {
  const topic = 'six';
  await admin.createTopic(topic, { partitions: 6 });
  const acked = new Map<string, string>();
  let producing = true;
  let sent = 0;
  const production = (async () => {
    while (producing) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const n = sent++;
          const value = `m${n}`;
          const { partition, offset } = await producer.send(topic, value, { key: `k${n % 50}` });
          acked.set(`${partition}/${offset}`, value);
        }),
      );
      await sleep(5);
    }
  })();
  const log: ConsumedMessage[] = [];
  const options = { group: 'split', topics: [topic], start: 'earliest' as const, sessionTimeoutMs: 3000 };
  const a = new Member(options, log);
  await a.start();
  assert.equal(a.owns(), 6, 'a lone member owns every partition');
  assert.ok(a.consumer.memberId !== undefined);
  await until('a consuming', () => a.delivered.length > 100);

  const b = new Member(options, log);
  const bJoined = Date.now();
  await b.start();
  const twoMs = await until('3/3', () => a.owns() === 3 && b.owns() === 3);
  t.diagnostic(
    `second member: balanced ${Date.now() - bJoined} ms after start() was called (${twoMs} ms after it resolved)`,
  );
  await until('b consuming', () => b.delivered.length > 50);

  const c = new Member(options, log);
  const cJoined = Date.now();
  await c.start();
  await until('2/2/2', () => a.owns() === 2 && b.owns() === 2 && c.owns() === 2);
  t.diagnostic(`third member: balanced ${Date.now() - cJoined} ms after start() was called`);
  const owners = [a, b, c].flatMap((member) => member.consumer.assignment().map((p) => p.partition));
  assert.deepEqual(owners.sort(), [0, 1, 2, 3, 4, 5], 'each partition owned by exactly one');
  await until('c consuming', () => c.delivered.length > 50);

  const cLeft = Date.now();
  await c.consumer.close();
  await c.running;
  await until('3/3 again', () => a.owns() === 3 && b.owns() === 3);
  t.diagnostic(`member leaving: balanced ${Date.now() - cLeft} ms after close() was called`);
  await sleep(300);
  producing = false;
  await production;
  await until(
    'everything delivered',
    () => new Set(log.map((m) => `${m.partition}/${m.offset}`)).size >= acked.size,
    20_000,
  );
  await sleep(300);

  // Exactly once, by content.
  const seen = new Map<string, string>();
  for (const message of log) {
    const id = `${message.partition}/${message.offset}`;
    assert.ok(!seen.has(id), `duplicate ${id}`);
    seen.set(id, message.value.toString());
  }
  assert.deepEqual(seen, acked);
  // Offset order per partition across all members, in delivery order.
  const last = new Map<number, number>();
  for (const message of log) {
    assert.ok(
      (last.get(message.partition) ?? -1) < message.offset,
      `order in partition ${message.partition}`,
    );
    last.set(message.partition, message.offset);
  }
  t.diagnostic(
    `${acked.size} messages; a ${a.delivered.length}, b ${b.delivered.length}, c ${c.delivered.length}`,
  );
  await Promise.all([a.consumer.close(), b.consumer.close()]);
  await Promise.all([a.running, b.running]);
});

test('a member with other topics or filters is refused GROUP_MISMATCH', async () => {
  await admin.createTopic('shape-a', { partitions: 2 });
  await admin.createTopic('shape-b', { partitions: 2 });
  const first = new Consumer({
    masters: cluster.masters,
    group: 'shape',
    topics: ['shape-a'],
    filters: { 'shape-a': ['x'] },
  });
  await first.start();
  const otherFilter = new Consumer({
    masters: cluster.masters,
    group: 'shape',
    topics: ['shape-a'],
    filters: { 'shape-a': ['y'] },
  });
  await assert.rejects(
    otherFilter.start(),
    (error) => error instanceof TubeError && error.errorName === 'GROUP_MISMATCH',
  );
  const otherTopic = new Consumer({ masters: cluster.masters, group: 'shape', topics: ['shape-b'] });
  await assert.rejects(
    otherTopic.start(),
    (error) => error instanceof TubeError && error.errorName === 'GROUP_MISMATCH',
  );
  await Promise.all([first.close(), otherFilter.close(), otherTopic.close()]);
});

test('a bound start is applied once per session key as members join in turn; a newer key wins', async () => {
  const topic = 'bound';
  await admin.createTopic(topic, { partitions: 3 });
  for (let i = 0; i < 30; i++) {
    for (let partition = 0; partition < 3; partition++)
      await producer.send(topic, `${partition}:${i}`, { partition });
  }
  const offsets = { [topic]: { 0: 10, 1: 20, 2: 5 } };
  const log: ConsumedMessage[] = [];
  const options = {
    group: 'bound-group',
    topics: [topic],
    sessionTimeoutMs: 3000,
    bound: { sessionKey: 's1', offsets },
  };
  const members: Member[] = [];
  for (let i = 0; i < 3; i++) {
    const member = new Member(options, log);
    await member.start();
    members.push(member);
    // Let the earlier members commit progress: a second application of the offsets would rewind.
    await sleep(300);
    await Promise.all(members.map((each) => each.consumer.commit()));
  }
  await until('1/1/1', () => members.every((member) => member.owns() === 1));
  const expected = 20 + 10 + 25;
  await until('the bound range delivered', () => log.length >= expected);
  await sleep(500);
  const ids = log.map((m) => `${m.partition}/${m.offset}`);
  assert.equal(new Set(ids).size, ids.length, 'no message twice: the offsets were applied once');
  assert.equal(ids.length, expected);
  for (const [partition, start] of Object.entries(offsets[topic])) {
    const first = Math.min(...log.filter((m) => m.partition === Number(partition)).map((m) => m.offset));
    assert.equal(first, start, `partition ${partition} started at its bound offset`);
  }
  // A newer key evicts the members of the old one; they stop with STALE_SESSION.
  const newer = new Member(
    { ...options, bound: { sessionKey: 's2', offsets: { [topic]: { 0: 0, 1: 0, 2: 0 } } } },
    [],
  );
  await newer.start();
  for (const member of members) {
    await assert.rejects(member.running!, (error) => {
      assert.ok(error instanceof TubeError, String(error));
      assert.equal(error.errorName, 'STALE_SESSION', error.message);
      return true;
    });
  }
  await until('the newer session reads from 0', () => newer.delivered.length >= 90);
  // The old key is refused with a hint naming the current one.
  const stale = new Consumer({ masters: cluster.masters, ...options });
  await assert.rejects(stale.start(), (error) => {
    assert.ok(error instanceof TubeError && error.errorName === 'STALE_SESSION', String(error));
    return true;
  });
  await stale.close();
  await newer.consumer.close();
  await Promise.all(members.map((member) => member.consumer.close()));
});

test('a bound offset for a missing partition or an unsubscribed topic is refused clearly', async () => {
  await admin.createTopic('bound-bad', { partitions: 2 });
  const base = { masters: cluster.masters, group: 'bound-bad', topics: ['bound-bad'] };
  const missing = new Consumer({ ...base, bound: { sessionKey: 'k', offsets: { 'bound-bad': { 5: 0 } } } });
  await assert.rejects(missing.start(), (error) => {
    assert.ok(error instanceof TubeError, String(error));
    assert.equal(error.errorName, 'NOT_FOUND', error.message);
    assert.match(error.message, /2 partitions/);
    return true;
  });
  await missing.close();
  const unsubscribed = new Consumer({ ...base, bound: { sessionKey: 'k2', offsets: { other: { 0: 0 } } } });
  await assert.rejects(unsubscribed.start(), (error) => {
    assert.ok(error instanceof TubeError, String(error));
    assert.equal(error.errorName, 'BAD_REQUEST', error.message);
    return true;
  });
  await unsubscribed.close();
});
