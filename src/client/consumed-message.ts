// What a consumer hands to the application, and where it starts reading.
import type { FetchedMessage } from '../protocol/index.js';

/** One consumed message. `key` and `value` view the fetch answer's bytes (copy them to keep them long). */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch, as the producer or the broker set it. */
  timestamp: number;
  key?: Buffer;
  value: Buffer;
  streamId?: string;
  attributes: Record<string, string>;
}

/**
 * Where a consumer starts in a partition the group has no commit for: the first stored message,
 * the next new one, or (`'committed'`) the group's commit falling back to the next new one. An
 * explicit `{topic: {partition: offset}}` map wins over commits for the partitions it names.
 */
export type ConsumerStart = 'earliest' | 'latest' | 'committed' | Record<string, Record<number, number>>;

/** Turns a fetched record into the application's message (absent key and stream omitted). */
export function toConsumedMessage(topic: string, fetched: FetchedMessage): ConsumedMessage {
  const message: ConsumedMessage = {
    topic,
    partition: fetched.partition,
    offset: fetched.offset,
    timestamp: fetched.timestamp,
    value: fetched.value,
    attributes: fetched.attributes,
  };
  if (fetched.key !== undefined) message.key = fetched.key;
  if (fetched.streamId !== undefined) message.streamId = fetched.streamId;
  return message;
}
