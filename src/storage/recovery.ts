import type { StorageLogger } from './options.js';
import type { DataLog, DataSegment } from './data-log.js';
import type { PartitionIndex } from './partition-index.js';
import {
  checkRecord,
  recordHeaderBytes,
  recordMagic,
  recordOffset,
  recordPartition,
  recordStreamHash,
  recordTimestamp,
} from '../common/record-format.js';

/** What recovery found in a store's data log. */
export interface RecoveryReport {
  /** Bytes of data log read and checked. */
  scannedBytes: number;
  /** Bytes cut from a torn or partial tail. */
  truncatedBytes: number;
  /** Offsets marked damaged: their records were unreadable, and they are never served. */
  damagedRecords: number;
  /** Bytes of unreadable regions skipped in the middle of the log. */
  damagedBytes: number;
}

const windowBytes = 8 * 1024 * 1024;
const pendingWriteThroughEntries = 65_536;
const magicBytes = Buffer.alloc(4);
magicBytes.writeUInt32LE(recordMagic);

/** A sliding read window over one segment, so records can be checked wherever they fall. */
class SegmentWindow {
  private buffer = Buffer.alloc(0);
  private base = 0;

  constructor(readonly segment: DataSegment) {}

  get end(): number {
    return this.segment.base + this.segment.size;
  }

  /** Makes [position, position + length) readable (clipped to the segment) and returns its offset in {@link bytes}. */
  async ensure(position: number, length: number): Promise<number> {
    const wanted = Math.min(length, this.end - position);
    if (position >= this.base && position + wanted <= this.base + this.buffer.length)
      return position - this.base;
    const size = Math.min(Math.max(windowBytes, wanted), this.end - position);
    const buffer = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const count = await this.segment.handle.read(
        buffer,
        done,
        size - done,
        position - this.segment.base + done,
      );
      if (count === 0) break;
      done += count;
    }
    this.buffer = buffer.subarray(0, done);
    this.base = position;
    return 0;
  }

  get bytes(): Buffer {
    return this.buffer;
  }

  /** The length of a whole, checksum-valid record at `position`, else 0. */
  async recordAt(position: number, recordBytesMax: number): Promise<number> {
    if (this.end - position < recordHeaderBytes) return 0;
    let at = await this.ensure(position, recordHeaderBytes);
    if (this.buffer.readUInt32LE(at) !== recordMagic) return 0;
    const length = this.buffer.readUInt32LE(at + 4);
    if (length < recordHeaderBytes || length > recordBytesMax || position + length > this.end) return 0;
    at = await this.ensure(position, length);
    return checkRecord(this.buffer, at, Math.min(length, this.buffer.length - at));
  }
}

/**
 * Rebuilds the indexes of a store from its data log, from `from` to the end, checking every
 * record's checksum and its place in its partition's offset sequence.
 *
 * A bad region followed by a valid record is damage in the middle: it is skipped and its offsets
 * are marked damaged in the index, so everything after it is still served. A bad region with no
 * valid record after it is a torn tail: the log is cut there and appending resumes.
 */
