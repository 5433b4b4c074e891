import * as path from 'node:path';
import { TubeError } from '../common/errors.js';
import { mkdirDurable } from '../common/file-io.js';
import { fetchBytesMaxDefault } from '../common/limits.js';
import { createLogger } from '../common/logger.js';
import { CacheMemory } from './cache-memory.js';
import {
  brokerRepairCommand,
  GroupOffsetStore,
  groupOffsetsDirName,
  type GroupOffsetCommit,
} from './group-offsets.js';
import type { OffsetGap } from './offset-ledger.js';
import { entryTimestamp } from './index-format.js';
import { toRecordMessage } from '../common/record-message.js';
import { encodeMessage, payloadBytes, streamHash } from './message-encoding.js';
import {
  resolveStorageOptions,
  topicSegmentMs,
  type ResolvedStorageOptions,
  type StorageOptions,
} from './options.js';
import type { PartitionIndex } from './partition-index.js';
import { decodeRecord, recordLengthField } from '../common/record-format.js';
import { checkTopicName } from '../common/topic-name.js';
import { Store, type CheckpointSlots, type StoreContext, type StoreCounters } from './store.js';
import {
  checkAckLevel,
  checkTopicConfig,
  loadTopicInfos,
  saveTopicInfo,
  topicConfigWithDefaults,
  topicDir,
} from './topic-catalog.js';
import {
  ackStrength,
  type AckLevel,
  type AppendResult,
  type MessageInput,
  type RawReadResult,
  type ReadOptions,
  type ReadResult,
  type StoredMessage,
  type TopicConfig,
  type TopicInfo,
} from './types.js';

interface TopicState {
  info: TopicInfo;
  stores: Store[];
}

/** Engine-wide figures for metrics and tests. */
export interface StorageStats extends StoreCounters {
  topics: number;
  stores: number;
  cacheBytes: number;
  bytesOnDisk: number;
}

/** What opening found in each store (recovery reports). */
export interface OpenReport {
  topic: string;
  store: number;
  clean: boolean;
  scannedBytes: number;
  truncatedBytes: number;
  damagedRecords: number;
  /** Offsets skipped because recovery found less than had been handed out. */
  gapOffsets: number;
}

/** Where a partition stands: what is stored, what consumers may read, and the gaps it has. */
export interface PartitionState {
  /** The first offset still stored. */
  earliestOffset: number;
  /** The first offset a consumer may not read yet (every earlier message reached its ack level). */
  readableOffset: number;
  /** The offset the next appended message gets. */
  nextOffset: number;
  /** Every offset ever skipped as a gap (no message has it). */
  gapOffsets: number;
  /** The newest gaps, oldest first. */
  gaps: OffsetGap[];
}

const readMessagesDefault = 1000;
const storeOpenConcurrency = 16;
/** Checkpoints (a few fdatasyncs each) that may run at once across all stores. */
const checkpointsAtOnceMax = 2;

/**
 * The storage engine: topics of partitions over stores, each store a shared data log with
 * per-partition indexes and a memory cache; group offsets beside them. No network: the broker
 * serves it. Every method checks its input and throws a {@link TubeError} with a stable code.
 */
export class StorageEngine {
  private readonly topics = new Map<string, TopicState>();
  private status: 'open' | 'closing' | 'closed' = 'open';
  private adminQueue: Promise<unknown> = Promise.resolve();
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRunning: Promise<number> | undefined;
  private readonly counters: StoreCounters = { damagedRecordsSkipped: 0, flushes: 0, syncs: 0 };
  private readonly memory: CacheMemory;
  private readonly checkpointSlots: CheckpointSlots = { running: 0, max: checkpointsAtOnceMax };
  /** Recovery reports of the stores opened with the engine. */
  readonly openReports: OpenReport[] = [];
  private readonly readableListeners = new Set<(topic: string, partition: number) => void>();

  private constructor(
    readonly options: ResolvedStorageOptions,
    private readonly groupOffsets: GroupOffsetStore,
  ) {
    this.memory = new CacheMemory(options.cacheBytesMax);
  }

