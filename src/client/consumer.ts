// The consumer: one PartitionFetcher per partition it owns, handing messages out through poll(),
// `for await` or run(). By default it is a member of a balanced group: the master assigns it
// partitions (group-membership.ts) and it takes them over under broker-side leases; with the
// `partitions` option or assign() it picks its own, still under leases. Positions advance only as
// the application finishes messages; commits store them on the brokers, on a timer, when a
// partition is given up, and on close.
import { randomBytes } from 'node:crypto';
import { backoffMs, MiB, TubeError } from '../common/index.js';
import { groupNameSchema, sessionTimeoutMsLimits, type TopicPartition } from '../protocol/index.js';
import { listAssignedPartitions, type PartitionAssignment } from './assignment.js';
import { ClusterClient } from './cluster-client.js';
import { isTimestampStart, type ConsumedMessage, type ConsumerStart } from './consumed-message.js';
import { resolveFilters } from './consumer-filters.js';
import { GroupMembership, type MembershipHandlers } from './group-membership.js';
import type { BoundStart, ConsumerOptions, PartitionPosition, PollOptions } from './consumer-options.js';
import { integerAtLeast, positive, resolveClientOptions } from './options.js';
import { PartitionFetcher } from './partition-fetcher.js';
import {
  claimPartitions,
  claimUntilGranted,
  ownedByOther,
  releasePartitions,
  type LeaseOwner,
} from './partition-leases.js';
import { commitOffsets, isLeaseError, partitionKey, type PartitionOffset } from './partition-offsets.js';
import { PushRunner, type MessageHandler, type RunOptions } from './push-runner.js';
import { delay } from './retry.js';
import { checkExplicitOffsets, checkExplicitTargets, resolveStartOffsets } from './start-offsets.js';

// How long a revocation waits for a push handler still busy with a message of the partition.
const revokeHandlerWaitMs = 3000;

/**
 * Reads topics as a member of a consumer group. Messages of one partition arrive in offset order,
 * also across rebalances; delivery is at least once.
 *
 * ```ts
 * const consumer = new Consumer({ group: 'billing', topics: ['orders'], start: 'earliest' });
 * await consumer.run(async (message) => handle(message));
 * ```
 */
export class Consumer implements AsyncIterable<ConsumedMessage> {
  readonly #cluster: ClusterClient;
  readonly #group: string;
  readonly #topics: string[];
  readonly #filters: Map<string, ReadonlySet<string>>;
  readonly #start: ConsumerStart;
  readonly #bound: BoundStart | undefined;
  readonly #sessionTimeoutMs: number;
  readonly #commitEnabled: boolean;
  readonly #autoCommit: boolean;
  readonly #autoCommitIntervalMs: number;
  readonly #maxWaitMs: number;
  readonly #fetchBytes: number;
  #partitionsOption: Record<string, number[]> | undefined;
  #assignOffsets: Record<string, Record<number, number>> = {};
  // assign() reads exactly what it names; the `partitions` option reads all of a topic not named.
  #assignedExactly = false;
  readonly #fetchers = new Map<string, PartitionFetcher>();
  readonly #committed = new Map<string, number>();
  readonly #paused = new Map<string, TopicPartition>();
  readonly #leaseOps = new Set<Promise<unknown>>();
  #membership: GroupMembership | undefined;
  #manualMemberId: string | undefined;
  #runner: PushRunner | undefined;
  #failure: TubeError | undefined;
  #starting: Promise<void> | undefined;
  #cursor = 0;
  #wakers: (() => void)[] = [];
  // Handed to the application and not yet finished with, with the fetcher each came from: a message
  // is finished when the application asks for more (the next poll, the next iteration) or calls
  // commit(). Positions, and so auto-commit, revocations and close(), only cover finished messages.
  #handedOut: ConsumedMessage[] = [];
  #handedOutFrom: PartitionFetcher[] = [];
  #autoCommitTimer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Creates a consumer; it connects on {@link start} (or the first poll or run). Throws BAD_REQUEST for invalid options. */
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
    this.#topics = [...new Set(options.topics)];
    this.#filters = resolveFilters(this.#topics, options.filters);
    this.#start = options.start ?? 'committed';
    if (isTimestampStart(this.#start)) integerAtLeast(this.#start.timestampMs, 0, 'start.timestampMs');
    this.#bound = options.bound;
    if (this.#bound !== undefined && options.partitions !== undefined) {
      throw new TubeError(
        'BAD_REQUEST',
        'bound applies to balanced groups; it cannot be combined with partitions',
      );
    }
    this.#sessionTimeoutMs = integerAtLeast(
      options.sessionTimeoutMs ?? sessionTimeoutMsLimits.default,
      sessionTimeoutMsLimits.min,
      'sessionTimeoutMs',
    );
    if (this.#sessionTimeoutMs > sessionTimeoutMsLimits.max) {
      throw new TubeError('BAD_REQUEST', `sessionTimeoutMs must be at most ${sessionTimeoutMsLimits.max}`);
    }
    this.#commitEnabled = options.commit ?? true;
    this.#autoCommit = this.#commitEnabled && (options.autoCommit ?? true);
    this.#autoCommitIntervalMs = positive(options.autoCommitIntervalMs ?? 5000, 'autoCommitIntervalMs');
    this.#maxWaitMs = integerAtLeast(options.maxWaitMs ?? 500, 0, 'maxWaitMs');
    this.#fetchBytes = positive(options.fetchBytes ?? 1 * MiB, 'fetchBytes');
    this.#partitionsOption = options.partitions;
  }

