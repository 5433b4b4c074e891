// Long-poll FETCH requests parked until their partition gets an append (DESIGN.md §1: long-poll
// instead of TubeMQ's 404 + sleep). Each waiter sits in a per-partition set, is woken by the append
// that completes on that partition, or by its own timer; nothing ever polls on a clock.
import { TubeError } from '../common/index.js';

/** Why a waiter left the registry. */
export type WakeReason = 'data' | 'timeout' | 'closed' | 'revoked';

/** One parked FETCH. The registry calls `settle` exactly once, after removing it. */
export interface FetchWaiter {
  readonly topic: string;
  readonly partition: number;
  /** Whose waiter this is (the session); dropping the owner drops its waiters. */
  readonly owner: object;
  settle(reason: WakeReason): void;
}

interface Entry {
  waiter: FetchWaiter;
  timer: NodeJS.Timeout;
}

/** The registry of parked fetches, by partition and by owner. */
export class FetchWaiters {
  readonly #byPartition = new Map<string, Map<number, Set<Entry>>>();
  readonly #byOwner = new Map<object, Set<Entry>>();
  readonly #perOwnerMax: number;

  /** @param perOwnerMax waiters one owner may have; one more is refused BUSY */
  constructor(perOwnerMax: number) {
    this.#perOwnerMax = perOwnerMax;
  }

  /** Waiters parked now. */
  get size(): number {
    let size = 0;
    for (const entries of this.#byOwner.values()) size += entries.size;
    return size;
  }

  /**
   * Parks `waiter` for at most `timeoutMs`. Throws BUSY (retriable) when its owner already has the
   * maximum parked, rather than growing timers and memory without bound. Returns the way to settle
   * it early as 'revoked' (its partition lease ended); a no-op once it has settled.
   */
  add(waiter: FetchWaiter, timeoutMs: number): () => void {
    let owned = this.#byOwner.get(waiter.owner);
    if (owned !== undefined && owned.size >= this.#perOwnerMax) {
      throw new TubeError('BUSY', `${owned.size} fetches are already waiting on this connection`, {
        details: { fetchWaitersPerConnectionMax: this.#perOwnerMax },
      });
    }
    const entry: Entry = {
      waiter,
      timer: setTimeout(() => this.#remove(entry, 'timeout'), timeoutMs),
    };
    if (owned === undefined) {
      owned = new Set();
      this.#byOwner.set(waiter.owner, owned);
    }
    owned.add(entry);
    let partitions = this.#byPartition.get(waiter.topic);
    if (partitions === undefined) {
      partitions = new Map();
      this.#byPartition.set(waiter.topic, partitions);
    }
    let entries = partitions.get(waiter.partition);
    if (entries === undefined) {
      entries = new Set();
      partitions.set(waiter.partition, entries);
    }
    entries.add(entry);
    return () => this.#remove(entry, 'revoked');
  }

  /** An append to topic/partition completed: wakes every fetch parked on it. */
  wake(topic: string, partition: number): void {
    // The produce path calls this per request; with nobody waiting it costs one size check.
    if (this.#byPartition.size === 0) return;
    const entries = this.#byPartition.get(topic)?.get(partition);
    if (entries === undefined) return;
    for (const entry of [...entries]) this.#remove(entry, 'data');
  }

  /** The owner's connection closed: drops its waiters (each settles 'closed'). */
  dropOwner(owner: object): void {
    const owned = this.#byOwner.get(owner);
    if (owned === undefined) return;
    for (const entry of [...owned]) this.#remove(entry, 'closed');
  }

  /** The broker is closing: settles every waiter 'closed' so each is answered with what it has. */
  closeAll(): void {
    for (const owned of [...this.#byOwner.values()]) {
      for (const entry of [...owned]) this.#remove(entry, 'closed');
    }
  }

  #remove(entry: Entry, reason: WakeReason): void {
    const { waiter } = entry;
    clearTimeout(entry.timer);
    const owned = this.#byOwner.get(waiter.owner);
    if (owned === undefined || !owned.delete(entry)) return;
    if (owned.size === 0) this.#byOwner.delete(waiter.owner);
    const partitions = this.#byPartition.get(waiter.topic);
    const entries = partitions?.get(waiter.partition);
    if (partitions !== undefined && entries !== undefined) {
      entries.delete(entry);
      if (entries.size === 0) {
        partitions.delete(waiter.partition);
        if (partitions.size === 0) this.#byPartition.delete(waiter.topic);
      }
    }
    waiter.settle(reason);
  }
}
