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
  /**
   * Inside a {@link Consumer.run} handler: do not count this message as processed, and deliver it
   * (and the rest of its partition after it) again after `retryDelayMs` — TubeMQ's
   * `confirmConsume(ctx, false)`. Outside run() it does nothing.
   */
  rollback(): void;
}

/** A point in time to start from: the first message of each partition stored at or after it. */
export interface StartAtTimestamp {
  /** Milliseconds since the epoch. */
  timestampMs: number;
}

/**
 * Where a consumer starts in a partition the group has no commit for: the first stored message
 * (`'earliest'`) or the next new one (`'latest'`, and `'committed'`). A partition with a commit
 * starts there whichever of the three is given. An explicit `{topic: {partition: offset}}` map, or
 * `{timestampMs}` (the first message stored at or after that time), wins over commits for the
 * partitions it covers when the consumer assigns its own partitions; in a balanced group it only
 * applies to partitions without a commit (use the `bound` option to reset a balanced group).
 */
export type ConsumerStart =
  'earliest' | 'latest' | 'committed' | Record<string, Record<number, number>> | StartAtTimestamp;

const rolledBack = new WeakSet<ConsumedMessage>();

/** Whether {@link ConsumedMessage.rollback} was called on `message`. */
export function wasRolledBack(message: ConsumedMessage): boolean {
  return rolledBack.has(message);
}

/** Forgets a rollback, so a redelivered message starts clean. */
export function clearRollback(message: ConsumedMessage): void {
  rolledBack.delete(message);
}

// A class, so rollback() lives once on the prototype instead of once per message.
class Consumed implements ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  // `declare`: no own property at all when absent, as with the plain objects this replaced.
  declare key?: Buffer;
  value: Buffer;
  declare streamId?: string;
  attributes: Record<string, string>;

  constructor(topic: string, fetched: FetchedMessage) {
    this.topic = topic;
    this.partition = fetched.partition;
    this.offset = fetched.offset;
    this.timestamp = fetched.timestamp;
    if (fetched.key !== undefined) this.key = fetched.key;
    this.value = fetched.value;
    if (fetched.streamId !== undefined) this.streamId = fetched.streamId;
    this.attributes = fetched.attributes;
  }

  rollback(): void {
    rolledBack.add(this);
  }
}

/** Turns a fetched record into the application's message (absent key and stream omitted). */
export function toConsumedMessage(topic: string, fetched: FetchedMessage): ConsumedMessage {
  return new Consumed(topic, fetched);
}

/** Whether `start` is a `{timestampMs}` start. */
export function isTimestampStart(start: ConsumerStart): start is StartAtTimestamp {
  return typeof start === 'object' && typeof (start as StartAtTimestamp).timestampMs === 'number';
}