  /** Opens the engine on `options.dataDir`, recovering every store from its last checkpoint. */
  static async open(options: StorageOptions): Promise<StorageEngine> {
    const resolved = resolveStorageOptions(options, () => createLogger({ name: 'storage' }));
    const { fileIO: io, dataDir, logger } = resolved;
    await mkdirDurable(io, path.join(dataDir, 'topics'));
    await io.removeTree(path.join(dataDir, 'trash'));
    const groupOffsets = await GroupOffsetStore.open(
      io,
      path.join(dataDir, groupOffsetsDirName),
      brokerRepairCommand(dataDir),
      logger,
    );
    const engine = new StorageEngine(resolved, groupOffsets);
    const infos = await loadTopicInfos(io, dataDir, (dir, error) =>
      logger.error({ dir, err: error }, 'topic.json unreadable; topic not loaded, files left in place'),
    );
    try {
      await mapWithLimit(infos, storeOpenConcurrency, async (info) => {
        const state = await engine.openTopic(info);
        for (const store of state.stores)
          engine.openReports.push({ topic: info.name, store: store.storeId, ...store.recovery });
      });
    } catch (error) {
      // An open that fails part-way (a full disk, a damaged file) closes what it opened.
      await engine.abandon().catch(() => undefined);
      throw error;
    }
    engine.startRetentionTimer();
    return engine;
  }

  private async openTopic(info: TopicInfo): Promise<TopicState> {
    const state: TopicState = { info, stores: [] };
    const context: StoreContext = {
      io: this.options.fileIO,
      options: this.options,
      memory: this.memory,
      checkpointSlots: this.checkpointSlots,
      counters: this.counters,
      topic: info.name,
      // Read at each decision, so an altered retention time applies at once.
      segmentMs: () => topicSegmentMs(state.info, this.options.segmentMs),
      onReadable: (partition) => {
        for (const listener of this.readableListeners) listener(info.name, partition);
      },
    };
    for (let storeId = 0; storeId < info.stores; storeId++) {
      const partitions = partitionsOfStore(info, storeId);
      state.stores.push(
        await Store.open(
          context,
          path.join(topicDir(this.options.dataDir, info.name), `store-${storeId}`),
          storeId,
          partitions,
        ),
      );
    }
    this.topics.set(info.name, state);
    return state;
  }

  private startRetentionTimer(): void {
    const interval = this.options.retentionCheckIntervalMs;
    if (interval <= 0) return;
    this.retentionTimer = setInterval(() => {
      this.enforceRetention().catch((error: unknown) =>
        this.options.logger.error({ err: error }, 'retention run failed'),
      );
    }, interval);
    this.retentionTimer.unref();
  }

