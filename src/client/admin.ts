// Admin: the cluster's management calls as typed methods — topics and brokers from the master,
// offsets from the brokers that serve the partitions.
import {
  clusterStatusMessage,
  createTopicMessage,
  describeTopicMessage,
  listBrokersMessage,
  listTopicsMessage,
  type BrokerInfo,
  type ClusterStatusResponse,
  type CreateTopicRequest,
  type ProduceAcks,
  type TopicDescription,
  type TopicPartition,
} from '../protocol/index.js';
import { ClusterClient } from './cluster-client.js';
import { resolveClientOptions, type ClientOptions } from './options.js';
import { fetchCommitted, listRanges, partitionKey } from './partition-offsets.js';

/**
 * Settings of a new topic. `partitions` is required; absent others take the cluster's defaults
 * (1 store, 168 h retention, no size limit, ack floor `'memory'`).
 */
export interface CreateTopicOptions {
  /** Number of partitions, 1 to 1024. */
  partitions: number;
  /** Storage instances per broker the partitions spread over (partition p in store p mod stores), 1 to 64. */
  stores?: number;
  /** Place partitions only on these brokers (each must be online); default every online broker. */
  brokers?: number[];
  /** Milliseconds closed segments are kept; -1 forever. */
  retentionMs?: number;
  /** Bytes kept per partition; -1 for no limit. */
  retentionBytes?: number;
  /** The weakest ack level producers get, whatever they ask. */
  ackFloor?: ProduceAcks;
  /** Answer `created: false` instead of ALREADY_EXISTS when the topic exists. */
  ifNotExists?: boolean;
}

/** The stored range of one partition. */
export interface PartitionOffsets {
  partition: number;
  /** The broker serving the partition, which answered. */
  brokerId: number;
  /** The oldest offset still stored. */
  earliest: number;
  /** The offset the next message appended gets. */
  latest: number;
  /** The first offset whose timestamp is at or after the time asked (`latest` if none); only when asked. */
  offsetAtTimestamp?: number;
}

/** A group's progress in one partition. */
export interface GroupPartitionOffsets {
  partition: number;
  /** The next offset the group consumes, or null if it never committed. */
  committed: number | null;
  /** The oldest offset still stored. */
  earliest: number;
  /** The offset the next message appended gets. */
  latest: number;
  /** `latest - committed`, or `latest - earliest` when nothing is committed; never below 0. */
  lag: number;
}

/**
 * Manages a cluster: topics, brokers, offsets.
 *
 * ```ts
 * const admin = new Admin({ masters: '127.0.0.1:8715' });
 * await admin.createTopic('orders', { partitions: 3, ifNotExists: true });
 * await admin.close();
 * ```
 */
export class Admin {
  readonly #cluster: ClusterClient;

  /** Creates an admin client; it connects on the first call. Throws BAD_REQUEST for invalid options. */
  constructor(options: ClientOptions = {}) {
    this.#cluster = new ClusterClient(resolveClientOptions(options), 'admin');
  }

  /**
   * Creates a topic and places its partitions. Rejects ALREADY_EXISTS for an existing name (unless
   * `ifNotExists`, which answers `created: false` with the existing topic), UNAVAILABLE when no
   * broker is online, BAD_REQUEST for invalid settings.
   */
  async createTopic(
    name: string,
    options: CreateTopicOptions,
  ): Promise<{ created: boolean; topic: TopicDescription }> {
    const request: CreateTopicRequest = { name, partitions: options.partitions };
    if (options.stores !== undefined) request.stores = options.stores;
    if (options.brokers !== undefined) request.brokers = options.brokers;
    if (options.retentionMs !== undefined) request.retentionMs = options.retentionMs;
    if (options.retentionBytes !== undefined) request.retentionBytes = options.retentionBytes;
    if (options.ackFloor !== undefined) request.ackFloor = options.ackFloor;
    if (options.ifNotExists !== undefined) request.ifNotExists = options.ifNotExists;
    const answer = await this.#cluster.master.call(createTopicMessage, request);
    this.#cluster.metadata.remember([answer.topic]);
    return answer;
  }

  /** Every topic, sorted by name. Asks the master only. */
  async listTopics(): Promise<TopicDescription[]> {
    const { topics } = await this.#cluster.master.call(listTopicsMessage, {});
    return topics;
  }

  /** One topic's settings and placement. Rejects NOT_FOUND for an unknown topic. */
  async describeTopic(name: string): Promise<TopicDescription> {
    const { topic } = await this.#cluster.master.call(describeTopicMessage, { name });
    this.#cluster.metadata.remember([topic]);
    return topic;
  }

  /** Every registered broker, sorted by id. */
  async listBrokers(): Promise<BrokerInfo[]> {
    const { brokers } = await this.#cluster.master.call(listBrokersMessage, {});
    return brokers;
  }

  /** The master, the brokers and the topic and partition counts. */
  async clusterStatus(): Promise<ClusterStatusResponse> {
    return this.#cluster.master.call(clusterStatusMessage, {});
  }

  /**
   * earliest/latest of every partition of a topic, sorted by partition, asked of the brokers serving
   * them; with `timestampMs`, also each partition's `offsetAtTimestamp`. Rejects NOT_FOUND for an
   * unknown topic; retriable broker errors are retried (5 times) before they reject.
   */
  async listOffsets(topic: string, options: { timestampMs?: number } = {}): Promise<PartitionOffsets[]> {
    const partitions = await this.#partitionsOf(topic);
    const ranges = await listRanges(this.#cluster, partitions, options.timestampMs);
    return partitions.map(({ partition }) => {
      const range = ranges.get(partitionKey(topic, partition))!;
      const entry: PartitionOffsets = {
        partition,
        brokerId: range.brokerId,
        earliest: range.earliest,
        latest: range.latest,
      };
      if (range.offsetAtTimestamp !== undefined) entry.offsetAtTimestamp = range.offsetAtTimestamp;
      return entry;
    });
  }

  /**
   * A group's committed offset (null if none), the stored range and the lag, per partition of
   * `topic`, sorted by partition. Rejects NOT_FOUND for an unknown topic; retriable broker errors are
   * retried (5 times) before they reject.
   */
  async groupOffsets(group: string, topic: string): Promise<GroupPartitionOffsets[]> {
    const partitions = await this.#partitionsOf(topic);
    const [ranges, committed] = await Promise.all([
      listRanges(this.#cluster, partitions),
      fetchCommitted(this.#cluster, group, partitions),
    ]);
    return partitions.map(({ partition }) => {
      const key = partitionKey(topic, partition);
      const { earliest, latest } = ranges.get(key)!;
      const offset = committed.get(key) ?? null;
      return {
        partition,
        committed: offset,
        earliest,
        latest,
        lag: Math.max(0, latest - (offset ?? earliest)),
      };
    });
  }

  /** Closes the connections. Later calls reject with UNAVAILABLE. */
  async close(): Promise<void> {
    await this.#cluster.close();
  }

  async #partitionsOf(topic: string): Promise<TopicPartition[]> {
    const description = await this.#cluster.metadata.refresh(topic);
    return Array.from({ length: description.partitions }, (_, partition) => ({ topic, partition }));
  }
}
