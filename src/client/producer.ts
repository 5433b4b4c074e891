// The producer: send() charges the message against bounded buffer memory, routes it to a partition
// and adds it to that partition's batch; the batches ready in one turn go out encoded once, grouped
// per broker into PRODUCE_BATCHES requests (a lone batch as a PRODUCE). The only promise per
// message is the one send() returns.
import { maxFrameBytes, maxMessageBytesLimit, TubeError, KiB, MiB } from '../common/index.js';
import type { ProduceAcks, ProduceMessage, TopicDescription } from '../protocol/index.js';
import { BatchSender } from './batch-sender.js';
import { BufferMemory } from './buffer-memory.js';
import { ClusterClient, metadataRefreshIntervalMs, requestRetriesDefault } from './cluster-client.js';
import { checkMessageFields, messageBytes } from './message-check.js';
import { integerAtLeast, resolveClientOptions, type ClientOptions } from './options.js';
import { Partitioner } from './partitioner.js';
import type { PendingSend, ProducerBatch, SendResult } from './producer-batch.js';
import { RecordAccumulator } from './record-accumulator.js';
import { partitionNotFound } from './client-errors.js';

export type { SendResult } from './producer-batch.js';

/** Options of a {@link Producer}. */
export interface ProducerOptions extends ClientOptions {
  /** How durable a message is before send() resolves: in memory, written to the OS, or fsynced. Default `'written'`. */
  acks?: ProduceAcks;
  /**
   * Milliseconds a batch waits for more messages before it is sent. Default 0: a batch leaves once
   * the current turn of the event loop is done. Batches still grow under load, because a partition
   * has one request in flight and what arrives meanwhile joins the next batch.
   */
  lingerMs?: number;
  /** Bytes at which a partition's batch is sent without waiting. Default 1 MiB. */
  batchBytes?: number;
  /**
   * Bytes of messages the producer batches and sends before the broker acknowledges them. When
   * full, a new send() queues (first come, first served) until acknowledgements free room; its
   * promise settles later. The queued messages are still held, so await your sends (or bound how
   * many are outstanding) for memory to stay bounded. A message larger than this goes alone once
   * nothing else is held. Default 32 MiB.
   */
  bufferBytesMax?: number;
  /**
   * Retries of a batch after a retriable error (metadata refreshed, backoff 100 ms doubling to 2 s);
   * also of the topic's first metadata lookup. Default 5.
   */
  retries?: number;
}

/** Options of one {@link Producer.send}. */
export interface SendOptions {
  /** Routes by hash (murmur2) to a partition; messages with one key keep their order. */
  key?: Buffer | string;
  /** Sends to exactly this partition; wins over `key`. */
  partition?: number;
  /** The stream (TubeMQ msgType) consumers may filter by. */
  streamId?: string;
  /** `k=v` attributes; neither keys nor values may contain `,` or `=`. */
  attributes?: Record<string, string>;
  /** Milliseconds since the epoch; the broker's clock when absent. */
  timestamp?: number;
}

// A single message must fit in one frame with room for the request's own fields.
const messageBytesMax = Math.min(maxMessageBytesLimit, maxFrameBytes - 64 * KiB);

/**
 * Sends messages to topics, batching per partition.
 *
 * ```ts
 * const producer = new Producer({ masters: '127.0.0.1:8715' });
 * const { partition, offset } = await producer.send('orders', 'hello', { key: 'customer-7' });
 * await producer.close();
 * ```
 */