  /**
   * Reads exactly these partitions instead of joining the balanced group (TubeMQ's
   * connect2Partition, Kafka's assign): call before {@link start}. A given `offset` is where that
   * partition starts, winning over the group's commit. The partitions' leases are taken at start;
   * start() rejects PARTITION_OWNED_BY_OTHER, naming the holder, when another consumer of the group
   * holds one. Throws BAD_REQUEST after start or for a topic not subscribed.
   */
  assign(partitions: PartitionAssignment[]): void {
    if (this.#starting !== undefined)
      throw new TubeError('BAD_REQUEST', 'assign() must be called before start()');
    if (this.#bound !== undefined)
      throw new TubeError('BAD_REQUEST', 'assign() cannot be combined with bound');
    const only: Record<string, number[]> = {};
    const offsets: Record<string, Record<number, number>> = {};
    for (const { topic, partition, offset } of partitions) {
      if (!this.#topics.includes(topic)) {
        throw new TubeError('BAD_REQUEST', `assign() names topic "${topic}", which is not subscribed`);
      }
      (only[topic] ??= []).push(partition);
      if (offset !== undefined) (offsets[topic] ??= {})[partition] = offset;
    }
    this.#partitionsOption = only;
    this.#assignOffsets = offsets;
    this.#assignedExactly = true;
  }

  /**
   * Connects and joins the group (or takes the leases of the partitions assigned with
   * {@link assign} / `partitions`) and resolves where to start. Called implicitly by poll, run and
   * iteration; calling it again returns the same promise (a rejected one too: create a new
   * consumer to try again). Rejects NOT_FOUND for an unknown topic or partition,
   * OFFSET_OUT_OF_RANGE for an explicit offset outside the stored range, PARTITION_OWNED_BY_OTHER
   * when another consumer holds an assigned partition, GROUP_MISMATCH when the group's members read
   * other topics or filters, STALE_SESSION for a bound session key the group moved past, and
   * BAD_REQUEST for options naming what this consumer does not read, or for a closed consumer.
   */
  start(): Promise<void> {
    this.#starting ??= this.#begin();
    return this.#starting;
  }

  /** The member id this consumer has in its group (generated for client-side assignment); undefined before start. */
  get memberId(): string | undefined {
    return this.#membership?.memberId ?? this.#manualMemberId;
  }

  /** The partitions this consumer owns and reads now, sorted by topic and partition. */
  assignment(): TopicPartition[] {
    return sortPartitions([...this.#fetchers.values()].map(({ topic, partition }) => ({ topic, partition })));
  }

  /**
   * Stops handing out messages of these partitions (fetching stops once two answers are buffered)
   * until {@link resume}; the partitions stay owned. A pause outlives rebalances: a paused partition
   * assigned later starts paused.
   */
  pause(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions)
      this.#paused.set(partitionKey(topic, partition), { topic, partition });
  }

  /** Hands out messages of these partitions again. */
  resume(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) this.#paused.delete(partitionKey(topic, partition));
    this.#wake();
  }

  /** The partitions paused now, sorted by topic and partition. */
  paused(): TopicPartition[] {
    return sortPartitions([...this.#paused.values()]);
  }

  /**
   * Returns the messages buffered now (up to `maxMessages`), or waits up to `timeoutMs` for some;
   * `[]` when none came. Calling poll again means the previous batch is processed: the position then
   * moves past it. Rejects with the error that stopped a partition's fetching (a non-retriable one
   * such as NOT_FOUND) or the consumer (STALE_SESSION).
   */
  async poll(options: PollOptions = {}): Promise<ConsumedMessage[]> {
    const maxMessages = positive(options.maxMessages ?? 1000, 'maxMessages');
    const timeoutMs = integerAtLeast(options.timeoutMs ?? 1000, 0, 'timeoutMs');
    await this.start();
    this.#finishHandedOut();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.#take(maxMessages);
      if (messages.length > 0) return messages;
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
    let from: PartitionFetcher[] = [];
    let at = 0;
    return {
      next: async (): Promise<IteratorResult<ConsumedMessage>> => {
        await this.start();
        this.#finishHandedOut();
        for (;;) {
          // Read ahead of a partition given up meanwhile is no longer this consumer's to hand out,
          // and nothing is while the session may have lapsed.
          while (at < batch.length && from[at]!.stopped) at++;
          if (at < batch.length && !this.#sessionFresh()) {
            this.#giveBack(batch.slice(at), from.slice(at));
            at = batch.length;
          }
          if (at < batch.length) break;
          if (this.#closed) return { done: true, value: undefined };
          batch = this.#take(1000);
          from = this.#handedOutFrom;
          at = 0;
          this.#handedOut = [];
          this.#handedOutFrom = [];
          if (batch.length === 0) await this.#waitForData(this.#maxWaitMs + 1000);
        }
        const message = batch[at]!;
        this.#handedOut = [message];
        this.#handedOutFrom = [from[at]!];
        at++;
        return { done: false, value: message };
      },
      return: (): Promise<IteratorResult<ConsumedMessage>> => {
        this.#giveBack([...this.#handedOut, ...batch.slice(at)], [...this.#handedOutFrom, ...from.slice(at)]);
        this.#handedOut = [];
        this.#handedOutFrom = [];
        batch = [];
        from = [];
        at = 0;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /**
   * Push consumption: calls `handler` with each message, one at a time per partition in offset
   * order, with up to `partitionsConcurrently` partitions at once (default 1). A handler that
   * returns has processed the message: auto-commit, a revocation and close() commit it. One that
   * throws, or calls `message.rollback()`, gets the same message again after `retryDelayMs`
   * (default 500), and nothing later of that partition before. Memory stays bounded: a partition
   * holds at most two fetch answers. Resolves after {@link close}; rejects with the error that
   * stopped consumption. Do not mix with poll() or iteration.
   */
  async run(handler: MessageHandler, options: RunOptions = {}): Promise<void> {
    if (this.#runner !== undefined) throw new TubeError('BAD_REQUEST', 'run() is already running');
    const concurrency = positive(options.partitionsConcurrently ?? 1, 'partitionsConcurrently');
    const retryDelayMs = integerAtLeast(options.retryDelayMs ?? 500, 0, 'retryDelayMs');
    const failure = (): TubeError | undefined => this.#failure;
    const closed = (): boolean => this.#closed;
    this.#runner = new PushRunner(
      {
        fetchers: () => this.#fetchers.values(),
        isPaused: (topic, partition) => this.#paused.has(partitionKey(topic, partition)),
        waitForData: (ms) => this.#waitForData(ms),
        canDeliver: () => this.#sessionFresh(),
        get failure() {
          return failure();
        },
        get closed() {
          return closed();
        },
        logger: this.#cluster.logger,
      },
      handler,
      concurrency,
      retryDelayMs,
    );
    await this.start();
    await this.#runner.run();
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
    // Finished before any await, so a revocation running meanwhile commits this batch too.
    if (offsets === undefined) this.#finishHandedOut();
    if (offsets !== undefined) {
      await this.#store(offsets, true);
      return;
    }
    await this.start();
    this.#finishHandedOut();
    await this.#commitPositions([...this.#fetchers.values()], true);
  }

  /**
   * True when the application has been handed every message up to the latest offset seen at the
   * last fetch, in every owned partition.
   */
  get caughtUp(): boolean {
    if (this.#starting === undefined) return false;
    for (const fetcher of this.#fetchers.values()) {
      if (fetcher.readPosition < fetcher.latest) return false;
    }
    return true;
  }

  /**
   * Owned partitions with their read position (the offset of the next message to hand out, as
   * Kafka's `position()`) and latest, sorted by topic and partition.
   */
  positions(): PartitionPosition[] {
    return sortPartitions(
      [...this.#fetchers.values()].map(({ topic, partition, readPosition, latest }) => ({
        topic,
        partition,
        position: readPosition,
        latest,
      })),
    );
  }

  /**
   * Stops fetching, waits for running run() handlers, commits the positions of what the
   * application finished with (unless `commit: false`, or start() never succeeded), releases the
   * partitions' leases, leaves the group (its partitions go to the other members at once) and
   * closes every connection. The last poll()'s batch, or the message a loop was on, counts as
   * unfinished: call {@link commit} first to include it. With client-side assignment it rejects
   * with the commit's error, after closing anyway.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#autoCommitTimer);
    clearInterval(this.#leaseTimer);
    this.#wake();
    try {
      // Leaving first also ends a start() still waiting for its first assignment.
      const leaving = this.#membership?.close();
      const started = await this.#starting?.then(
        () => true,
        () => false,
      );
      await this.#runner?.settled();
      if (this.#membership !== undefined) {
        await (leaving ?? this.#membership.close());
      } else if (started === true) {
        const fetchers = [...this.#fetchers.values()];
        for (const fetcher of fetchers) fetcher.stop();
        try {
          await this.#commitPositions(fetchers, true, this.#manualMemberId, true);
        } finally {
          await this.#release(fetchers, this.#manualMemberId!);
        }
      }
    } finally {
      for (const fetcher of this.#fetchers.values()) fetcher.stop();
      this.#fetchers.clear();
      await this.#cluster.close();
    }
  }

  async #begin(): Promise<void> {
    if (this.#closed) throw new TubeError('BAD_REQUEST', 'the consumer is closed');
    if (this.#partitionsOption !== undefined) await this.#beginClientSide(this.#partitionsOption);
    else await this.#beginBalanced();
    // close() may have run while this awaited; it cleared timers that did not exist yet.
    if (this.#closed) return;
    if (this.#autoCommit) {
      this.#autoCommitTimer = setInterval(() => void this.#commitQuietly(), this.#autoCommitIntervalMs);
      this.#autoCommitTimer.unref();
    }
    // Leases end after the broker's lease time without a fetch; a paused or slow partition fetches
    // rarely, so they are renewed well within it.
    this.#leaseTimer = setInterval(
      () => this.#renewLeases(),
      Math.min(3000, Math.floor(this.#sessionTimeoutMs / 3)),
    );
    this.#leaseTimer.unref();
  }

  async #beginClientSide(only: Record<string, number[]>): Promise<void> {
    const topics = this.#assignedExactly ? this.#topics.filter((topic) => topic in only) : this.#topics;
    const partitions = await listAssignedPartitions(this.#cluster, topics, only);
    if (typeof this.#start === 'object' && !isTimestampStart(this.#start))
      checkExplicitTargets(this.#start, partitions);
    checkExplicitTargets(this.#assignOffsets, partitions);
    const memberId = `${this.#cluster.options.clientId.slice(0, 200)}-${randomBytes(6).toString('hex')}`;
    this.#manualMemberId = memberId;
    const outcome = await claimPartitions(this.#cluster, this.#owner(memberId), partitions);
    if (outcome.refused.length > 0) {
      await releasePartitions(this.#cluster, this.#owner(memberId), outcome.granted).catch(() => undefined);
      throw ownedByOther(this.#group, outcome.refused);
    }
    try {
      await this.#startPartitions(partitions, true);
    } catch (error) {
      await releasePartitions(this.#cluster, this.#owner(memberId), partitions).catch(() => undefined);
      throw error;
    }
  }

  async #beginBalanced(): Promise<void> {
    if (typeof this.#start === 'object' && !isTimestampStart(this.#start)) {
      await checkExplicitOffsets(this.#cluster, this.#topics, this.#start);
    }
    for (const topic of this.#topics) await this.#cluster.metadata.refresh(topic);
    if (this.#closed) throw new TubeError('BAD_REQUEST', 'the consumer is closed');
    const handlers: MembershipHandlers = {
      revoke: (partitions, memberId) => this.#revoke(partitions, memberId, true),
      drop: (partitions, memberId) => this.#revoke(partitions, memberId, false),
      assign: (partitions, memberId, signal, started) =>
        this.#takeOver(partitions, memberId, signal, started),
      fail: (error) => {
        this.#failure = error;
        this.#wake();
      },
    };
    const subscriptions = this.#topics.map((topic) => ({
      topic,
      streamIds: [...(this.#filters.get(topic) ?? [])],
    }));
    const bound =
      this.#bound === undefined
        ? undefined
        : {
            sessionKey: this.#bound.sessionKey,
            offsets: Object.entries(this.#bound.offsets).flatMap(([topic, offsets]) =>
              Object.entries(offsets).map(([partition, offset]) => ({
                topic,
                partition: Number(partition),
                offset,
              })),
            ),
          };
    this.#membership = new GroupMembership(
      this.#cluster,
      {
        group: this.#group,
        subscriptions,
        sessionTimeoutMs: this.#sessionTimeoutMs,
        ...(bound === undefined ? {} : { bound }),
      },
      handlers,
    );
    await this.#membership.join();
    if (this.#closed) return;
    // So that start() means "reading": a 'latest' start is taken before start() resolves.
    await this.#membership.firstAssignment(this.#sessionTimeoutMs);
    if (this.#failure !== undefined) throw this.#failure;
  }

  // A balanced member not confirmed by the master within its session timeout (e.g. a process paused
  // for longer) may be a zombie: its partitions may be another's already, so it hands out, commits
  // and claims nothing until it has dropped them and joined again.
  #sessionFresh(): boolean {
    return this.#membership?.sessionFresh() ?? true;
  }

  #owner(memberId: string): LeaseOwner {
    return { group: this.#group, memberId };
  }

  // Claims the partitions (waiting while a previous owner's lease lingers) and starts each batch as
  // it is granted. Gives up when `signal` aborts (a newer assignment, a rejoin, close).
  async #takeOver(
    partitions: TopicPartition[],
    memberId: string,
    signal: AbortSignal,
    started: (partitions: TopicPartition[]) => void,
  ): Promise<void> {
    const waiting = new Map(partitions.map((p) => [partitionKey(p.topic, p.partition), p] as const));
    for (let attempt = 1; waiting.size > 0 && !signal.aborted && !this.#closed; attempt++) {
      try {
        await claimUntilGranted(this.#cluster, this.#owner(memberId), [...waiting.values()], {
          signal,
          onGranted: async (granted) => {
            try {
              await this.#startPartitions(granted, false);
            } catch (error) {
              await this.#releaseQuietly(granted, memberId);
              throw error;
            }
            for (const { topic, partition } of granted) waiting.delete(partitionKey(topic, partition));
            started(granted);
          },
          onRefused: (refused, tries) => {
            if (tries === 1 || tries % 10 === 0) {
              this.#cluster.logger.info(
                { group: this.#group, memberId, refused, tries },
                'waiting for leases to be released',
              );
            }
          },
        });
      } catch (error) {
        if (this.#closed || signal.aborted) return;
        this.#cluster.logger.warn(
          { err: error, group: this.#group, memberId },
          'taking over partitions failed; retrying',
        );
        await delay(backoffMs(attempt));
      }
    }
  }

  // Gives partitions up: stop fetching, wait for running handlers, commit what the application
  // finished (`commit`), release the leases. A zombie (`commit` false) only stops and releases.
  async #revoke(partitions: TopicPartition[], memberId: string, commit: boolean): Promise<void> {
    const fetchers: PartitionFetcher[] = [];
    for (const { topic, partition } of partitions) {
      const fetcher = this.#fetchers.get(partitionKey(topic, partition));
      if (fetcher === undefined) continue;
      fetcher.stop();
      fetchers.push(fetcher);
    }
    await this.#runner?.settle(
      fetchers.map(({ topic, partition }) => partitionKey(topic, partition)),
      revokeHandlerWaitMs,
    );
    for (const fetcher of fetchers) {
      if (this.#fetchers.get(partitionKey(fetcher.topic, fetcher.partition)) === fetcher) {
        this.#fetchers.delete(partitionKey(fetcher.topic, fetcher.partition));
      }
    }
    if (commit) {
      await this.#commitPositions(fetchers, false, memberId, true).catch((error: unknown) =>
        this.#cluster.logger.warn(
          { err: error, group: this.#group },
          'commit before giving partitions up failed',
        ),
      );
    }
    // The next owner moves the commit on; a cached value would hide a later commit equal to it.
    for (const { topic, partition } of fetchers) this.#committed.delete(partitionKey(topic, partition));
    await this.#release(fetchers, memberId);
    this.#wake();
  }

  async #release(fetchers: readonly PartitionFetcher[], memberId: string): Promise<void> {
    // A lease renewal or re-claim sent before this must not land after the release.
    await Promise.all([...this.#leaseOps].map((op) => op.catch(() => undefined)));
    await this.#releaseQuietly(
      fetchers.map(({ topic, partition }) => ({ topic, partition })),
      memberId,
    );
  }

  async #releaseQuietly(partitions: TopicPartition[], memberId: string): Promise<void> {
    await releasePartitions(this.#cluster, this.#owner(memberId), partitions).catch((error: unknown) =>
      this.#cluster.logger.debug({ err: error, group: this.#group }, 'release failed; the lease will expire'),
    );
  }

  async #startPartitions(partitions: readonly TopicPartition[], clientSide: boolean): Promise<void> {
    const fresh = partitions.filter(
      ({ topic, partition }) => !this.#fetchers.has(partitionKey(topic, partition)),
    );
    const starts = await resolveStartOffsets(this.#cluster, this.#group, fresh, this.#start, {
      overrideCommits: clientSide,
      offsets: this.#assignOffsets,
    });
    if (this.#closed) return;
    for (const { topic, partition, offset, latest } of starts) {
      const key = partitionKey(topic, partition);
      const streamIds = this.#filters.get(topic);
      const fetcher = new PartitionFetcher(
        this.#cluster,
        {
          topic,
          partition,
          offset,
          latest,
          maxWaitMs: this.#maxWaitMs,
          fetchBytes: this.#fetchBytes,
          ...(streamIds === undefined ? {} : { streamIds }),
          owner: () => {
            const memberId = this.memberId;
            return memberId === undefined ? undefined : this.#owner(memberId);
          },
          reclaim: () => this.#reclaim(topic, partition),
        },
        () => this.#wake(),
      );
      this.#fetchers.set(key, fetcher);
      fetcher.start();
    }
    this.#wake();
  }

  async #reclaim(topic: string, partition: number): Promise<boolean> {
    const memberId = this.memberId;
    if (
      memberId === undefined ||
      this.#closed ||
      !this.#isLive({ topic, partition }) ||
      !this.#sessionFresh()
    )
      return false;
    const op = claimPartitions(this.#cluster, this.#owner(memberId), [{ topic, partition }]);
    this.#track(op);
    const outcome = await op;
    return outcome.granted.length > 0;
  }

  #renewLeases(): void {
    const memberId = this.memberId;
    if (memberId === undefined || this.#closed || this.#fetchers.size === 0 || !this.#sessionFresh()) return;
    const partitions = [...this.#fetchers.values()]
      .filter((fetcher) => !fetcher.stopped)
      .map(({ topic, partition }) => ({ topic, partition }));
    if (partitions.length === 0) return;
    const op = claimPartitions(this.#cluster, this.#owner(memberId), partitions).then((outcome) => {
      if (outcome.refused.length > 0) {
        this.#cluster.logger.warn(
          { group: this.#group, memberId, refused: outcome.refused },
          'a partition lease is held by another member',
        );
      }
    });
    this.#track(op);
    void op.catch((error: unknown) => this.#cluster.logger.debug({ err: error }, 'lease renewal failed'));
  }

  #track(op: Promise<unknown>): void {
    this.#leaseOps.add(op);
    const forget = (): void => void this.#leaseOps.delete(op);
    op.then(forget, forget);
  }

  // Positions cover finished messages only; auto-commit, revocations and close() use this.
  // `revoking`: the fetchers are being given up (no longer listed as owned) but still ours to commit.
  async #commitPositions(
    fetchers: readonly PartitionFetcher[],
    strict: boolean,
    memberId = this.memberId,
    revoking = false,
  ): Promise<void> {
    if (!this.#commitEnabled || this.#starting === undefined) return;
    const entries = fetchers
      .filter(
        (fetcher) => this.#committed.get(partitionKey(fetcher.topic, fetcher.partition)) !== fetcher.position,
      )
      .map((fetcher) => ({ topic: fetcher.topic, partition: fetcher.partition, offset: fetcher.position }));
    await this.#store(entries, strict, memberId, revoking);
  }

  // Partitions this consumer reads commit under their leases (with the member id); others (commit()
  // given offsets of partitions it does not read) as an offline commit, which the broker refuses
  // while another member holds the lease. Tracked with the lease operations, so a release never
  // overtakes a commit still in flight (which would then claim the lease back).
  async #store(
    entries: PartitionOffset[],
    strict: boolean,
    memberId = this.memberId,
    revoking = false,
  ): Promise<void> {
    if (entries.length === 0) return;
    const owned = revoking ? entries : entries.filter((entry) => this.#isLive(entry));
    const offline = revoking ? [] : entries.filter((entry) => !this.#isLive(entry));
    const op = Promise.all([
      this.#storeOwned(owned, strict, memberId, revoking),
      commitOffsets(this.#cluster, this.#group, offline),
    ]);
    this.#track(op);
    await op;
    for (const { topic, partition, offset } of entries)
      this.#committed.set(partitionKey(topic, partition), offset);
  }

  // A lease found gone (411: expired, or the broker restarted) is claimed again once and the commit
  // retried — only while the partition is still this member's (being read, or being given up).
  async #storeOwned(
    entries: PartitionOffset[],
    strict: boolean,
    memberId: string | undefined,
    revoking: boolean,
  ): Promise<void> {
    if (entries.length === 0) return;
    try {
      await commitOffsets(this.#cluster, this.#group, entries, memberId);
    } catch (error) {
      const stillOurs = revoking || entries.every((entry) => this.#isLive(entry));
      if (!(
        isLeaseError(error) &&
        error.errorName === 'NOT_REGISTERED' &&
        memberId !== undefined &&
        stillOurs
      ))
        throw error;
      const outcome = await claimPartitions(this.#cluster, this.#owner(memberId), entries);
      if (outcome.refused.length > 0 && strict) throw error;
      await commitOffsets(this.#cluster, this.#group, entries, memberId);
    }
  }

  #isLive({ topic, partition }: TopicPartition): boolean {
    const fetcher = this.#fetchers.get(partitionKey(topic, partition));
    return fetcher !== undefined && !fetcher.stopped;
  }

  #take(maxMessages: number): ConsumedMessage[] {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#sessionFresh()) {
      this.#handedOut = [];
      this.#handedOutFrom = [];
      return [];
    }
    const fetchers = [...this.#fetchers.values()];
    const out: ConsumedMessage[] = [];
    const from: PartitionFetcher[] = [];
    for (const fetcher of fetchers) {
      if (fetcher.failure !== undefined && fetcher.available === 0) throw fetcher.failure;
    }
    // Start at a rotating partition so one busy partition cannot starve the others.
    for (let i = 0; i < fetchers.length && out.length < maxMessages; i++) {
      const fetcher = fetchers[(this.#cursor + i) % fetchers.length]!;
      if (this.#paused.has(partitionKey(fetcher.topic, fetcher.partition))) continue;
      const moved = fetcher.take(maxMessages - out.length, out);
      for (let m = 0; m < moved; m++) from.push(fetcher);
    }
    this.#cursor = fetchers.length === 0 ? 0 : (this.#cursor + 1) % fetchers.length;
    this.#handedOut = out;
    this.#handedOutFrom = from;
    return out;
  }

  #finishHandedOut(): void {
    for (let i = 0; i < this.#handedOut.length; i++)
      this.#handedOutFrom[i]!.delivered(this.#handedOut[i]!.offset);
    this.#handedOut = [];
    this.#handedOutFrom = [];
  }

  // Returns messages taken but not processed to the front of their partitions' buffers, in order.
  #giveBack(messages: readonly ConsumedMessage[], from: readonly PartitionFetcher[]): void {
    const byFetcher = new Map<PartitionFetcher, ConsumedMessage[]>();
    for (let i = 0; i < messages.length; i++) {
      const fetcher = from[i]!;
      const list = byFetcher.get(fetcher);
      if (list === undefined) byFetcher.set(fetcher, [messages[i]!]);
      else list.push(messages[i]!);
    }
    for (const [fetcher, list] of byFetcher) fetcher.giveBack(list);
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
    if (!this.#sessionFresh()) return;
    try {
      await this.#commitPositions(
        [...this.#fetchers.values()].filter((fetcher) => !fetcher.stopped),
        false,
      );
    } catch (error) {
      this.#cluster.logger.warn({ err: error, group: this.#group }, 'auto-commit failed; will retry');
    }
  }
}

function sortPartitions<T extends TopicPartition>(partitions: T[]): T[] {
  return partitions.sort((a, b) =>
    a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
  );
}
