import * as path from 'node:path';
import { mkdirDurable, type FileIO } from '../common/file-io.js';
import {
  entryPosition,
  entryTimestamp,
  isIndexEntryValid,
  indexEntryBytes,
  writeIndexEntry,
  type IndexEntryKind,
} from './index-format.js';
import {
  closeSegments,
  openSegmentFiles,
  readSegment,
  retireSegment,
  segmentFileName,
  type SegmentFile,
} from './segment-file.js';
import { findContaining } from './sorted-ranges.js';

interface IndexSegment extends SegmentFile {
  /** Entries written to the file. */
  entries: number;
}

const pendingEntriesInitial = 256;
/** Entries read from an index file at once (128 KiB), so sequential fetches mostly skip the index read. */
const readAheadEntries = 4096;

/**
 * One partition's offset → record map. Entries below `writtenOffset` are in segment files named
 * by their base offset; the rest wait in memory until their store's flush writes them.
 */
export class PartitionIndex {
  /** First offset still stored (retention moves it up). */
  earliestOffset = 0;
  /** Entries below this are in files. */
  writtenOffset = 0;
  /** The offset the next message gets. */
  nextOffset = 0;
  /** Entries below this describe records whose data write returned: they may go to the file. */
  dataWrittenEnd = 0;
  /** Index timestamps never go down, so time search can bisect. */
  lastTimestamp = 0;
  /** Files written since the last checkpoint sync. */
  dirty = false;
  private createdSegmentSinceSync = false;
  private pending = Buffer.allocUnsafe(pendingEntriesInitial * indexEntryBytes);
  private pendingStart = 0;
  /** The last entries read from a file; written entries never change, so they stay valid. */
  private readAhead: { start: number; buffer: Buffer } | undefined;
  /** While a write of pending bytes is in flight, they must not move in place. */
  private writing = false;

  private constructor(
    private readonly io: FileIO,
    readonly dir: string,
    readonly partition: number,
    private readonly segmentEntries: number,
    private readonly segments: IndexSegment[],
  ) {}

  static async open(
    io: FileIO,
    dir: string,
    partition: number,
    segmentEntries: number,
  ): Promise<PartitionIndex> {
    await mkdirDurable(io, dir);
    const segments: IndexSegment[] = (await openSegmentFiles(io, dir, 'index')).map(({ size, ...file }) => ({
      ...file,
      entries: Math.floor(size / indexEntryBytes),
      readers: 0,
      deleted: false,
    }));
    const index = new PartitionIndex(io, dir, partition, segmentEntries, segments);
    const first = segments[0];
    const last = segments.at(-1);
    index.earliestOffset = first?.base ?? 0;
    index.writtenOffset = index.nextOffset = index.dataWrittenEnd = last ? last.base + last.entries : 0;
    await index.restoreLastTimestamp();
    return index;
  }

  /** Entries waiting in memory. */
  get pendingEntries(): number {
    return this.nextOffset - this.writtenOffset;
  }

  /** Adds the entry of offset `nextOffset` and moves it on. */
  addEntry(
    position: number,
    length: number,
    streamHash: number,
    timestamp: number,
    kind: IndexEntryKind = 'record',
  ): void {
    const used = this.pendingStart + this.pendingEntries;
    if ((used + 1) * indexEntryBytes > this.pending.length) this.growPending();
    if (timestamp > this.lastTimestamp) this.lastTimestamp = timestamp;
    const at = (this.pendingStart + this.pendingEntries) * indexEntryBytes;
    writeIndexEntry(this.pending, at, position, length, streamHash, this.lastTimestamp, kind);
    this.nextOffset++;
  }

  /**
   * The records at or after data position `position` will never be written (their write failed):
   * their pending entries become gaps, so their offsets are skipped and never handed out again.
   * Returns the first offset turned into a gap, or undefined when none was.
   */
  markGapsFrom(position: number): number | undefined {
    let first = this.pendingEntries;
    while (
      first > 0 &&
      entryPosition(this.pending, (this.pendingStart + first - 1) * indexEntryBytes) >= position
    )
      first--;
    if (first === this.pendingEntries) return undefined;
    for (let i = first; i < this.pendingEntries; i++) {
      const at = (this.pendingStart + i) * indexEntryBytes;
      writeIndexEntry(this.pending, at, 0, 0, 0, this.lastTimestamp, 'gap');
    }
    // Gaps describe no data, so they may reach the file with the entries before them.
    this.dataWrittenEnd = this.nextOffset;
    return this.writtenOffset + first;
  }

