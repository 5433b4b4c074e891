// Goal: batches form by size and by linger time, each partition has one request in flight, batches
// of a partition are dispatched in order, and messages arriving during a request join the next batch.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { PendingSend, ProducerBatch } from '../../src/client/producer-batch.js';
import { RecordAccumulator } from '../../src/client/record-accumulator.js';

function pending(partition: number, bytes: number, value = ''): PendingSend {
  return {
    topic: 't',
    partition,
    message: { value: Buffer.from(value) },
    key: undefined,
    bytes,
    resolve: () => undefined,
    reject: () => undefined,
  };
}

test('a full batch leaves at once; a partial one after lingerMs', async () => {
  const dispatched: ProducerBatch[] = [];
  const accumulator = new RecordAccumulator({ lingerMs: 30, batchBytes: 100 }, (batch) => {
    dispatched.push(batch);
    return Promise.resolve();
  });
  for (let i = 0; i < 4; i++) accumulator.append(pending(0, 25));
  assert.equal(dispatched.length, 1, 'four 25-byte messages fill a 100-byte batch');
  assert.equal(dispatched[0]!.sends.length, 4);
  accumulator.append(pending(0, 25));
  await sleep(5);
  assert.equal(dispatched.length, 1, 'a partial batch lingers');
  await sleep(60);
  assert.equal(dispatched.length, 2);
  assert.equal(dispatched[1]!.sends.length, 1);
});

test('one request in flight per partition; later messages gather and go in order', async () => {
  const dispatched: string[][] = [];
  const releases: (() => void)[] = [];
  const accumulator = new RecordAccumulator({ lingerMs: 0, batchBytes: 1000 }, (batch) => {
    dispatched.push(batch.messages.map((m) => String(m.value)));
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  accumulator.append(pending(0, 10, 'a'));
  await sleep(5);
  assert.deepEqual(dispatched, [['a']]);
  for (const value of ['b', 'c', 'd']) accumulator.append(pending(0, 10, value));
  accumulator.append(pending(1, 10, 'other-partition'));
  await sleep(10);
  assert.deepEqual(dispatched, [['a'], ['other-partition']], 'partition 0 waits for its request in flight');
  releases[0]!();
  await sleep(5);
  assert.deepEqual(dispatched, [['a'], ['other-partition'], ['b', 'c', 'd']]);
  assert.equal(accumulator.pendingBatches, 2);
  releases[1]!();
  releases[2]!();
  await sleep(5);
  assert.equal(accumulator.pendingBatches, 0);
});

test('sealAll sends lingering batches without waiting for the timer', async () => {
  let count = 0;
  const accumulator = new RecordAccumulator({ lingerMs: 10_000, batchBytes: 1000 }, () => {
    count++;
    return Promise.resolve();
  });
  accumulator.append(pending(0, 10));
  accumulator.append(pending(1, 10));
  accumulator.sealAll();
  await sleep(1);
  assert.equal(count, 2);
});
