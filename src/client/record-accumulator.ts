// Collects messages into per-partition batches and hands batches to the sender. A batch leaves when
// it reaches `batchBytes` or has lingered `lingerMs`; each partition has at most one request in
// flight, so batches of a partition land in the order they were sent (retries cannot overtake) and
// messages arriving meanwhile gather into the next, fuller batch. Batches that become sendable in
// the same turn leave together, in one dispatch, so the sender can put the batches of many
// partitions into one request per broker (with 1,000 topics, a few requests a round, not 1,000).
import { produceLimits } from '../protocol/index.js';
import { ProducerBatch, type PendingSend } from './producer-batch.js';

/** How the accumulator forms batches. */
export interface AccumulatorOptions {
  /**
   * Milliseconds a batch waits for more messages; 0 sends it once the current turn of the event
   * loop is done (setImmediate: a 0 ms timer would wait a whole millisecond).
   */
  lingerMs: number;
  /** A batch this large leaves at once. */
  batchBytes: number;
}

/**
 * Sends batches of distinct partitions. It must call `landed(batch)` exactly once per batch, as
 * soon as the broker has answered for it for good and before it settles the batch's sends: the
 * partition's next batch then goes out while the application is still handling the
 * acknowledgements, instead of after (which left broker and client taking turns). Never throws.
 */
export type Dispatch = (batches: ProducerBatch[], landed: (batch: ProducerBatch) => void) => void;

interface PartitionQueue {
  open: ProducerBatch | undefined;
  ready: ProducerBatch[];
  /** The batch whose request is in flight. */
  inflight: ProducerBatch | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** Per-partition batching with one request in flight per partition. */
export class RecordAccumulator {
  readonly #options: AccumulatorOptions;
  readonly #dispatch: Dispatch;
  // By topic, then by partition: no key string built per message.
  readonly #queues = new Map<string, (PartitionQueue | undefined)[]>();
  // Partitions that may have a batch to send, drained together at the end of the turn.
  readonly #sendable = new Set<PartitionQueue>();
  #drainScheduled = false;
  // lingerMs 0: queues whose open batch leaves at the next setImmediate, one for all of them.
  readonly #lingering = new Set<PartitionQueue>();
  #lingerScheduled = false;
  readonly #landed = (batch: ProducerBatch): void => this.#release(batch);

  /** @param dispatch sends batches; must settle every send in them */
  constructor(options: AccumulatorOptions, dispatch: Dispatch) {
    this.#options = options;
    this.#dispatch = dispatch;
  }

  /** Adds a routed message (its `partition` is set) to its partition's open batch. */
  append(send: PendingSend): void {
    const queue = this.#queue(send.topic, send.partition, true)!;
    let open = queue.open;
    if (
      open !== undefined &&
      (open.bytes + send.bytes > this.#options.batchBytes ||
        open.sends.length >= produceLimits.messageCountMax)
    ) {
      this.#seal(queue);
      open = undefined;
    }
    if (open === undefined) {
      open = new ProducerBatch(send.topic, send.partition);
      queue.open = open;
      this.#startLinger(queue, open);
    }
    open.add(send);
    if (open.bytes >= this.#options.batchBytes) this.#seal(queue);
  }

  /** Sends every open batch now (as soon as its partition has no request in flight). */
  sealAll(): void {
    for (const queue of this.#allQueues()) {
      if (queue.open !== undefined) this.#seal(queue);
    }
  }

  /** Batches not yet answered, open or queued or in flight. */
  get pendingBatches(): number {
    let count = 0;
    for (const queue of this.#allQueues()) {
      count += queue.ready.length + (queue.open === undefined ? 0 : 1) + (queue.inflight ? 1 : 0);
    }
    return count;
  }

  #queue(topic: string, partition: number, create: boolean): PartitionQueue | undefined {
    let partitions = this.#queues.get(topic);
    if (partitions === undefined) {
      if (!create) return undefined;
      partitions = [];
      this.#queues.set(topic, partitions);
    }
    let queue = partitions[partition];
    if (queue === undefined && create) {
      queue = { open: undefined, ready: [], inflight: undefined, timer: undefined };
      partitions[partition] = queue;
    }
    return queue;
  }

  *#allQueues(): Iterable<PartitionQueue> {
    for (const partitions of this.#queues.values()) {
      for (const queue of partitions) if (queue !== undefined) yield queue;
    }
  }

  #startLinger(queue: PartitionQueue, batch: ProducerBatch): void {
    if (this.#options.lingerMs === 0) {
      this.#lingering.add(queue);
      if (!this.#lingerScheduled) {
        this.#lingerScheduled = true;
        setImmediate(() => this.#lingerExpired());
      }
      return;
    }
    queue.timer = setTimeout(() => {
      queue.timer = undefined;
      if (queue.open === batch) this.#expire(queue);
    }, this.#options.lingerMs);
  }

  #lingerExpired(): void {
    this.#lingerScheduled = false;
    for (const queue of this.#lingering) this.#expire(queue);
    this.#lingering.clear();
    this.#drain();
  }

  #expire(queue: PartitionQueue): void {
    const open = queue.open;
    if (open === undefined) return;
    // With a request in flight the batch could not leave anyway; let it fill up until it can.
    if (queue.inflight) open.lingerExpired = true;
    else this.#seal(queue);
  }

  #seal(queue: PartitionQueue): void {
    if (queue.timer !== undefined) {
      clearTimeout(queue.timer);
      queue.timer = undefined;
    }
    this.#lingering.delete(queue);
    if (queue.open !== undefined) {
      queue.ready.push(queue.open);
      queue.open = undefined;
    }
    this.#markSendable(queue);
  }

  #markSendable(queue: PartitionQueue): void {
    if (queue.inflight) return;
    this.#sendable.add(queue);
    if (this.#drainScheduled) return;
    // After the code that sealed it: a burst of sends, or one answer landing many batches, fills
    // many partitions' batches, and they all leave in one dispatch.
    this.#drainScheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    this.#drainScheduled = false;
    if (this.#sendable.size === 0) return;
    const batches: ProducerBatch[] = [];
    for (const queue of this.#sendable) {
      if (queue.inflight) continue;
      if (queue.ready.length === 0 && queue.open?.lingerExpired) {
        queue.ready.push(queue.open);
        queue.open = undefined;
        this.#lingering.delete(queue);
      }
      const batch = queue.ready.shift();
      if (batch === undefined) continue;
      queue.inflight = batch;
      batches.push(batch);
    }
    this.#sendable.clear();
    if (batches.length > 0) this.#dispatch(batches, this.#landed);
  }

  #release(batch: ProducerBatch): void {
    const queue = this.#queue(batch.topic, batch.partition, false);
    if (queue?.inflight !== batch) return;
    queue.inflight = undefined;
    if (queue.ready.length > 0 || queue.open?.lingerExpired) this.#markSendable(queue);
  }
}
