/*
 * A store's offset ledger: how far each partition may have handed out offsets, and the gaps it
 * has. Two slot files, ledger.0 and ledger.1, written alternately, each in one O_DSYNC write, so a
 * torn write leaves the other slot valid (an older reservation, which is safe: offsets above it
 * were never acknowledged before the newer one was durable). Little-endian:
 *
 *   0  u32  magic           0x4744454c ("LEDG" on disk)
 *   4  u32  length          of the valid bytes (a slot may hold stale bytes after them)
 *   8  u32  crc32           of bytes [12, length)
 *  12  u8   version         1
 *  13  u8   reserved
 *  14  u16  reserved
 *  16  u64  sequence        higher wins
 *  24  u32  partitionCount
 *  28  u8   bootIdBytes     the boot the ledger was written in (Linux's boot_id), 0 to 64 bytes
 *  29  bootId
 *   …  partitionCount × partition-entry
 *
 *   partition-entry = u32 partition, u64 reservedEnd, u8 flags, u64 gapOffsets, u16 gapCount,
 *                     gapCount × { u64 from, u64 to, u8 cause }   (cause 1: write failed, 2: recovery)
 *
 * reservedEnd: no offset at or above it was ever handed out. flags bit 0 (`unwrittenHandedOut`):
 * offsets may have been handed out past what was written (a `memory` ack, or a gap a reader was
 * let past). Recovery resumes a partition that ends below its reservation at the reservation,
 * unless the machine has not restarted since (the same boot: every written byte is still there)
 * and the flag is clear (so nothing past the written end was handed out). gapOffsets counts every
 * offset ever skipped as a gap; the newest {@link gapsKeptMax} gaps are listed.
 */
import * as path from 'node:path';
import { crc32 } from '../common/crc32.js';
import { openDurable, type FileHandleIO, type FileIO } from '../common/file-io.js';
import { readU64, writeU64 } from '../common/record-format.js';

const ledgerMagic = 0x4744454c;
const ledgerVersion = 1;
const headerBytes = 29;
const bootIdBytesMax = 64;
const partitionHeaderBytes = 23;
const unwrittenHandedOutFlag = 1;
const gapBytes = 17;
/** Gaps listed per partition; older ones only count in `gapOffsets`. */
export const gapsKeptMax = 16;

/** Why offsets were skipped. */
export type GapCause = 'write-failed' | 'recovery';

const causeCodes: Record<GapCause, number> = { 'write-failed': 1, recovery: 2 };

/** A range of offsets [from, to) that no message has. */
export interface OffsetGap {
  from: number;
  to: number;
  cause: GapCause;
}

/** What the ledger knows of one partition. */
export interface PartitionLedger {
  reservedEnd: number;
  /** Offsets may have been handed out past the written data (see the layout above). */
  unwrittenHandedOut: boolean;
  /** Every offset ever skipped as a gap. */
  gapOffsets: number;
  /** The newest gaps, oldest first. */
  gaps: OffsetGap[];
}

const slotPath = (dir: string, slot: number) => path.join(dir, `ledger.${slot}`);

function encodeLedger(
  sequence: number,
  bootId: string,
  partitions: ReadonlyMap<number, PartitionLedger>,
): Buffer {
  const boot = Buffer.from(bootId, 'utf8').subarray(0, bootIdBytesMax);
  let length = headerBytes + boot.length;
  for (const each of partitions.values()) length += partitionHeaderBytes + each.gaps.length * gapBytes;
  const buffer = Buffer.alloc(length);
  buffer.writeUInt32LE(ledgerMagic, 0);
  buffer.writeUInt32LE(length, 4);
  buffer.writeUInt8(ledgerVersion, 12);
  writeU64(buffer, 16, sequence);
  buffer.writeUInt32LE(partitions.size, 24);
  buffer.writeUInt8(boot.length, 28);
  boot.copy(buffer, headerBytes);
  let at = headerBytes + boot.length;
  for (const [partition, each] of partitions) {
    buffer.writeUInt32LE(partition, at);
    writeU64(buffer, at + 4, each.reservedEnd);
    buffer.writeUInt8(each.unwrittenHandedOut ? unwrittenHandedOutFlag : 0, at + 12);
    writeU64(buffer, at + 13, each.gapOffsets);
    buffer.writeUInt16LE(each.gaps.length, at + 21);
    at += partitionHeaderBytes;
    for (const gap of each.gaps) {
      writeU64(buffer, at, gap.from);
      writeU64(buffer, at + 8, gap.to);
      buffer.writeUInt8(causeCodes[gap.cause], at + 16);
      at += gapBytes;
    }
  }
  buffer.writeUInt32LE(crc32(buffer, 12, length), 8);
  return buffer;
}