  /**
   * Recovery found less than was handed out: the partition resumes at `offset`, and [nextOffset,
   * offset) is a gap. An empty index segment starts at `offset`, so a reopen starts there too once
   * it is synced. Nothing may be pending.
   */
  async skipTo(offset: number): Promise<void> {
    if (offset <= this.nextOffset) return;
    const hadEntries = this.segments.some((segment) => segment.entries > 0);
    // Made durable by the next sync with every other segment (a checkpoint must not vouch for
    // this one while entries written before it are not).
    await this.createSegment(offset);
    this.dirty = true;
    this.writtenOffset = this.nextOffset = this.dataWrittenEnd = offset;
    this.pendingStart = 0;
    if (!hadEntries) this.earliestOffset = offset;
  }

  /**
   * When `offset` lies in a gap between index segments (left by {@link skipTo}), the offset where
   * the gap ends; otherwise undefined.
   */
  gapEnd(offset: number): number | undefined {
    if (offset < this.earliestOffset || offset >= this.writtenOffset) return undefined;
    if (this.segmentFor(offset)) return undefined;
    for (const segment of this.segments) if (segment.base > offset) return segment.base;
    return this.writtenOffset;
  }

  private growPending(): void {
    const live = this.pendingEntries * indexEntryBytes;
    const start = this.pendingStart * indexEntryBytes;
    const fitsInPlace = !this.writing && live * 2 + indexEntryBytes <= this.pending.length;
    const target = fitsInPlace
      ? this.pending
      : Buffer.allocUnsafe(Math.max(this.pending.length, live * 2 + indexEntryBytes));
    this.pending.copy(target, 0, start, start + live);
    this.pending = target;
    this.pendingStart = 0;
  }

  /**
   * Up to `maxCount` entries from `offset`, as a copy (a flush may move the pending ones). Stops
   * at a segment boundary; the caller reads on from where it stopped.
   */
  async entries(offset: number, maxCount: number): Promise<Buffer> {
    if (offset >= this.writtenOffset) {
      const count = Math.max(0, Math.min(maxCount, this.nextOffset - offset));
      const start = (this.pendingStart + offset - this.writtenOffset) * indexEntryBytes;
      return Buffer.from(this.pending.subarray(start, start + count * indexEntryBytes));
    }
    const ahead = this.readAhead;
    if (ahead && offset >= ahead.start && offset < ahead.start + ahead.buffer.length / indexEntryBytes) {
      const from = (offset - ahead.start) * indexEntryBytes;
      return ahead.buffer.subarray(from, Math.min(ahead.buffer.length, from + maxCount * indexEntryBytes));
    }
    const segment = this.segmentFor(offset);
    if (!segment) return Buffer.alloc(0);
    const available = Math.min(segment.base + segment.entries - offset, this.writtenOffset - offset);
    // Sequential readers come back for the next entries: read ahead and keep them.
    const count = Math.min(Math.max(maxCount, readAheadEntries), available);
    const buffer = await readSegment(
      this.io,
      segment,
      (offset - segment.base) * indexEntryBytes,
      count * indexEntryBytes,
    );
    const whole = buffer.subarray(0, buffer.length - (buffer.length % indexEntryBytes));
    this.readAhead = { start: offset, buffer: whole };
    return whole.subarray(0, Math.min(whole.length, maxCount * indexEntryBytes));
  }

  private segmentFor(offset: number): IndexSegment | undefined {
    return findContaining(this.segments, offset, segmentBase, segmentEnd);
  }

  /** Writes the pending entries below `upTo` to the segment files, rolling segments as they fill. */
  async writeThrough(upTo: number): Promise<void> {
    while (this.writtenOffset < upTo) {
      let segment = this.segments.at(-1);
      if (
        !segment ||
        segment.entries >= this.segmentEntries ||
        segment.base + segment.entries !== this.writtenOffset
      ) {
        segment = await this.createSegment(this.writtenOffset);
      }
      const count = Math.min(upTo - this.writtenOffset, this.segmentEntries - segment.entries);
      const start = this.pendingStart * indexEntryBytes;
      this.writing = true;
      try {
        await segment.handle.writev(
          [this.pending.subarray(start, start + count * indexEntryBytes)],
          segment.entries * indexEntryBytes,
        );
      } finally {
        this.writing = false;
      }
      segment.entries += count;
      this.writtenOffset += count;
      this.pendingStart += count;
      this.dirty = true;
    }
    if (this.dataWrittenEnd < this.writtenOffset) this.dataWrittenEnd = this.writtenOffset;
    if (this.pendingEntries === 0) this.pendingStart = 0;
    else if (this.pendingStart * indexEntryBytes > this.pending.length / 2) this.growPending();
  }

