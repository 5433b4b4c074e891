// Admin: the cluster's management calls as typed methods — topics, brokers and consumer groups from
// the master, offsets from the brokers that serve the partitions.
import { TubeError } from '../common/index.js';
import {
  callJson,
  clusterStatusMessage,
  createTopicMessage,
  deleteGroupMessage,
  describeGroupMessage,
  describeTopicMessage,
  listBrokersMessage,
  listGroupOffsetsMessage,
  listGroupsMessage,
  listTopicsMessage,
  resetGroupOffsetsMessage,
  type BrokerInfo,
  type ClusterStatusResponse,
  type CreateTopicRequest,
  type GroupMemberDescription,
  type GroupState,
  type ProduceAcks,
  type Subscription,
  type TopicDescription,
  type TopicPartition,
} from '../protocol/index.js';
import { ClusterClient } from './cluster-client.js';
import { resolveClientOptions, type ClientOptions } from './options.js';
import {
  fetchCommitted,
  listRanges,
  partitionKey,
  type OffsetGap,
  type PartitionOffset,
  type PartitionRange,
} from './partition-offsets.js';

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
  /** The readable end: the first offset not readable yet (the next message's, once all are acked). */
  latest: number;
  /** The first offset whose timestamp is at or after the time asked (`latest` if none); only when asked. */
  offsetAtTimestamp?: number;
  /** Offsets the partition ever skipped because no message has them (a failed write, a recovery). */
  gapOffsets: number;
  /** The newest of those gaps, oldest first. */
  gaps: OffsetGap[];
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

/** A consumer group as `group list` shows it. */
export interface GroupSummary {
  group: string;
  /** `stable` (every member owns its share), `rebalancing` (partitions moving) or `empty` (no members). */
  state: GroupState;
  /** Live members. */
  members: number;
  /** Topics the members subscribe to, and those the group has committed offsets in; sorted. */
  topics: string[];
}

/** One partition of a group, in Kafka's `describe` columns. */
export interface GroupPartitionDescription {
  topic: string;
  partition: number;
  /** The group's committed offset (the next to consume), or null if it never committed. */
  currentOffset: number | null;
  /** The offset the next message appended gets. */
  logEndOffset: number;
  /** `logEndOffset - currentOffset` (never below 0), or null without a commit. */
  lag: number | null;
  /** The member owning the partition (else the one it is being assigned to), or null. */
  consumerId: string | null;
  /** That member's address as the master sees it, or null. */
  host: string | null;
}

/** A consumer group: its state, members and progress per partition. */
export interface GroupDescription {
  group: string;
  state: GroupState;
  /** Bumped on every change of the target assignment. */
  generation: number;
  /** Topics and stream-id filters the members share (empty when the group has no members). */
  subscriptions: Subscription[];
  /** The bound session on record (precise offset reset), if any. */
  session?: { sessionKey: string; applied: boolean };
  members: GroupMemberDescription[];
  /** Every partition of the subscribed topics, or for an empty group every partition it has offsets in. */
  partitions: GroupPartitionDescription[];
}

/** Where {@link Admin.planOffsetReset} moves each partition (Kafka's `--to-*` and `--shift-by`). */
export type OffsetResetTarget =
  { earliest: true } | { latest: true } | { offset: number } | { timestampMs: number } | { shiftBy: number };

/** A topic to reset: every partition, or only `partitions`. */
export interface OffsetResetScope {
  topic: string;
  partitions?: number[];
}

/** One row of an offset reset plan. */
export interface OffsetResetPlanEntry {
  topic: string;
  partition: number;
  /** The group's committed offset now, or null if it never committed. */
  currentOffset: number | null;
  /** The offset the group would commit: the target moved into the stored range [earliest, latest]. */
  newOffset: number;
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
        gapOffsets: range.gapOffsets,
        gaps: range.gaps,
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

  /**
   * Every consumer group, sorted by name: those the master knows (members or a bound session) and
   * those that only have committed offsets on an online broker (`empty`, no members).
   */
  async listGroups(): Promise<GroupSummary[]> {
    const [{ groups }, offsets] = await Promise.all([
      this.#cluster.master.call(listGroupsMessage, {}),
      this.#groupOffsetsOnBrokers(),
    ]);
    const byName = new Map<string, GroupSummary>();
    for (const group of groups) byName.set(group.group, { ...group, topics: [...group.topics] });
    for (const { group, topic } of offsets) {
      let summary = byName.get(group);
      if (summary === undefined) {
        summary = { group, state: 'empty', members: 0, topics: [] };
        byName.set(group, summary);
      }
      if (!summary.topics.includes(topic)) summary.topics.push(topic);
    }
    const summaries = [...byName.values()].sort((a, b) => compareText(a.group, b.group));
    for (const summary of summaries) summary.topics.sort(compareText);
    return summaries;
  }

