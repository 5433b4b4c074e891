// The pull consumer: one PartitionFetcher per assigned partition, fed by an assignment source (static
// for now), handing messages out through poll() or `for await`. Positions advance only as messages
// are handed out; commits store them on the brokers, automatically on a timer and on close.
import { MiB, TubeError } from '../common/index.js';
import { groupNameSchema, type TopicPartition } from '../protocol/index.js';
import { StaticAssignment, type AssignmentSource } from './assignment.js';
import { ClusterClient } from './cluster-client.js';
import type { ConsumedMessage, ConsumerStart } from './consumed-message.js';
import { integerAtLeast, positive, resolveClientOptions, type ClientOptions } from './options.js';
import { PartitionFetcher } from './partition-fetcher.js';
import { commitOffsets, partitionKey, type PartitionOffset } from './partition-offsets.js';
import { resolveStartOffsets } from './start-offsets.js';

/** Options of a {@link Consumer}. */
export interface ConsumerOptions extends ClientOptions {
  /**
   * The consumer group: commits are stored under its name (1 to 255 UTF-8 bytes, no control
   * characters). Members are not balanced yet: each consumer reads every partition of its topics
   * unless `partitions` narrows it.
   */
  group: string;
  /** Topics to read; the partitions they have at start() (later ones are not picked up). */
  topics: string[];
  /** Restrict to these partitions per topic (client-side assignment); default all. */
  partitions?: Record<string, number[]>;
  /**
   * Where to start in a partition the group has no commit for: `'earliest'`, or `'latest'` (so is
   * `'committed'`). A partition with a commit starts at the commit (moved into the stored range)
   * whatever this says, except that an explicit `{topic: {partition: offset}}` map wins over commits
   * for the partitions it names (the others start as `'latest'` would). Default `'committed'`. An
   * explicit offset outside [earliest, latest] rejects OFFSET_OUT_OF_RANGE naming the valid range.
   */
  start?: ConsumerStart;
  /**
   * Commit positions every `autoCommitIntervalMs` (failures are logged and tried again next time).
   * The position counts a message as consumed once it is handed out, so a timer commit can cover
   * messages still being processed. Default true.
   */
  autoCommit?: boolean;
  /** Milliseconds between automatic commits. Default 5000. */
  autoCommitIntervalMs?: number;
  /** How long the broker holds a fetch open waiting for new messages, in ms. Default 500. */
  maxWaitMs?: number;
  /** Bytes one fetch of one partition returns at most. Default 1 MiB. */
  fetchBytes?: number;
  /**
   * Whether this consumer stores commits at all. `false` makes commit(), auto-commit and close()
   * store nothing (a throwaway group, as the CLI's); the start still reads the group's commits.
   * Default true.
   */
  commit?: boolean;
}

/** Options of one {@link Consumer.poll}. */
export interface PollOptions {
  /** Most messages returned. Default 1000. */
  maxMessages?: number;
  /** Milliseconds to wait when nothing is buffered; `[]` when it passes. Default 1000. */
  timeoutMs?: number;
}

/** A partition's read position: the next offset to hand out, and the latest offset seen. */
export interface PartitionPosition {
  topic: string;
  partition: number;
  /** The offset of the next message to hand out (commit() would store it once the application is done). */
  position: number;
  /** The latest offset the broker reported at the last fetch (the offset the next message gets). */
  latest: number;
}

/**
 * Reads topics as a member of a consumer group. Messages of one partition arrive in offset order;
 * delivery is at least once.
 *
 * ```ts
 * const consumer = new Consumer({ group: 'billing', topics: ['orders'], start: 'earliest' });
 * for await (const message of consumer) handle(message);
 * ```
 */
export class Consumer implements AsyncIterable<ConsumedMessage> {
  readonly #cluster: ClusterClient;
  readonly #group: string;
  readonly #start: ConsumerStart;
  readonly #commitEnabled: boolean;
  readonly #autoCommit: boolean;
  readonly #autoCommitIntervalMs: number;
  readonly #maxWaitMs: number;
  readonly #fetchBytes: number;
  readonly #assignment: AssignmentSource;
  readonly #fetchers = new Map<string, PartitionFetcher>();
  readonly #committed = new Map<string, number>();
  #starting: Promise<void> | undefined;
  #cursor = 0;
  #wakers: (() => void)[] = [];
  // Handed to the application and not yet finished with: a message is finished when the
  // application asks for more (the next poll, the next iteration) or calls commit(). Positions, and
  // so auto-commit and close(), only cover finished messages: at least once, never at most once.
  #handedOut: ConsumedMessage[] = [];
  #autoCommitTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Creates a consumer; it connects on {@link start} (or the first poll). Throws BAD_REQUEST for invalid options. */
  constructor(options: ConsumerOptions) {
    this.#cluster = new ClusterClient(resolveClientOptions(options), 'consumer');
    const group = groupNameSchema.safeParse(options.group);
    if (!group.success) {
      throw new TubeError(
        'BAD_REQUEST',
        `group ${JSON.stringify(options.group)} is invalid: ${group.error.issues[0]?.message}`,
      );
    }
    this.#group = group.data;
    if (!Array.isArray(options.topics) || options.topics.length === 0) {
      throw new TubeError('BAD_REQUEST', 'a consumer needs at least one topic');
    }
    this.#start = options.start ?? 'committed';
    this.#commitEnabled = options.commit ?? true;
    this.#autoCommit = this.#commitEnabled && (options.autoCommit ?? true);
    this.#autoCommitIntervalMs = positive(options.autoCommitIntervalMs ?? 5000, 'autoCommitIntervalMs');
    this.#maxWaitMs = integerAtLeast(options.maxWaitMs ?? 500, 0, 'maxWaitMs');
    this.#fetchBytes = positive(options.fetchBytes ?? 1 * MiB, 'fetchBytes');
    this.#assignment = new StaticAssignment(this.#cluster, [...new Set(options.topics)], options.partitions);
  }