export async function recoverStore(
  dataLog: DataLog,
  partitions: ReadonlyMap<number, PartitionIndex>,
  from: number,
  /** Partitions whose offsets start at their first record found (no checkpoint to trust). */
  startAtFirstRecord: Set<number>,
  recordBytesMax: number,
  logger: StorageLogger,
  where: object,
): Promise<RecoveryReport> {
  const report: RecoveryReport = { scannedBytes: 0, truncatedBytes: 0, damagedRecords: 0, damagedBytes: 0 };
  /**
   * What a damaged region's first header seems to say, kept as a guess: its partition field may
   * be the damaged part. A later record of that partition proves or replaces it (gaps are marked
   * anyway); only a guess still pending at the end names a last record that would otherwise be lost.
   */
  const guesses = new Map<PartitionIndex, { offset: number; position: number; length: number }>();

  /** Takes the valid record at `at` if it continues its partition; false when it cannot belong. */
  const accept = async (window: SegmentWindow, position: number, length: number): Promise<boolean> => {
    const at = await window.ensure(position, length);
    const bytes = window.bytes;
    const partition = partitions.get(recordPartition(bytes, at));
    if (!partition) return false;
    const offset = recordOffset(bytes, at);
    guesses.delete(partition);
    if (startAtFirstRecord.delete(partition.partition)) await partition.truncateTo(offset);
    if (offset < partition.nextOffset) return false;
    if (offset > partition.nextOffset) {
      const missing = offset - partition.nextOffset;
      report.damagedRecords += missing;
      logger.warn(
        { ...where, partition: partition.partition, fromOffset: partition.nextOffset, toOffset: offset - 1 },
        'offsets lost to damage are marked and skipped',
      );
      while (partition.nextOffset < offset) partition.addEntry(position, 0, 0, 0, 'damaged');
    }
    partition.addEntry(position, length, recordStreamHash(bytes, at), recordTimestamp(bytes, at));
    if (partition.pendingEntries >= pendingWriteThroughEntries)
      await partition.writeThrough(partition.nextOffset);
    return true;
  };

  /** Notes the record a damaged region starts with, when its header still names its place. */
  const guessDamagedHead = async (window: SegmentWindow, position: number, regionEnd: number) => {
    const at = await window.ensure(position, recordHeaderBytes);
    const bytes = window.bytes;
    if (bytes.length - at < recordHeaderBytes || bytes.readUInt32LE(at) !== recordMagic) return;
    const partition = partitions.get(recordPartition(bytes, at));
    const length = bytes.readUInt32LE(at + 4);
    if (!partition || startAtFirstRecord.has(partition.partition)) return;
    const offset = recordOffset(bytes, at);
    if (offset !== partition.nextOffset || position + length > regionEnd) return;
    guesses.set(partition, { offset, position, length });
  };

  const findNextValid = async (window: SegmentWindow, from: number): Promise<number | undefined> => {
    let position = from;
    while (position < window.end - recordHeaderBytes) {
      const at = await window.ensure(position, windowBytes);
      const found = window.bytes.indexOf(magicBytes, at);
      if (found < 0) {
        position += Math.max(1, window.bytes.length - at - magicBytes.length + 1);
        continue;
      }
      const candidate = position + (found - at);
      const length = await window.recordAt(candidate, recordBytesMax);
      if (length > 0 && (await continues(window, candidate))) return candidate;
      position = candidate + 1;
    }
    return undefined;
  };

  const continues = async (window: SegmentWindow, position: number): Promise<boolean> => {
    const at = await window.ensure(position, recordHeaderBytes);
    const partition = partitions.get(recordPartition(window.bytes, at));
    if (!partition) return false;
    return (
      startAtFirstRecord.has(partition.partition) || recordOffset(window.bytes, at) >= partition.nextOffset
    );
  };

  for (const segment of [...dataLog.segments]) {
    const end = segment.base + segment.size;
    if (end <= from) continue;
    const window = new SegmentWindow(segment);
    let position = Math.max(from, segment.base);
    report.scannedBytes += end - position;
    while (position < end) {
      const length = await window.recordAt(position, recordBytesMax);
      if (length > 0 && (await accept(window, position, length))) {
        position += length;
        continue;
      }
      const next = await findNextValid(window, position + 1);
      if (next === undefined && segment === dataLog.segments.at(-1)) {
        report.truncatedBytes += dataLog.endPosition - position;
        logger.warn(
          { ...where, file: segment.filePath, position: position - segment.base, bytes: end - position },
          'torn tail truncated',
        );
        await dataLog.truncateAt(position);
        return finish();
      }
      // A later segment exists, so this is damage, not a torn tail: the records after it are
      // still good. (After a power loss an older segment's unsynced end can be torn too; only
      // records no `fsync` ack covered can be there, and they read as damaged.)
      const regionEnd = next ?? end;
      report.damagedBytes += regionEnd - position;
      logger.warn(
        { ...where, file: segment.filePath, position: position - segment.base, bytes: regionEnd - position },
        'damaged region skipped',
      );
      await guessDamagedHead(window, position, regionEnd);
      position = regionEnd;
    }
  }
  return finish();

  async function finish(): Promise<RecoveryReport> {
    for (const [partition, guess] of guesses) {
      if (partition.nextOffset !== guess.offset) continue;
      partition.addEntry(guess.position, guess.length, 0, 0, 'damaged');
      report.damagedRecords++;
      logger.warn(
        { ...where, partition: partition.partition, offset: guess.offset },
        'damaged record marked',
      );
    }
    for (const partition of partitions.values()) await partition.writeThrough(partition.nextOffset);
    return report;
  }
}
