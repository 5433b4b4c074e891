// Reads one partition for a consumer: one long-poll FETCH in flight at a time, and at most one
// answer waiting behind the one the application is taking — so the broker reads the next answer
// while the application handles this one, and memory stays within two `fetchBytes` answers per
// partition. It tracks the position (the next offset to hand out) and the latest offset the
// broker reported. As a group member it fetches under the partition's lease (the FETCH owner
// section) and claims it again when the broker says it is gone; with a stream filter it drops
// messages whose real stream id is not asked for (the broker filters by a 32-bit hash, which can
// collide), the position still moving past them.
import { TubeError, backoffMs } from '../common/index.js';
import {
  decodeFetchResponse,
  encodeFetchRequest,
  opcodes,
  peekFetchNextOffset,
  type FetchOwner,
} from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { toConsumedMessage, type ConsumedMessage } from './consumed-message.js';
import { isLeaseError } from './partition-offsets.js';
import { delay, isRetriable } from './retry.js';

/** Where and how one fetcher reads. */
export interface PartitionFetcherOptions {
  topic: string;
  partition: number;
  /** The first offset to hand out. */
  offset: number;
  /** The latest offset known when starting (from LIST_OFFSETS). */
  latest: number;
  maxWaitMs: number;
  fetchBytes: number;
  /** Only messages of these streams (checked by the broker's hash and again here); absent for all. */
  streamIds?: ReadonlySet<string>;
  /** The member fetching, read at every fetch (it changes when a balanced member rejoins); absent = anonymous. */
  owner?: () => FetchOwner | undefined;
  /** Claims the partition again after the broker answered 410 or 411; resolves whether it was granted. */
  reclaim?: () => Promise<boolean>;
}

/** The reader of one assigned partition. */
export class PartitionFetcher {
  readonly topic: string;
  readonly partition: number;
  readonly #cluster: ClusterClient;
  readonly #options: PartitionFetcherOptions;
  readonly #onReady: () => void;
  #position: number;
  #latest: number;
  #fetchOffset: number;
  #buffer: ConsumedMessage[] = [];
  #bufferAt = 0;
  #readPosition = 0;
  // The answer that arrived while the application was still taking from #buffer.
  #next: ConsumedMessage[] | undefined;
  // Records skipped inside an answer (damaged, or filtered out) let the position jump from/to.
  #jumpFrom = -1;
  #jumpTo = -1;
  #inflight = false;
  #failure: TubeError | undefined;
  #stopped = false;
  #retries = 0;
  readonly #streamIdList: string[];

  /** @param onReady called whenever messages (or a failure) become available to take */
  constructor(cluster: ClusterClient, options: PartitionFetcherOptions, onReady: () => void) {
    this.#cluster = cluster;
    this.#options = options;
    this.#onReady = onReady;
    this.topic = options.topic;
    this.partition = options.partition;
    this.#position = options.offset;
    this.#fetchOffset = options.offset;
    this.#latest = options.latest;
    this.#streamIdList = options.streamIds === undefined ? [] : [...options.streamIds];
  }

  /** The next offset to hand out: what a commit stores. */
  get position(): number {
    return this.#position;
  }

