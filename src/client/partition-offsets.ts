// The broker-side offset requests every client needs, spread over the brokers that serve the
// partitions: stored ranges (LIST_OFFSETS), a group's commits (FETCH_OFFSETS) and storing commits
// (COMMIT_OFFSETS). Each retries retriable errors with fresh metadata, regrouping by broker.
import { TubeError } from '../common/index.js';
import {
  callJson,
  commitOffsetsMessage,
  fetchOffsetsMessage,
  listOffsetsMessage,
  type Connection,
  type TopicPartition,
} from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';

/** Offsets [from, to) of a partition that no message has, and why. */
export interface OffsetGap {
  from: number;
  to: number;
  /** `write-failed`: the broker could not write them; `recovery`: its recovery did not find them. */
  cause: 'write-failed' | 'recovery';
}

/** The stored range of one partition, and the broker serving it. */
export interface PartitionRange {
  brokerId: number;
  earliest: number;
  latest: number;
  offsetAtTimestamp?: number;
  /** Offsets ever skipped because no message has them (0 when the broker does not say). */
  gapOffsets: number;
  /** The newest such gaps. */
  gaps: OffsetGap[];
}

/** A partition and an offset in it. */
export interface PartitionOffset extends TopicPartition {
  offset: number;
}

// Entries one offset request may carry (the codecs' limit).
const entriesPerRequestMax = 10_000;

/** `topic/partition`, the key of per-partition maps (a topic name never holds `/`). */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** Stored ranges of `partitions` (and the offset at `timestampMs`, when given), keyed by {@link partitionKey}. */
export async function listRanges(
  cluster: ClusterClient,
  partitions: readonly TopicPartition[],
  timestampMs?: number,
): Promise<Map<string, PartitionRange>> {
  return cluster.withRetries(topicsOf(partitions), async () => {
    const ranges = new Map<string, PartitionRange>();
    await forEachBroker(cluster, partitions, async (connection, brokerId, chunk) => {
      const request = chunk.map(({ topic, partition }) =>
        timestampMs === undefined ? { topic, partition } : { topic, partition, timestampMs },
      );
      const answer = await callJson(connection, listOffsetsMessage, { partitions: request });
      for (const {
        topic,
        partition,
        earliest,
        latest,
        offsetAtTimestamp,
        gapOffsets,
        gaps,
      } of answer.offsets) {
        const range: PartitionRange = {
          brokerId,
          earliest,
          latest,
          gapOffsets: gapOffsets ?? 0,
          gaps: gaps ?? [],
        };
        if (offsetAtTimestamp !== undefined) range.offsetAtTimestamp = offsetAtTimestamp;
        ranges.set(partitionKey(topic, partition), range);
      }
    });
    return ranges;
  });
}

/** A group's committed offsets of `partitions` (null where it never committed), keyed by {@link partitionKey}. */
export async function fetchCommitted(
  cluster: ClusterClient,
  group: string,
  partitions: readonly TopicPartition[],
): Promise<Map<string, number | null>> {
  return cluster.withRetries(topicsOf(partitions), async () => {
    const committed = new Map<string, number | null>();
    await forEachBroker(cluster, partitions, async (connection, _brokerId, chunk) => {
      const request = chunk.map(({ topic, partition }) => ({ topic, partition }));
      const answer = await callJson(connection, fetchOffsetsMessage, { group, partitions: request });
      for (const { topic, partition, offset } of answer.offsets)
        committed.set(partitionKey(topic, partition), offset);
    });
    return committed;
  });
}

/**
 * Stores a group's offsets (each the next offset to consume), durably, on the brokers serving them.
 * With `memberId` the commit is checked against the partitions' leases (the broker answers 410 or
 * 411 when this member does not hold one); those answers are thrown at once, not retried.
 */
export async function commitOffsets(
  cluster: ClusterClient,
  group: string,
  offsets: readonly PartitionOffset[],
  memberId?: string,
): Promise<void> {
  if (offsets.length === 0) return;
  await cluster.withRetries(
    topicsOf(offsets),
    () =>
      forEachBroker(cluster, offsets, async (connection, _brokerId, chunk) => {
        const request = chunk.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
        await callJson(
          connection,
          commitOffsetsMessage,
          memberId === undefined ? { group, offsets: request } : { group, offsets: request, memberId },
        );
      }),
    undefined,
    (error) => !isLeaseError(error),
  );
}

/** Whether `error` is a broker's lease refusal: PARTITION_OWNED_BY_OTHER (410) or NOT_REGISTERED (411). */
export function isLeaseError(error: unknown): error is TubeError {
  return (
    error instanceof TubeError &&
    (error.errorName === 'PARTITION_OWNED_BY_OTHER' || error.errorName === 'NOT_REGISTERED')
  );
}

/** Runs `work` once per broker with the items it serves (in chunks a request may carry), in parallel. */
export async function forEachBroker<T extends TopicPartition>(
  cluster: ClusterClient,
  items: readonly T[],
  work: (connection: Connection, brokerId: number, chunk: T[]) => Promise<void>,
): Promise<void> {
  const groups = await cluster.byBroker(items);
  await Promise.all(
    [...groups.values()].map(async ({ broker, items: mine }) => {
      const connection = await cluster.brokers.get(broker);
      for (let at = 0; at < mine.length; at += entriesPerRequestMax) {
        await work(connection, broker.brokerId, mine.slice(at, at + entriesPerRequestMax));
      }
    }),
  );
}

/** The distinct topics of `items`. */
export function topicsOf(items: readonly TopicPartition[]): string[] {
  return [...new Set(items.map((item) => item.topic))];
}
