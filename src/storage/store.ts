import * as path from 'node:path';
import { mkdirDurable, type FileIO } from '../common/file-io.js';
import { TubeError } from '../common/errors.js';
import { CacheBlock } from './cache-block.js';
import type { CacheMemory } from './cache-memory.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { DataLog } from './data-log.js';
import { OffsetLedger, type PartitionLedger } from './offset-ledger.js';
import type { ResolvedStorageOptions } from './options.js';
import { PartitionAcks, type AckWaiter } from './partition-acks.js';
import { PartitionIndex } from './partition-index.js';
import { recoverStore, type RecoveryReport } from './recovery.js';
import { recordBytes, recordBytesMax, writeRecord, type EncodableMessage } from '../common/record-format.js';
import { readRecords, type ReadSource } from './store-reads.js';
import type { AckLevel, RawReadResult, TopicConfig } from './types.js';

/** Counters an engine reports through `stats()`. */
export interface StoreCounters {
  /** Records found damaged (CRC) by reads and skipped. */
  damagedRecordsSkipped: number;
  /** Data writes of cache blocks. */
  flushes: number;
  /** Times data became durable: fdatasyncs (group commits, checkpoints) and `O_DSYNC` block writes. */
  syncs: number;
}

/** Checkpoints running across the engine, and how many may run at once. */
export interface CheckpointSlots {
  running: number;
  max: number;
}

/** What a store needs from its engine. */
export interface StoreContext {
  checkpointSlots: CheckpointSlots;
  io: FileIO;
  options: ResolvedStorageOptions;
  memory: CacheMemory;
  counters: StoreCounters;
  topic: string;
  /** The age at which the topic's active data segment is closed, as of now (`topicSegmentMs`). */
  segmentMs(): number;
  /** Called when a partition's readable end moves (long-polls wait for it). */
  onReadable(partition: number): void;
}

/** Why a store stopped taking writes. */
interface StoreFailure {
  error: Error;
  /**
   * `full`: a write found no space; writes resume once space is back. `failed`: a write failed
   * otherwise (EIO); `unsynced`: a sync failed, so the kernel may have dropped written pages and
   * nothing more becomes readable. Both last until a restart.
   */
  kind: 'full' | 'failed' | 'unsynced';
}

/** A sync's failure, told apart from a write's: after it no written byte can be proven durable. */
class SyncFailedError extends Error {
  constructor(cause: unknown) {
    super(`sync failed: ${asError(cause).message}`, { cause });
  }
}

/** While a store is full, how often it checks for space again. */
const resumeProbeIntervalMs = 1000;

/** A waited-on block this big is written at once instead of after the current turn. */
const eagerFlushBytes = 256 * 1024;
/**
 * Pending index entries of a partition (32 KiB) worth one write to its index file. Each partition
 * holds up to this much in memory: 32 MiB with 1,000 partitions.
 */
const indexWriteEntriesMin = 1024;

/**
 * One storage instance of a topic: a data log shared by its partitions, a per-partition index,
 * and a double-buffered memory cache (active block, flushing block) in front of the disk.
 */
export class Store {
  private active: CacheBlock;
  private flushing: CacheBlock | undefined;
  /** Data below this position went to the OS (a write returned). */
  private writtenPosition: number;
  private flushRunning = false;
  private flushQueued = false;
  private ageTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private syncWaiting: AckWaiter[] = [];
  private syncRunning = false;
  private indexChain: Promise<void> = Promise.resolve();
  private checkpointRunning = false;
  private checkpointWork: Promise<void> = Promise.resolve();
  private reservationWanted = false;
  private reservationRunning = false;
  /** Set when a write or sync failed: appends are refused (see {@link StoreFailure}). */
  private failure: StoreFailure | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  /** Per partition: what was handed out and what consumers may read. */
  private readonly progress = new Map<number, PartitionAcks>();
  private checkpointSequence: number;
  private checkpointPosition: number;
  private checkpointAtMs = Date.now();
  private closed = false;

  private constructor(
    private readonly context: StoreContext,
    readonly storeId: number,
    readonly dir: string,
    private readonly dataLog: DataLog,
    readonly partitions: Map<number, PartitionIndex>,
    private readonly ledger: OffsetLedger,
    checkpointSequence: number,
    readonly recovery: StoreRecoveryReport,
  ) {
    this.writtenPosition = dataLog.endPosition;
    this.active = new CacheBlock(this.writtenPosition);
    this.checkpointSequence = checkpointSequence;
    this.checkpointPosition = this.writtenPosition;
    for (const index of partitions.values()) this.track(index);
  }

  private track(index: PartitionIndex): void {
    const partition = index.partition;
    this.progress.set(
      partition,
      new PartitionAcks(index.nextOffset, () => this.context.onReadable(partition)),
    );
  }

