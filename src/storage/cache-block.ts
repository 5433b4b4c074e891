import type { Slab } from './cache-memory.js';
import type { AckWaiter } from './partition-acks.js';
import type { PartitionIndex } from './partition-index.js';

/**
 * One block of a store's memory cache (TubeMQ's MsgMemStore): encoded batches in data log order,
 * the callers waiting on them, and how far each partition's index reaches inside the block.
 */
export class CacheBlock {
  readonly chunks: Buffer[] = [];
  /** The slab each chunk was carved from (undefined for a large batch with its own buffer). */
  readonly slabs: (Slab | undefined)[] = [];
  private readonly chunkPositions: number[] = [];
  bytes = 0;
  readonly writtenWaiters: AckWaiter[] = [];
  /**
   * Told the write's outcome like `writtenWaiters`, without making the block urgent: `memory`
   * batches, whose ack does not wait for the write but whose readable end may.
   */
  readonly writeWatchers: AckWaiter[] = [];
  readonly syncWaiters: AckWaiter[] = [];
  /** For each partition with records here: its nextOffset after the last of them. */
  readonly partitionEnds = new Map<PartitionIndex, number>();

  constructor(readonly basePosition: number) {}

  get endPosition(): number {
    return this.basePosition + this.bytes;
  }

  get hasWaiters(): boolean {
    return this.writtenWaiters.length > 0 || this.syncWaiters.length > 0;
  }

  push(chunk: Buffer, slab: Slab | undefined, partition: PartitionIndex): void {
    this.chunkPositions.push(this.endPosition);
    this.chunks.push(chunk);
    this.slabs.push(slab);
    this.bytes += chunk.length;
    this.partitionEnds.set(partition, partition.nextOffset);
  }

  /** A view of [position, position + length) when one chunk holds it (a record never spans chunks). */
  slice(position: number, length: number): Buffer | undefined {
    let low = 0;
    let high = this.chunks.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const start = this.chunkPositions[middle]!;
      const chunk = this.chunks[middle]!;
      if (position < start) high = middle - 1;
      else if (position >= start + chunk.length) low = middle + 1;
      else {
        if (position + length > start + chunk.length) return undefined;
        // The reader keeps this view, so the slab under it must never be reused.
        const slab = this.slabs[middle];
        if (slab) slab.pinned = true;
        return chunk.subarray(position - start, position - start + length);
      }
    }
    return undefined;
  }

  contains(position: number): boolean {
    return position >= this.basePosition && position < this.endPosition;
  }

  /** Settles every waiter: with `error` as a rejection, or resolved. */
  settle(waiters: AckWaiter[], error?: Error): void {
    for (const waiter of waiters.splice(0)) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }
}
