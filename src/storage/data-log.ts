import * as path from 'node:path';
import { mkdirDurable, type FileIO } from '../common/file-io.js';
import {
  closeSegments,
  openSegmentFiles,
  readSegment,
  retireSegment,
  segmentFileName,
  type SegmentFile,
} from './segment-file.js';
import { findContaining } from './sorted-ranges.js';

/** One data segment file: bytes [base, base + size) of a store's data log. */
export interface DataSegment extends SegmentFile {
  size: number;
  /** When its first byte was written (its age counts from here); undefined while it is empty. */
  firstWriteMs: number | undefined;
  lastWriteMs: number;
  /** Written since its last fdatasync. */
  dirty: boolean;
}

/**
 * A store's append-only data log: segment files named by their base position, all partitions of
 * the store interleaved, so writes stay sequential however many partitions share it.
 */
export class DataLog {
  private syncChain: Promise<void> = Promise.resolve();
  private syncsQueued = 0;

  private constructor(
    private readonly io: FileIO,
    readonly dir: string,
    private readonly segmentBytes: number,
    /** The age at which the active segment is closed (the topic's, read at each decision). */
    private readonly segmentMs: () => number,
    readonly segments: DataSegment[],
  ) {}

  static async open(
    io: FileIO,
    dir: string,
    segmentBytes: number,
    segmentMs: () => number,
  ): Promise<DataLog> {
    await mkdirDurable(io, dir);
    const segments: DataSegment[] = [];
    for (const file of await openSegmentFiles(io, dir, 'data')) {
      const lastWriteMs = await io.mtimeMs(file.filePath);
      // When a segment found on disk was first written is not recorded anywhere: its file's birth
      // time is the best estimate, else (no birth time, or a later one: a copied or restored file)
      // its last write, which makes it look younger, never older, than it is.
      const birthMs = await io.birthtimeMs(file.filePath);
      const firstWriteMs = birthMs > 0 && birthMs <= lastWriteMs ? birthMs : lastWriteMs;
      segments.push({
        ...file,
        firstWriteMs: file.size > 0 ? firstWriteMs : undefined,
        lastWriteMs,
        readers: 0,
        deleted: false,
        dirty: false,
      });
    }
    return new DataLog(io, dir, segmentBytes, segmentMs, segments);
  }

  get earliestPosition(): number {
    return this.segments[0]?.base ?? 0;
  }

  get endPosition(): number {
    const last = this.segments.at(-1);
    return last ? last.base + last.size : 0;
  }

  get totalBytes(): number {
    return this.endPosition - this.earliestPosition;
  }

  /**
   * Where the log first stops short of the next segment's base (data an older segment lost to a
   * power loss before it was synced), or the end when it is whole.
   */
  firstHole(): number {
    for (let i = 0; i + 1 < this.segments.length; i++) {
      const segment = this.segments[i]!;
      if (segment.base + segment.size < this.segments[i + 1]!.base) return segment.base + segment.size;
    }
    return this.endPosition;
  }

  /**
   * Appends `chunks` (`bytes` in all) at the end; a batch never spans two segments. With `durable`,
   * and when no earlier byte waits for a sync, the write itself is durable (O_DSYNC), which spares
   * a separate fdatasync; resolves to whether it was. A sync that started before it may still be
   * running: its bytes are durable only once that sync is done.
   */
  async append(chunks: readonly Buffer[], bytes: number, durable = false): Promise<boolean> {
    let last = this.segments.at(-1);
    const nowMs = Date.now();
    if (!last || (last.size > 0 && (last.size + bytes > this.segmentBytes || this.isAged(last, nowMs))))
      last = await this.roll(this.endPosition);
    // A durable write syncs only its own range, so it is one only when nothing before it is dirty.
    const writeDurably = durable && !this.segments.some(awaitsSync);
    if (writeDurably) {
      await last.handle.writevDurable(chunks, last.size);
    } else {
      await last.handle.writev(chunks, last.size);
      // Marked once written: a sync that started before the write finished must not clear it.
      last.dirty = true;
    }
    last.firstWriteMs ??= nowMs;
    last.size += bytes;
    last.lastWriteMs = Date.now();
    return writeDurably;
  }

  /** Whether `segment` has been written to for `segmentMs` (size is not the only reason to roll). */
  private isAged(segment: DataSegment, nowMs: number): boolean {
    return segment.firstWriteMs !== undefined && nowMs - segment.firstWriteMs >= this.segmentMs();
  }