export class Producer {
  readonly #cluster: ClusterClient;
  readonly #retries: number;
  readonly #partitioner = new Partitioner();
  readonly #memory: BufferMemory<PendingSend>;
  readonly #accumulator: RecordAccumulator;
  // Sends admitted before their topic's metadata arrived, in order, per topic.
  readonly #awaitingTopic = new Map<string, PendingSend[]>();
  #outstanding = 0;
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  /** Creates a producer; it connects on the first send. Throws BAD_REQUEST for invalid options. */
  constructor(options: ProducerOptions = {}) {
    this.#cluster = new ClusterClient(resolveClientOptions(options), 'producer');
    const acks = options.acks ?? 'written';
    if (!['memory', 'written', 'fsync'].includes(acks)) {
      throw new TubeError('BAD_REQUEST', `acks must be memory, written or fsync, got ${String(acks)}`);
    }
    this.#retries = integerAtLeast(options.retries ?? requestRetriesDefault, 0, 'retries');
    const lingerMs = integerAtLeast(options.lingerMs ?? 0, 0, 'lingerMs');
    const batchBytes = integerAtLeast(options.batchBytes ?? 1 * MiB, 1, 'batchBytes');
    const bufferBytesMax = integerAtLeast(options.bufferBytesMax ?? 32 * MiB, 1, 'bufferBytesMax');
    const sender = new BatchSender(this.#cluster, { acks, retries: this.#retries }, (batch) =>
      this.#settled(batch),
    );
    this.#accumulator = new RecordAccumulator(
      { lingerMs, batchBytes: Math.min(batchBytes, messageBytesMax) },
      (batches, landed) => sender.sendAll(batches, landed),
    );
    this.#memory = new BufferMemory(bufferBytesMax, (send) => this.#route(send));
    // Partitions added to a topic start receiving unkeyed messages within this interval.
    this.#cluster.refreshPeriodically(metadataRefreshIntervalMs);
  }

  /**
   * Sends one message. Resolves with its partition and offset once the broker acknowledged it at the
   * producer's `acks` level; waits first while buffer memory is full. Rejects NOT_FOUND for an unknown
   * topic or partition, MESSAGE_TOO_LARGE for a message over the limit (other messages are not
   * affected), BAD_REQUEST for an invalid message or a closed producer, and the last error after
   * `retries` retries of a retriable one.
   */
  send(topic: string, value: Buffer | string, options: SendOptions = {}): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      if (this.#closed) throw new TubeError('BAD_REQUEST', 'the producer is closed');
      const key = options.key === undefined ? undefined : toBuffer(options.key, 'key');
      const message: ProduceMessage = { value: toBuffer(value, 'value') };
      if (key !== undefined) message.key = key;
      if (options.timestamp !== undefined) message.timestamp = options.timestamp;
      if (options.streamId !== undefined) message.streamId = options.streamId;
      if (options.attributes !== undefined) message.attributes = options.attributes;
      checkMessageFields(message, options.partition);
      const bytes = messageBytes(message);
      if (bytes > messageBytesMax) {
        throw new TubeError(
          'MESSAGE_TOO_LARGE',
          `message of ${bytes} bytes is over the ${messageBytesMax}-byte limit`,
          {
            details: { bytes, maxMessageBytes: messageBytesMax },
          },
        );
      }
      const partition = options.partition ?? -1;
      this.#outstanding++;
      this.#memory.reserve(bytes, { topic, partition, message, key, bytes, resolve, reject });
    });
  }

  /**
   * Sends every buffered message now and resolves once no send is outstanding (each resolved or
   * rejected; flush itself never rejects). Sends made while it waits are waited for too.
   */
  async flush(): Promise<void> {
    this.#accumulator.sealAll();
    if (this.#outstanding === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Flushes, then closes every connection. Later sends reject with BAD_REQUEST. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    await this.#cluster.close();
  }

  // Admitted by buffer memory: find the topic's partitions, then batch.
  #route(send: PendingSend): void {
    const waiting = this.#awaitingTopic.get(send.topic);
    if (waiting !== undefined) {
      waiting.push(send);
      return;
    }
    const description = this.#cluster.metadata.cached(send.topic);
    if (description !== undefined) {
      this.#place(send, description);
      return;
    }
    this.#awaitingTopic.set(send.topic, [send]);
    void this.#loadTopic(send.topic);
  }

  async #loadTopic(topic: string): Promise<void> {
    let description: TopicDescription | undefined;
    let failure: unknown;
    try {
      description = await this.#cluster.withRetries(
        [],
        () => this.#cluster.metadata.topic(topic),
        this.#retries,
      );
    } catch (error) {
      failure = error;
    }
    const waiting = this.#awaitingTopic.get(topic) ?? [];
    this.#awaitingTopic.delete(topic);
    for (const send of waiting) {
      if (description === undefined) this.#fail(send, failure);
      else this.#place(send, description);
    }
  }

  #place(send: PendingSend, description: TopicDescription): void {
    if (send.partition >= description.partitions) {
      this.#fail(send, partitionNotFound(send.topic, send.partition, description.partitions));
      return;
    }
    if (send.partition < 0)
      send.partition = this.#partitioner.choose(send.topic, description.partitions, send.key);
    this.#accumulator.append(send);
  }

  #fail(send: PendingSend, error: unknown): void {
    send.reject(error instanceof Error ? error : new TubeError('INTERNAL', String(error)));
    this.#release(send.bytes, 1);
  }

  #settled(batch: ProducerBatch): void {
    this.#release(batch.bytes, batch.sends.length);
  }

  #release(bytes: number, sends: number): void {
    this.#outstanding -= sends;
    this.#memory.release(bytes);
    if (this.#outstanding === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

function toBuffer(value: Buffer | string, what: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  throw new TubeError('BAD_REQUEST', `message ${what} must be a string or Buffer`);
}
