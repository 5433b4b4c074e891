// The sticky, even balancer as a pure function: fast-check states its promises over random groups
// and random (even nonsensical) previous targets and reports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { balanceGroup, type BalanceInput } from '../../src/master/group-balancer.js';

const partitionKeys = (count: number) => Array.from({ length: count }, (_, index) => `t:${index}`);
const memberIds = (count: number) =>
  Array.from({ length: count }, (_, index) => `m${String(index).padStart(2, '0')}`);

/** A group: its partitions, sorted members, and arbitrary previous targets and owned sets. */
const group = fc
  .record({ partitionCount: fc.integer({ min: 0, max: 40 }), memberCount: fc.integer({ min: 1, max: 9 }) })
  .chain(({ partitionCount, memberCount }) => {
    const partitions = partitionKeys(partitionCount);
    const members = memberIds(memberCount);
    // Holdings may overlap, name partitions the group lacks and members it does not have.
    const holding = fc.array(fc.oneof(fc.constantFrom(...partitions, 't:99'), fc.constant('x:1')), {
      maxLength: 12,
    });
    const holdings = fc.dictionary(fc.constantFrom(...members, 'gone'), holding);
    return fc.record({ previous: holdings, owned: holdings }).map(({ previous, owned }): BalanceInput => ({
      partitions,
      members,
      previous: new Map(Object.entries(previous)),
      owned: new Map(Object.entries(owned)),
    }));
  });

function assertEvenAndComplete(input: BalanceInput, target: Map<string, string[]>): void {
  const { partitions, members } = input;
  assert.deepEqual([...target.keys()].sort(), [...members].sort(), 'one entry per member');
  const share = Math.floor(partitions.length / members.length);
  for (const [member, assigned] of target) {
    assert.ok(assigned.length === share || assigned.length === share + 1, `${member} has ${assigned.length}`);
  }
  const all = [...target.values()].flat();
  assert.deepEqual([...all].sort(), [...partitions].sort(), 'every partition exactly once');
}

/** How many partitions changed member between two targets. */
function moved(before: Map<string, string[]>, after: Map<string, string[]>): number {
  const ownerBefore = new Map<string, string>();
  for (const [member, assigned] of before)
    for (const partition of assigned) ownerBefore.set(partition, member);
  let count = 0;
  for (const [member, assigned] of after) {
    for (const partition of assigned) if (ownerBefore.get(partition) !== member) count++;
  }
  return count;
}

describe('group balancer', () => {
  test('even, complete and deterministic whatever the previous targets and reports say', () => {
    fc.assert(
      fc.property(group, (input) => {
        const target = balanceGroup(input);
        assertEvenAndComplete(input, target);
        assert.deepEqual(balanceGroup(input), target, 'same input, same answer');
      }),
      { numRuns: 500 },
    );
  });

  test('a balanced group stays as it is (no change without a reason)', () => {
    fc.assert(
      fc.property(group, (input) => {
        const target = balanceGroup(input);
        const again = balanceGroup({ ...input, previous: target, owned: target });
        assert.deepEqual(again, target);
        // A hand-over in flight (an old owner still reports a partition) does not flip the decision.
        const stale = new Map(input.owned);
        assert.deepEqual(balanceGroup({ ...input, previous: target, owned: stale }), target);
      }),
      { numRuns: 300 },
    );
  });

  test('a join moves only the partitions the new member gets, and it gets its fair share', () => {
    fc.assert(
      fc.property(group, (input) => {
        const before = balanceGroup(input);
        const members = [...input.members, 'zz-new'];
        const after = balanceGroup({
          partitions: input.partitions,
          members,
          previous: before,
          owned: before,
        });
        assertEvenAndComplete({ ...input, members }, after);
        assert.equal(after.get('zz-new')!.length, Math.floor(input.partitions.length / members.length));
        assert.equal(moved(before, after), after.get('zz-new')!.length);
      }),
      { numRuns: 300 },
    );
  });

  test("a leave moves only the leaver's partitions", () => {
    fc.assert(
      fc.property(
        group.filter((input) => input.members.length >= 2),
        fc.nat(),
        (input, pick) => {
          const before = balanceGroup(input);
          const leaver = input.members[pick % input.members.length]!;
          const members = input.members.filter((member) => member !== leaver);
          const after = balanceGroup({
            partitions: input.partitions,
            members,
            previous: before,
            owned: before,
          });
          assertEvenAndComplete({ ...input, members }, after);
          for (const member of members) {
            for (const partition of before.get(member)!) {
              assert.ok(after.get(member)!.includes(partition), `${member} kept ${partition}`);
            }
          }
          assert.equal(moved(before, after), before.get(leaver)!.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a first assignment with 6 partitions and 3 members is two contiguous each, in member order', () => {
    const partitions = partitionKeys(6);
    const target = balanceGroup({
      partitions,
      members: ['a', 'b', 'c'],
      previous: new Map(),
      owned: new Map(),
    });
    assert.deepEqual(Object.fromEntries(target), {
      a: ['t:0', 't:1'],
      b: ['t:2', 't:3'],
      c: ['t:4', 't:5'],
    });
  });
});
