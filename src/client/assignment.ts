// Which partitions a consumer reads when it assigns them itself (the `partitions` option or
// assign(), TubeMQ's connect2Partition): every partition of the topics or the ones named, checked
// against the metadata. Balanced members get theirs from the master instead (group-membership.ts).
import { TubeError } from '../common/index.js';
import type { TopicPartition } from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { partitionNotFound } from './client-errors.js';

/** A partition to read, with an optional start offset (client-side assignment). */
export interface PartitionAssignment extends TopicPartition {
  /** The offset to start at, winning over the group's commit; absent: per the `start` option. */
  offset?: number;
}

/**
 * The partitions a client-side assignment reads: for each topic the ones named in `only`, or every
 * partition when a topic is not named there. Rejects BAD_REQUEST for a topic not subscribed and
 * NOT_FOUND for an unknown topic or partition.
 */
export async function listAssignedPartitions(
  cluster: ClusterClient,
  topics: readonly string[],
  only: Readonly<Record<string, readonly number[]>>,
): Promise<TopicPartition[]> {
  for (const topic of Object.keys(only)) {
    if (!topics.includes(topic)) {
      throw new TubeError(
        'BAD_REQUEST',
        `partitions are given for topic "${topic}", which is not subscribed`,
      );
    }
  }
  const assigned: TopicPartition[] = [];
  for (const topic of topics) {
    const description = await cluster.metadata.refresh(topic);
    const named = only[topic];
    const partitions =
      named !== undefined
        ? [...new Set(named)]
        : Array.from({ length: description.partitions }, (_, partition) => partition);
    for (const partition of partitions) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= description.partitions) {
        throw partitionNotFound(topic, partition, description.partitions);
      }
      assigned.push({ topic, partition });
    }
  }
  return assigned;
}
