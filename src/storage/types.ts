import type { RecordMessage } from '../common/record-message.js';

/** How far an append must get before it is acknowledged (DESIGN.md §4). */
export type AckLevel = 'memory' | 'written' | 'fsync';

export const ackLevels: readonly AckLevel[] = ['memory', 'written', 'fsync'];

/** Ack levels ordered by strength, for applying a topic's floor. */
export const ackStrength: Readonly<Record<AckLevel, number>> = { memory: 0, written: 1, fsync: 2 };

/** One message as a producer hands it to storage. */
export interface MessageInput {
  value: Buffer | string;
  key?: Buffer | string;
  /** Milliseconds since the epoch; the broker's clock when absent. */
  timestamp?: number;
  /** The stream (TubeMQ msgType) that filtered consumers select by. */
  streamId?: string;
  /** Free-form `k=v` attributes; keys and values may not contain `,` or `=`, keys may not start with `$`. */
  attributes?: Readonly<Record<string, string>>;
}

/** One message as storage returns it. */
export type StoredMessage = RecordMessage;

/** Per-topic settings kept by the storage engine. */
export interface TopicConfig {
  /** Partition count; only ever grows. */
  partitions: number;
  /** Storage instances; partition p lives in store p mod stores. */
  stores: number;
  /** Closed segments older than this are deleted; -1 keeps them forever. */
  retentionMs: number;
  /** Bytes kept per partition before whole old segments are deleted; -1 for no limit. */
  retentionBytes: number;
  /** The weakest ack level this topic accepts; weaker requests are raised to it. */
  ackFloor: AckLevel;
}

/** A topic as the engine knows it. */
export interface TopicInfo extends TopicConfig {
  name: string;
  createdAtMs: number;
}

export interface AppendResult {
  /** The offset of the first message of the batch; the others follow contiguously. */
  baseOffset: number;
  count: number;
}

export interface ReadOptions {
  /** Stop before a record that would pass this many bytes (the first record is always returned). */
  maxBytes?: number;
  maxMessages?: number;
  /** Only messages of these streams; the others are skipped without reading their bodies. */
  streamIds?: readonly string[];
}

/** Whole, checksum-verified records as stored, for zero-copy fetch answers. */
export interface RawReadResult {
  /** Each chunk holds one or more whole records back to back (layout in docs/storage-format.md). */
  chunks: Buffer[];
  count: number;
  /** Where the next read continues (after skipped and filtered records too). */
  nextOffset: number;
  /** The partition's readable end: the first offset a consumer may not read yet. */
  latestOffset: number;
  /** Damaged records skipped in this read (never served). */
  damagedSkipped: number;
  /** Offsets skipped because no message has them (a failed write, or data recovery did not find). */
  gapSkipped: number;
}

export interface ReadResult {
  messages: StoredMessage[];
  nextOffset: number;
  /** The partition's readable end: the first offset a consumer may not read yet. */
  latestOffset: number;
  damagedSkipped: number;
  gapSkipped: number;
}