  /** The offset after the last message handed out (processed or not): how far reading has got. */
  get readPosition(): number {
    return Math.max(this.#position, this.#readPosition);
  }

  /** The latest offset the broker reported (the offset the next appended message gets). */
  get latest(): number {
    return this.#latest;
  }

  /** Messages buffered and not yet taken. */
  get available(): number {
    return this.#buffer.length - this.#bufferAt + (this.#next?.length ?? 0);
  }

  /** A non-retriable error that stopped this fetcher, if any. */
  get failure(): TubeError | undefined {
    return this.#failure;
  }

  /** Starts fetching. */
  start(): void {
    this.#fetchSoon();
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops fetching; an answer still in flight is dropped. */
  stop(): void {
    this.#stopped = true;
    this.#buffer = [];
    this.#bufferAt = 0;
    this.#next = undefined;
  }

  /**
   * Moves up to `max` buffered messages into `out`, in offset order, without advancing the
   * position (see {@link delivered}). Returns how many moved.
   */
  take(max: number, out: ConsumedMessage[]): number {
    let moved = 0;
    while (moved < max) {
      const end = Math.min(this.#buffer.length, this.#bufferAt + max - moved);
      for (let i = this.#bufferAt; i < end; i++) out.push(this.#buffer[i]!);
      if (end > this.#bufferAt) this.#readPosition = this.#buffer[end - 1]!.offset + 1;
      moved += end - this.#bufferAt;
      this.#bufferAt = end;
      if (this.#bufferAt < this.#buffer.length) break;
      // This answer is used up: the waiting one moves up, and its slot is free for the next fetch.
      this.#buffer = this.#next ?? [];
      this.#bufferAt = 0;
      this.#next = undefined;
      this.#fetchSoon();
      if (this.#buffer.length === 0) break;
    }
    return moved;
  }

  /**
   * Puts messages taken but not processed back in front of the buffer, in order, so the next take
   * hands them out again. They must be this partition's, in the order they were taken.
   */
  giveBack(messages: readonly ConsumedMessage[]): void {
    if (this.#stopped || messages.length === 0) return;
    this.#buffer = [...messages, ...this.#buffer.slice(this.#bufferAt)];
    this.#bufferAt = 0;
    this.#readPosition = messages[0]!.offset;
  }

  /** Records that the application has processed the message at `offset`: the position moves past it. */
  delivered(offset: number): void {
    if (offset < this.#position) return;
    this.#position = offset + 1;
    if (this.#position === this.#jumpFrom) this.#position = this.#jumpTo;
  }

  #fetchSoon(): void {
    if (this.#stopped || this.#inflight || this.#failure !== undefined || this.#next !== undefined) return;
    this.#inflight = true;
    void this.#fetch();
  }

  async #fetch(): Promise<void> {
    const { topic, partition, maxWaitMs, fetchBytes } = this.#options;
    const offset = this.#fetchOffset;
    let answer: Buffer;
    try {
      const { connection } = await this.#cluster.route(topic, partition);
      const owner = this.#options.owner?.();
      const body = encodeFetchRequest({
        topic,
        partition,
        offset,
        maxBytes: fetchBytes,
        maxWaitMs,
        streamIds: this.#streamIdList,
        ...(owner === undefined ? {} : { owner }),
      });
      const frame = await connection.request(opcodes.FETCH, body, {
        timeoutMs: this.#cluster.options.requestTimeoutMs + maxWaitMs,
      });
      answer = frame.body;
    } catch (error) {
      // Stays in flight through the backoff, so no other fetch overtakes the retry.
      if (!this.#stopped) await this.#recover(error, offset);
      this.#inflight = false;
      this.#fetchSoon();
      return;
    }
    this.#inflight = false;
    if (this.#stopped) return;
    try {
      // When this answer takes the free slot, the next fetch leaves before the CRCs are checked and
      // the messages decoded, so the broker reads while this process decodes.
      const nextOffset = peekFetchNextOffset(answer);
      if (nextOffset > offset && this.#bufferAt >= this.#buffer.length && this.#next === undefined) {
        this.#fetchOffset = nextOffset;
        this.#fetchSoon();
      }
      const decoded = decodeFetchResponse(answer, { verifyCrc: true });
      this.#retries = 0;
      this.#accept(
        offset,
        decoded.nextOffset,
        decoded.latestOffset,
        decoded.messages,
        decoded.damagedSkipped,
        decoded.gapSkipped,
      );
    } catch (error) {
      await this.#recover(error, offset);
    }
    this.#fetchSoon();
  }

  #accept(
    offset: number,
    nextOffset: number,
    latest: number,
    fetched: ReturnType<typeof decodeFetchResponse>['messages'],
    damagedSkipped: number,
    gapSkipped: number,
  ): void {
    // An answer that arrives after this fetcher failed (a fetch sent before the failure was known)
    // must not hand out messages past the failure.
    if (this.#failure !== undefined) return;
    if (damagedSkipped > 0) {
      this.#cluster.logger.warn(
        { topic: this.topic, partition: this.partition, offset, damagedSkipped },
        'skipped damaged records',
      );
    }
    if (gapSkipped > 0) {
      // Offsets no message has: a write the broker could not complete, or data its recovery did
      // not find (docs/reliability.md says when each ack level allows that).
      this.#cluster.logger.warn(
        { topic: this.topic, partition: this.partition, offset, nextOffset, gapSkipped },
        'skipped a gap of offsets that no message has',
      );
    }
    this.#latest = Math.max(latest, nextOffset);
    this.#fetchOffset = Math.max(nextOffset, offset);
    const buffer: ConsumedMessage[] = [];
    const wanted = this.#options.streamIds;
    for (const message of fetched) {
      if (message.offset < offset) continue;
      // A hash collision at the broker: not this filter's stream. Skipped like a filtered record.
      if (wanted !== undefined && (message.streamId === undefined || !wanted.has(message.streamId))) continue;
      buffer.push(toConsumedMessage(this.topic, message));
    }
    const lastEnd = buffer.length > 0 ? buffer[buffer.length - 1]!.offset + 1 : offset;
    if (nextOffset > lastEnd) {
      if (this.#position === lastEnd) this.#position = nextOffset;
      else if (this.#jumpTo === lastEnd)
        this.#jumpTo = nextOffset; // an answer of skips only extends the jump
      else {
        this.#jumpFrom = lastEnd;
        this.#jumpTo = nextOffset;
      }
    }
    if (buffer.length === 0) return;
    if (this.#bufferAt < this.#buffer.length) {
      this.#next = buffer;
    } else {
      this.#buffer = buffer;
      this.#bufferAt = 0;
    }
    this.#onReady();
  }

  async #recover(error: unknown, offset: number): Promise<void> {
    if (error instanceof TubeError && error.errorName === 'OFFSET_OUT_OF_RANGE') {
      const earliest = Number(error.details.earliest);
      const latest = Number(error.details.latest);
      if (Number.isSafeInteger(earliest) && Number.isSafeInteger(latest)) {
        // Aged out: continue at the oldest message kept; beyond the end: at the end.
        const next = offset < earliest ? earliest : latest;
        this.#cluster.logger.warn(
          { topic: this.topic, partition: this.partition, offset, next },
          'offset out of range',
        );
        this.#fetchOffset = next;
        if (this.#position === offset) this.#position = next;
        this.#latest = latest;
        return;
      }
    }
    if (isLeaseError(error) && this.#options.reclaim !== undefined && !this.#cluster.closed) {
      // 411: the lease is gone (expired, or the broker restarted): claim it again and go on. 410:
      // another member holds it: wait, then try; if it stays taken the master revokes it from us.
      this.#retries++;
      if (error.errorName === 'PARTITION_OWNED_BY_OTHER' || this.#retries > 1)
        await delay(backoffMs(this.#retries));
      if (this.#stopped) return;
      const granted = await this.#options.reclaim().catch(() => false);
      this.#cluster.logger.debug(
        { err: error, topic: this.topic, partition: this.partition, granted },
        'fetch lease lost; claimed again',
      );
      return;
    }
    if (isRetriable(error) && !this.#cluster.closed) {
      this.#retries++;
      this.#cluster.logger.debug({ err: error, topic: this.topic, partition: this.partition }, 'fetch retry');
      await delay(backoffMs(this.#retries));
      await this.#cluster.refreshQuietly([this.topic]);
      return;
    }
    this.#failure =
      error instanceof TubeError
        ? error
        : new TubeError('INTERNAL', `fetch of ${this.topic}/${this.partition} failed: ${String(error)}`, {
            cause: error,
          });
    this.#onReady();
  }
}