  /**
   * Retention: whether the active segment holds data and should be closed so it can age out (past
   * `segmentMs`, or its last write past `retentionMs`); an idle topic gets no append to roll it.
   */
  activeExpired(nowMs: number, retentionMs: number): boolean {
    const last = this.segments.at(-1);
    if (!last || last.size === 0) return false;
    return this.isAged(last, nowMs) || (retentionMs >= 0 && last.lastWriteMs < nowMs - retentionMs);
  }

  /**
   * Starts a new segment at `base`. The old one is not synced here (a gigabyte's fdatasync would
   * stall every append behind it); {@link sync} syncs it before the new one.
   */
  async roll(base: number): Promise<DataSegment> {
    const filePath = path.join(this.dir, segmentFileName(base, 'data'));
    const handle = await this.io.open(filePath, { create: true });
    await this.io.syncDirectory(this.dir);
    const segment: DataSegment = {
      base,
      filePath,
      handle,
      size: 0,
      firstWriteMs: undefined,
      lastWriteMs: Date.now(),
      readers: 0,
      deleted: false,
      dirty: false,
    };
    this.segments.push(segment);
    return segment;
  }

  /** The segment holding `position`, or undefined when retention removed it or it was never written. */
  segmentFor(position: number): DataSegment | undefined {
    return findContaining(this.segments, position, segmentBase, segmentEnd);
  }

  /**
   * Reads [position, position + length) from one segment into a new buffer; undefined when the
   * range is not (or no longer) stored.
   */
  async read(position: number, length: number): Promise<Buffer | undefined> {
    const segment = this.segmentFor(position);
    if (!segment || position + length > segment.base + segment.size) return undefined;
    const buffer = await readSegment(this.io, segment, position - segment.base, length);
    return buffer.length === length ? buffer : undefined;
  }

  /**
   * Syncs every segment written since its last sync, oldest first, so durability only grows
   * forward. Calls queue behind each other: one that resolves covers every write that returned
   * before it was made, even when another sync was already running.
   */
  sync(): Promise<void> {
    this.syncsQueued++;
    const done = this.syncChain.then(() => this.syncDirty());
    this.syncChain = done.catch(() => undefined);
    return done.finally(() => this.syncsQueued--);
  }

  /**
   * After an unclean shutdown the segments' bytes may sit in the page cache only (written before
   * the crash, never synced): the next sync must cover them before anything vouches for them.
   */
  markAllUnsynced(): void {
    for (const segment of this.segments) segment.dirty = true;
  }

  /** Whether a sync is queued or running (its bytes are not durable until it resolves). */
  get syncing(): boolean {
    return this.syncsQueued > 0;
  }

  private async syncDirty(): Promise<void> {
    for (const segment of this.segments) {
      if (!awaitsSync(segment)) continue;
      segment.dirty = false;
      try {
        await segment.handle.datasync();
      } catch (error) {
        segment.dirty = true;
        throw error;
      }
    }
  }

  /**
   * A write failed part-way: bytes past the log's end may be on the file. Cuts them off, so a
   * later recovery never mistakes them for records (best effort: recovery cuts a torn tail too).
   */
  async discardPastEnd(): Promise<void> {
    const last = this.segments.at(-1);
    if (!last) return;
    try {
      if ((await last.handle.size()) > last.size) await last.handle.truncate(last.size);
    } catch {
      // A failing disk may refuse this too; recovery handles the bytes left behind.
    }
  }

  /** Recovery: cuts the log at `position` and removes every later segment (their data is unproven). */
  async truncateAt(position: number): Promise<void> {
    while (this.segments.length > 0 && this.segments.at(-1)!.base > position) {
      await retireSegment(this.io, this.segments.pop()!);
    }
    const last = this.segments.at(-1);
    if (last && last.base + last.size > position) {
      await last.handle.truncate(position - last.base);
      last.size = position - last.base;
      if (last.size === 0) last.firstWriteMs = undefined;
      await last.handle.datasync();
    }
  }

  /** Retention: removes the oldest segment; never the last one, which takes appends. */
  async deleteOldest(): Promise<DataSegment | undefined> {
    if (this.segments.length < 2) return undefined;
    const segment = this.segments.shift()!;
    await retireSegment(this.io, segment);
    return segment;
  }

  async close(): Promise<void> {
    await closeSegments(this.segments);
  }
}

/** Written since its last sync and still on disk: what {@link DataLog.sync} must sync. */
const awaitsSync = (segment: DataSegment) => segment.dirty && !segment.deleted;
const segmentBase = (segment: DataSegment) => segment.base;
const segmentEnd = (segment: DataSegment) => segment.base + segment.size;
