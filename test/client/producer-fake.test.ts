// Goal: the producer's own mechanics against a scripted master and broker — memory stays bounded
// while the broker holds answers (backpressure, not growth), many sends become few PRODUCE
// requests, retriable errors are retried and final ones reported per send, an oversize message fails
// alone, an unknown topic is NOT_FOUND, and a dead first master is skipped.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Producer } from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { FakeCluster, gate } from './fake-cluster.js';

let cluster: FakeCluster;

before(async () => {
  cluster = await FakeCluster.start({ t: 2, big: 1, flaky: 1, single: 1 });
});
after(async () => {
  await cluster.close();
});

test('backpressure: unanswered bytes never exceed bufferBytesMax; sends resume as answers come', async () => {
  const held = gate();
  let unanswered = 0;
  let unansweredMax = 0;
  cluster.produceHook = async (request) => {
    if (request.topic !== 't') return;
    unanswered += request.messages.length;
    unansweredMax = Math.max(unansweredMax, unanswered);
    await held.promise;
    unanswered -= request.messages.length;
  };
  const producer = new Producer({ masters: cluster.masters, bufferBytesMax: 64 * 1024, lingerMs: 1 });
  const value = Buffer.alloc(1000);
  let resolved = 0;
  const sends = Array.from({ length: 1000 }, (_, i) =>
    producer.send('t', value, { partition: i % 2 }).then((result) => {
      resolved++;
      return result;
    }),
  );
  await sleep(200);
  assert.equal(resolved, 0, 'nothing is acknowledged while the broker holds its answers');
  // Each message costs ~1 KiB of the 64 KiB budget: at most ~64 of them may be out at once.
  assert.ok(unansweredMax <= 64, `${unansweredMax} messages were out at once`);
  assert.ok(unansweredMax > 0);
  held.open();
  const results = await Promise.all(sends);
  cluster.produceHook = undefined;
  assert.equal(results.length, 1000);
  for (const partition of [0, 1]) {
    const offsets = results.filter((r) => r.partition === partition).map((r) => r.offset);
    assert.deepEqual(
      offsets,
      Array.from({ length: 500 }, (_, i) => i),
      `partition ${partition} offsets in send order`,
    );
  }
  await producer.close();
});

test('many sends become a few PRODUCE requests, each one batch', async () => {
  const before = cluster.produced.length;
  const producer = new Producer({ masters: cluster.masters, lingerMs: 20 });
  await Promise.all(Array.from({ length: 2000 }, (_, i) => producer.send('single', `m${i}`)));
  const requests = cluster.produced.length - before;
  assert.ok(requests <= 10, `${requests} requests for 2000 small messages`);
  await producer.close();
});

test('a retriable error is retried; a persistent one rejects every send of the batch, with a clear message', async () => {
  let failuresLeft = 2;
  cluster.produceHook = (request) => {
    if (request.topic === 'flaky' && failuresLeft-- > 0) throw new TubeError('BUSY', 'cache full');
  };
  const producer = new Producer({ masters: cluster.masters, retries: 3 });
  const result = await producer.send('flaky', 'x');
  assert.equal(result.partition, 0);
  cluster.produceHook = (request) => {
    if (request.topic === 'flaky') throw new TubeError('STORAGE_FULL', 'disk full');
  };
  const failed = await Promise.allSettled([producer.send('flaky', 'a'), producer.send('flaky', 'b')]);
  for (const outcome of failed) {
    assert.equal(outcome.status, 'rejected');
    const error = outcome.reason as TubeError;
    assert.equal(error.errorName, 'STORAGE_FULL');
    assert.match(error.message, /flaky\/0 failed after 3 retries: disk full/);
  }
  cluster.produceHook = undefined;
  await producer.close();
});

test('an oversize message in a batch fails alone; its neighbours land', async () => {
  cluster.produceHook = (request) => {
    if (request.messages.some((m) => m.value.byteLength > 5000)) {
      throw new TubeError('MESSAGE_TOO_LARGE', 'message over the limit');
    }
  };
  const producer = new Producer({ masters: cluster.masters, lingerMs: 20 });
  const outcomes = await Promise.allSettled([
    producer.send('big', 'a'),
    producer.send('big', Buffer.alloc(6000)),
    producer.send('big', 'c'),
    producer.send('big', 'd'),
  ]);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
  );
  assert.equal(((outcomes[1] as PromiseRejectedResult).reason as TubeError).errorName, 'MESSAGE_TOO_LARGE');
  cluster.produceHook = undefined;
  const later = await producer.send('big', 'still working');
  assert.equal(later.partition, 0);
  await producer.close();
});

test('unknown topic and missing partition are NOT_FOUND; invalid attributes are BAD_REQUEST', async () => {
  const producer = new Producer({ masters: cluster.masters });
  await assert.rejects(producer.send('nope', 'x'), (error: TubeError) => error.errorName === 'NOT_FOUND');
  await assert.rejects(producer.send('t', 'x', { partition: 9 }), (error: TubeError) => {
    assert.equal(error.errorName, 'NOT_FOUND');
    assert.match(error.message, /partition 9 of topic "t" does not exist \(it has 2\)/);
    return true;
  });
  await assert.rejects(
    producer.send('t', 'x', { attributes: { 'a,b': 'c' } }),
    (error: TubeError) => error.errorName === 'BAD_REQUEST',
  );
  await producer.close();
  await assert.rejects(producer.send('t', 'x'), /closed/);
});

test('a master list skips a master that does not answer', async () => {
  const producer = new Producer({ masters: `127.0.0.1:1,${cluster.masters}` });
  const result = await producer.send('t', 'x', { partition: 1 });
  assert.equal(result.partition, 1);
  await producer.close();
});
