// What one broker serves, derived from the topics' placement: the body of BROKER_ASSIGNMENT and of
// the assignment in REGISTER_BROKER / BROKER_HEARTBEAT answers.
import type { BrokerAssignment, TopicDescription } from '../protocol/index.js';

/**
 * The topics with at least one partition on `brokerId`, each with all its settings (the broker
 * creates every partition locally) and the partitions it serves, at metadata `version`.
 */
export function assignmentFor(
  brokerId: number,
  topics: readonly TopicDescription[],
  version: number,
): BrokerAssignment {
  const assigned: BrokerAssignment['topics'] = [];
  for (const topic of topics) {
    const hostedPartitions = hostedBy(topic, brokerId);
    if (hostedPartitions.length === 0) continue;
    const { name, partitions, stores, retentionMs, retentionBytes, ackFloor } = topic;
    assigned.push({ name, partitions, stores, retentionMs, retentionBytes, ackFloor, hostedPartitions });
  }
  return { version, topics: assigned };
}

/** The partitions of `topic` placed on `brokerId`, ascending. */
export function hostedBy(topic: TopicDescription, brokerId: number): number[] {
  const partitions: number[] = [];
  topic.placement.forEach((owner, partition) => {
    if (owner === brokerId) partitions.push(partition);
  });
  return partitions;
}

/** The distinct brokers that serve some partition of `topic`, ascending. */
export function hostingBrokers(topic: TopicDescription): number[] {
  return [...new Set(topic.placement)].sort((a, b) => a - b);
}
