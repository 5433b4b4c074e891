// Where a consumer starts in each partition it takes: an explicit offset (checked against the stored
// range) or the first offset at a time, else the group's commit (kept inside the stored range), else
// earliest or latest. A balanced member keeps to the commits: a partition moving between members
// must continue where the group left it, not jump back to the start option.
import { TubeError } from '../common/index.js';
import type { TopicPartition } from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { isTimestampStart, type ConsumerStart } from './consumed-message.js';
import { fetchCommitted, listRanges, partitionKey, type PartitionRange } from './partition-offsets.js';

/** The starting point of one partition, with the range known at the start. */
export interface StartOffset extends TopicPartition {
  offset: number;
  earliest: number;
  latest: number;
}

/** How {@link resolveStartOffsets} treats explicit starts. */
export interface StartRules {
  /**
   * True (client-side assignment): an explicit map or `{timestampMs}` wins over commits, and an
   * explicit offset outside the stored range rejects. False (balanced member): they only apply
   * where the group has no commit, and an explicit offset is moved into the stored range.
   */
  overrideCommits: boolean;
  /** Start offsets given per partition (assign()); they win over commits and `start`. */
  offsets?: Record<string, Record<number, number>>;
}

/**
 * Resolves the start offset of every partition. Rejects OFFSET_OUT_OF_RANGE for an explicit offset
 * outside [earliest, latest] (client-side assignment), naming the range.
 */
export async function resolveStartOffsets(
  cluster: ClusterClient,
  group: string,
  partitions: readonly TopicPartition[],
  start: ConsumerStart,
  rules: StartRules = { overrideCommits: true },
): Promise<StartOffset[]> {
  if (partitions.length === 0) return [];
  const timestampMs = isTimestampStart(start) ? start.timestampMs : undefined;
  const explicit =
    typeof start === 'object' && timestampMs === undefined
      ? (start as Record<string, Record<number, number>>)
      : undefined;
  const [ranges, committed] = await Promise.all([
    listRanges(cluster, partitions, timestampMs),
    fetchCommitted(cluster, group, partitions),
  ]);
  return partitions.map(({ topic, partition }) => {
    const key = partitionKey(topic, partition);
    const range = ranges.get(key);
    if (range === undefined) throw new TubeError('INTERNAL', `no stored range was reported for ${key}`);
    const { earliest, latest } = range;
    const stored = committed.get(key) ?? null;
    const fromCommit =
      stored === null ? undefined : { topic, partition, offset: clamp(stored, range), earliest, latest };
    const assigned = rules.offsets?.[topic]?.[partition];
    if (assigned !== undefined) {
      checkInRange(topic, partition, assigned, range);
      return { topic, partition, offset: assigned, earliest, latest };
    }
    if (fromCommit !== undefined && !rules.overrideCommits) return fromCommit;
    const asked = explicit?.[topic]?.[partition] ?? range.offsetAtTimestamp;
    if (asked !== undefined) {
      if (rules.overrideCommits) checkInRange(topic, partition, asked, range);
      return { topic, partition, offset: clamp(asked, range), earliest, latest };
    }
    if (fromCommit !== undefined) return fromCommit;
    return { topic, partition, offset: start === 'earliest' ? earliest : latest, earliest, latest };
  });
}

/**
 * Rejects OFFSET_OUT_OF_RANGE for an explicit offset outside [earliest, latest], naming the range,
 * NOT_FOUND for a partition the topic does not have, and BAD_REQUEST for a topic not read.
 */
export async function checkExplicitOffsets(
  cluster: ClusterClient,
  topics: readonly string[],
  explicit: Record<string, Record<number, number>>,
): Promise<void> {
  const named: TopicPartition[] = [];
  for (const [topic, offsets] of Object.entries(explicit)) {
    if (!topics.includes(topic)) {
      throw new TubeError(
        'BAD_REQUEST',
        `a start offset is given for topic "${topic}", which is not subscribed`,
        {
          details: { topic },
        },
      );
    }
    for (const partition of Object.keys(offsets)) named.push({ topic, partition: Number(partition) });
  }
  for (const { topic, partition } of named) await cluster.brokerOf(topic, partition);
  const ranges = await listRanges(cluster, named);
  for (const { topic, partition } of named) {
    const range = ranges.get(partitionKey(topic, partition));
    if (range !== undefined) checkInRange(topic, partition, explicit[topic]![partition]!, range);
  }
}

/** Rejects BAD_REQUEST for a start offset naming a partition this consumer does not read. */
export function checkExplicitTargets(
  explicit: Record<string, Record<number, number>>,
  partitions: readonly TopicPartition[],
): void {
  const assigned = new Set(partitions.map(({ topic, partition }) => partitionKey(topic, partition)));
  for (const [topic, offsets] of Object.entries(explicit)) {
    for (const partition of Object.keys(offsets)) {
      if (!assigned.has(partitionKey(topic, Number(partition)))) {
        throw new TubeError(
          'BAD_REQUEST',
          `a start offset is given for ${topic}/${partition}, which this consumer does not read`,
          { details: { topic, partition: Number(partition) } },
        );
      }
    }
  }
}

function checkInRange(topic: string, partition: number, asked: number, range: PartitionRange): void {
  const { earliest, latest } = range;
  if (!Number.isSafeInteger(asked) || asked < earliest || asked > latest) {
    const key = partitionKey(topic, partition);
    throw new TubeError(
      'OFFSET_OUT_OF_RANGE',
      `offset ${asked} of ${key} is outside the stored range [${earliest}, ${latest}]`,
      {
        details: { topic, partition, offset: asked, earliest, latest },
        hint: `pick an offset from ${earliest} to ${latest}, or start at earliest or latest`,
      },
    );
  }
}

function clamp(offset: number, { earliest, latest }: PartitionRange): number {
  return Math.min(Math.max(offset, earliest), latest);
}
