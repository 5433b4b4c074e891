// Collects messages into per-partition batches and hands batches to the sender. A batch leaves when
// it reaches `batchBytes` or has lingered `lingerMs`; each partition has at most one request in
// flight, so batches of a partition land in the order they were sent (retries cannot overtake) and
// messages arriving meanwhile gather into the next, fuller batch.
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
 * Sends one batch. It calls `landed` as soon as the broker has answered for good, before it settles
 * the batch's sends: the partition's next batch then goes out while the application is still
 * handling the acknowledgements, instead of after (which left broker and client taking turns).
 */
export type Dispatch = (batch: ProducerBatch, landed: () => void) => Promise<void>;

interface PartitionQueue {
  open: ProducerBatch | undefined;
  ready: ProducerBatch[];
  inflight: boolean;
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
}

/** Per-partition batching with one request in flight per partition. */
export class RecordAccumulator {
  readonly #options: AccumulatorOptions;
  readonly #dispatch: Dispatch;
  // By topic, then by partition: no key string built per message.
  readonly #queues = new Map<string, (PartitionQueue | undefined)[]>();

  /** @param dispatch sends one batch; must settle every send in it and never reject */
  constructor(options: AccumulatorOptions, dispatch: Dispatch) {
    this.#options = options;
    this.#dispatch = dispatch;
  }

  /** Adds a routed message (its `partition` is set) to its partition's open batch. */
  append(send: PendingSend): void {
    let partitions = this.#queues.get(send.topic);
    if (partitions === undefined) {
      partitions = [];
      this.#queues.set(send.topic, partitions);
    }
    let queue = partitions[send.partition];
    if (queue === undefined) {
      queue = { open: undefined, ready: [], inflight: false, timer: undefined };
      partitions[send.partition] = queue;
    }
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

  *#allQueues(): Iterable<PartitionQueue> {
    for (const partitions of this.#queues.values()) {
      for (const queue of partitions) if (queue !== undefined) yield queue;
    }
  }

  #startLinger(queue: PartitionQueue, batch: ProducerBatch): void {
    const expire = (): void => {
      queue.timer = undefined;
      if (queue.open !== batch) return;
      // With a request in flight the batch could not leave anyway; let it fill up until it can.
      if (queue.inflight) batch.lingerExpired = true;
      else this.#seal(queue);
    };
    queue.timer =
      this.#options.lingerMs === 0 ? setImmediate(expire) : setTimeout(expire, this.#options.lingerMs);
  }

  #seal(queue: PartitionQueue): void {
    if (queue.timer !== undefined) {
      if (this.#options.lingerMs === 0) clearImmediate(queue.timer as NodeJS.Immediate);
      else clearTimeout(queue.timer as NodeJS.Timeout);
      queue.timer = undefined;
    }
    if (queue.open !== undefined) {
      queue.ready.push(queue.open);
      queue.open = undefined;
    }
    this.#pump(queue);
  }

  #pump(queue: PartitionQueue): void {
    if (queue.inflight) return;
    if (queue.ready.length === 0 && queue.open?.lingerExpired) {
      this.#seal(queue);
      return;
    }
    const batch = queue.ready.shift();
    if (batch === undefined) return;
    queue.inflight = true;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      queue.inflight = false;
      this.#pump(queue);
    };
    void this.#dispatch(batch, release).finally(release);
  }
}
