import { TubeError } from '../common/errors.js';
import {
  checkRecord,
  recordBytesMax,
  recordHeaderBytes,
  recordHeaderMatches,
} from '../common/record-format.js';
import type { DataLog } from './data-log.js';
import {
  entryDamaged,
  entryGap,
  entryLength,
  entryPosition,
  entryStreamHash,
  indexEntryBytes,
  isIndexEntryValid,
} from './index-format.js';
import type { PartitionIndex } from './partition-index.js';
import type { StoreContext } from './store.js';
import type { RawReadResult } from './types.js';

/** What the read path needs of a store; functions, because each value may change between awaits. */
export interface ReadSource {
  dataLog(): DataLog;
  /** The first offset of a partition a consumer may not read yet. */
  readableEnd(partition: number): number;
  /** Data below this position is in the data log's files. */
  writtenPosition(): number;
  /** The log end, cached data included: an index entry pointing past it is damaged. */
  endPosition(): number;
  /** A view of cached (not yet written) bytes, or undefined when they are gone. */
  cached(position: number, length: number): Buffer | undefined;
  context(): StoreContext;
  storeId(): number;
}

/** Reads that scan more index entries than this per call stop early and let the caller continue. */
const indexEntriesPerReadMax = 8192;
/**
 * The same for reads filtered by stream: they skip most entries without touching bodies, so they
 * scan further per call rather than answer with a few messages and cost a round trip each.
 */
const filteredIndexEntriesPerReadMax = 65_536;
/** File reads of neighbouring records merge across gaps up to this size (other partitions' records). */
const readGapBytesMax = 32 * 1024;
const readSpanBytesMax = 4 * 1024 * 1024;

/**
 * Reads whole records of one partition from `offset`, up to its readable end: index entries first
 * (filtered by stream hash without touching bodies), then the records, from the cache or in
 * merged file reads, each checked before it is served. A damaged record is skipped, counted and
 * logged; offsets in a gap (no record has them) are skipped and counted.
 */
export async function readRecords(
  source: ReadSource,
  index: PartitionIndex,
  offset: number,
  maxBytes: number,
  maxMessages: number,
  streamHashes: ReadonlySet<number> | undefined,
): Promise<RawReadResult> {
  const scanLimit = streamHashes
    ? filteredIndexEntriesPerReadMax
    : Math.min(maxMessages, indexEntriesPerReadMax);
  const positions: number[] = [];
  const lengths: number[] = [];
  const offsets: number[] = [];
  // Taken once: what becomes readable while this read waits on the disk is for the next read.
  const readableEnd = source.readableEnd(index.partition);
  let damagedSkipped = 0;
  let gapSkipped = 0;
  let nextOffset = offset;
  let bytes = 0;
  let scanned = 0;
  let cursor = offset;
  let full = false;
  // Entries come from a file segment or the pending list, one source per call: go on across them.
  while (!full && scanned < scanLimit && cursor < readableEnd) {
    const gapEnd = index.gapEnd(cursor);
    if (gapEnd !== undefined) {
      // A gap between index segments costs nothing to skip, however long.
      const to = Math.min(gapEnd, readableEnd);
      gapSkipped += to - cursor;
      cursor = nextOffset = to;
      continue;
    }
    const first = cursor;
    const entries = await index.entries(first, Math.min(scanLimit - scanned, readableEnd - first));
    if (entries.length === 0) break;
    scanned += entries.length / indexEntryBytes;
    cursor += entries.length / indexEntryBytes;
    for (let at = 0; at < entries.length; at += indexEntryBytes) {
      const entryOffset = first + at / indexEntryBytes;
      if (entryGap(entries, at) && isIndexEntryValid(entries, at)) {
        gapSkipped++;
        nextOffset = entryOffset + 1;
        continue;
      }
      // The entry's CRC is checked where trusting it could lose a record (skipping by hash); a
      // wrong position or length is caught by the record check, which must match offset and length.
      if (entryDamaged(entries, at)) {
        damagedSkipped++;
        reportDamage(source, 'damaged record skipped', index.partition, entryOffset, entries, at);
        nextOffset = entryOffset + 1;
        continue;
      }
      if (streamHashes && !streamHashes.has(entryStreamHash(entries, at))) {
        if (!isIndexEntryValid(entries, at)) {
          damagedSkipped++;
          reportDamage(source, 'damaged index entry skipped', index.partition, entryOffset, entries, at);
        }
        nextOffset = entryOffset + 1;
        continue;
      }
      const length = entryLength(entries, at);
      const position = entryPosition(entries, at);
      if (length < recordHeaderBytes || length > recordBytesMax || position + length > source.endPosition()) {
        // Only a damaged entry says this; reading it could allocate gigabytes or read past the log.
        damagedSkipped++;
        reportDamage(source, 'damaged index entry skipped', index.partition, entryOffset, entries, at);
        nextOffset = entryOffset + 1;
        continue;
      }
      if (positions.length > 0 && bytes + length > maxBytes) {
        full = true;
        break;
      }
      positions.push(position);
      lengths.push(length);
      offsets.push(entryOffset);
      bytes += length;
      nextOffset = entryOffset + 1;
      if (positions.length >= maxMessages) {
        full = true;
        break;
      }
    }
  }
  const result: RawReadResult = {
    chunks: [],
    count: 0,
    nextOffset,
    latestOffset: readableEnd,
    damagedSkipped,
    gapSkipped,
  };
  await collectRecords(source, index, positions, lengths, offsets, result);
  source.context().counters.damagedRecordsSkipped += result.damagedSkipped;
  return result;
}

