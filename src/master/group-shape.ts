// A consumer group's shape: the topics its members read and the stream ids they filter on. Every
// member must have the same (TubeMQ's 425/426 checks); this file normalises a member's
// subscriptions, names the difference when they disagree, and turns topics into partition keys.
import { TubeError, topicNotFound } from '../common/index.js';
import type { Subscription, TopicDescription, TopicPartition } from '../protocol/index.js';

/** Subscriptions sorted by topic, each with its stream ids sorted and without duplicates. */
export type GroupShape = Subscription[];

/**
 * Sorts and de-duplicates `subscriptions`. A topic named twice is BAD_REQUEST (which of the two
 * filters would be meant?).
 */
export function normalizeShape(subscriptions: readonly Subscription[]): GroupShape {
  const seen = new Set<string>();
  for (const { topic } of subscriptions) {
    if (seen.has(topic)) {
      throw new TubeError('BAD_REQUEST', `topic "${topic}" is subscribed twice`, {
        details: { topic },
        hint: 'name each topic once, with all its stream ids',
      });
    }
    seen.add(topic);
  }
  return subscriptions
    .map(({ topic, streamIds }) => ({ topic, streamIds: [...new Set(streamIds)].sort() }))
    .sort((a, b) => compareText(a.topic, b.topic));
}

/**
 * What differs between the group's shape and a joining member's, in words; undefined when they
 * are the same.
 */
export function describeShapeDifference(group: GroupShape, member: GroupShape): string | undefined {
  const groupTopics = group.map(({ topic }) => topic);
  const memberTopics = member.map(({ topic }) => topic);
  if (groupTopics.join('\n') !== memberTopics.join('\n')) {
    return `the group reads topics [${groupTopics.join(', ')}], this member asks for [${memberTopics.join(', ')}]`;
  }
  for (const [index, { topic, streamIds }] of group.entries()) {
    const theirs = member[index]!.streamIds;
    if (streamIds.join('\n') !== theirs.join('\n')) {
      return (
        `the group filters topic "${topic}" on ${describeStreamIds(streamIds)}, ` +
        `this member on ${describeStreamIds(theirs)}`
      );
    }
  }
  return undefined;
}

function describeStreamIds(streamIds: readonly string[]): string {
  if (streamIds.length === 0) return 'no stream ids (every message)';
  const shown = streamIds.slice(0, 5).map((id) => JSON.stringify(id));
  return `stream ids [${shown.join(', ')}${streamIds.length > 5 ? `, and ${streamIds.length - 5} more` : ''}]`;
}

/** The key of one partition in the coordinator's sets: `topic:partition` (topic names have no `:`). */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** The partition a key names. */
export function keyToPartition(key: string): TopicPartition {
  const colon = key.lastIndexOf(':');
  return { topic: key.slice(0, colon), partition: Number(key.slice(colon + 1)) };
}

/**
 * Every partition of the shape's topics, as keys sorted by topic then partition. A topic unknown
 * to `lookup` is NOT_FOUND.
 */
export function shapePartitions(
  shape: GroupShape,
  lookup: (topic: string) => TopicDescription | undefined,
): string[] {
  const keys: string[] = [];
  for (const { topic } of shape) {
    const description = lookup(topic);
    if (description === undefined) throw topicNotFound(topic);
    for (let partition = 0; partition < description.partitions; partition++) {
      keys.push(partitionKey(topic, partition));
    }
  }
  return keys;
}

/** Checks that `partition` exists in `topic`; NOT_FOUND naming the range otherwise. */
export function requirePartition(
  lookup: (topic: string) => TopicDescription | undefined,
  topic: string,
  partition: number,
): void {
  const description = lookup(topic);
  if (description === undefined) throw topicNotFound(topic);
  if (partition >= description.partitions) {
    const count = description.partitions;
    throw new TubeError(
      'NOT_FOUND',
      `topic "${topic}" has ${count} partition${count === 1 ? '' : 's'} (0..${count - 1}), not ${partition}`,
      { details: { topic, partition, partitions: count } },
    );
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