function decodeLedger(
  buffer: Buffer,
): { sequence: number; bootId: string; partitions: Map<number, PartitionLedger> } | undefined {
  if (buffer.length < headerBytes || buffer.readUInt32LE(0) !== ledgerMagic) return undefined;
  const length = buffer.readUInt32LE(4);
  if (length > buffer.length || length < headerBytes || buffer.readUInt8(12) !== ledgerVersion)
    return undefined;
  if (crc32(buffer, 12, length) !== buffer.readUInt32LE(8)) return undefined;
  const partitions = new Map<number, PartitionLedger>();
  const count = buffer.readUInt32LE(24);
  const bootBytes = buffer.readUInt8(28);
  if (bootBytes > bootIdBytesMax || headerBytes + bootBytes > length) return undefined;
  const bootId = buffer.toString('utf8', headerBytes, headerBytes + bootBytes);
  let at = headerBytes + bootBytes;
  for (let i = 0; i < count; i++) {
    if (at + partitionHeaderBytes > length) return undefined;
    const partition = buffer.readUInt32LE(at);
    const entry: PartitionLedger = {
      reservedEnd: readU64(buffer, at + 4),
      unwrittenHandedOut: (buffer.readUInt8(at + 12) & unwrittenHandedOutFlag) !== 0,
      gapOffsets: readU64(buffer, at + 13),
      gaps: [],
    };
    const gapCount = buffer.readUInt16LE(at + 21);
    at += partitionHeaderBytes;
    if (at + gapCount * gapBytes > length) return undefined;
    for (let g = 0; g < gapCount; g++, at += gapBytes) {
      const cause = buffer.readUInt8(at + 16) === causeCodes.recovery ? 'recovery' : 'write-failed';
      entry.gaps.push({ from: readU64(buffer, at), to: readU64(buffer, at + 8), cause });
    }
    partitions.set(partition, entry);
  }
  return at === length ? { sequence: readU64(buffer, 16), bootId, partitions } : undefined;
}

/**
 * The offset ledger of one store (layout above). Changes are made in memory and written by
 * {@link OffsetLedger.save}; one save runs at a time (the store serializes them).
 */
export class OffsetLedger {
  private readonly handles: (FileHandleIO | undefined)[] = [undefined, undefined];
  /** Changes made since the last save (a gap noted). */
  unsaved = false;

  private constructor(
    private readonly io: FileIO,
    private readonly dir: string,
    private sequence: number,
    private readonly partitions: Map<number, PartitionLedger>,
    /** Whether a valid slot was found on open (a store from before ledgers has none). */
    readonly found: boolean,
    /** Whether it was last written in this boot, so every byte written then is still there. */
    readonly sameBoot: boolean,
    private readonly bootId: string,
  ) {}

  /** Loads the newest valid slot of the store in `dir`; an empty ledger when there is none. */
  static async open(io: FileIO, dir: string): Promise<OffsetLedger> {
    let newest: ReturnType<typeof decodeLedger>;
    for (const slot of [0, 1]) {
      if (!(await io.exists(slotPath(dir, slot)))) continue;
      const candidate = decodeLedger(await io.readFile(slotPath(dir, slot)));
      if (candidate && (!newest || candidate.sequence > newest.sequence)) newest = candidate;
    }
    const bootId = await io.bootId();
    const sameBoot = newest !== undefined && bootId !== '' && newest.bootId === bootId;
    return new OffsetLedger(
      io,
      dir,
      newest?.sequence ?? 0,
      newest?.partitions ?? new Map<number, PartitionLedger>(),
      !!newest,
      sameBoot,
      bootId,
    );
  }

  /** What the ledger holds for `partition` (an entry with nothing reserved when it has none). */
  partition(partition: number): PartitionLedger {
    let entry = this.partitions.get(partition);
    if (!entry) {
      entry = { reservedEnd: 0, unwrittenHandedOut: false, gapOffsets: 0, gaps: [] };
      this.partitions.set(partition, entry);
    }
    return entry;
  }

  /** Notes the gap [from, to) of `partition`; written by the next save. */
  addGap(partition: number, from: number, to: number, cause: GapCause): void {
    if (to <= from) return;
    const entry = this.partition(partition);
    const last = entry.gaps.at(-1);
    this.unsaved = true;
    // A recovery cut short by another crash finds the same gap again, or one that overlaps a gap
    // a failed write had left: they merge, and each offset counts once.
    if (last && from < last.to && to > last.from) {
      const merged = { from: Math.min(from, last.from), to: Math.max(to, last.to) };
      entry.gapOffsets += merged.to - merged.from - (last.to - last.from);
      last.from = merged.from;
      last.to = merged.to;
      return;
    }
    entry.gapOffsets += to - from;
    entry.gaps.push({ from, to, cause });
    if (entry.gaps.length > gapsKeptMax) entry.gaps.splice(0, entry.gaps.length - gapsKeptMax);
  }

  /**
   * Sets the reservations given (partition → reservedEnd; others keep theirs) and makes the whole
   * ledger durable in the next slot. When it rejects, the reservations in memory may be ahead of
   * the disk: callers treat them as not made.
   */
  async save(reservations: ReadonlyMap<number, number> = new Map()): Promise<void> {
    for (const [partition, end] of reservations) this.partition(partition).reservedEnd = end;
    this.sequence++;
    const slot = this.sequence % 2;
    const bytes = encodeLedger(this.sequence, this.bootId, this.partitions);
    this.unsaved = false;
    this.handles[slot] ??= await openDurable(this.io, slotPath(this.dir, slot));
    await this.handles[slot].writevDurable([bytes], 0);
  }

  async close(): Promise<void> {
    for (const handle of this.handles.splice(0)) await handle?.close();
  }
}