  /** Runs admin changes one at a time, so two creates of one name cannot race. */
  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.adminQueue.then(operation);
    this.adminQueue = result.catch(() => undefined);
    return result;
  }

  private assertOpen(): void {
    if (this.status !== 'open') throw new TubeError('UNAVAILABLE', 'the storage engine is closed');
  }

  private topicState(topic: string): TopicState {
    const state = this.topics.get(topic);
    if (!state) throw new TubeError('NOT_FOUND', `topic ${JSON.stringify(topic)} does not exist`);
    return state;
  }

  private locate(topic: string, partition: number): { store: Store; index: PartitionIndex } {
    this.assertOpen();
    const state = this.topicState(topic);
    if (!Number.isSafeInteger(partition) || partition < 0) {
      throw new TubeError('BAD_REQUEST', `partition must be a non-negative integer, got ${partition}`);
    }
    if (partition >= state.info.partitions) {
      throw new TubeError(
        'NOT_FOUND',
        `topic ${topic} has no partition ${partition} (it has ${state.info.partitions})`,
      );
    }
    const store = state.stores[partition % state.info.stores]!;
    return { store, index: store.partition(partition) };
  }

  /** Creates a topic. With `ifNotExists`, an existing topic is returned as it is. */
  createTopic(
    name: string,
    config: Partial<TopicConfig> = {},
    options: { ifNotExists?: boolean } = {},
  ): Promise<TopicInfo> {
    return this.serialize(async () => {
      this.assertOpen();
      checkTopicName(name);
      const existing = this.topics.get(name);
      if (existing) {
        if (options.ifNotExists) return { ...existing.info };
        throw new TubeError('ALREADY_EXISTS', `topic ${name} already exists`);
      }
      const full = topicConfigWithDefaults(config);
      checkTopicConfig(full);
      const info: TopicInfo = { name, ...full, createdAtMs: Date.now() };
      await saveTopicInfo(this.options.fileIO, this.options.dataDir, info);
      await this.openTopic(info);
      return { ...info };
    });
  }

  /**
   * Changes a live topic: more partitions (never fewer), retention, ack floor. Stores keep their
   * count, since moving partitions between data logs would rewrite them.
   */
  alterTopic(name: string, changes: Partial<Omit<TopicConfig, 'stores'>>): Promise<TopicInfo> {
    return this.serialize(async () => {
      this.assertOpen();
      const state = this.topicState(name);
      const next: TopicInfo = { ...state.info, ...alterableOnly(changes) };
      checkTopicConfig(next);
      if (next.partitions < state.info.partitions) {
        throw new TubeError(
          'BAD_REQUEST',
          `partitions can only grow (topic ${name} has ${state.info.partitions})`,
        );
      }
      await saveTopicInfo(this.options.fileIO, this.options.dataDir, next);
      for (const store of state.stores) await store.addPartitions(partitionsOfStore(next, store.storeId));
      state.info = next;
      return { ...next };
    });
  }

  /** Deletes a topic with its files and its groups' committed offsets. */
  deleteTopic(name: string): Promise<void> {
    return this.serialize(async () => {
      this.assertOpen();
      const state = this.topicState(name);
      this.topics.delete(name);
      for (const store of state.stores) await store.abandon();
      const io = this.options.fileIO;
      const trash = path.join(this.options.dataDir, 'trash');
      await io.mkdir(trash);
      const moved = path.join(trash, `${name}-${Date.now()}`);
      await io.rename(topicDir(this.options.dataDir, name), moved);
      await io.syncDirectory(path.join(this.options.dataDir, 'topics'));
      await this.groupOffsets.remove({ topic: name });
      await io.removeTree(moved);
    });
  }

  listTopics(): TopicInfo[] {
    this.assertOpen();
    return [...this.topics.values()]
      .map((state) => ({ ...state.info }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  describeTopic(name: string): TopicInfo {
    this.assertOpen();
    return { ...this.topicState(name).info };
  }

  /**
   * Appends a batch to one partition, written as one unit; resolves with the first offset once
   * the batch is as durable as `acks` (raised to the topic's floor) promises.
   */
  async append(
    topic: string,
    partition: number,
    messages: readonly MessageInput[],
    options: { acks?: AckLevel } = {},
  ): Promise<AppendResult> {
    const { store, index } = this.locate(topic, partition);
    if (!isNonEmptyList(messages)) throw new TubeError('BAD_REQUEST', 'a batch needs at least one message');
    const acks = options.acks ?? this.options.defaultAcks;
    checkAckLevel(acks, 'acks');
    const floor = this.topicState(topic).info.ackFloor;
    const effective = ackStrength[acks] >= ackStrength[floor] ? acks : floor;
    const now = Date.now();
    const encoded = messages.map((message) => {
      const each = encodeMessage(message, now);
      const bytes = payloadBytes(each);
      if (bytes > this.options.maxMessageBytes) {
        throw new TubeError(
          'MESSAGE_TOO_LARGE',
          `message of ${bytes} bytes is over maxMessageBytes (${this.options.maxMessageBytes})`,
          {
            details: { bytes, maxMessageBytes: this.options.maxMessageBytes },
          },
        );
      }
      return each;
    });
    const baseOffset = await store.append(index, encoded, effective);
    return { baseOffset, count: encoded.length };
  }

  private checkReadOffset(index: PartitionIndex, topic: string, partition: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new TubeError('BAD_REQUEST', `offset must be a non-negative integer, got ${offset}`);
    }
    if (offset < index.earliestOffset || offset > index.nextOffset) {
      throw new TubeError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} of ${topic}/${partition} is outside [${index.earliestOffset}, ${index.nextOffset}]`,
        { details: { earliest: index.earliestOffset, latest: index.nextOffset } },
      );
    }
  }

  /**
   * Whole checked records from `offset`, as stored bytes (the broker's zero-copy fetch). With
   * `streamIds`, records of other streams are skipped by hash; callers re-check the id.
   */
  async readRaw(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<RawReadResult> {
    const { store, index } = this.locate(topic, partition);
    this.checkReadOffset(index, topic, partition, offset);
    const maxBytes = positiveInteger(options.maxBytes ?? fetchBytesMaxDefault, 'maxBytes');
    const maxMessages = positiveInteger(options.maxMessages ?? readMessagesDefault, 'maxMessages');
    const hashes = options.streamIds ? new Set(options.streamIds.map((id) => streamHash(id))) : undefined;
    return store.readRaw(index, offset, maxBytes, maxMessages, hashes);
  }

  /** Messages of one partition from `offset`, in offset order; `nextOffset` says where to continue. */
  async read(
    topic: string,
    partition: number,
    offset: number,
    options: ReadOptions = {},
  ): Promise<ReadResult> {
    const raw = await this.readRaw(topic, partition, offset, options);
    const wanted = options.streamIds ? new Set(options.streamIds) : undefined;
    const messages: StoredMessage[] = [];
    for (const chunk of raw.chunks) {
      for (let at = 0; at < chunk.length; at += recordLengthField(chunk, at)) {
        const message = toRecordMessage(decodeRecord(chunk, at));
        if (!wanted || (message.streamId !== undefined && wanted.has(message.streamId)))
          messages.push(message);
      }
    }
    return {
      messages,
      nextOffset: raw.nextOffset,
      latestOffset: raw.latestOffset,
      damagedSkipped: raw.damagedSkipped,
      gapSkipped: raw.gapSkipped,
    };
  }

  /** The first offset still stored. */
  earliestOffset(topic: string, partition: number): number {
    return this.locate(topic, partition).index.earliestOffset;
  }

  /**
   * The partition's readable end: the first offset a consumer may not read yet, because an earlier
   * message has not reached the level its producer is acknowledged at (Kafka's high watermark).
   */
  latestOffset(topic: string, partition: number): number {
    return this.locate(topic, partition).store.readableEnd(partition);
  }

  /** The offset the next appended message gets (at or past the readable end). */
  nextOffset(topic: string, partition: number): number {
    return this.locate(topic, partition).index.nextOffset;
  }

  /** Where a partition stands: stored range, readable end, next offset and gaps. */
  partitionState(topic: string, partition: number): PartitionState {
    const { store, index } = this.locate(topic, partition);
    const ledger = store.ledgerOf(partition);
    return {
      earliestOffset: index.earliestOffset,
      readableOffset: store.readableEnd(partition),
      nextOffset: index.nextOffset,
      gapOffsets: ledger.gapOffsets,
      gaps: ledger.gaps.map((gap) => ({ ...gap })),
    };
  }

  /**
   * Calls `listener` whenever a partition's readable end moves (long-polls wait for it). Returns
   * the function that removes it.
   */
  onReadable(listener: (topic: string, partition: number) => void): () => void {
    this.readableListeners.add(listener);
    return () => this.readableListeners.delete(listener);
  }

  /** The first offset whose (monotone) index timestamp is at or after `timestampMs`; the log end when none is. */
  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number> {
    const { index } = this.locate(topic, partition);
    if (!Number.isSafeInteger(timestampMs))
      throw new TubeError('BAD_REQUEST', `timestamp must be an integer of milliseconds, got ${timestampMs}`);
    return index.searchFirst((entry) => entryTimestamp(entry, 0) >= timestampMs);
  }

  /** Durably records group offsets (the next offset each group will read); resolves once fsynced. */
  async commitOffsets(commits: readonly GroupOffsetCommit[]): Promise<void> {
    this.assertOpen();
    for (const commit of commits) {
      if (typeof commit.group !== 'string' || commit.group === '')
        throw new TubeError('BAD_REQUEST', 'group must be a non-empty string');
      const { index } = this.locate(commit.topic, commit.partition);
      if (!Number.isSafeInteger(commit.offset) || commit.offset < 0) {
        throw new TubeError('BAD_REQUEST', `offset must be a non-negative integer, got ${commit.offset}`);
      }
      if (commit.offset > index.nextOffset) {
        throw new TubeError(
          'OFFSET_OUT_OF_RANGE',
          `cannot commit offset ${commit.offset} for ${commit.topic}/${commit.partition}`,
          {
            details: { earliest: index.earliestOffset, latest: index.nextOffset },
          },
        );
      }
    }
    await this.groupOffsets.commit(commits);
  }

  /** A group's committed offset, or undefined when it never committed. */
  committedOffset(group: string, topic: string, partition: number): number | undefined {
    this.assertOpen();
    return this.groupOffsets.committed(group, topic, partition);
  }

  /** Forgets every offset `group` committed; resolves once that is durable, with how many were removed. */
  async deleteGroupOffsets(group: string): Promise<number> {
    this.assertOpen();
    return this.groupOffsets.remove({ group });
  }

  /** Committed offsets, optionally of one group or topic. */
  listCommittedOffsets(filter: { group?: string; topic?: string } = {}): GroupOffsetCommit[] {
    this.assertOpen();
    return this.groupOffsets.list(filter);
  }

  /** Applies every topic's retention now; returns the number of segments deleted. */
  async enforceRetention(nowMs = Date.now()): Promise<number> {
    this.assertOpen();
    if (this.retentionRunning) return this.retentionRunning;
    this.retentionRunning = (async () => {
      let deleted = 0;
      for (const state of [...this.topics.values()]) {
        for (const store of state.stores) deleted += await store.enforceRetention(state.info, nowMs);
      }
      return deleted;
    })().finally(() => (this.retentionRunning = undefined));
    return this.retentionRunning;
  }

  /** Writes everything in the memory cache and waits for it. */
  async flush(): Promise<void> {
    this.assertOpen();
    for (const state of this.topics.values()) for (const store of state.stores) await store.drain();
  }

  stats(): StorageStats {
    let stores = 0;
    let bytesOnDisk = 0;
    for (const state of this.topics.values()) {
      stores += state.stores.length;
      for (const store of state.stores) bytesOnDisk += store.bytesOnDisk;
    }
    return {
      ...this.counters,
      topics: this.topics.size,
      stores,
      cacheBytes: this.memory.usedBytes,
      bytesOnDisk,
    };
  }

  /** Flushes, syncs and closes everything, leaving a clean checkpoint in every store. */
  async close(): Promise<void> {
    if (this.status !== 'open') return;
    this.status = 'closing';
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.adminQueue;
    await this.retentionRunning?.catch(() => undefined);
    await mapWithLimit([...this.topics.values()], storeOpenConcurrency, async (state) => {
      for (const store of state.stores) await store.close();
    });
    await this.groupOffsets.close();
    this.status = 'closed';
  }

  /**
   * Closes files without flushing or checkpointing: what a crash leaves behind. For recovery
   * tests; unflushed `memory` acks are lost.
   */
  async abandon(): Promise<void> {
    this.status = 'closed';
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    for (const state of this.topics.values()) for (const store of state.stores) await store.abandon();
    await this.groupOffsets.close();
  }
}

function partitionsOfStore(info: TopicConfig, storeId: number): number[] {
  const partitions: number[] = [];
  for (let partition = storeId; partition < info.partitions; partition += info.stores)
    partitions.push(partition);
  return partitions;
}

/** A plain boolean, not a type guard, so a typed array parameter keeps its element type. */
function isNonEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new TubeError('BAD_REQUEST', `${name} must be a positive integer, got ${value}`);
  return value;
}

const alterableKeys = ['partitions', 'retentionMs', 'retentionBytes', 'ackFloor'] as const;

/** The changes alterTopic may make; anything else (stores, name) is refused, not silently saved. */
function alterableOnly(changes: object): Partial<TopicConfig> {
  const picked: Partial<Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    if (!(alterableKeys as readonly string[]).includes(key)) {
      throw new TubeError('BAD_REQUEST', `${key} cannot be altered; alterable: ${alterableKeys.join(', ')}`);
    }
    picked[key] = value;
  }
  return picked;
}

async function mapWithLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
