// Goal: batches form by size and by linger time, each partition has one request in flight, batches
// of a partition are dispatched in order, messages arriving during a request join the next batch,
// and batches that become sendable in one turn leave together in one dispatch.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { PendingSend, ProducerBatch } from '../../src/client/producer-batch.js';
import { RecordAccumulator } from '../../src/client/record-accumulator.js';

function pending(partition: number, bytes: number, value = '', topic = 't'): PendingSend {
  return {
    topic,
    partition,
    message: { value: Buffer.from(value) },
    key: undefined,
    bytes,
    resolve: () => undefined,
    reject: () => undefined,
  };
}

/** An accumulator whose dispatches are recorded; `land` answers a batch. */
function recorded(options: { lingerMs: number; batchBytes: number }) {
  const dispatches: ProducerBatch[][] = [];
  let landed: (batch: ProducerBatch) => void = () => {};
  const accumulator = new RecordAccumulator(options, (batches, land) => {
    dispatches.push(batches);
    landed = land;
  });
  const values = () =>
    dispatches.map((batches) => batches.map((b) => b.messages.map((m) => String(m.value))));
  return { accumulator, dispatches, values, land: (batch: ProducerBatch) => landed(batch) };
}

test('a full batch leaves within the turn; a partial one after lingerMs', async () => {
  const { accumulator, dispatches } = recorded({ lingerMs: 30, batchBytes: 100 });
  for (let i = 0; i < 4; i++) accumulator.append(pending(0, 25));
  await Promise.resolve();
  assert.equal(dispatches.length, 1, 'four 25-byte messages fill a 100-byte batch');
  assert.equal(dispatches[0]![0]!.sends.length, 4);
  accumulator.append(pending(1, 25));
  await sleep(5);
  assert.equal(dispatches.length, 1, 'a partial batch lingers');
  await sleep(60);
  assert.equal(dispatches.length, 2);
  assert.equal(dispatches[1]![0]!.sends.length, 1);
});

test('one request in flight per partition; later messages gather and go in order', async () => {
  const { accumulator, dispatches, values, land } = recorded({ lingerMs: 0, batchBytes: 1000 });
  accumulator.append(pending(0, 10, 'a'));
  await sleep(5);
  assert.deepEqual(values(), [[['a']]]);
  for (const value of ['b', 'c', 'd']) accumulator.append(pending(0, 10, value));
  accumulator.append(pending(1, 10, 'other-partition'));
  await sleep(10);
  assert.deepEqual(values(), [[['a']], [['other-partition']]], 'partition 0 waits for its request in flight');
  land(dispatches[0]![0]!);
  land(dispatches[0]![0]!); // a second landing of the same batch changes nothing
  await sleep(5);
  assert.deepEqual(values(), [[['a']], [['other-partition']], [['b', 'c', 'd']]]);
  assert.equal(accumulator.pendingBatches, 2);
  land(dispatches[1]![0]!);
  land(dispatches[2]![0]!);
  await sleep(5);
  assert.equal(accumulator.pendingBatches, 0);
});

test("partitions' batches sealed in one turn leave in one dispatch; landings in one turn too", async () => {
  const { accumulator, dispatches, land } = recorded({ lingerMs: 0, batchBytes: 1000 });
  for (let i = 0; i < 300; i++) accumulator.append(pending(i % 100, 10, `m${i}`, `topic-${(i % 100) % 3}`));
  await sleep(5);
  assert.equal(dispatches.length, 1, 'one linger turn, one dispatch');
  assert.equal(dispatches[0]!.length, 100);
  for (const batch of dispatches[0]!) assert.equal(batch.sends.length, 3);
  for (let i = 0; i < 200; i++) accumulator.append(pending(i % 100, 10, `n${i}`, `topic-${(i % 100) % 3}`));
  await sleep(5);
  assert.equal(dispatches.length, 1, 'every partition has a request in flight');
  for (const batch of dispatches[0]!) land(batch);
  await Promise.resolve();
  assert.equal(dispatches.length, 2, 'the batches freed by one answer go out together');
  assert.equal(dispatches[1]!.length, 100);
  assert.deepEqual(
    dispatches[1]!.map((batch) => batch.sends.length),
    Array.from({ length: 100 }, () => 2),
  );
});

test('sealAll sends lingering batches without waiting for the timer', async () => {
  const { accumulator, dispatches } = recorded({ lingerMs: 10_000, batchBytes: 1000 });
  accumulator.append(pending(0, 10));
  accumulator.append(pending(1, 10));
  accumulator.sealAll();
  await sleep(1);
  assert.equal(dispatches.flat().length, 2);
});
