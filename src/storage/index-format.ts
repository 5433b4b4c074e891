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
 *                          bit 1: a gap: no record has this offset (its write failed, or recovery
 *                                 did not find it), so it is skipped; position and length are 0
 *  28  u32  crc32          of bytes [0, 28)
 */
import { crc32 } from '../common/crc32.js';
import { getU64, setU64, viewOf } from '../common/byte-view.js';

export const indexEntryBytes = 32;
const indexMagic = 0x5849;
const indexVersion = 1;
const damagedFlag = 1;
const gapFlag = 2;

/** What an entry says about its record besides where it is. */
export type IndexEntryKind = 'record' | 'damaged' | 'gap';

export function writeIndexEntry(
  target: Buffer,
  at: number,
  position: number,
  length: number,
  streamHash: number,
  timestamp: number,
  kind: IndexEntryKind = 'record',
): void {
  const view = viewOf(target);
  setU64(view, at, position);
  view.setUint32(at + 8, length, true);
  view.setUint32(at + 12, streamHash, true);
  setU64(view, at + 16, timestamp);
  view.setUint16(at + 24, indexMagic, true);
  view.setUint8(at + 26, indexVersion);
  view.setUint8(at + 27, kind === 'damaged' ? damagedFlag : kind === 'gap' ? gapFlag : 0);
  view.setUint32(at + 28, crc32(target, at, at + 28), true);
}

export function isIndexEntryValid(source: Buffer, at: number): boolean {
  const view = viewOf(source);
  return (
    view.getUint16(at + 24, true) === indexMagic &&
    view.getUint8(at + 26) === indexVersion &&
    crc32(source, at, at + 28) === view.getUint32(at + 28, true)
  );
}

export function entryPosition(source: Buffer, at: number): number {
  return getU64(viewOf(source), at);
}

export function entryLength(source: Buffer, at: number): number {
  return viewOf(source).getUint32(at + 8, true);
}

export function entryStreamHash(source: Buffer, at: number): number {
  return viewOf(source).getUint32(at + 12, true);
}

export function entryTimestamp(source: Buffer, at: number): number {
  return getU64(viewOf(source), at + 16);
}

export function entryDamaged(source: Buffer, at: number): boolean {
  return (viewOf(source).getUint8(at + 27) & damagedFlag) !== 0;
}

/** Whether the entry marks an offset no record has (see the layout above). */
export function entryGap(source: Buffer, at: number): boolean {
  return (viewOf(source).getUint8(at + 27) & gapFlag) !== 0;
}
