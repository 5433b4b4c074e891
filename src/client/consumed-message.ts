// What a consumer hands to the application, and where it starts reading.
import type { FetchedMessage } from '../protocol/index.js';

/** One consumed message. `key` and `value` view the fetch answer's bytes (copy them to keep them long). */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  /** The message's offset in its partition. */
  offset: number;
  /** Milliseconds since the epoch, as the producer or the broker set it. */
  timestamp: number;
  /** Absent when the message was sent without a key. */
  key?: Buffer;
  value: Buffer;
  /** The stream (TubeMQ msgType) it was sent with; absent if none. */
  streamId?: string;
  /** `k=v` attributes it was sent with; `{}` if none. */
  attributes: Record<string, string>;
}

/**
 * Where a consumer starts in a partition the group has no commit for: the first stored message
 * (`'earliest'`) or the next new one (`'latest'`, and `'committed'`). A partition with a commit
 * starts there whichever of the three is given. An explicit `{topic: {partition: offset}}` map wins
 * over commits for the partitions it names.
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
