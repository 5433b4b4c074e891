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
import { crc32 } from '../common/crc32.js';

export const recordMagic = 0x31425554;
export const recordVersion = 1;
export const recordHeaderBytes = 48;
const crcStart = 12;
const u32Span = 0x1_0000_0000;

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
  const keyLength = message.key?.length ?? 0;
  const attributesLength = message.attributes?.length ?? 0;
  const length = recordHeaderBytes + keyLength + attributesLength + message.value.length;
  target.writeUInt32LE(recordMagic, at);
  target.writeUInt32LE(length, at + 4);
  target.writeUInt8(recordVersion, at + 12);
  target.writeUInt8(0, at + 13);
  target.writeUInt16LE(0, at + 14);
  target.writeUInt32LE(partition, at + 16);
  writeU64(target, at + 20, offset);
  writeU64(target, at + 28, message.timestamp);
  target.writeUInt32LE(message.streamHash, at + 36);
  target.writeUInt32LE(keyLength, at + 40);
  target.writeUInt32LE(attributesLength, at + 44);
  let cursor = at + recordHeaderBytes;
  if (message.key) cursor += message.key.copy(target, cursor);
  if (message.attributes) cursor += message.attributes.copy(target, cursor);
  message.value.copy(target, cursor);
  target.writeUInt32LE(crc32(target, at + crcStart, at + length), at + 8);
  return length;
}

/**
 * The length of the valid record at `at`, or 0 when the bytes there are not a whole record
 * with a matching checksum (torn, damaged, or not a record at all).
 */
export function checkRecord(buffer: Buffer, at: number, available = buffer.length - at): number {
  if (available < recordHeaderBytes) return 0;
  if (buffer.readUInt32LE(at) !== recordMagic) return 0;
  const length = buffer.readUInt32LE(at + 4);
  if (length < recordHeaderBytes || length > available) return 0;
  if (buffer.readUInt8(at + 12) !== recordVersion) return 0;
  const keyLength = buffer.readUInt32LE(at + 40);
  const attributesLength = buffer.readUInt32LE(at + 44);
  if (recordHeaderBytes + keyLength + attributesLength > length) return 0;
  if (crc32(buffer, at + crcStart, at + length) !== buffer.readUInt32LE(at + 8)) return 0;
  return length;
}

/**
 * Whether the header at `at` is the one the index promised: magic, length, partition, offset.
 * The cheap check for bytes whose checksum is already known good.
 */
export function recordHeaderMatches(
  buffer: Buffer,
  at: number,
  length: number,
  partition: number,
  offset: number,
): boolean {
  return (
    buffer.readUInt32LE(at) === recordMagic &&
    buffer.readUInt32LE(at + 4) === length &&
    buffer.readUInt32LE(at + 16) === partition &&
    recordOffset(buffer, at) === offset
  );
}

export function recordLengthField(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at + 4);
}

export function recordPartition(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at + 16);
}

export function recordOffset(buffer: Buffer, at: number): number {
  return readU64(buffer, at + 20);
}

export function recordTimestamp(buffer: Buffer, at: number): number {
  return readU64(buffer, at + 28);
}

export function recordStreamHash(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at + 36);
}

/** Decodes a record already proven whole by {@link checkRecord}; key and value are views, not copies. */
export function decodeRecord(buffer: Buffer, at: number): DecodedRecord {
  const length = buffer.readUInt32LE(at + 4);
  const keyLength = buffer.readUInt32LE(at + 40);
  const attributesLength = buffer.readUInt32LE(at + 44);
  const keyStart = at + recordHeaderBytes;
  const attributesStart = keyStart + keyLength;
  const valueStart = attributesStart + attributesLength;
  return {
    partition: recordPartition(buffer, at),
    offset: recordOffset(buffer, at),
    timestamp: recordTimestamp(buffer, at),
    streamHash: recordStreamHash(buffer, at),
    key: keyLength > 0 ? buffer.subarray(keyStart, attributesStart) : undefined,
    attributes: attributesLength > 0 ? buffer.toString('utf8', attributesStart, valueStart) : '',
    value: buffer.subarray(valueStart, at + length),
  };
}

export function writeU64(target: Buffer, at: number, value: number): void {
  target.writeUInt32LE(value % u32Span, at);
  target.writeUInt32LE(Math.floor(value / u32Span), at + 4);
}

export function readU64(source: Buffer, at: number): number {
  return source.readUInt32LE(at) + source.readUInt32LE(at + 4) * u32Span;
}