  /** Opens (creating if needed) a store and recovers it from its last checkpoint. */
  static async open(
    context: StoreContext,
    dir: string,
    storeId: number,
    partitionIds: number[],
  ): Promise<Store> {
    const { io, options } = context;
    await mkdirDurable(io, dir);
    const checkpoint = await loadCheckpoint(io, dir);
    const dataLog = await DataLog.open(io, dir, options.segmentBytes, () => context.segmentMs());
    const partitions = new Map<number, PartitionIndex>();
    try {
      for (const partition of partitionIds) {
        partitions.set(
          partition,
          await PartitionIndex.open(io, indexDir(dir, partition), partition, options.indexSegmentEntries),
        );
      }
      return await Store.recover(context, dir, storeId, dataLog, partitions, checkpoint);
    } catch (error) {
      // Opening failed part-way (a full disk, a failing one): close every file it opened.
      await dataLog.close().catch(() => undefined);
      for (const index of partitions.values()) await index.close().catch(() => undefined);
      throw error;
    }
  }

  /** Recovery of an opened store: checkpoint, data scan, offset ledger; see {@link Store.open}. */
  private static async recover(
    context: StoreContext,
    dir: string,
    storeId: number,
    dataLog: DataLog,
    partitions: Map<number, PartitionIndex>,
    checkpoint: Awaited<ReturnType<typeof loadCheckpoint>>,
  ): Promise<Store> {
    const { io, options } = context;
    const startAtFirstRecord = new Set<number>();
    let scanFrom = dataLog.earliestPosition;
    // A checkpoint is trusted only when the data (without holes) and every index still reach it;
    // otherwise rebuild everything. After a power loss an older segment may end short of the next.
    const trusted =
      checkpoint !== undefined &&
      checkpoint.dataPosition <= dataLog.endPosition &&
      dataLog.firstHole() >= checkpoint.dataPosition &&
      [...partitions.values()].every(
        (index) => index.nextOffset >= (checkpoint.endOffsets.get(index.partition) ?? 0),
      );
    if (trusted) {
      scanFrom = Math.max(checkpoint.dataPosition, dataLog.earliestPosition);
      for (const index of partitions.values()) {
        const end = checkpoint.endOffsets.get(index.partition);
        if (end === undefined) {
          if (dataLog.endPosition > checkpoint.dataPosition) startAtFirstRecord.add(index.partition);
        } else if (index.nextOffset !== end) {
          await index.truncateTo(end);
        }
      }
    } else {
      for (const index of partitions.values()) {
        await index.truncateTo(0);
        startAtFirstRecord.add(index.partition);
      }
    }
    const where = { topic: context.topic, store: storeId };
    const clean = trusted && checkpoint.clean && checkpoint.dataPosition === dataLog.endPosition;
    const report = clean
      ? { scannedBytes: 0, truncatedBytes: 0, damagedRecords: 0, damagedBytes: 0 }
      : await recoverStore(
          dataLog,
          partitions,
          scanFrom,
          startAtFirstRecord,
          recordBytesMax,
          options.logger,
          where,
        );
    if (!clean && dataLog.endPosition > 0)
      options.logger.info({ ...where, ...report }, 'store recovered after an unclean shutdown');
    context.counters.damagedRecordsSkipped += report.damagedRecords;
    for (const index of partitions.values()) {
      if (dataLog.earliestPosition > 0) await index.forgetBeforePosition(dataLog.earliestPosition);
    }
    const ledger = await OffsetLedger.open(io, dir);
    try {
      const gapOffsets = await resumeAfterReserved(ledger, partitions, trusted, options.logger, where);
      const store = new Store(context, storeId, dir, dataLog, partitions, ledger, checkpoint?.sequence ?? 0, {
        ...report,
        clean,
        gapOffsets,
      });
      if (!clean) dataLog.markAllUnsynced();
      // A skip past lost offsets is durable only once a checkpoint vouches for its index segment;
      // until then the ledger keeps saying offsets may have been handed out past the data.
      if (!clean || gapOffsets > 0) await store.writeCheckpoint(false);
      // A new store has handed out nothing: its first append writes the ledger. Otherwise the ledger
      // is made exact, so a clean restart after this one leaves no gap.
      const handedOutAny = [...partitions.values()].some((index) => index.nextOffset > 0);
      if ((ledger.found || handedOutAny) && (!clean || gapOffsets > 0 || !ledger.found))
        await store.saveExactReservations();
      return store;
    } catch (error) {
      await ledger.close().catch(() => undefined);
      throw error;
    }
  }

