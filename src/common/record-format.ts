/*
 * Data log record, little-endian (docs/storage-format.md):
 *
 *   0  u32  magic          0x31425554 ("TUB1" on disk)
 *   4  u32  length         whole record, header included
 *   8  u32  crc32          of bytes [12, length)
 *  12  u8   version        1
 *  13  u8   flags          reserved, 0
 *  14  u16  reserved       0
 *  16  u32  partition
 *  20  u64  offset         as lo u32, hi u32
 *  28  u64  timestamp ms   as lo u32, hi u32
 *  36  u32  streamHash     FNV-1a of the stream id, 0 when none
 *  40  u32  keyLength
 *  44  u32  attributesLength
 *  48  key | attributes (UTF-8 "k=v,k=v") | value
 */
import { crc32 } from './crc32.js';
import { maxMessageBytesLimit } from './limits.js';
import { getU64, setU64, viewOf } from './byte-view.js';

export const recordMagic = 0x31425554;
export const recordVersion = 1;
export const recordHeaderBytes = 48;
/** The largest record that can exist: the largest message any topic allows, plus its header. */
export const recordBytesMax = maxMessageBytesLimit + recordHeaderBytes;
const crcStart = 12;

/** The fields of one stored record, as decoded from the data log. */
export interface DecodedRecord {
  partition: number;
  offset: number;
  timestamp: number;
  streamHash: number;
  key: Buffer | undefined;
  attributes: string;
  value: Buffer;
}

/** One message of a batch, already turned into bytes. */
export interface EncodableMessage {
  key: Buffer | undefined;
  attributes: Buffer | undefined;
  value: Buffer;
  timestamp: number;
  streamHash: number;
}

export function recordBytes(message: EncodableMessage): number {
  return (
    recordHeaderBytes + (message.key?.length ?? 0) + (message.attributes?.length ?? 0) + message.value.length
  );
}

/**
 * Writes one record at `at` in `target` (which must have room) and returns the bytes written.
 * The checksum covers everything after the crc field, so one zlib call checks a record.
 */
export function writeRecord(
  target: Buffer,
  at: number,
  message: EncodableMessage,
  partition: number,
  offset: number,
): number {
  const view = viewOf(target);
  const keyLength = message.key?.length ?? 0;
  const attributesLength = message.attributes?.length ?? 0;
  const length = recordHeaderBytes + keyLength + attributesLength + message.value.length;
  view.setUint32(at, recordMagic, true);
  view.setUint32(at + 4, length, true);
  view.setUint32(at + 12, recordVersion, true); // version 1, flags 0, reserved 0
  view.setUint32(at + 16, partition, true);
  setU64(view, at + 20, offset);
  setU64(view, at + 28, message.timestamp);
  view.setUint32(at + 36, message.streamHash, true);
  view.setUint32(at + 40, keyLength, true);
  view.setUint32(at + 44, attributesLength, true);
  let cursor = at + recordHeaderBytes;
  if (message.key) cursor += message.key.copy(target, cursor);
  if (message.attributes) cursor += message.attributes.copy(target, cursor);
  message.value.copy(target, cursor);
  view.setUint32(at + 8, crc32(target, at + crcStart, at + length), true);
  return length;
}

/**
 * The length of the valid record at `at`, or 0 when the bytes there are not a whole record
 * with a matching checksum (torn, damaged, or not a record at all).
 */
export function checkRecord(buffer: Buffer, at: number, available = buffer.length - at): number {
  if (available < recordHeaderBytes) return 0;
  const view = viewOf(buffer);
  if (view.getUint32(at, true) !== recordMagic) return 0;
  const length = view.getUint32(at + 4, true);
  if (length < recordHeaderBytes || length > available) return 0;
  if (view.getUint8(at + 12) !== recordVersion) return 0;
  const keyLength = view.getUint32(at + 40, true);
  const attributesLength = view.getUint32(at + 44, true);
  if (recordHeaderBytes + keyLength + attributesLength > length) return 0;
  if (crc32(buffer, at + crcStart, at + length) !== view.getUint32(at + 8, true)) return 0;
  return length;
}

/**
 * Whether the header at `at` is the one the index promised: magic, length, partition, offset.
 * Together with {@link checkRecord} it proves a read found the record it looked for.
 */
export function recordHeaderMatches(
  buffer: Buffer,
  at: number,
  length: number,
  partition: number,
  offset: number,
): boolean {
  const view = viewOf(buffer);
  return (
    view.getUint32(at, true) === recordMagic &&
    view.getUint32(at + 4, true) === length &&
    view.getUint32(at + 16, true) === partition &&
    getU64(view, at + 20) === offset
  );
}

export function recordLengthField(buffer: Buffer, at: number): number {
  return viewOf(buffer).getUint32(at + 4, true);
}

export function recordPartition(buffer: Buffer, at: number): number {
  return viewOf(buffer).getUint32(at + 16, true);
}

export function recordOffset(buffer: Buffer, at: number): number {
  return getU64(viewOf(buffer), at + 20);
}

export function recordTimestamp(buffer: Buffer, at: number): number {
  return getU64(viewOf(buffer), at + 28);
}

export function recordStreamHash(buffer: Buffer, at: number): number {
  return viewOf(buffer).getUint32(at + 36, true);
}

/** Decodes a record already proven whole by {@link checkRecord}; key and value are views, not copies. */
export function decodeRecord(buffer: Buffer, at: number): DecodedRecord {
  const view = viewOf(buffer);
  const length = view.getUint32(at + 4, true);
  const keyLength = view.getUint32(at + 40, true);
  const attributesLength = view.getUint32(at + 44, true);
  const keyStart = at + recordHeaderBytes;
  const attributesStart = keyStart + keyLength;
  const valueStart = attributesStart + attributesLength;
  return {
    partition: view.getUint32(at + 16, true),
    offset: getU64(view, at + 20),
    timestamp: getU64(view, at + 28),
    streamHash: view.getUint32(at + 36, true),
    key: keyLength > 0 ? buffer.subarray(keyStart, attributesStart) : undefined,
    attributes: attributesLength > 0 ? buffer.toString('utf8', attributesStart, valueStart) : '',
    value: buffer.subarray(valueStart, at + length),
  };
}

/** Writes an integer up to 2^53 as two little-endian u32 halves (cold paths: checkpoints). */
export function writeU64(target: Buffer, at: number, value: number): void {
  setU64(viewOf(target), at, value);
}

export function readU64(source: Buffer, at: number): number {
  return getU64(viewOf(source), at);
}
