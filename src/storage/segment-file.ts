import * as path from 'node:path';
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

/** 20-digit zero-padded base, TubeMQ's segment naming. */
export function segmentFileName(base: number, extension: 'data' | 'index'): string {
  return `${String(base).padStart(20, '0')}.${extension}`;
}

/** The base of a segment file name, or undefined when the name is not one of ours. */
export function parseSegmentFileName(name: string, extension: 'data' | 'index'): number | undefined {
  const match = new RegExp(`^(\\d{20})\\.${extension}$`).exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A segment file found on disk and opened. */
export interface OpenedSegmentFile {
  base: number;
  filePath: string;
  handle: FileHandleIO;
  size: number;
}

/** Opens every segment file of one kind in `dir`, ordered by base; other files are left alone. */
export async function openSegmentFiles(
  io: FileIO,
  dir: string,
  extension: 'data' | 'index',
): Promise<OpenedSegmentFile[]> {
  const bases = (await io.readdir(dir))
    .map((name) => parseSegmentFileName(name, extension))
    .filter((base): base is number => base !== undefined)
    .sort((a, b) => a - b);
  const opened: OpenedSegmentFile[] = [];
  for (const base of bases) {
    const filePath = path.join(dir, segmentFileName(base, extension));
    const handle = await io.open(filePath);
    opened.push({ base, filePath, handle, size: await handle.size() });
  }
  return opened;
}
