import type { FileHandleIO, FileIO } from '../common/file-io.js';

/** What data and index segments share: an open file that readers may still use when it retires. */
export interface SegmentFile {
  readonly base: number;
  readonly filePath: string;
  readonly handle: FileHandleIO;
  /** Reads in flight; a retired segment is removed when the last one ends. */
  readers: number;
  /** Retired (retention, truncation): no new reads; the file goes once readers reach 0. */
  deleted: boolean;
}

/**
 * Reads up to `length` bytes at file position `at` into a new buffer, holding the segment open
 * meanwhile; the result is shorter only when the file is. Retention may retire the segment during
 * the read: the file stays until the read ends, so the fd is never reused under it.
 */
export async function readSegment(
  io: FileIO,
  segment: SegmentFile,
  at: number,
  length: number,
): Promise<Buffer> {
  segment.readers++;
  try {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const count = await segment.handle.read(buffer, done, length - done, at + done);
      if (count === 0) break;
      done += count;
    }
    return done === length ? buffer : buffer.subarray(0, done);
  } finally {
    segment.readers--;
    if (segment.deleted && segment.readers === 0) await removeSegment(io, segment);
  }
}

/** Retires a segment: removed now when nobody reads it, else by its last reader. */
export async function retireSegment(io: FileIO, segment: SegmentFile): Promise<void> {
  segment.deleted = true;
  if (segment.readers === 0) await removeSegment(io, segment);
}

async function removeSegment(io: FileIO, segment: SegmentFile): Promise<void> {
  segment.deleted = true;
  await segment.handle.close();
  await io.unlink(segment.filePath);
}

export async function closeSegments(segments: SegmentFile[]): Promise<void> {
  for (const segment of segments) await segment.handle.close();
  segments.length = 0;
}
