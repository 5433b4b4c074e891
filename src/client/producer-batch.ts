// A message waiting to be acknowledged, and a batch of them bound for one partition. The batch keeps
// the messages in the shape the PRODUCE encoder takes, so a batch is encoded once, as it is.
import type { ProduceMessage } from '../protocol/index.js';

/** Where a sent message landed. */
export interface SendResult {
  /** The partition the message went to. */
  partition: number;
  /** Its offset in that partition. */
  offset: number;
}

/** One send() until the broker answers for it. */
export interface PendingSend {
  readonly topic: string;
  /** The partition asked for, or -1 to let the partitioner choose. */
  partition: number;
  readonly message: ProduceMessage;
  /** The key as bytes, for the partitioner. */
  readonly key: Buffer | undefined;
  /** Bytes charged against the producer's buffer memory. */
  readonly bytes: number;
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: Error) => void;
}

/** Messages bound for one partition, sent in one PRODUCE request. */
export class ProducerBatch {
  readonly topic: string;
  readonly partition: number;
  readonly sends: PendingSend[] = [];
  readonly messages: ProduceMessage[] = [];
  bytes = 0;
  /** Set when the linger time ran out while the partition had a request in flight. */
  lingerExpired = false;

  constructor(topic: string, partition: number) {
    this.topic = topic;
    this.partition = partition;
  }

  /** Adds one message. */
  add(send: PendingSend): void {
    this.sends.push(send);
    this.messages.push(send.message);
    this.bytes += send.bytes;
  }

  /** Splits the batch in two halves, first half first, to find a message the broker refuses. */
  split(): [ProducerBatch, ProducerBatch] {
    const half = Math.ceil(this.sends.length / 2);
    const first = new ProducerBatch(this.topic, this.partition);
    const second = new ProducerBatch(this.topic, this.partition);
    this.sends.forEach((send, i) => (i < half ? first : second).add(send));
    return [first, second];
  }
}
