// Goal: a balanced member rides out what goes wrong around it — a broker restart (its leases end
// with the connection: fetches get NOT_REGISTERED, the member claims again and goes on), a master
// restart (the master forgets the group: the member joins again and gets its partitions back), a
// slow push handler while its partition is revoked (the revocation waits for it, so nothing is
// delivered twice), pull-mode members with commit() across a join (nothing lost, order kept), and a
// client-side consumer refused a partition a balanced member holds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, Producer, type ConsumedMessage } from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { ClusterFixture } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;

before(async () => {
  cluster = await ClusterFixture.start({ master: { groupHeartbeatIntervalMs: 200 } });
  admin = new Admin({ masters: cluster.masters });
  producer = new Producer({ masters: cluster.masters, lingerMs: 1, retries: 10 });
});
after(async () => {
  await producer.close();
  await admin.close();
  await cluster.close();
});

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<number> {
  const began = Date.now();
  while (!check()) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - began;
}

async function produce(topic: string, count: number, prefix: string): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const value = `${prefix}${i}`;
      const { partition, offset } = await producer.send(topic, value, { key: `k${i % 17}` });
      acked.set(`${partition}/${offset}`, value);
    }),
  );
  return acked;
}

function ids(log: readonly ConsumedMessage[]): Set<string> {
  return new Set(log.map((m) => `${m.partition}/${m.offset}`));
}

test('a broker restart ends the leases; the member claims again and consumes everything', async () => {
  const topic = 'restart-broker';
  await admin.createTopic(topic, { partitions: 2 });
  const log: ConsumedMessage[] = [];
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'rb',
    topics: [topic],
    start: 'earliest',
    sessionTimeoutMs: 5000,
  });
  const running = consumer.run((message) => void log.push(message));
  await consumer.start();
  const before = await produce(topic, 200, 'a');
  await until('first half', () => ids(log).size >= before.size);
  await cluster.stopBroker();
  await sleep(300);
  await cluster.startBroker();
  const afterRestart = await produce(topic, 200, 'b');
  await until('second half', () => ids(log).size >= before.size + afterRestart.size);
  assert.deepEqual(consumer.assignment().length, 2);
  await consumer.close();
  await running;
});

test('a master restart: the member joins again and keeps its partitions', async () => {
  const topic = 'restart-master';
  await admin.createTopic(topic, { partitions: 2 });
  const log: ConsumedMessage[] = [];
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'rm',
    topics: [topic],
    start: 'earliest',
    sessionTimeoutMs: 5000,
  });
  const running = consumer.run((message) => void log.push(message));
  await consumer.start();
  const firstMember = consumer.memberId;
  const first = await produce(topic, 100, 'a');
  await until('first batch', () => ids(log).size >= first.size);
  await cluster.restartMaster();
  // The next tests create topics: they need the broker registered with the new master.
  for (let tries = 0; !(await admin.listBrokers()).some((broker) => broker.state === 'online'); tries++) {
    assert.ok(tries < 200, 'the broker registers with the restarted master');
    await sleep(50);
  }
  await until(
    'rejoined with both partitions',
    () => consumer.memberId !== firstMember && consumer.assignment().length === 2,
  );
  const second = await produce(topic, 100, 'b');
  await until('second batch', () => ids(log).size >= first.size + second.size);
  const seen = log.map((m) => `${m.partition}/${m.offset}`);
  assert.equal(new Set(seen).size, seen.length, 'committed on the way out: nothing twice');
  await consumer.close();
  await running;
});

test('a revocation waits for the handler busy with its partition: nothing twice', async () => {
  const topic = 'slow';
  await admin.createTopic(topic, { partitions: 2 });
  const acked = await produce(topic, 120, 's');
  const log: ConsumedMessage[] = [];
  const handler = async (message: ConsumedMessage): Promise<void> => {
    await sleep(15);
    log.push(message);
  };
  const options = {
    masters: cluster.masters,
    group: 'slow',
    topics: [topic],
    start: 'earliest' as const,
    sessionTimeoutMs: 5000,
  };
  const a = new Consumer(options);
  const runningA = a.run(handler, { partitionsConcurrently: 2 });
  await a.start();
  await until('a busy', () => log.length > 10);
  const b = new Consumer(options);
  const runningB = b.run(handler, { partitionsConcurrently: 2 });
  await b.start();
  await until('1/1', () => a.assignment().length === 1 && b.assignment().length === 1);
  await until('all delivered', () => ids(log).size >= acked.size);
  await sleep(200);
  const seen = log.map((m) => `${m.partition}/${m.offset}`);
  assert.equal(new Set(seen).size, seen.length, 'no message twice');
  await Promise.all([a.close(), b.close()]);
  await Promise.all([runningA, runningB]);
});

test('pull-mode members with commit() across a join: nothing lost, order kept per member', async () => {
  const topic = 'pulled';
  await admin.createTopic(topic, { partitions: 4 });
  const acked = await produce(topic, 400, 'p');
  const options = {
    masters: cluster.masters,
    group: 'pull',
    topics: [topic],
    start: 'earliest' as const,
    sessionTimeoutMs: 5000,
  };
  const logs: ConsumedMessage[][] = [[], []];
  let stop = false;
  const loop = async (consumer: Consumer, log: ConsumedMessage[]): Promise<void> => {
    while (!stop) {
      const batch = await consumer.poll({ maxMessages: 10, timeoutMs: 100 });
      log.push(...batch);
      await consumer.commit();
      await sleep(2);
    }
  };
  const a = new Consumer(options);
  await a.start();
  const loopA = loop(a, logs[0]!);
  await until('a started', () => logs[0]!.length > 30);
  const b = new Consumer(options);
  await b.start();
  const loopB = loop(b, logs[1]!);
  await until('all delivered', () => ids([...logs[0]!, ...logs[1]!]).size >= acked.size);
  stop = true;
  await Promise.all([loopA, loopB]);
  assert.ok(logs[1]!.length > 0, 'the second member got partitions');
  for (const log of logs) {
    const last = new Map<number, number>();
    for (const message of log) {
      assert.ok((last.get(message.partition) ?? -1) < message.offset, 'order within a member');
      last.set(message.partition, message.offset);
    }
  }
  await Promise.all([a.close(), b.close()]);
});

test('a client-side consumer is refused a partition a balanced member holds', async () => {
  const topic = 'mixed';
  await admin.createTopic(topic, { partitions: 2 });
  const member = new Consumer({ masters: cluster.masters, group: 'mixed', topics: [topic] });
  await member.start();
  const manual = new Consumer({ masters: cluster.masters, group: 'mixed', topics: [topic] });
  manual.assign([{ topic, partition: 1 }]);
  await assert.rejects(manual.start(), (error) => {
    assert.ok(error instanceof TubeError && error.errorName === 'PARTITION_OWNED_BY_OTHER', String(error));
    assert.match(error.message, new RegExp(member.memberId!));
    return true;
  });
  await Promise.all([member.close(), manual.close()]);
});