  partition(partition: number): PartitionIndex {
    return this.partitions.get(partition)!;
  }

  /** Adds partitions that map to this store (a topic only grows). */
  async addPartitions(partitionIds: number[]): Promise<void> {
    for (const partition of partitionIds) {
      if (this.partitions.has(partition)) continue;
      const index = await PartitionIndex.open(
        this.context.io,
        indexDir(this.dir, partition),
        partition,
        this.context.options.indexSegmentEntries,
      );
      this.partitions.set(partition, index);
      this.track(index);
    }
  }

  /** The first offset of `partition` a consumer may not read yet (DESIGN.md §4, the readable end). */
  readableEnd(partition: number): number {
    return this.progress.get(partition)!.readableEnd;
  }

  /** What the offset ledger says of `partition`: its gaps. */
  ledgerOf(partition: number): Readonly<PartitionLedger> {
    return this.ledger.partition(partition);
  }

  /**
   * Appends one batch to a partition as one unit and resolves with its base offset once the
   * batch is as durable as `acks` asks.
   */
  append(index: PartitionIndex, messages: readonly EncodableMessage[], acks: AckLevel): Promise<number> {
    if (this.closed) return Promise.reject(new TubeError('UNAVAILABLE', 'the store is closed'));
    if (this.failure) return Promise.reject(refusal(this.failure));
    let bytes = 0;
    for (const message of messages) bytes += recordBytes(message);
    const memory = this.context.memory;
    if (memory.usedBytes > 0 && memory.usedBytes + bytes > memory.maxBytes) {
      return Promise.reject(
        new TubeError('BUSY', 'the memory cache is full while the disk catches up; retry shortly'),
      );
    }
    const { buffer: chunk, slab } = memory.allocate(bytes);
    const baseOffset = index.nextOffset;
    const basePosition = this.active.endPosition;
    const lengths: number[] = [];
    let at = 0;
    for (let i = 0; i < messages.length; i++) {
      lengths.push(writeRecord(chunk, at, messages[i]!, index.partition, baseOffset + i));
      at += lengths[i]!;
    }
    // Index entries only once every record is encoded, so a failure leaves no phantom offset.
    at = 0;
    for (let i = 0; i < messages.length; i++) {
      index.addEntry(basePosition + at, lengths[i]!, messages[i]!.streamHash, messages[i]!.timestamp);
      at += lengths[i]!;
    }
    this.active.push(chunk, slab, index);
    memory.usedBytes += bytes;
    const end = index.nextOffset;
    const progress = this.progress.get(index.partition)!;
    if (progress.wantsReservation(end)) this.requestReservation();
    if (acks === 'memory' && progress.unwrittenMarked && end <= progress.reservedEnd) {
      // The steady state of `memory` acks: marked and reserved, so no promise of its own is needed.
      progress.appendedSettled(end);
      this.scheduleFlush();
      return Promise.resolve(baseOffset);
    }
    if (acks === 'memory') {
      let writeWaiter: AckWaiter | undefined;
      const acknowledged = new Promise<number>((resolve, reject) => {
        writeWaiter = progress.appendedUnwritten(end, () => resolve(baseOffset), reject);
        if (!writeWaiter) progress.whenReserved(end, () => resolve(baseOffset), reject);
      });
      if (writeWaiter) {
        this.active.writeWatchers.push(writeWaiter);
        this.requestReservation();
      }
      this.scheduleFlush();
      return acknowledged;
    }
    return new Promise((resolve, reject) => {
      const waiter = progress.appendedWaiting(end, () => resolve(baseOffset), reject);
      (acks === 'fsync' ? this.active.syncWaiters : this.active.writtenWaiters).push(waiter);
      this.scheduleFlush();
    });
  }

  /**
   * Grows the offset ledger's reservations of the partitions close to theirs, in one durable
   * write; one runs at a time and later requests join the next. A batch is acknowledged only once
   * a reservation covers it, so recovery never gives its offsets to another message.
   */
  private requestReservation(): void {
    this.reservationWanted = true;
    if (!this.reservationRunning && !this.failure) void this.extendReservations();
  }

  private async extendReservations(): Promise<void> {
    this.reservationRunning = true;
    try {
      while (this.reservationWanted && !this.failure && !this.closed) {
        this.reservationWanted = false;
        const nowMs = Date.now();
        const grown = new Map<number, number>();
        const marked: PartitionAcks[] = [];
        for (const [partition, index] of this.partitions) {
          const progress = this.progress.get(partition)!;
          if (progress.wantsReservation(index.nextOffset))
            grown.set(partition, progress.nextReservation(index.nextOffset, nowMs));
          if (progress.markWanted) {
            this.ledger.partition(partition).unwrittenHandedOut = true;
            marked.push(progress);
          }
        }
        if (grown.size === 0 && marked.length === 0 && !this.ledger.unsaved) continue;
        try {
          await this.ledger.save(grown);
        } catch (error) {
          this.fail(error);
          return;
        }
        for (const [partition, end] of grown) this.progress.get(partition)!.reserved(end);
        for (const progress of marked) progress.markedUnwritten();
      }
    } finally {
      this.reservationRunning = false;
      this.wakeIdle();
    }
  }

