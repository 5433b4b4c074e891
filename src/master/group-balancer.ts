// The consumer-group balancer (DESIGN.md §6): which member should own which partition. A pure
// function of its inputs, so the coordinator can call it on every change and a property test can
// prove its promises: even (every member gets floor or ceil of P/M), complete (every partition has
// exactly one member), sticky (a partition moves only when evenness demands it) and deterministic.
//
// Upstream TubeMQ keeps holdings, assigns unowned partitions at random and sheds from members over
// the limit once per 60 s chore; this does the same sums at once and without the randomness.

/** What the balancer needs to know about the group. */
export interface BalanceInput {
  /** Every partition of the group, as keys in a fixed (sorted) order; no duplicates. */
  partitions: readonly string[];
  /** Member ids, sorted; no duplicates. */
  members: readonly string[];
  /** Each member's previous target (the decision to keep stable); missing members hold nothing. */
  previous: ReadonlyMap<string, readonly string[]>;
  /** What each member last reported owning (used when it had no previous target, e.g. after a restart). */
  owned: ReadonlyMap<string, readonly string[]>;
}

/**
 * The target of each member: `floor(P/M)` or `ceil(P/M)` partitions, listed in the order of
 * `input.partitions`. A member keeps what it was previously given (else what it owns) up to its
 * share; the `P mod M` larger shares go to the members that keep most (ties: the earlier member
 * id), so the fewest partitions move. Freed and new partitions fill the members below their share
 * in member order. No members: an empty map.
 */
export function balanceGroup(input: BalanceInput): Map<string, string[]> {
  const { partitions, members } = input;
  const target = new Map<string, string[]>();
  if (members.length === 0) return target;

  const order = new Map(partitions.map((partition, index) => [partition, index]));
  // Who may keep each partition: the previous target decides first (so a hand-over in flight,
  // where the old owner still reports it, does not flip the decision back), then reported owners.
  const keeper = new Map<string, string>();
  for (const source of [input.previous, input.owned]) {
    for (const member of members) {
      for (const partition of source.get(member) ?? []) {
        if (order.has(partition) && !keeper.has(partition)) keeper.set(partition, member);
      }
    }
  }
  const kept = new Map<string, string[]>(members.map((member) => [member, []]));
  for (const partition of partitions) {
    const member = keeper.get(partition);
    if (member !== undefined) kept.get(member)!.push(partition);
  }

  const share = Math.floor(partitions.length / members.length);
  const larger = partitions.length % members.length;
  const memberIndex = new Map(members.map((member, index) => [member, index]));
  const byKept = [...members].sort(
    (a, b) => kept.get(b)!.length - kept.get(a)!.length || memberIndex.get(a)! - memberIndex.get(b)!,
  );
  const quota = new Map(byKept.map((member, rank) => [member, share + (rank < larger ? 1 : 0)]));

  const free: string[] = [];
  for (const member of members) {
    const mine = kept.get(member)!;
    const limit = quota.get(member)!;
    target.set(member, mine.slice(0, limit));
    free.push(...mine.slice(limit));
  }
  for (const partition of partitions) if (!keeper.has(partition)) free.push(partition);
  free.sort((a, b) => order.get(a)! - order.get(b)!);

  let next = 0;
  for (const member of members) {
    const mine = target.get(member)!;
    while (mine.length < quota.get(member)! && next < free.length) mine.push(free[next++]!);
    mine.sort((a, b) => order.get(a)! - order.get(b)!);
  }
  return target;
}