  private async createSegment(base: number): Promise<IndexSegment> {
    const filePath = path.join(this.dir, segmentFileName(base, 'index'));
    const handle = await this.io.open(filePath, { create: true });
    await handle.truncate(0);
    const segment: IndexSegment = { base, filePath, handle, entries: 0, readers: 0, deleted: false };
    this.segments.push(segment);
    this.createdSegmentSinceSync = true;
    return segment;
  }

  /** Makes the written entries durable (checkpoints and clean shutdown). */
  async sync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.segments.at(-1)?.handle.datasync();
    if (this.createdSegmentSinceSync) {
      this.createdSegmentSinceSync = false;
      for (const segment of this.segments.slice(0, -1)) await segment.handle.datasync();
      await this.io.syncDirectory(this.dir);
    }
  }

  /**
   * Recovery: keeps the entries below `end` and forgets the rest, which the caller rebuilds from
   * the data log. Nothing may be pending.
   */
  async truncateTo(end: number): Promise<void> {
    // A segment starting exactly at `end` is kept, emptied: it may be what records a skip past
    // lost offsets (see skipTo), and without it a reopen would resume below them.
    while (this.segments.length > 1 && this.segments.at(-1)!.base > end) {
      await retireSegment(this.io, this.segments.pop()!);
    }
    const last = this.segments.at(-1);
    if (last && last.base > end) {
      await retireSegment(this.io, this.segments.pop()!);
    } else if (last && last.base + last.entries > end) {
      last.entries = end - last.base;
      await last.handle.truncate(last.entries * indexEntryBytes);
    }
    this.writtenOffset = this.nextOffset = this.dataWrittenEnd = end;
    this.readAhead = undefined;
    if (this.segments.length === 0) this.earliestOffset = end;
    await this.restoreLastTimestamp();
    this.pendingStart = 0;
    this.dirty = true;
  }

  /** Index timestamps must keep rising across restarts, or time search would bisect wrongly. */
  private async restoreLastTimestamp(): Promise<void> {
    this.lastTimestamp = 0;
    const lastFilled = this.segments.findLast((segment) => segment.entries > 0);
    if (!lastFilled) return;
    const entry = await this.entryAt(lastFilled.base + lastFilled.entries - 1);
    if (entry && isIndexEntryValid(entry, 0)) this.lastTimestamp = entryTimestamp(entry, 0);
  }

  /** Reads the entry of one offset (file or memory). */
  async entryAt(offset: number): Promise<Buffer | undefined> {
    const entry = await this.entries(offset, 1);
    return entry.length === indexEntryBytes ? entry : undefined;
  }

  /**
   * The first offset in [earliestOffset, nextOffset) whose entry satisfies `isAtOrAfter`
   * (monotone along offsets), or nextOffset when none does. Bisection: log2(n) small reads.
   */
  async searchFirst(isAtOrAfter: (entry: Buffer) => boolean): Promise<number> {
    let low = this.earliestOffset;
    let high = this.nextOffset;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      // An offset in a gap between segments stands for the first one after the gap, which keeps
      // the predicate monotone along offsets.
      const entry = await this.entryAt(this.gapEnd(middle) ?? middle);
      if (!entry || isAtOrAfter(entry)) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /** Retention: the store's data below `position` is gone; moves earliestOffset and drops dead segments. */
  async forgetBeforePosition(position: number): Promise<void> {
    this.earliestOffset = await this.searchFirst((entry) => entryPosition(entry, 0) >= position);
    while (this.segments.length > 1 && this.segments[1]!.base <= this.earliestOffset) {
      await retireSegment(this.io, this.segments.shift()!);
    }
  }

  async close(): Promise<void> {
    await closeSegments(this.segments);
  }
}

const segmentBase = (segment: IndexSegment) => segment.base;
const segmentEnd = (segment: IndexSegment) => segment.base + segment.entries;
