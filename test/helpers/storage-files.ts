// Helpers the storage tests share: temp directories, a logger that keeps what the engine says,
// where a store keeps its files, and a walk over its data segments record by record.
//
// Importing this module has no side effects (no node:test hooks), because the append-child
// fixture imports it too, and a plain process that registers a hook prints a TAP report on
// stdout, where the parent expects only ack lines.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkRecord,
  decodeRecord,
  recordLengthField,
  type StorageEngine,
  type StorageLogger,
  type StoredMessage,
} from '../../src/storage/index.js';

/** One call the engine made to its logger. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps every entry, so a test can check warnings without printing them. */
export function capturingLogger(): { logger: StorageLogger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const push = (level: LogEntry['level']) => (fields: object, message: string) =>
    entries.push({ level, fields: fields as Record<string, unknown>, message });
  return { logger: { info: push('info'), warn: push('warn'), error: push('error') }, entries };
}

const tempDirs: string[] = [];

/** A fresh directory under the OS temp directory, deleted by `removeTempDirs`. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-'));
  tempDirs.push(dir);
  return dir;
}

/** Deletes every directory `tempDir` made; each test file registers it with `after()`. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** The directory of one store of a topic. */
export function storeDir(dataDir: string, topic: string, store = 0): string {
  return path.join(dataDir, 'topics', topic, `store-${store}`);
}

/** The data segment files of a store, oldest first. */
export function dataFiles(dataDir: string, topic: string, store = 0): string[] {
  return fs
    .readdirSync(storeDir(dataDir, topic, store))
    .filter((name) => /^\d{20}\.data$/.test(name))
    .sort();
}

/** One record as laid out in the data files. */
export interface FoundRecord {
  file: string;
  /** Byte position inside its segment file. */
  at: number;
  length: number;
  partition: number;
  offset: number;
  /** Position of the value inside the record. */
  valueAt: number;
  value: Buffer;
}

/** Walks every data segment of a store record by record; all of them must be whole and valid. */
export function recordsOnDisk(dataDir: string, topic: string, store = 0): FoundRecord[] {
  const found: FoundRecord[] = [];
  for (const file of dataFiles(dataDir, topic, store)) {
    const bytes = fs.readFileSync(path.join(storeDir(dataDir, topic, store), file));
    for (let at = 0; at < bytes.length; at += recordLengthField(bytes, at)) {
      const length = checkRecord(bytes, at);
      assert.ok(length > 0, `setup: invalid record in ${file} at ${at}`);
      const record = decodeRecord(bytes, at);
      found.push({
        file,
        at,
        length,
        partition: record.partition,
        offset: record.offset,
        valueAt: length - record.value.length,
        value: Buffer.from(record.value),
      });
    }
  }
  return found;
}

/** Reads a partition from its earliest offset to its end, `maxMessages` at a time. */
export async function readPartition(
  engine: StorageEngine,
  topic: string,
  partition: number,
  maxMessages: number,
): Promise<{ messages: StoredMessage[]; damagedSkipped: number }> {
  const messages: StoredMessage[] = [];
  let damagedSkipped = 0;
  let offset = engine.earliestOffset(topic, partition);
  while (offset < engine.latestOffset(topic, partition)) {
    const result = await engine.read(topic, partition, offset, { maxMessages });
    assert.ok(result.nextOffset > offset, `read of partition ${partition} at ${offset} made no progress`);
    messages.push(...result.messages);
    damagedSkipped += result.damagedSkipped;
    offset = result.nextOffset;
  }
  return { messages, damagedSkipped };
}

/** `length` bytes of xorshift32 from `seed`: the same bytes for the same seed, in any process. */
export function xorshiftBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  // Zero is xorshift's one fixed point: it would give nothing but zero bytes.
  let state = seed || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
