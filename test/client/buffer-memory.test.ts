// Goal: producer memory is bounded — waiters are admitted only as bytes are released, strictly in
// arrival order, and a message larger than the whole budget still gets through alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferMemory } from '../../src/client/buffer-memory.js';

test('admits while there is room, queues in order after, admits as bytes come back', () => {
  const admitted: string[] = [];
  const memory = new BufferMemory<string>(100, (name) => admitted.push(name));
  memory.reserve(60, 'a');
  memory.reserve(30, 'b');
  memory.reserve(20, 'c'); // would reach 110: waits
  memory.reserve(5, 'd'); // fits, but must not overtake c
  assert.deepEqual(admitted, ['a', 'b']);
  assert.equal(memory.used, 90);
  assert.equal(memory.waiting, 2);
  memory.release(30);
  assert.deepEqual(admitted, ['a', 'b', 'c', 'd']);
  assert.equal(memory.used, 85);
  assert.ok(memory.used <= 100);
});

test('a request bigger than the budget waits for an empty budget, then goes alone', () => {
  const admitted: string[] = [];
  const memory = new BufferMemory<string>(100, (name) => admitted.push(name));
  memory.reserve(50, 'small');
  memory.reserve(500, 'huge');
  assert.deepEqual(admitted, ['small']);
  memory.release(50);
  assert.deepEqual(admitted, ['small', 'huge']);
  memory.reserve(1, 'after');
  assert.deepEqual(admitted, ['small', 'huge']);
  memory.release(500);
  assert.deepEqual(admitted, ['small', 'huge', 'after']);
});

test('drainWaiting hands back the queued waiters', () => {
  const memory = new BufferMemory<number>(10, () => undefined);
  memory.reserve(10, 1);
  memory.reserve(1, 2);
  memory.reserve(1, 3);
  assert.deepEqual(memory.drainWaiting(), [2, 3]);
  assert.equal(memory.waiting, 0);
});