  /**
   * Writes reservations equal to each partition's end, leaving no gap for a later recovery to skip
   * (open and close, when nothing is in flight).
   */
  private async saveExactReservations(): Promise<void> {
    const exact = new Map<number, number>();
    for (const [partition, index] of this.partitions) {
      exact.set(partition, index.nextOffset);
      this.ledger.partition(partition).unwrittenHandedOut = false;
    }
    await this.ledger.save(exact);
    for (const progress of this.progress.values()) progress.markedExact();
  }

  private scheduleFlush(): void {
    if (this.flushRunning || this.active.bytes === 0) return;
    if (this.isUrgent()) {
      this.clearAgeTimer();
      if (this.active.bytes >= eagerFlushBytes) {
        // Enough for an efficient write: start it, and let the rest of a burst encode meanwhile.
        this.startFlush();
        return;
      }
      if (this.flushQueued) return;
      // After this turn's callbacks: producers woken together by one ack all join one write.
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        if (!this.flushRunning && !this.closed && this.active.bytes > 0) this.startFlush();
      });
    } else if (!this.ageTimer) {
      this.ageTimer = setTimeout(() => {
        this.ageTimer = undefined;
        if (!this.flushRunning && !this.closed && this.active.bytes > 0) this.startFlush();
      }, this.context.options.cacheBlockAgeMs);
      this.ageTimer.unref();
    }
  }

  /** Someone waits on the active block, or it is full: flush now instead of waiting for its age. */
  private isUrgent(): boolean {
    return this.active.hasWaiters || this.active.bytes >= this.context.options.cacheBlockBytes;
  }

  private clearAgeTimer(): void {
    if (this.ageTimer) clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
  }

  /**
   * Writes the active block; one data write runs at a time. While it runs, new batches gather in
   * the next block, so one write covers every batch that arrived meanwhile. Index writes,
   * fdatasyncs and checkpoints run beside the next data write instead of holding it up.
   */
  private startFlush(): void {
    this.clearAgeTimer();
    const block = this.active;
    this.flushing = block;
    this.active = new CacheBlock(block.endPosition);
    this.flushRunning = true;
    void this.flushBlock(block);
  }

  private async flushBlock(block: CacheBlock): Promise<void> {
    let durable: boolean;
    try {
      durable = await this.dataLog.append(block.chunks, block.bytes, block.syncWaiters.length > 0);
    } catch (error) {
      this.failUnwritten(block, error);
      this.finishFlush(block);
      await this.dataLog.discardPastEnd();
      return;
    }
    this.writtenPosition = block.endPosition;
    this.context.counters.flushes++;
    this.finishFlush(block);
    // What came in meanwhile goes to the disk before these acks go out: a broker spends a socket
    // write per ack, and the disk should not sit idle through them.
    if (this.active.bytes > 0 && this.isUrgent()) this.startFlush();
    if (this.failure !== undefined && this.failure.kind !== 'full') {
      // The store failed while this block was on its way: its callers were not acknowledged, and
      // a read-only store acknowledges nothing more (a full disk only refuses new appends).
      const reason = refusal(this.failure);
      block.settle(block.writtenWaiters, reason);
      block.settle(block.writeWatchers, reason);
      block.settle(block.syncWaiters, reason);
    } else {
      block.settle(block.writtenWaiters);
      block.settle(block.writeWatchers);
    }
    if (block.syncWaiters.length > 0) this.settleSyncWaiters(block, durable);
    const checkpointDue = this.isCheckpointDue(block.endPosition);
    if (checkpointDue) {
      this.checkpointRunning = true;
      this.context.checkpointSlots.running++;
    }
    for (const [index, end] of block.partitionEnds) index.dataWrittenEnd = end;
    // Index entries wait in memory (reads find them there) until a partition has a file write's
    // worth, or a checkpoint needs them: one index write per many data writes.
    const targets = new Map<PartitionIndex, number>();
    for (const index of checkpointDue ? this.partitions.values() : block.partitionEnds.keys()) {
      if (checkpointDue || index.dataWrittenEnd - index.writtenOffset >= indexWriteEntriesMin) {
        targets.set(index, index.dataWrittenEnd);
      }
    }
    if (targets.size > 0) {
      // Taken now, while data and targets agree: every record below this position has its entry below its target.
      this.writeIndexes(targets, checkpointDue ? block.endPosition : undefined);
    }
    if (this.active.bytes > 0) this.scheduleFlush();
  }

  private finishFlush(block: CacheBlock): void {
    this.flushing = undefined;
    this.flushRunning = false;
    this.releaseMemory(block);
    this.wakeIdle();
  }

  /** Chains index writes so each partition's entries reach its files in order; then a checkpoint. */
  private writeIndexes(targets: Map<PartitionIndex, number>, checkpointPosition?: number): void {
    this.indexChain = this.indexChain
      .then(() => Promise.all([...targets].map(([index, end]) => index.writeThrough(end))))
      .then(() => {
        if (checkpointPosition !== undefined) this.startCheckpoint(checkpointPosition, targets);
      })
      .catch((error: unknown) => {
        this.fail(error);
        if (checkpointPosition !== undefined) this.endCheckpoint();
      });
  }

  /**
   * A checkpoint bounds how much recovery rescans, so it is due after `checkpointBytes`, or after
   * `checkpointIntervalMs` once at least 1/64 of that came in. Checkpoints share
   * engine-wide slots: with thousands of stores, their fdatasyncs must not crowd the thread pool.
   */
  private isCheckpointDue(dataPosition: number): boolean {
    const { checkpointBytes, checkpointIntervalMs } = this.context.options;
    const slots = this.context.checkpointSlots;
    if (this.checkpointRunning || slots.running >= slots.max) return false;
    const bytes = dataPosition - this.checkpointPosition;
    const age = Date.now() - this.checkpointAtMs;
    return bytes >= checkpointBytes || (age >= checkpointIntervalMs && bytes >= checkpointBytes / 64);
  }

  private releaseMemory(block: CacheBlock): void {
    this.context.memory.usedBytes -= block.bytes;
    for (const slab of block.slabs) this.context.memory.release(slab);
  }

  /**
   * A block written durably (O_DSYNC) is acknowledged at once, unless a sync of earlier bytes is
   * still running: then its callers wait behind that sync, which finds nothing more to sync.
   */
  private settleSyncWaiters(block: CacheBlock, durable: boolean): void {
    if (durable && !this.syncRunning && !this.dataLog.syncing && !this.failure) {
      this.context.counters.syncs++;
      block.settle(block.syncWaiters);
    } else {
      this.requestSync(block.syncWaiters.splice(0));
    }
  }

  /**
   * Group commit: callers whose data is written wait for the next fdatasync; one runs at a time
   * and covers everyone who arrived before it started.
   */
  private requestSync(waiters: AckWaiter[]): void {
    this.syncWaiting.push(...waiters);
    if (!this.syncRunning) void this.runSyncs();
  }

  private async runSyncs(): Promise<void> {
    this.syncRunning = true;
    while (this.syncWaiting.length > 0) {
      const waiters = this.syncWaiting.splice(0);
      try {
        if (this.failure?.kind === 'unsynced') throw this.failure.error;
        await this.dataLog.sync().catch((error: unknown) => {
          throw new SyncFailedError(error);
        });
        this.context.counters.syncs++;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        this.fail(error);
        const reason = storageError(error);
        for (const waiter of waiters) waiter.reject(reason);
      }
    }
    this.syncRunning = false;
    this.wakeIdle();
  }

  /**
   * Stops appends after a failed write or sync (see {@link StoreFailure}) and fails everyone
   * waiting for an offset reservation. A full disk is retried (writes resume once there is space);
   * after any other failure the kernel may have dropped pages it had accepted, so no later sync
   * can prove them durable (PostgreSQL's "fsyncgate"): the store stays read-only until a restart.
   */
  private fail(error: unknown): void {
    const kind: StoreFailure['kind'] =
      error instanceof SyncFailedError ? 'unsynced' : isDiskFull(error) ? 'full' : 'failed';
    // A later, worse failure replaces a full disk; nothing replaces a lasting one.
    if (this.failure && (this.failure.kind !== 'full' || kind === 'full')) return;
    const cause = error instanceof SyncFailedError ? asError(error.cause) : asError(error);
    this.failure = { error: cause, kind };
    const reason = refusal(this.failure);
    for (const progress of this.progress.values()) progress.failAwaiting(reason);
    this.context.options.logger.error(
      { topic: this.context.topic, store: this.storeId, err: cause, kind },
      kind === 'full'
        ? 'disk full: store is read-only until space is freed'
        : 'store write failed: store is read-only until restart',
    );
    if (kind === 'full') this.startResumeProbe();
  }

  private startResumeProbe(): void {
    if (this.resumeTimer) return;
    this.resumeTimer = setInterval(() => void this.probeResume(), resumeProbeIntervalMs);
    this.resumeTimer.unref();
  }

  private stopResumeProbe(): void {
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    this.resumeTimer = undefined;
  }

  /**
   * While full: once the disk has room for a cache block again, takes writes again and retries
   * the index writes and reservations that failed. A write that fails anew makes it full again.
   */
  private async probeResume(): Promise<void> {
    if (this.failure?.kind !== 'full' || this.closed) return this.stopResumeProbe();
    let available: number;
    try {
      available = await this.context.io.availableBytes(this.dir);
    } catch {
      return;
    }
    const needed = Math.min(this.context.options.cacheBlockBytes, resumeFreeBytesMax);
    if (available < needed || this.failure?.kind !== 'full' || this.closed) return;
    this.failure = undefined;
    this.stopResumeProbe();
    this.context.options.logger.info(
      { topic: this.context.topic, store: this.storeId, availableBytes: available },
      'disk has space again: store takes writes',
    );
    const targets = new Map<PartitionIndex, number>();
    for (const index of this.partitions.values())
      if (index.dataWrittenEnd > index.writtenOffset) targets.set(index, index.dataWrittenEnd);
    if (targets.size > 0) this.writeIndexes(targets);
    for (const [partition, index] of this.partitions) {
      const progress = this.progress.get(partition)!;
      if (progress.wantsReservation(index.nextOffset) || progress.markWanted) this.reservationWanted = true;
    }
    if (this.ledger.unsaved) {
      this.reservationWanted = true;
    }
    if (this.reservationWanted) this.requestReservation();
  }

  /**
   * A data write failed (disk full, I/O error): the store stops taking writes, and the failed
   * block and everything cached after it will never be written. Their offsets were handed out
   * (`memory` acks, maybe reads), so they are never given again: they become gaps, skipped by
   * readers and listed in the ledger. Their callers get the error; `memory` acks in them are lost,
   * as that level allows.
   */
  private failUnwritten(block: CacheBlock, error: unknown): void {
    this.fail(error);
    const failed = [block, this.active];
    this.active = new CacheBlock(block.basePosition);
    for (const [partition, index] of this.partitions) {
      const from = index.markGapsFrom(block.basePosition);
      if (from === undefined) continue;
      this.ledger.addGap(partition, from, index.nextOffset, 'write-failed');
      // Readers pass the gap only once the ledger says so: a restart must not reuse its offsets.
      this.progress.get(partition)!.gapFrom(from);
      this.context.options.logger.warn(
        {
          topic: this.context.topic,
          store: this.storeId,
          partition,
          fromOffset: from,
          toOffset: index.nextOffset - 1,
        },
        'offsets of unwritten batches are a gap, never reused',
      );
    }
    // The gaps go to the ledger with the next write it can make (once the disk takes writes).
    this.reservationWanted = true;
    const reason = storageError(error);
    for (const each of failed) {
      each.settle(each.writtenWaiters, reason);
      each.settle(each.writeWatchers, reason);
      each.settle(each.syncWaiters, reason);
    }
    this.releaseMemory(failed[1]!); // finishFlush releases the flushed block itself
  }

  /**
   * Captures how far data and indexes reach right after a block's index entries are written (so
   * the two agree), then syncs both and saves the checkpoint while later blocks keep flowing.
   */
  private startCheckpoint(dataPosition: number, targets: Map<PartitionIndex, number>): void {
    const endOffsets = new Map<number, number>();
    for (const [index, end] of targets) endOffsets.set(index.partition, end);
    this.checkpointWork = this.saveCheckpointAfterSync(dataPosition, endOffsets, false)
      .catch((error: unknown) => this.fail(error))
      .finally(() => this.endCheckpoint());
  }

  /** Gives a checkpoint's engine-wide slot back, whether it was written or not. */
  private endCheckpoint(): void {
    this.checkpointRunning = false;
    this.context.checkpointSlots.running--;
    this.wakeIdle();
  }

  /**
   * A checkpoint vouches for data and index entries, so both are synced before it is written, data
   * first: nothing that describes data becomes durable before the data it points to (a power loss
   * may otherwise leave index entries and a checkpoint over a data file that never reached the
   * disk). Index files beyond a checkpoint may reach the disk on their own; recovery trusts them
   * only up to the checkpoint.
   */
  private async saveCheckpointAfterSync(
    dataPosition: number,
    endOffsets: Map<number, number>,
    clean: boolean,
  ): Promise<void> {
    try {
      await this.dataLog.sync();
      for (const index of this.partitions.values()) await index.sync();
    } catch (error) {
      throw new SyncFailedError(error);
    }
    this.context.counters.syncs++;
    this.checkpointSequence++;
    await saveCheckpoint(this.context.io, this.dir, {
      sequence: this.checkpointSequence,
      dataPosition,
      clean,
      endOffsets,
    });
    this.checkpointPosition = dataPosition;
    this.checkpointAtMs = Date.now();
  }

  /** A checkpoint of everything written, once nothing is in flight (open and close). */
  private async writeCheckpoint(clean: boolean): Promise<void> {
    const endOffsets = new Map<number, number>();
    for (const [partition, index] of this.partitions) endOffsets.set(partition, index.writtenOffset);
    await this.saveCheckpointAfterSync(this.writtenPosition, endOffsets, clean);
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private get busy(): boolean {
    return (
      this.flushRunning ||
      this.syncRunning ||
      this.checkpointRunning ||
      this.reservationRunning ||
      (this.active.bytes > 0 && !this.failure)
    );
  }

  /** Writes everything cached, its index entries, pending syncs and checkpoints, and waits for them. */
  async drain(): Promise<void> {
    while (this.busy) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      if (!this.flushRunning && this.active.bytes > 0) this.startFlush();
      await idle;
    }
    const targets = new Map<PartitionIndex, number>();
    for (const index of this.partitions.values()) targets.set(index, index.dataWrittenEnd);
    this.writeIndexes(targets);
    await this.indexChain;
    await this.checkpointWork;
  }

  /** Whole checked records of one partition from `offset`: see {@link readRecords}. */
  readRaw(
    index: PartitionIndex,
    offset: number,
    maxBytes: number,
    maxMessages: number,
    streamHashes: ReadonlySet<number> | undefined,
  ): Promise<RawReadResult> {
    return readRecords(this.readSource, index, offset, maxBytes, maxMessages, streamHashes);
  }

  /** What the read path sees of this store (reads live in store-reads.ts). */
  private readonly readSource: ReadSource = {
    dataLog: () => this.dataLog,
    readableEnd: (partition) => this.readableEnd(partition),
    writtenPosition: () => this.writtenPosition,
    endPosition: () => this.active.endPosition,
    cached: (position, length) =>
      this.flushing?.contains(position)
        ? this.flushing.slice(position, length)
        : this.active.slice(position, length),
    context: () => this.context,
    storeId: () => this.storeId,
  };

  /**
   * An idle topic ages out too: its active segment is closed once old (no append comes to roll
   * it), so retention can delete it. The roll changes the data log like a flush, so it takes the
   * flush's turn (one data write at a time); while a flush runs, or after a failed write, a later
   * run does it.
   */
  private async closeAgedSegment(config: TopicConfig, nowMs: number): Promise<void> {
    if (this.flushRunning || this.failure || this.closed) return;
    if (!this.dataLog.activeExpired(nowMs, config.retentionMs)) return;
    this.flushRunning = true;
    try {
      await this.dataLog.roll(this.dataLog.endPosition);
    } catch (error) {
      this.context.options.logger.warn(
        { topic: this.context.topic, store: this.storeId, err: asError(error) },
        'could not start a new data segment for retention; the next run retries',
      );
    } finally {
      this.flushRunning = false;
      this.wakeIdle();
      this.scheduleFlush();
    }
  }

  /**
   * Deletes whole closed segments past the topic's time or size limit, oldest first (closing an
   * old active segment first), and moves each partition's earliest offset up. Returns the number
   * of segments deleted.
   */
  async enforceRetention(config: TopicConfig, nowMs: number): Promise<number> {
    await this.closeAgedSegment(config, nowMs);
    const segments = this.dataLog.segments;
    const bytesLimit = config.retentionBytes * this.partitions.size;
    let expiredCount = 0;
    let remainingBytes = this.dataLog.totalBytes;
    while (expiredCount < segments.length - 1) {
      const oldest = segments[expiredCount]!;
      const expired = config.retentionMs >= 0 && oldest.lastWriteMs < nowMs - config.retentionMs;
      const oversize = config.retentionBytes >= 0 && remainingBytes - oldest.size >= bytesLimit;
      if (!expired && !oversize) break;
      remainingBytes -= oldest.size;
      expiredCount++;
    }
    if (expiredCount === 0 || this.closed) return 0;
    // Earliest offsets move first, so no read starts on a segment about to go; reads already
    // running keep the file open until they finish.
    const newEarliestPosition = segments[expiredCount]!.base;
    for (const index of this.partitions.values()) await index.forgetBeforePosition(newEarliestPosition);
    for (let deleted = 0; deleted < expiredCount; deleted++) await this.dataLog.deleteOldest();
    return expiredCount;
  }

  get bytesOnDisk(): number {
    return this.dataLog.totalBytes;
  }

  /**
   * Flushes, syncs, writes a clean checkpoint and exact reservations, and closes every file. A
   * store that failed skips what it cannot write (recovery redoes it) and still closes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    this.clearAgeTimer();
    this.stopResumeProbe();
    if (!this.failure) {
      try {
        await this.writeCheckpoint(true);
        await this.saveExactReservations();
      } catch (error) {
        this.context.options.logger.error(
          { topic: this.context.topic, store: this.storeId, err: asError(error) },
          'clean checkpoint not written; the next start recovers this store',
        );
      }
    }
    await this.closeFiles();
  }

  /** Closes files without flushing: what a crash leaves (tests), or a topic being deleted. */
  async abandon(): Promise<void> {
    this.closed = true;
    this.clearAgeTimer();
    this.stopResumeProbe();
    const reason = new TubeError('UNAVAILABLE', 'the store was closed');
    for (const block of [this.active, this.flushing]) {
      block?.settle(block.writtenWaiters, reason);
      block?.settle(block.writeWatchers, reason);
      block?.settle(block.syncWaiters, reason);
    }
    for (const waiter of this.syncWaiting.splice(0)) waiter.reject(reason);
    for (const progress of this.progress.values()) progress.failAwaiting(reason);
    while (this.flushRunning || this.syncRunning || this.checkpointRunning || this.reservationRunning) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.indexChain;
    await this.closeFiles();
  }

  private async closeFiles(): Promise<void> {
    await this.dataLog.close();
    for (const index of this.partitions.values()) await index.close();
    await this.ledger.close();
  }
}

