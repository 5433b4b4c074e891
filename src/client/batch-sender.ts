// Sends one batch as one PRODUCE request and settles every send() in it: each resolves with its
// offset, or all reject with the error that ended the attempts — never dropped in silence. Retriable
// errors are retried (fresh metadata, backoff) up to `retries` times; a batch refused as too large
// is split in halves so only the oversize message fails and its neighbours still land.
import { TubeError, backoffMs } from '../common/index.js';
import { decodeProduceResponse, encodeProduceRequest, opcodes, type ProduceAcks } from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import type { ProducerBatch } from './producer-batch.js';
import { delay, isRetriable } from './retry.js';

/** How batches are sent. */
export interface BatchSenderOptions {
  acks: ProduceAcks;
  retries: number;
}

/** Sends batches for one producer. */
export class BatchSender {
  readonly #cluster: ClusterClient;
  readonly #options: BatchSenderOptions;
  readonly #settled: (batch: ProducerBatch) => void;

  /** @param settled called once per batch after all its sends are settled (to free their memory) */
  constructor(cluster: ClusterClient, options: BatchSenderOptions, settled: (batch: ProducerBatch) => void) {
    this.#cluster = cluster;
    this.#options = options;
    this.#settled = settled;
  }

  /**
   * Sends `batch` until it lands or fails for good; never rejects. `landed` runs once the outcome
   * is known, just before the sends are settled.
   */
  async send(batch: ProducerBatch, landed: () => void = () => {}): Promise<void> {
    let body: Buffer[];
    try {
      body = encodeProduceRequest({
        topic: batch.topic,
        partition: batch.partition,
        acks: this.#options.acks,
        messages: batch.messages,
      });
    } catch (error) {
      landed();
      this.#fail(batch, error, 0);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const { connection } = await this.#cluster.route(batch.topic, batch.partition);
        // With more partitions than the connection has request slots, batches queue for a slot
        // instead of being refused BUSY and retried after a backoff.
        for (let slot = connection.waitForRequestSlot(); slot; slot = connection.waitForRequestSlot()) {
          await slot;
        }
        const frame = await connection.request(opcodes.PRODUCE, body);
        const { baseOffset, count } = decodeProduceResponse(frame.body);
        if (count !== batch.sends.length) {
          throw new TubeError('INTERNAL', `broker acknowledged ${count} of ${batch.sends.length} messages`);
        }
        landed();
        for (let i = 0; i < batch.sends.length; i++) {
          batch.sends[i]!.resolve({ partition: batch.partition, offset: baseOffset + i });
        }
        this.#settled(batch);
        return;
      } catch (error) {
        if (error instanceof TubeError && error.errorName === 'MESSAGE_TOO_LARGE' && batch.sends.length > 1) {
          const [first, second] = batch.split();
          // Both halves land before the partition's next batch may go, or order would break.
          await this.send(first);
          await this.send(second);
          landed();
          return;
        }
        if (!isRetriable(error) || attempt >= this.#options.retries || this.#cluster.closed) {
          landed();
          this.#fail(batch, error, attempt);
          return;
        }
        this.#cluster.logger.debug(
          { err: error, attempt, topic: batch.topic, partition: batch.partition },
          'produce retry',
        );
        await delay(backoffMs(attempt + 1));
        await this.#cluster.refreshQuietly([batch.topic]);
      }
    }
  }

  #fail(batch: ProducerBatch, error: unknown, retries: number): void {
    const failure = describeFailure(batch, error, retries);
    for (const send of batch.sends) send.reject(failure);
    this.#settled(batch);
  }
}

// Keeps the code of a TubeError (callers branch on it) and says where and after how many tries.
function describeFailure(batch: ProducerBatch, error: unknown, retries: number): Error {
  const where = `${batch.topic}/${batch.partition}`;
  if (!(error instanceof TubeError)) {
    const message = error instanceof Error ? error.message : String(error);
    return new TubeError('INTERNAL', `send to ${where} failed: ${message}`, { cause: error });
  }
  if (retries === 0) return error;
  return new TubeError(
    error.errorName,
    `send to ${where} failed after ${retries} retries: ${error.message}`,
    {
      details: { ...error.details, topic: batch.topic, partition: batch.partition, retries },
      hint: error.hint,
      cause: error,
    },
  );
}
