// The long-poll registry on its own: wake only the partition appended to, time out, drop an
// owner's waiters when its connection closes, cap per owner, and settle everything on close.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTubeError } from '../../src/common/index.js';
import { FetchWaiters, type WakeReason } from '../../src/broker/fetch-waiters.js';

function waiter(owner: object, topic: string, partition: number, seen: WakeReason[]) {
  return { owner, topic, partition, settle: (reason: WakeReason) => seen.push(reason) };
}

// Goal: wake() settles exactly the waiters of that topic/partition, once, and removes them.
test('wake settles only the waiters of that partition', () => {
  const waiters = new FetchWaiters(10);
  const owner = {};
  const a: WakeReason[] = [];
  const b: WakeReason[] = [];
  waiters.add(waiter(owner, 't', 0, a), 10_000);
  waiters.add(waiter(owner, 't', 1, b), 10_000);
  waiters.wake('t', 0);
  waiters.wake('t', 0);
  assert.deepEqual(a, ['data']);
  assert.deepEqual(b, []);
  assert.equal(waiters.size, 1);
  waiters.closeAll();
  assert.deepEqual(b, ['closed']);
  assert.equal(waiters.size, 0);
});

// Goal: a waiter nobody wakes settles 'timeout' after its time, and is gone from the registry.
test('a waiter times out', async () => {
  const waiters = new FetchWaiters(10);
  const seen: WakeReason[] = [];
  waiters.add(waiter({}, 't', 0, seen), 30);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(seen, ['timeout']);
  assert.equal(waiters.size, 0);
  waiters.wake('t', 0);
  assert.deepEqual(seen, ['timeout']);
});

// Goal: dropping an owner (its connection closed) settles its waiters 'closed', leaves others
// parked, and frees its cap; past the cap an owner is refused BUSY.
test('dropOwner drops only that owner; the cap is per owner', () => {
  const waiters = new FetchWaiters(2);
  const gone = {};
  const stays = {};
  const seenGone: WakeReason[] = [];
  const seenStays: WakeReason[] = [];
  waiters.add(waiter(gone, 't', 0, seenGone), 10_000);
  waiters.add(waiter(gone, 't', 0, seenGone), 10_000);
  assert.throws(
    () => waiters.add(waiter(gone, 't', 0, seenGone), 10_000),
    (error) => isTubeError(error, 'BUSY'),
  );
  waiters.add(waiter(stays, 't', 0, seenStays), 10_000);
  waiters.dropOwner(gone);
  assert.deepEqual(seenGone, ['closed', 'closed']);
  assert.equal(waiters.size, 1);
  waiters.add(waiter(gone, 't', 0, seenGone), 10_000);
  waiters.wake('t', 0);
  assert.deepEqual(seenStays, ['data']);
  assert.deepEqual(seenGone, ['closed', 'closed', 'data']);
  assert.equal(waiters.size, 0);
});
