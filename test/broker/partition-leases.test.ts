// The lease registry on its own with a fake clock: lazy expiry, renewal, per-session ending,
// same-member moves, and watchers told when a lease ends or passes to another member.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTubeError } from '../../src/common/index.js';
import { PartitionLeases, type LeaseSession } from '../../src/broker/partition-leases.js';

class FakeSession implements LeaseSession {
  readonly #listeners: (() => void)[] = [];
  onClose(listener: () => void): void {
    this.#listeners.push(listener);
  }
  close(): void {
    for (const listener of this.#listeners.splice(0)) listener();
  }
}

function setup(leaseMs = 100) {
  const clock = { now: 1_000 };
  const leases = new PartitionLeases({ leaseMs, now: () => clock.now });
  return { clock, leases };
}

// Goal: a lease lives leaseMs after its last renewal and is then free for anyone, checked lazily.
test('a lease expires leaseMs after its last renewal', () => {
  const { clock, leases } = setup();
  const a = new FakeSession();
  const b = new FakeSession();
  assert.deepEqual(leases.claim('g', 't', 0, 'a', a), { granted: true });
  clock.now += 99;
  assert.deepEqual(leases.claim('g', 't', 0, 'b', b), { granted: false, holder: 'a' });
  leases.requireAndRenew('g', 't', 0, 'a');
  clock.now += 99;
  assert.equal(leases.holderOf('g', 't', 0)?.memberId, 'a');
  clock.now += 1;
  assert.equal(leases.holderOf('g', 't', 0), undefined);
  assert.equal(leases.size, 0);
  assert.deepEqual(leases.claim('g', 't', 0, 'b', b), { granted: true });
});

// Goal: requireAndRenew throws 411 when nobody holds the lease, 410 naming the holder otherwise,
// and a renewal "until" a park deadline keeps the lease through it.
test('requireAndRenew: 411, 410 with holder, renewal through a park', () => {
  const { clock, leases } = setup();
  const a = new FakeSession();
  assert.throws(
    () => leases.requireAndRenew('g', 't', 0, 'a'),
    (e) => isTubeError(e, 'NOT_REGISTERED'),
  );
  leases.claim('g', 't', 0, 'a', a);
  assert.throws(
    () => leases.requireAndRenew('g', 't', 0, 'b'),
    (e) => isTubeError(e, 'PARTITION_OWNED_BY_OTHER') && e.details['holder'] === 'a',
  );
  leases.requireAndRenew('g', 't', 0, 'a', clock.now + 1_000);
  clock.now += 1_050;
  assert.equal(leases.holderOf('g', 't', 0)?.memberId, 'a');
});

// Goal: closing a session ends exactly the leases last claimed on it; a same-member claim on
// another session moves the lease there, out of the first session's reach.
test('session close ends its leases; a same-member re-claim moves the lease', () => {
  const { leases } = setup();
  const first = new FakeSession();
  const second = new FakeSession();
  leases.claim('g', 't', 0, 'a', first);
  leases.claim('g', 't', 1, 'a', first);
  assert.deepEqual(leases.claim('g', 't', 0, 'a', second), { granted: true });
  first.close();
  assert.equal(leases.holderOf('g', 't', 0)?.session, second);
  assert.equal(leases.holderOf('g', 't', 1), undefined);
  second.close();
  assert.equal(leases.size, 0);
});

// Goal: watchers hear of a release, of a session close, and of an expired lease taken by another
// member, once each; not of a same-member move; watch() of a lease not held returns undefined.
test('watchers are told when the lease ends or passes on', () => {
  const { clock, leases } = setup();
  const a = new FakeSession();
  const b = new FakeSession();
  const heard: string[] = [];
  assert.equal(
    leases.watch('g', 't', 0, 'a', () => heard.push('none')),
    undefined,
  );
  leases.claim('g', 't', 0, 'a', a);
  leases.watch('g', 't', 0, 'a', () => heard.push('released'));
  leases.claim('g', 't', 0, 'a', b);
  assert.equal(heard.length, 0);
  assert.equal(leases.release('g', 't', 0, 'other'), false);
  assert.equal(leases.release('g', 't', 0, 'a'), true);
  leases.claim('g', 't', 0, 'a', a);
  leases.watch('g', 't', 0, 'a', () => heard.push('closed'));
  a.close();
  leases.claim('g', 't', 0, 'a', b);
  const stop = leases.watch('g', 't', 0, 'a', () => heard.push('stopped'));
  stop?.();
  leases.watch('g', 't', 0, 'a', () => heard.push('taken'));
  clock.now += 100;
  assert.deepEqual(leases.claim('g', 't', 0, 'c', new FakeSession()), { granted: true });
  assert.deepEqual(heard, ['released', 'closed', 'taken']);
});
