// Goal: a broker stopped in the middle of production loses no acknowledged message and no send is
// left hanging or silently dropped — each send either resolves (once the broker is back on the same
// port and data) or rejects with a clear TubeError, and every acknowledged message is consumed with
// its value at its offset.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Admin, Consumer, Producer, type ConsumedMessage } from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { ClusterFixture } from './cluster-fixture.js';

const topic = 'survivor';
let cluster: ClusterFixture;

before(async () => {
  cluster = await ClusterFixture.start();
  const admin = new Admin({ masters: cluster.masters });
  await admin.createTopic(topic, { partitions: 2 });
  await admin.close();
});
after(async () => {
  await cluster.close();
});

test('broker stopped mid-production: every send settles; every acknowledged message is consumed', async () => {
  const producer = new Producer({ masters: cluster.masters, retries: 8 });
  const acked = new Map<string, string>();
  const failures: TubeError[] = [];
  const sends: Promise<void>[] = [];
  let sent = 0;
  const sendOne = (): void => {
    const value = `m${sent++}`;
    sends.push(
      producer.send(topic, value).then(
        (result) => void acked.set(`${result.partition}/${result.offset}`, value),
        (error: unknown) => {
          assert.ok(error instanceof TubeError, `a send rejected with ${String(error)}`);
          assert.ok(error.message.length > 0);
          failures.push(error);
        },
      ),
    );
  };
  const production = (async () => {
    for (let wave = 0; wave < 60; wave++) {
      for (let i = 0; i < 50; i++) sendOne();
      await sleep(20);
    }
  })();
  await sleep(300);
  await cluster.stopBroker();
  await sleep(700);
  await cluster.startBroker();
  await production;
  // Every send settles: a hang here fails the test by timeout rather than passing silently.
  const timeout = new AbortController();
  const settled = await Promise.race([
    Promise.all(sends).then(() => true),
    sleep(30_000, false, { signal: timeout.signal }).catch(() => false),
  ]);
  timeout.abort();
  assert.ok(settled, 'every send settled');
  await producer.close();
  assert.equal(acked.size + failures.length, sent, 'each send either acknowledged or rejected');
  assert.ok(acked.size > 0);

  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'check',
    topics: [topic],
    start: 'earliest',
    commit: false,
  });
  const consumed = new Map<string, string>();
  const deadline = Date.now() + 20_000;
  await consumer.start();
  while (!consumer.caughtUp || consumed.size === 0) {
    assert.ok(Date.now() < deadline, `consumed only ${consumed.size}`);
    const batch: ConsumedMessage[] = await consumer.poll({ timeoutMs: 1000 });
    for (const message of batch)
      consumed.set(`${message.partition}/${message.offset}`, message.value.toString());
  }
  await consumer.close();
  for (const [id, value] of acked) assert.equal(consumed.get(id), value, `acknowledged ${id} was consumed`);
});

test('broker down for longer than the retries: sends reject with a clear UNAVAILABLE, then work again', async () => {
  const producer = new Producer({ masters: cluster.masters, retries: 2 });
  await producer.send(topic, 'warm-up');
  await cluster.stopBroker();
  try {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => producer.send(topic, `lost-${i}`)),
    );
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      const error = outcome.reason as TubeError;
      assert.ok(error instanceof TubeError);
      assert.equal(error.errorName, 'UNAVAILABLE');
      assert.match(error.message, new RegExp(`send to ${topic}/\\d failed after 2 retries: `));
    }
  } finally {
    await cluster.startBroker();
  }
  const result = await producer.send(topic, 'back');
  assert.ok(result.offset >= 0);
  await producer.close();
});
