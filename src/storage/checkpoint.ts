/*
 * Store checkpoint: two slot files, checkpoint.0 and checkpoint.1, written alternately so a torn
 * write leaves the other slot valid. Little-endian:
 *
 *   0  u32  magic           0x4b435054 ("TPCK" on disk)
 *   4  u32  length          of the whole slot
 *   8  u32  crc32           of bytes [12, length)
 *  12  u8   version         1
 *  13  u8   flags           bit 0: written by a clean shutdown
 *  14  u16  reserved
 *  16  u64  sequence        higher wins
 *  24  u64  dataPosition    every record below it is indexed and synced
 *  32  u32  partitionCount
 *  36  partitionCount × { u32 partition, u64 endOffset }   (12 bytes each)
 */
import * as path from 'node:path';
import { crc32 } from '../common/crc32.js';
import type { FileIO } from '../common/file-io.js';
import { readU64, writeU64 } from '../common/record-format.js';

const checkpointMagic = 0x4b435054;
const checkpointVersion = 1;
const cleanFlag = 1;
const headerBytes = 36;
const partitionBytes = 12;

/** What a checkpoint proves about a store. */
export interface Checkpoint {
  sequence: number;
  dataPosition: number;
  clean: boolean;
  /** Per partition: entries below this offset are in the index files and synced. */
  endOffsets: Map<number, number>;
}

const slotPath = (dir: string, slot: number) => path.join(dir, `checkpoint.${slot}`);

function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const buffer = Buffer.alloc(headerBytes + checkpoint.endOffsets.size * partitionBytes);
  buffer.writeUInt32LE(checkpointMagic, 0);
  buffer.writeUInt32LE(buffer.length, 4);
  buffer.writeUInt8(checkpointVersion, 12);
  buffer.writeUInt8(checkpoint.clean ? cleanFlag : 0, 13);
  writeU64(buffer, 16, checkpoint.sequence);
  writeU64(buffer, 24, checkpoint.dataPosition);
  buffer.writeUInt32LE(checkpoint.endOffsets.size, 32);
  let at = headerBytes;
  for (const [partition, endOffset] of checkpoint.endOffsets) {
    buffer.writeUInt32LE(partition, at);
    writeU64(buffer, at + 4, endOffset);
    at += partitionBytes;
  }
  buffer.writeUInt32LE(crc32(buffer, 12, buffer.length), 8);
  return buffer;
}

function decodeCheckpoint(buffer: Buffer): Checkpoint | undefined {
  if (buffer.length < headerBytes || buffer.readUInt32LE(0) !== checkpointMagic) return undefined;
  const length = buffer.readUInt32LE(4);
  if (length > buffer.length || length < headerBytes || buffer.readUInt8(12) !== checkpointVersion)
    return undefined;
  if (crc32(buffer, 12, length) !== buffer.readUInt32LE(8)) return undefined;
  const count = buffer.readUInt32LE(32);
  if (headerBytes + count * partitionBytes !== length) return undefined;
  const endOffsets = new Map<number, number>();
  for (let i = 0, at = headerBytes; i < count; i++, at += partitionBytes) {
    endOffsets.set(buffer.readUInt32LE(at), readU64(buffer, at + 4));
  }
  return {
    sequence: readU64(buffer, 16),
    dataPosition: readU64(buffer, 24),
    clean: (buffer.readUInt8(13) & cleanFlag) !== 0,
    endOffsets,
  };
}

/** The newest valid checkpoint of a store, or undefined when neither slot holds one. */
export async function loadCheckpoint(io: FileIO, dir: string): Promise<Checkpoint | undefined> {
  let newest: Checkpoint | undefined;
  for (const slot of [0, 1]) {
    if (!(await io.exists(slotPath(dir, slot)))) continue;
    const candidate = decodeCheckpoint(await io.readFile(slotPath(dir, slot)));
    if (candidate && (!newest || candidate.sequence > newest.sequence)) newest = candidate;
  }
  return newest;
}

/** Writes `checkpoint` into the slot its sequence picks and syncs it. */
export async function saveCheckpoint(io: FileIO, dir: string, checkpoint: Checkpoint): Promise<void> {
  const bytes = encodeCheckpoint(checkpoint);
  const filePath = slotPath(dir, checkpoint.sequence % 2);
  const created = !(await io.exists(filePath));
  const handle = await io.open(filePath, { create: true });
  try {
    await handle.writev([bytes], 0);
    await handle.truncate(bytes.length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (created) await io.syncDirectory(dir);
}
