// Where a consumer starts in each assigned partition: an explicit offset (checked against the stored
// range), else the group's commit (kept inside the stored range), else earliest or latest.
import { TubeError } from '../common/index.js';
import type { TopicPartition } from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import type { ConsumerStart } from './consumed-message.js';
import { fetchCommitted, listRanges, partitionKey } from './partition-offsets.js';

/** The starting point of one partition, with the range known at the start. */
export interface StartOffset extends TopicPartition {
  offset: number;
  earliest: number;
  latest: number;
}

/**
 * Resolves the start offset of every partition. Rejects OFFSET_OUT_OF_RANGE for an explicit offset
 * outside [earliest, latest], naming the range, and BAD_REQUEST for one naming a partition this
 * consumer does not read.
 */
export async function resolveStartOffsets(
  cluster: ClusterClient,
  group: string,
  partitions: readonly TopicPartition[],
  start: ConsumerStart,
): Promise<StartOffset[]> {
  const explicit = typeof start === 'object' ? start : undefined;
  if (explicit !== undefined) checkExplicitTargets(explicit, partitions);
  const [ranges, committed] = await Promise.all([
    listRanges(cluster, partitions),
    fetchCommitted(cluster, group, partitions),
  ]);
  return partitions.map(({ topic, partition }) => {
    const key = partitionKey(topic, partition);
    const range = ranges.get(key);
    if (range === undefined) throw new TubeError('INTERNAL', `no stored range was reported for ${key}`);
    const { earliest, latest } = range;
    const asked = explicit?.[topic]?.[partition];
    if (asked !== undefined) {
      if (!Number.isSafeInteger(asked) || asked < earliest || asked > latest) {
        throw new TubeError(
          'OFFSET_OUT_OF_RANGE',
          `offset ${asked} of ${key} is outside the stored range [${earliest}, ${latest}]`,
          {
            details: { topic, partition, offset: asked, earliest, latest },
            hint: `pick an offset from ${earliest} to ${latest}, or start at earliest or latest`,
          },
        );
      }
      return { topic, partition, offset: asked, earliest, latest };
    }
    const stored = committed.get(key) ?? null;
    if (stored !== null)
      return { topic, partition, offset: Math.min(Math.max(stored, earliest), latest), earliest, latest };
    return { topic, partition, offset: start === 'earliest' ? earliest : latest, earliest, latest };
  });
}

function checkExplicitTargets(
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
          {
            details: { topic, partition: Number(partition) },
          },
        );
      }
    }
  }
}