/** What opening a store found. */
export interface StoreRecoveryReport extends RecoveryReport {
  clean: boolean;
  /** Offsets skipped because recovery found less than had been handed out. */
  gapOffsets: number;
}

/**
 * After recovery: a partition that ends below the offsets it may have handed out (its ledger
 * reservation) resumes at the reservation, and the range between is a gap, so no offset a producer
 * or consumer may have seen is ever given to another message. Returns the offsets skipped.
 */
async function resumeAfterReserved(
  ledger: OffsetLedger,
  partitions: ReadonlyMap<number, PartitionIndex>,
  /** Whether recovery trusted a checkpoint; a rebuild from the data alone may have lost a skip. */
  checkpointTrusted: boolean,
  logger: ResolvedStorageOptions['logger'],
  where: object,
): Promise<number> {
  let skipped = 0;
  for (const index of partitions.values()) {
    const { reservedEnd: reserved, unwrittenHandedOut } = ledger.partition(index.partition);
    if (!ledger.found || index.nextOffset >= reserved) continue;
    // Within one boot every written byte survived the crash, and without the flag nothing past
    // the written data was handed out: the partition resumes exactly where its data ends.
    if (ledger.sameBoot && !unwrittenHandedOut && checkpointTrusted) continue;
    const from = index.nextOffset;
    await index.skipTo(reserved);
    ledger.addGap(index.partition, from, reserved, 'recovery');
    // Until the skip is durable (the checkpoint after recovery), another crash must skip again.
    ledger.partition(index.partition).unwrittenHandedOut = true;
    skipped += reserved - from;
    logger.warn(
      {
        ...where,
        partition: index.partition,
        fromOffset: from,
        toOffset: reserved - 1,
        offsets: reserved - from,
      },
      'recovery found less than was handed out: the missing offsets are a gap, never reused',
    );
  }
  // The gaps are on record before the checkpoint makes the skipped index durable.
  if (skipped > 0) await ledger.save();
  return skipped;
}

function indexDir(storeDir: string, partition: number): string {
  return path.join(storeDir, 'index', String(partition));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Free bytes a full store waits for before it takes writes again (at most a cache block's). */
const resumeFreeBytesMax = 1024 * 1024;

function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** What an append to a failed store is told. */
function refusal(failure: StoreFailure): TubeError {
  if (failure.kind === 'full') return storageError(failure.error);
  return new TubeError('UNAVAILABLE', `the store is read-only after a disk error: ${failure.error.message}`, {
    cause: failure.error,
    hint: 'check the disk, then restart the broker; acknowledged messages stay readable',
  });
}

/** Disk errors as callers see them: a full disk is STORAGE_FULL (507), anything else UNAVAILABLE. */
function storageError(error: unknown): TubeError {
  if (error instanceof SyncFailedError) return storageError(error.cause);
  if (isDiskFull(error)) {
    return new TubeError('STORAGE_FULL', 'the disk is full', {
      cause: error,
      hint: 'free disk space or lower retention',
    });
  }
  return new TubeError('UNAVAILABLE', `disk error: ${asError(error).message}`, { cause: error });
}