  /**
   * A group's state, members and, per partition, the committed offset, log end, lag and owner.
   * Rejects NOT_FOUND when neither the master (members, bound session) nor any online broker
   * (committed offsets) knows the group.
   */
  async describeGroup(group: string): Promise<GroupDescription> {
    const [described, offsets] = await Promise.all([
      this.#cluster.master.call(describeGroupMessage, { group }),
      this.#groupOffsetsOnBrokers(group),
    ]);
    if (described.members.length === 0 && described.session === undefined && offsets.length === 0) {
      throw new TubeError('NOT_FOUND', `consumer group ${JSON.stringify(group)} does not exist`, {
        details: { group },
        hint: 'it has no live members and no committed offsets; `tubemq group list` shows the groups',
      });
    }
    const subscribed = described.subscriptions.map((subscription) => subscription.topic);
    const partitions =
      subscribed.length > 0
        ? await this.#allPartitions(subscribed)
        : uniquePartitions(offsets.map(({ topic, partition }) => ({ topic, partition })));
    const rows = await this.#progress(group, partitions);
    const owners = ownersOf(described.members);
    const description: GroupDescription = {
      group: described.group,
      state: described.state,
      generation: described.generation,
      subscriptions: described.subscriptions,
      members: described.members,
      partitions: rows.map((row) => {
        const owner = owners.get(partitionKey(row.topic, row.partition));
        return { ...row, consumerId: owner?.memberId ?? null, host: owner?.host ?? null };
      }),
    };
    if (described.session !== undefined) description.session = described.session;
    return description;
  }

  /**
   * Where a reset would move a group's offsets, changing nothing: per partition of `scope` (every
   * partition of a topic unless it names some) the committed offset and the new one, which is
   * `to` moved into the stored range [earliest, latest]. `shiftBy` moves from the committed offset
   * and rejects BAD_REQUEST for a partition without one. Rejects NOT_FOUND for an unknown topic or
   * partition.
   */
  async planOffsetReset(
    group: string,
    options: { topics: OffsetResetScope[]; to: OffsetResetTarget },
  ): Promise<OffsetResetPlanEntry[]> {
    const { to } = options;
    const partitions: TopicPartition[] = [];
    for (const scope of options.topics) {
      const count = (await this.#cluster.metadata.refresh(scope.topic)).partitions;
      for (const partition of scope.partitions ?? range(count)) {
        if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
          throw new TubeError(
            'NOT_FOUND',
            `partition ${partition} does not exist: topic ${scope.topic} has ${count} partitions (0..${count - 1})`,
            { details: { topic: scope.topic, partition, partitions: count } },
          );
        }
        partitions.push({ topic: scope.topic, partition });
      }
    }
    const unique = uniquePartitions(partitions);
    if (unique.length === 0) return [];
    const [ranges, committed] = await Promise.all([
      listRanges(this.#cluster, unique, 'timestampMs' in to ? to.timestampMs : undefined),
      fetchCommitted(this.#cluster, group, unique),
    ]);
    return unique.map(({ topic, partition }) => {
      const key = partitionKey(topic, partition);
      const currentOffset = committed.get(key) ?? null;
      const stored = ranges.get(key)!;
      const target = resetTarget(to, stored, currentOffset, topic, partition);
      return {
        topic,
        partition,
        currentOffset,
        newOffset: Math.min(stored.latest, Math.max(stored.earliest, target)),
      };
    });
  }

  /**
   * Sets a group's committed offsets through the master. With live members it rejects
   * GROUP_NOT_EMPTY unless `force`: then the master pauses the group, commits, and assigns again
   * (UNAVAILABLE if the members do not let go within its timeout).
   */
  async resetGroupOffsets(
    group: string,
    offsets: PartitionOffset[],
    options: { force?: boolean } = {},
  ): Promise<void> {
    if (offsets.length === 0) return;
    await this.#cluster.master.call(resetGroupOffsetsMessage, {
      group,
      offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      ...(options.force === true ? { force: true } : {}),
    });
  }

  /**
   * Deletes a group without live members: its committed offsets on every online broker and its
   * bound session. Resolves to the number of partitions whose offsets were removed. Rejects
   * GROUP_NOT_EMPTY while it has members, NOT_FOUND when nothing knew it.
   */
  async deleteGroup(group: string): Promise<number> {
    const { deletedOffsets } = await this.#cluster.master.call(deleteGroupMessage, { group });
    return deletedOffsets;
  }

