/*
 * Partition index entry, 32 bytes, little-endian (docs/storage-format.md). Entry n of a segment
 * file describes offset `segmentBase + n`, so a lookup is arithmetic, not a search.
 *
 *   0  u64  position       of the record in the store's data log (lo u32, hi u32)
 *   8  u32  length         of the record in bytes
 *  12  u32  streamHash     copy of the record's, so filtered reads skip bodies
 *  16  u64  timestamp ms   never below the previous entry's, for time search (lo, hi)
 *  24  u16  magic          0x5849 ("IX" on disk)
 *  26  u8   version        1
 *  27  u8   flags          bit 0: the record is damaged and is never served
 *  28  u32  crc32          of bytes [0, 28)
 */
import { crc32 } from '../common/crc32.js';
import { readU64, writeU64 } from './record-format.js';

export const indexEntryBytes = 32;
const indexMagic = 0x5849;
const indexVersion = 1;
const damagedFlag = 1;

/** One decoded index entry. */
export interface IndexEntry {
  position: number;
  length: number;
  streamHash: number;
  timestamp: number;
  damaged: boolean;
}

export function writeIndexEntry(
  target: Buffer,
  at: number,
  position: number,
  length: number,
  streamHash: number,
  timestamp: number,
  damaged = false,
): void {
  writeU64(target, at, position);
  target.writeUInt32LE(length, at + 8);
  target.writeUInt32LE(streamHash, at + 12);
  writeU64(target, at + 16, timestamp);
  target.writeUInt16LE(indexMagic, at + 24);
  target.writeUInt8(indexVersion, at + 26);
  target.writeUInt8(damaged ? damagedFlag : 0, at + 27);
  target.writeUInt32LE(crc32(target, at, at + 28), at + 28);
}

export function isIndexEntryValid(source: Buffer, at: number): boolean {
  return (
    source.readUInt16LE(at + 24) === indexMagic &&
    source.readUInt8(at + 26) === indexVersion &&
    crc32(source, at, at + 28) === source.readUInt32LE(at + 28)
  );
}

export function entryPosition(source: Buffer, at: number): number {
  return readU64(source, at);
}

export function entryLength(source: Buffer, at: number): number {
  return source.readUInt32LE(at + 8);
}

export function entryStreamHash(source: Buffer, at: number): number {
  return source.readUInt32LE(at + 12);
}

export function entryTimestamp(source: Buffer, at: number): number {
  return readU64(source, at + 16);
}

export function entryDamaged(source: Buffer, at: number): boolean {
  return (source.readUInt8(at + 27) & damagedFlag) !== 0;
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
