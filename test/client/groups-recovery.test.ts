// Goal: a balanced member rides out what goes wrong around it — a broker restart (its leases end
// with the connection: fetches get NOT_REGISTERED, the member claims again and goes on), a master
// restart (the master forgets the group: the member joins again and gets its partitions back), a
// slow push handler while its partition is revoked (the revocation waits for it, so nothing is
// delivered twice), pull-mode members with commit() across a join (nothing lost, order kept), a
// client-side consumer refused a partition a balanced member holds, and a member cut off from the
// master (its connection frozen) dropping its partitions by itself after its session timeout.
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, Producer, type ConsumedMessage } from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { closeClusterClients, startClusterClients, type ClusterFixture, until } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;

before(async () => {
  ({ cluster, admin, producer } = await startClusterClients(
    { master: { groupHeartbeatIntervalMs: 200 } },
    { lingerMs: 1, retries: 10 },
  ));
});
after(() => closeClusterClients({ cluster, admin, producer }));

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

/** A TCP proxy to the master whose open connections can be frozen (kept open, nothing passes). */
class FreezableProxy {
  readonly #pairs: [Socket, Socket][] = [];
  private constructor(readonly server: Server) {}

  static async start(targetPort: number): Promise<FreezableProxy> {
    const server = createServer();
    const proxy = new FreezableProxy(server);
    server.on('connection', (client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      client.pipe(upstream);
      upstream.pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      proxy.#pairs.push([client, upstream]);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stops the connections open now from passing anything; new ones work. */
  freeze(): void {
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

test('a member cut off from the master drops its partitions by itself and joins again; never two owners', async (t) => {
  const topic = 'cut-off';
  await admin.createTopic(topic, { partitions: 2 });
  const proxy = await FreezableProxy.start(cluster.master.port);
  const options = { group: 'cut', topics: [topic], start: 'earliest' as const, sessionTimeoutMs: 1500 };
  const a = new Consumer({ ...options, masters: proxy.address });
  const runningA = a.run(() => undefined);
  await a.start();
  const b = new Consumer({ ...options, masters: cluster.masters });
  const runningB = b.run(() => undefined);
  await b.start();
  await until('1/1', () => a.assignment().length === 1 && b.assignment().length === 1);
  const cutMember = a.memberId;
  let overlaps = 0;
  let droppedAt: number | undefined;
  const sampler = setInterval(() => {
    const owned = new Set(a.assignment().map((p) => p.partition));
    if (owned.size === 0) droppedAt ??= Date.now();
    if (b.assignment().some((p) => owned.has(p.partition))) overlaps++;
  }, 2);
  const frozenAt = Date.now();
  proxy.freeze();
  // A stops hearing from the master, so after its session timeout it drops its partition without
  // committing, and joins again through a fresh connection (as a new member) to get a share back.
  await until(
    'a back as a new member with its share',
    () => a.memberId !== cutMember && a.assignment().length === 1 && b.assignment().length === 1,
    15_000,
  );
  clearInterval(sampler);
  assert.ok(droppedAt !== undefined, 'a dropped its partition');
  t.diagnostic(
    `cut off: a dropped its partition ${droppedAt - frozenAt} ms after the cut (session timeout 1500 ms); 1/1 again after ${Date.now() - frozenAt} ms`,
  );
  assert.equal(overlaps, 0, 'never both owning one partition');
  await Promise.all([a.close(), b.close()]);
  await Promise.all([runningA, runningB]);
  await proxy.close();
});

test('close() while start() is still joining ends both promptly and leaves nothing behind', async () => {
  const topic = 'early-close';
  await admin.createTopic(topic, { partitions: 2 });
  const began = Date.now();
  const consumer = new Consumer({ masters: cluster.masters, group: 'early', topics: [topic] });
  const starting = consumer.start().catch(() => undefined);
  await consumer.close();
  await starting;
  assert.ok(Date.now() - began < 5000, 'no wait for the first assignment cap');
  // The group is empty again: a new member gets every partition.
  const next = new Consumer({ masters: cluster.masters, group: 'early', topics: [topic] });
  await next.start();
  await until('both partitions', () => next.assignment().length === 2);
  await next.close();
});