  /** Closes the connections. Later calls reject with UNAVAILABLE. */
  async close(): Promise<void> {
    await this.#cluster.close();
  }

  /** Every offset committed on the online brokers, of `group` or of all groups. */
  async #groupOffsetsOnBrokers(
    group?: string,
  ): Promise<{ group: string; topic: string; partition: number; offset: number }[]> {
    const { brokers } = await this.#cluster.master.call(listBrokersMessage, {});
    const answers = await Promise.all(
      brokers
        .filter((broker) => broker.state === 'online')
        .map(async (broker) => {
          const connection = await this.#cluster.brokers.get(broker);
          const request = group === undefined ? {} : { group };
          const { offsets } = await callJson(connection, listGroupOffsetsMessage, request, {
            timeoutMs: this.#cluster.options.requestTimeoutMs,
          });
          return offsets;
        }),
    );
    return answers.flat();
  }

  /** Every partition of `topics`, in order. Rejects NOT_FOUND for an unknown topic. */
  async #allPartitions(topics: readonly string[]): Promise<TopicPartition[]> {
    const result: TopicPartition[] = [];
    for (const topic of topics) result.push(...(await this.#partitionsOf(topic)));
    return result;
  }

  /**
   * The group's commit, log end and lag of `partitions`. Partitions of topics deleted since the
   * group committed in them, or beyond a topic's current size, are left out.
   */
  async #progress(
    group: string,
    partitions: readonly TopicPartition[],
  ): Promise<Omit<GroupPartitionDescription, 'consumerId' | 'host'>[]> {
    const existing: TopicPartition[] = [];
    for (const topic of new Set(partitions.map((each) => each.topic))) {
      const count = await this.#cluster.metadata.refresh(topic).then(
        (description) => description.partitions,
        (error: unknown) => {
          if (error instanceof TubeError && error.errorName === 'NOT_FOUND') return 0;
          throw error;
        },
      );
      existing.push(...partitions.filter((each) => each.topic === topic && each.partition < count));
    }
    if (existing.length === 0) return [];
    const [ranges, committed] = await Promise.all([
      listRanges(this.#cluster, existing),
      fetchCommitted(this.#cluster, group, existing),
    ]);
    return existing.map(({ topic, partition }) => {
      const key = partitionKey(topic, partition);
      const logEndOffset = ranges.get(key)!.latest;
      const currentOffset = committed.get(key) ?? null;
      const lag = currentOffset === null ? null : Math.max(0, logEndOffset - currentOffset);
      return { topic, partition, currentOffset, logEndOffset, lag };
    });
  }

  async #partitionsOf(topic: string): Promise<TopicPartition[]> {
    const description = await this.#cluster.metadata.refresh(topic);
    return Array.from({ length: description.partitions }, (_, partition) => ({ topic, partition }));
  }
}

/** The offset `to` names for one partition, before it is moved into the stored range. */
function resetTarget(
  to: OffsetResetTarget,
  stored: PartitionRange,
  currentOffset: number | null,
  topic: string,
  partition: number,
): number {
  if ('earliest' in to) return stored.earliest;
  if ('latest' in to) return stored.latest;
  if ('offset' in to) return to.offset;
  if ('timestampMs' in to) return stored.offsetAtTimestamp ?? stored.latest;
  if (currentOffset === null) {
    throw new TubeError(
      'BAD_REQUEST',
      `cannot shift ${topic}/${partition} by ${to.shiftBy}: the group has no committed offset there`,
      {
        details: { topic, partition },
        hint: 'reset such partitions with --to-earliest, --to-latest, --to-offset or --to-datetime first',
      },
    );
  }
  return currentOffset + to.shiftBy;
}

/** Which member owns each partition (`topic/partition`); where none owns it, the one it is assigned to. */
function ownersOf(members: readonly GroupMemberDescription[]): Map<string, GroupMemberDescription> {
  const owners = new Map<string, GroupMemberDescription>();
  for (const member of members) {
    for (const { topic, partition } of member.assigned) owners.set(partitionKey(topic, partition), member);
  }
  for (const member of members) {
    for (const { topic, partition } of member.owned) owners.set(partitionKey(topic, partition), member);
  }
  return owners;
}

/** Partitions without repeats, sorted by topic then partition. */
function uniquePartitions(partitions: readonly TopicPartition[]): TopicPartition[] {
  const seen = new Map<string, TopicPartition>();
  for (const each of partitions) seen.set(partitionKey(each.topic, each.partition), each);
  return [...seen.values()].sort((a, b) => compareText(a.topic, b.topic) || a.partition - b.partition);
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