  /**
   * Connects, finds the assigned partitions and resolves where to start in each. Called implicitly
   * by poll and iteration; calling it again returns the same promise (a rejected one too: create a
   * new consumer to try again). Rejects NOT_FOUND for an unknown topic or partition,
   * OFFSET_OUT_OF_RANGE for an explicit offset outside the stored range, BAD_REQUEST for partitions
   * or start offsets naming what this consumer does not read, or for a closed consumer.
   */
  start(): Promise<void> {
    this.#starting ??= this.#begin();
    return this.#starting;
  }

  /**
   * Returns the messages buffered now (up to `maxMessages`), or waits up to `timeoutMs` for some;
   * `[]` when none came. Calling poll again means the previous batch is processed: the position then
   * moves past it. Rejects with the error that stopped a partition's fetching (a non-retriable one
   * such as NOT_FOUND).
   */
  async poll(options: PollOptions = {}): Promise<ConsumedMessage[]> {
    const maxMessages = positive(options.maxMessages ?? 1000, 'maxMessages');
    const timeoutMs = integerAtLeast(options.timeoutMs ?? 1000, 0, 'timeoutMs');
    await this.start();
    this.#finishHandedOut();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.#take(maxMessages);
      if (messages.length > 0) {
        this.#handedOut = messages;
        return messages;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.#closed) return [];
      await this.#waitForData(remaining);
    }
  }

