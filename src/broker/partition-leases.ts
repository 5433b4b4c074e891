// Partition leases (DESIGN.md §6: never two owners of a partition). A consumer group member claims
// a partition's lease before it fetches it as that member; the broker then serves owner-checked
// FETCHes and COMMIT_OFFSETS only for the holder. A lease belongs to the connection it was claimed
// on and ends on release, when that connection closes, or when `leaseMs` pass without a fetch,
// commit or claim by its holder. Expiry is checked lazily on access: no timer per lease.
import { TubeError } from '../common/index.js';

/** What a lease needs of a connection's session: to hear when it closes. */
export interface LeaseSession {
  onClose(listener: () => void): void;
}

/** One held lease. */
export interface Lease {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly memberId: string;
  /** The connection it was (last) claimed on; its close ends the lease. */
  readonly session: LeaseSession;
  /** Wall-clock ms after which the lease is free for anyone. */
  readonly expiresAt: number;
}

interface LeaseEntry {
  key: string;
  group: string;
  topic: string;
  partition: number;
  memberId: string;
  session: LeaseSession;
  expiresAt: number;
  /** Called once when the lease ends or passes to another member (parked fetches answer then). */
  watchers: Set<() => void>;
}

/** The answer to one claim. */
export type ClaimResult = { granted: true } | { granted: false; holder: string };

/** Options of {@link PartitionLeases}. */
export interface PartitionLeasesOptions {
  /** How long a lease lives without a fetch, commit or claim by its holder. */
  leaseMs: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

const keyOf = (group: string, topic: string, partition: number): string =>
  JSON.stringify([group, topic, partition]);

/** Every partition lease of one broker, by (group, topic, partition) and by connection. */
export class PartitionLeases {
  readonly leaseMs: number;
  readonly #now: () => number;
  readonly #leases = new Map<string, LeaseEntry>();
  readonly #bySession = new Map<LeaseSession, Set<LeaseEntry>>();
  readonly #watchedSessions = new WeakSet<LeaseSession>();

  constructor(options: PartitionLeasesOptions) {
    this.leaseMs = options.leaseMs;
    this.#now = options.now ?? Date.now;
  }

