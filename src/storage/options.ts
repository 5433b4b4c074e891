import { nodeFileIO, type FileIO } from '../common/file-io.js';
import { maxMessageBytesDefault, maxMessageBytesLimit, topicDefaults } from '../common/limits.js';
import { GiB, MiB } from '../common/units.js';
import type { AckLevel, TopicConfig } from './types.js';

/** What the engine logs through: pino's call shape, so a pino logger fits as is. */
export interface StorageLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Settings of a {@link StorageEngine}; every field but `dataDir` has a default. */
export interface StorageOptions {
  /** Where topics and group offsets live. */
  dataDir: string;
  /**
   * A data segment is closed and a new one started once it reaches this size.
   * @default 1 GiB
   */
  segmentBytes?: number;
  /**
   * ...or once this long has passed since its first write, so time retention can delete it (the
   * active segment never goes). 0 derives it per topic: `min(1 h, retentionMs / 10)`, at least
   * 100 ms; 1 h when the topic keeps data forever.
   * @default 0
   */
  segmentMs?: number;
  /**
   * Index entries (32 bytes each) per partition index segment.
   * @default 1048576
   */
  indexSegmentEntries?: number;
  /**
   * A store's active cache block is flushed once it holds this many bytes.
   * @default 4 MiB
   */
  cacheBlockBytes?: number;
  /**
   * ...or once its oldest byte is this old. Bounds what `memory` acks can lose.
   * @default 100
   */
  cacheBlockAgeMs?: number;
  /**
   * Unflushed bytes across every store; an append past it gets BUSY (419).
   * @default 64 MiB
   */
  cacheBytesMax?: number;
  /**
   * Largest key + attributes + value of one message.
   * @default 1 MiB
   */
  maxMessageBytes?: number;
  /**
   * After this long (once 1/64 of {@link StorageOptions.checkpointBytes} came in), a store syncs
   * and records a checkpoint; recovery after a crash rescans only what came after it.
   * @default 10000
   */
  checkpointIntervalMs?: number;
  /**
   * ...or after this many bytes: after a crash, recovery rescans at most about this much.
   * @default 64 MiB
   */
  checkpointBytes?: number;
  /**
   * How often retention runs in the background; 0 turns the timer off ({@link StorageEngine.enforceRetention} still works).
   * @default 60000
   */
  retentionCheckIntervalMs?: number;
  /**
   * Ack level of an append that names none.
   * @default 'written'
   */
  defaultAcks?: AckLevel;
  /** The file system; tests pass a power-loss simulation. @default the real one */
  fileIO?: FileIO;
  /** @default a pino logger named `storage` */
  logger?: StorageLogger;
}

export type ResolvedStorageOptions = Required<StorageOptions>;

export const defaultTopicConfig: TopicConfig = { ...topicDefaults };

export function resolveStorageOptions(
  options: StorageOptions,
  fallbackLogger: () => StorageLogger,
): ResolvedStorageOptions {
  const resolved: ResolvedStorageOptions = {
    dataDir: options.dataDir,
    segmentBytes: options.segmentBytes ?? 1 * GiB,
    segmentMs: options.segmentMs ?? 0,
    indexSegmentEntries: options.indexSegmentEntries ?? 1_048_576,
    cacheBlockBytes: options.cacheBlockBytes ?? 4 * MiB,
    cacheBlockAgeMs: options.cacheBlockAgeMs ?? 100,
    cacheBytesMax: options.cacheBytesMax ?? 64 * MiB,
    maxMessageBytes: options.maxMessageBytes ?? maxMessageBytesDefault,
    checkpointIntervalMs: options.checkpointIntervalMs ?? 10_000,
    checkpointBytes: options.checkpointBytes ?? 64 * MiB,
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? 60_000,
    defaultAcks: options.defaultAcks ?? 'written',
    fileIO: options.fileIO ?? nodeFileIO,
    logger: options.logger ?? fallbackLogger(),
  };
  if (typeof resolved.dataDir !== 'string' || resolved.dataDir === '')
    throw new TypeError('dataDir is required');
  for (const key of [
    'segmentBytes',
    'indexSegmentEntries',
    'cacheBlockBytes',
    'cacheBytesMax',
    'maxMessageBytes',
  ] as const) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] <= 0)
      throw new RangeError(`${key} must be a positive integer`);
  }
  if (!Number.isSafeInteger(resolved.segmentMs) || resolved.segmentMs < 0)
    throw new RangeError('segmentMs must be a non-negative integer');
  if (resolved.maxMessageBytes > maxMessageBytesLimit) {
    throw new RangeError(`maxMessageBytes may be at most ${maxMessageBytesLimit}`);
  }
  return resolved;
}

const hourMs = 3_600_000;
/** The least derived segment age: a segment is at least a few cache flushes (100 ms each) long. */
const derivedSegmentMsMin = 100;

/**
 * The age at which a topic's active data segment is closed: `segmentMs` when the engine sets one,
 * else a tenth of the topic's retention time (at most 1 h), so data outlives its retention by at
 * most about a tenth of it before its segment can go.
 */
export function topicSegmentMs(config: Pick<TopicConfig, 'retentionMs'>, segmentMs: number): number {
  if (segmentMs > 0) return segmentMs;
  if (config.retentionMs < 0) return hourMs;
  return Math.max(derivedSegmentMsMin, Math.min(hourMs, Math.floor(config.retentionMs / 10)));
}
