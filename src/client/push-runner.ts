// Push consumption (Consumer.run): the application's handler gets one message at a time per
// partition, in offset order, with up to `partitionsConcurrently` partitions handled at once. A
// handler that returns has processed its message (the position moves past it, and commits cover
// it); one that throws, or calls message.rollback(), gets the same message again after
// `retryDelayMs`, and nothing after it in that partition before. Flow control comes from the
// fetchers: each holds at most two answers, and fetches again only as the handler takes them.
import type { TubeError, Logger } from '../common/index.js';
import { clearRollback, wasRolledBack, type ConsumedMessage } from './consumed-message.js';
import type { PartitionFetcher } from './partition-fetcher.js';
import { partitionKey } from './partition-offsets.js';

/** Options of {@link Consumer.run}. */
export interface RunOptions {
  /** Partitions whose messages are handled at the same time (one message each). Default 1. */
  partitionsConcurrently?: number;
  /** Milliseconds before a message whose handler threw or rolled back is delivered again. Default 500. */
  retryDelayMs?: number;
}

/** The handler of {@link Consumer.run}: resolve = processed; throw or `message.rollback()` = deliver again. */
export type MessageHandler = (message: ConsumedMessage) => Promise<void> | void;

/** What the runner reads from the consumer. */
export interface PushSource {
  /** The partitions being read now. */
  fetchers(): Iterable<PartitionFetcher>;
  isPaused(topic: string, partition: number): boolean;
  /** Resolves when data may have arrived, or after `ms`. */
  waitForData(ms: number): Promise<void>;
  /** False while nothing may be handed out (a balanced member whose session may have lapsed). */
  canDeliver(): boolean;
  /** The error that ended consumption (e.g. STALE_SESSION), if any. */
  readonly failure: TubeError | undefined;
  readonly closed: boolean;
  readonly logger: Logger;
}

// Messages one partition gets in a row before a worker looks at the others (fairness).
const messagesPerTurn = 100;

/** Runs one handler over a consumer's partitions until the consumer closes. */
export class PushRunner {
  readonly #source: PushSource;
  readonly #handler: MessageHandler;
  readonly #concurrency: number;
  readonly #retryDelayMs: number;
  readonly #busy = new Map<string, Promise<void>>();
  readonly #retryAt = new Map<string, number>();
  #cursor = 0;
  #done: Promise<void> | undefined;

  constructor(source: PushSource, handler: MessageHandler, concurrency: number, retryDelayMs: number) {
    this.#source = source;
    this.#handler = handler;
    this.#concurrency = concurrency;
    this.#retryDelayMs = retryDelayMs;
  }

  /** Starts the workers; resolves when the consumer closes, rejects with the consumer's failure. */
  run(): Promise<void> {
    this.#done ??= Promise.all(Array.from({ length: this.#concurrency }, () => this.#work())).then(
      () => undefined,
    );
    return this.#done;
  }

  /**
   * Waits until no handler is running on these partitions (the fetchers are stopped first, so none
   * starts), or `capMs` passed: a revoke then commits what the handlers finished.
   */
  async settle(keys: readonly string[], capMs: number): Promise<void> {
    const running = keys.map((key) => this.#busy.get(key)).filter((job) => job !== undefined);
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((job) => job.catch(() => undefined))),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, capMs))),
    ]);
    clearTimeout(timer);
  }

  /** Waits for every running handler (after the consumer closed, none starts again). */
  async settled(): Promise<void> {
    await this.#done?.catch(() => undefined);
  }

  async #work(): Promise<void> {
    while (!this.#source.closed) {
      if (this.#source.failure !== undefined) throw this.#source.failure;
      const fetcher = this.#source.canDeliver() ? this.#pick() : undefined;
      if (fetcher === undefined) {
        await this.#source.waitForData(this.#idleMs());
        continue;
      }
      const key = partitionKey(fetcher.topic, fetcher.partition);
      const job = this.#turn(fetcher, key);
      this.#busy.set(key, job);
      try {
        await job;
      } finally {
        this.#busy.delete(key);
      }
    }
  }

  // The next partition with messages that is neither busy, paused nor waiting out a retry delay.
  #pick(): PartitionFetcher | undefined {
    const fetchers = [...this.#source.fetchers()];
    const now = Date.now();
    for (let i = 0; i < fetchers.length; i++) {
      const fetcher = fetchers[(this.#cursor + i) % fetchers.length]!;
      const key = partitionKey(fetcher.topic, fetcher.partition);
      if (fetcher.failure !== undefined && fetcher.available === 0) throw fetcher.failure;
      if (fetcher.stopped || fetcher.available === 0 || this.#busy.has(key)) continue;
      if (this.#source.isPaused(fetcher.topic, fetcher.partition)) continue;
      if ((this.#retryAt.get(key) ?? 0) > now) continue;
      this.#cursor = (this.#cursor + i + 1) % fetchers.length;
      return fetcher;
    }
    return undefined;
  }

  #idleMs(): number {
    const now = Date.now();
    let wait = this.#source.canDeliver() ? 1000 : 50;
    for (const at of this.#retryAt.values()) if (at > now) wait = Math.min(wait, at - now);
    return Math.max(1, wait);
  }

  async #turn(fetcher: PartitionFetcher, key: string): Promise<void> {
    this.#retryAt.delete(key);
    const taken: ConsumedMessage[] = [];
    for (let handled = 0; handled < messagesPerTurn; handled++) {
      if (this.#source.closed || fetcher.stopped || this.#source.isPaused(fetcher.topic, fetcher.partition))
        return;
      if (!this.#source.canDeliver()) return;
      taken.length = 0;
      if (fetcher.take(1, taken) === 0) return;
      const message = taken[0]!;
      let processed: boolean;
      try {
        await this.#handler(message);
        processed = !wasRolledBack(message);
      } catch (error) {
        this.#source.logger.warn(
          { err: error, topic: message.topic, partition: message.partition, offset: message.offset },
          'message handler failed; delivering the message again',
        );
        processed = false;
      }
      if (processed) {
        fetcher.delivered(message.offset);
        continue;
      }
      clearRollback(message);
      fetcher.giveBack([message]);
      this.#retryAt.set(key, Date.now() + this.#retryDelayMs);
      return;
    }
  }
}