  /** Live leases now (expired ones are dropped first). */
  get size(): number {
    const now = this.#now();
    for (const entry of [...this.#leases.values()]) if (entry.expiresAt <= now) this.#end(entry);
    return this.#leases.size;
  }

  /**
   * Claims the lease for `memberId` on `session`: granted when nobody holds it, it expired, or
   * `memberId` holds it already (then it moves to `session` and is renewed).
   */
  claim(
    group: string,
    topic: string,
    partition: number,
    memberId: string,
    session: LeaseSession,
  ): ClaimResult {
    const held = this.#live(keyOf(group, topic, partition));
    if (held !== undefined && held.memberId !== memberId) return { granted: false, holder: held.memberId };
    const expiresAt = this.#now() + this.leaseMs;
    if (held !== undefined) {
      if (held.session !== session) {
        this.#unindex(held);
        held.session = session;
        this.#index(held);
      }
      held.expiresAt = expiresAt;
      return { granted: true };
    }
    const entry: LeaseEntry = {
      key: keyOf(group, topic, partition),
      group,
      topic,
      partition,
      memberId,
      session,
      expiresAt,
      watchers: new Set(),
    };
    this.#leases.set(entry.key, entry);
    this.#index(entry);
    return { granted: true };
  }

  /** Ends `memberId`'s lease; true when it held one. A lease of another member is left alone. */
  release(group: string, topic: string, partition: number, memberId: string): boolean {
    const held = this.#live(keyOf(group, topic, partition));
    if (held === undefined || held.memberId !== memberId) return false;
    this.#end(held);
    return true;
  }

  /** The live lease of a partition, if any. */
  holderOf(group: string, topic: string, partition: number): Lease | undefined {
    const held = this.#live(keyOf(group, topic, partition));
    if (held === undefined) return undefined;
    const { memberId, session, expiresAt } = held;
    return { group, topic, partition, memberId, session, expiresAt };
  }

  /**
   * Requires `memberId` to hold the partition's live lease and renews it (to at least `untilMs` +
   * the lease time when given: a parked fetch counts as activity until its deadline). Throws
   * PARTITION_OWNED_BY_OTHER (410) when another member holds it, NOT_REGISTERED (411) when nobody does.
   */
  requireAndRenew(group: string, topic: string, partition: number, memberId: string, untilMs?: number): void {
    const held = this.#live(keyOf(group, topic, partition));
    if (held === undefined) throw notRegistered(group, topic, partition, memberId);
    if (held.memberId !== memberId) throw ownedByOther(group, topic, partition, held.memberId);
    held.expiresAt = Math.max(held.expiresAt, Math.max(this.#now(), untilMs ?? 0) + this.leaseMs);
  }

  /**
   * Calls `listener` once when `memberId`'s lease of the partition ends or passes to another member
   * (not when the same member moves it to another connection). Returns the way to stop watching;
   * undefined (and never calls) when `memberId` does not hold it now.
   */
  watch(
    group: string,
    topic: string,
    partition: number,
    memberId: string,
    listener: () => void,
  ): (() => void) | undefined {
    const held = this.#live(keyOf(group, topic, partition));
    if (held === undefined || held.memberId !== memberId) return undefined;
    held.watchers.add(listener);
    return () => held.watchers.delete(listener);
  }

  /** The live entry under `key`; an expired one is ended here (lazy expiry). */
  #live(key: string): LeaseEntry | undefined {
    const entry = this.#leases.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.#now()) return entry;
    this.#end(entry);
    return undefined;
  }

  #index(entry: LeaseEntry): void {
    const { session } = entry;
    let held = this.#bySession.get(session);
    if (held === undefined) {
      held = new Set();
      this.#bySession.set(session, held);
    }
    held.add(entry);
    if (!this.#watchedSessions.has(session)) {
      this.#watchedSessions.add(session);
      session.onClose(() => this.#endSession(session));
    }
  }

  #unindex(entry: LeaseEntry): void {
    const held = this.#bySession.get(entry.session);
    if (held === undefined) return;
    held.delete(entry);
    if (held.size === 0) this.#bySession.delete(entry.session);
  }

  /** The connection closed: every lease claimed (last) on it ends. */
  #endSession(session: LeaseSession): void {
    const held = this.#bySession.get(session);
    if (held === undefined) return;
    for (const entry of [...held]) this.#end(entry);
  }

  #end(entry: LeaseEntry): void {
    if (this.#leases.get(entry.key) !== entry) return;
    this.#leases.delete(entry.key);
    this.#unindex(entry);
    const watchers = [...entry.watchers];
    entry.watchers.clear();
    for (const watcher of watchers) watcher();
  }
}

/** PARTITION_OWNED_BY_OTHER naming the holder. */
export function ownedByOther(group: string, topic: string, partition: number, holder: string): TubeError {
  return new TubeError(
    'PARTITION_OWNED_BY_OTHER',
    `partition ${topic}/${partition} of group ${group} is owned by member ${holder}`,
    {
      details: { group, topic, partition, holder },
      hint: `wait for the group to rebalance, or stop member ${holder} (its lease ends when it disconnects or stops fetching)`,
    },
  );
}

/** NOT_REGISTERED: the member holds no lease on the partition. */
export function notRegistered(group: string, topic: string, partition: number, memberId: string): TubeError {
  return new TubeError(
    'NOT_REGISTERED',
    `member ${memberId} of group ${group} holds no lease on partition ${topic}/${partition}`,
    {
      details: { group, topic, partition, memberId },
      hint: 'claim the partition first (CLAIM_PARTITIONS)',
    },
  );
}