  /**
   * Iterates messages until close. Asking for the next message means the previous one is processed:
   * the position then moves past it. Leaving the loop (break, return or a throw) gives the message
   * it was on and any read ahead back to their partitions, so they are neither committed nor lost;
   * iterating again, or another member after a restart, gets them again. Rejects like
   * {@link poll}. Leaving the loop does not close the consumer.
   */
  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage> {
    let batch: ConsumedMessage[] = [];
    let at = 0;
    return {
      next: async (): Promise<IteratorResult<ConsumedMessage>> => {
        await this.start();
        this.#finishHandedOut();
        while (at >= batch.length) {
          if (this.#closed) return { done: true, value: undefined };
          batch = this.#take(1000);
          at = 0;
          if (batch.length === 0) await this.#waitForData(this.#maxWaitMs + 1000);
        }
        const message = batch[at++]!;
        this.#handedOut = [message];
        return { done: false, value: message };
      },
      return: (): Promise<IteratorResult<ConsumedMessage>> => {
        this.#giveBack([...this.#handedOut, ...batch.slice(at)]);
        this.#handedOut = [];
        batch = [];
        at = 0;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /**
   * Commits, for every partition, the position after the last message handed out (default: the
   * application says it has processed everything it was given; only partitions whose position
   * changed since the last commit), or the given offsets (each the next offset to consume).
   * Resolves once the brokers stored them durably. Does nothing when the consumer was created with
   * `commit: false`. Retriable errors are retried (5 times) before it rejects.
   */
  async commit(offsets?: PartitionOffset[]): Promise<void> {
    if (!this.#commitEnabled) return;
    if (offsets !== undefined) {
      await this.#store(offsets);
      return;
    }
    await this.start();
    this.#finishHandedOut();
    await this.#commitPositions();
  }

  // Positions cover finished messages only; auto-commit and close() use this, not commit().
  async #commitPositions(): Promise<void> {
    if (!this.#commitEnabled || this.#starting === undefined) return;
    const entries = [...this.#fetchers.values()]
      .filter(
        (fetcher) => this.#committed.get(partitionKey(fetcher.topic, fetcher.partition)) !== fetcher.position,
      )
      .map((fetcher) => ({ topic: fetcher.topic, partition: fetcher.partition, offset: fetcher.position }));
    await this.#store(entries);
  }

  async #store(entries: PartitionOffset[]): Promise<void> {
    if (entries.length === 0) return;
    await commitOffsets(this.#cluster, this.#group, entries);
    for (const { topic, partition, offset } of entries)
      this.#committed.set(partitionKey(topic, partition), offset);
  }

  /**
   * True when the application has been handed every message up to the latest offset seen at the
   * last fetch, in every assigned partition.
   */
  get caughtUp(): boolean {
    if (this.#starting === undefined) return false;
    for (const fetcher of this.#fetchers.values()) {
      if (fetcher.readPosition < fetcher.latest) return false;
    }
    return true;
  }

  /**
   * Assigned partitions with their read position (the offset of the next message to hand out, as
   * Kafka's `position()`) and latest, sorted by topic and partition.
   */
  positions(): PartitionPosition[] {
    return [...this.#fetchers.values()]
      .map(({ topic, partition, readPosition, latest }) => ({
        topic,
        partition,
        position: readPosition,
        latest,
      }))
      .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  }

  /**
   * Stops fetching, commits the positions of what the application finished with (unless
   * `commit: false`, or start() never succeeded) and closes every connection. The last poll()'s
   * batch, or the message a loop was on, counts as unfinished: call {@link commit} first to include
   * it. Rejects with the commit's error, after closing the connections anyway.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#autoCommitTimer);
    for (const fetcher of this.#fetchers.values()) fetcher.stop();
    this.#wake();
    try {
      const started = await this.#starting?.then(
        () => true,
        () => false,
      );
      if (started === true) await this.#commitPositions();
    } finally {
      await this.#assignment.close();
      await this.#cluster.close();
    }
  }

  async #begin(): Promise<void> {
    if (this.#closed) throw new TubeError('BAD_REQUEST', 'the consumer is closed');
    const partitions = await this.#assignment.assign();
    this.#assignment.onChange((next) => void this.#reassign(next));
    await this.#addFetchers(partitions);
    // close() may have run while this awaited; it cleared a timer that did not exist yet.
    if (this.#autoCommit && !this.#closed) {
      this.#autoCommitTimer = setInterval(() => void this.#commitQuietly(), this.#autoCommitIntervalMs);
      this.#autoCommitTimer.unref();
    }
  }

  async #addFetchers(partitions: readonly TopicPartition[]): Promise<void> {
    const fresh = partitions.filter(
      ({ topic, partition }) => !this.#fetchers.has(partitionKey(topic, partition)),
    );
    const starts = await resolveStartOffsets(this.#cluster, this.#group, fresh, this.#start);
    if (this.#closed) return;
    for (const { topic, partition, offset, latest } of starts) {
      const fetcher = new PartitionFetcher(
        this.#cluster,
        { topic, partition, offset, latest, maxWaitMs: this.#maxWaitMs, fetchBytes: this.#fetchBytes },
        () => this.#wake(),
      );
      this.#fetchers.set(partitionKey(topic, partition), fetcher);
      fetcher.start();
    }
  }

  // For assignment sources that change (issue 5): stop what was revoked, start what was added.
  async #reassign(partitions: readonly TopicPartition[]): Promise<void> {
    const keep = new Set(partitions.map(({ topic, partition }) => partitionKey(topic, partition)));
    const revoked = [...this.#fetchers.entries()].filter(([key]) => !keep.has(key));
    for (const [key, fetcher] of revoked) {
      fetcher.stop();
      this.#fetchers.delete(key);
    }
    await this.#addFetchers(partitions);
  }

  #take(maxMessages: number): ConsumedMessage[] {
    const fetchers = [...this.#fetchers.values()];
    const out: ConsumedMessage[] = [];
    for (const fetcher of fetchers) {
      if (fetcher.failure !== undefined && fetcher.available === 0) throw fetcher.failure;
    }
    // Start at a rotating partition so one busy partition cannot starve the others.
    for (let i = 0; i < fetchers.length && out.length < maxMessages; i++) {
      const fetcher = fetchers[(this.#cursor + i) % fetchers.length]!;
      fetcher.take(maxMessages - out.length, out);
    }
    this.#cursor = fetchers.length === 0 ? 0 : (this.#cursor + 1) % fetchers.length;
    return out;
  }

  #finishHandedOut(): void {
    for (const message of this.#handedOut) this.#fetcherOf(message)?.delivered(message.offset);
    this.#handedOut = [];
  }

  // Returns messages taken but not processed to the front of their partitions' buffers, in order.
  #giveBack(messages: readonly ConsumedMessage[]): void {
    const byFetcher = new Map<PartitionFetcher, ConsumedMessage[]>();
    for (const message of messages) {
      const fetcher = this.#fetcherOf(message);
      if (fetcher === undefined) continue;
      const list = byFetcher.get(fetcher);
      if (list === undefined) byFetcher.set(fetcher, [message]);
      else list.push(message);
    }
    for (const [fetcher, list] of byFetcher) fetcher.giveBack(list);
  }

  #fetcherOf(message: ConsumedMessage): PartitionFetcher | undefined {
    return this.#fetchers.get(partitionKey(message.topic, message.partition));
  }

  #waitForData(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wakers.push(done);
    });
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  async #commitQuietly(): Promise<void> {
    try {
      await this.#commitPositions();
    } catch (error) {
      this.#cluster.logger.warn({ err: error, group: this.#group }, 'auto-commit failed; will retry');
    }
  }
}