/** Records of one partition that one file read returns, or one cached record. */
interface ReadSpan {
  /** Indexes into the read's positions/lengths/offsets, first to last inclusive. */
  first: number;
  last: number;
  position: number;
  length: number;
  /** The cached bytes of a record not yet written to a file. */
  cached?: Buffer;
}

/** File reads one call keeps in flight, so a filtered read's scattered records are read in parallel. */
const fileReadsInFlightMax = 16;

async function collectRecords(
  source: ReadSource,
  index: PartitionIndex,
  positions: number[],
  lengths: number[],
  offsets: number[],
  result: RawReadResult,
): Promise<void> {
  const { spans, rolledBackAt } = planSpans(source, positions, lengths);
  const buffers = await readSpans(source, spans);
  const partition = index.partition;
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s]!;
    if (span.cached !== undefined) {
      // Still in the cache: these bytes were checksummed as they were encoded here.
      pushRecord(result, span.cached, 0, span.length);
      continue;
    }
    const buffer = buffers[s];
    if (!buffer && span.position >= source.dataLog().earliestPosition) {
      // Not removed by retention, so the index entry pointed outside the log: skip it as damaged.
      // Only the span's first record is given up; the others are planned again on their own.
      result.damagedSkipped++;
      reportDamage(source, 'damaged index entry skipped', partition, offsets[span.first]!, undefined, 0);
      if (span.first < span.last) {
        const after = span.first + 1;
        await collectRecords(
          source,
          index,
          positions.slice(after),
          lengths.slice(after),
          offsets.slice(after),
          result,
        );
        return;
      }
      continue;
    }
    if (!buffer) {
      // Retention removed the segment while this read waited; the caller restarts from earliest.
      throw new TubeError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offsets[span.first]} of partition ${partition} was removed by retention`,
        { details: { earliest: index.earliestOffset, latest: index.nextOffset } },
      );
    }
    checkSpan(source, partition, buffer, span, positions, lengths, offsets, result);
  }
  // A cached batch was rolled back after a failed write while this read waited: end the read there.
  if (rolledBackAt !== undefined) result.nextOffset = offsets[rolledBackAt]!;
}

/**
 * Groups the records into spans, synchronously so the cache and file layout are seen at one
 * moment: neighbouring records on file merge into one read (across small gaps), each cached record
 * is its own span. Stops at a cached record that is gone (`rolledBackAt`).
 */
function planSpans(
  source: ReadSource,
  positions: number[],
  lengths: number[],
): { spans: ReadSpan[]; rolledBackAt: number | undefined } {
  const spans: ReadSpan[] = [];
  const written = source.writtenPosition();
  let i = 0;
  while (i < positions.length) {
    const position = positions[i]!;
    if (position >= written) {
      const cached = source.cached(position, lengths[i]!);
      if (!cached) return { spans, rolledBackAt: i };
      spans.push({ first: i, last: i, position, length: lengths[i]!, cached });
      i++;
      continue;
    }
    const segment = source.dataLog().segmentFor(position);
    const segmentEnd = segment ? segment.base + segment.size : position;
    let last = i;
    while (
      last + 1 < positions.length &&
      positions[last + 1]! < written &&
      positions[last + 1]! + lengths[last + 1]! <= segmentEnd &&
      positions[last + 1]! - (positions[last]! + lengths[last]!) <= readGapBytesMax &&
      positions[last + 1]! + lengths[last + 1]! - position <= readSpanBytesMax
    ) {
      last++;
    }
    spans.push({ first: i, last, position, length: positions[last]! + lengths[last]! - position });
    i = last + 1;
  }
  return { spans, rolledBackAt: undefined };
}

/** Reads every file span, up to {@link fileReadsInFlightMax} at once; cached spans stay undefined. */
async function readSpans(source: ReadSource, spans: readonly ReadSpan[]): Promise<(Buffer | undefined)[]> {
  const buffers = new Array<Buffer | undefined>(spans.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spans.length) {
      const s = next++;
      const span = spans[s]!;
      if (span.cached === undefined) buffers[s] = await source.dataLog().read(span.position, span.length);
    }
  };
  const files = spans.filter((span) => span.cached === undefined).length;
  await Promise.all(Array.from({ length: Math.min(fileReadsInFlightMax, files) }, worker));
  return buffers;
}

/** Checks every record of a span read from file and adds the valid ones as chunks of `buffer`. */
function checkSpan(
  source: ReadSource,
  partition: number,
  buffer: Buffer,
  span: ReadSpan,
  positions: number[],
  lengths: number[],
  offsets: number[],
  result: RawReadResult,
): void {
  let chunkStart = -1;
  let chunkEnd = -1;
  for (let k = span.first; k <= span.last; k++) {
    const at = positions[k]! - span.position;
    const length = lengths[k]!;
    // Every record read from disk is checked in full: one whose CRC fails is never served.
    const valid =
      checkRecord(buffer, at, length) === length &&
      recordHeaderMatches(buffer, at, length, partition, offsets[k]!);
    if (valid && at === chunkEnd) {
      chunkEnd += length;
    } else {
      if (chunkStart >= 0) result.chunks.push(buffer.subarray(chunkStart, chunkEnd));
      chunkStart = valid ? at : -1;
      chunkEnd = valid ? at + length : -1;
    }
    if (valid) {
      result.count++;
      continue;
    }
    result.damagedSkipped++;
    const segment = source.dataLog().segmentFor(positions[k]!);
    source.context().options.logger.warn(
      {
        topic: source.context().topic,
        store: source.storeId(),
        partition,
        offset: offsets[k],
        file: segment?.filePath,
        position: positions[k]! - (segment?.base ?? 0),
      },
      'damaged record skipped (checksum or header mismatch); it is never served',
    );
  }
  if (chunkStart >= 0) result.chunks.push(buffer.subarray(chunkStart, chunkEnd));
}

/** Adds a verified record, extending the previous chunk when it directly follows in the same buffer. */
function pushRecord(result: RawReadResult, buffer: Buffer, at: number, length: number): void {
  const previous = result.chunks.at(-1);
  if (
    previous &&
    previous.buffer === buffer.buffer &&
    previous.byteOffset + previous.length === buffer.byteOffset + at
  ) {
    result.chunks[result.chunks.length - 1] = Buffer.from(
      previous.buffer,
      previous.byteOffset,
      previous.length + length,
    );
  } else {
    result.chunks.push(buffer.subarray(at, at + length));
  }
  result.count++;
}

function reportDamage(
  source: ReadSource,
  message: string,
  partition: number,
  offset: number,
  entries: Buffer | undefined,
  at: number,
): void {
  const entryValid = entries !== undefined && isIndexEntryValid(entries, at);
  source.context().options.logger.warn(
    {
      topic: source.context().topic,
      store: source.storeId(),
      partition,
      offset,
      indexEntryCrcValid: entryValid,
      position: entryValid ? entryPosition(entries, at) : undefined,
    },
    message,
  );
}
