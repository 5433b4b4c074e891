/**
 * A caller waiting for its batch to reach the disk (a cache block holds these until its write or
 * sync settles them).
 */
export interface AckWaiter {
  /** The batch reached its ack level. */
  resolve(): void;
  /** The batch will never reach it. */
  reject(error: Error): void;
}

/** A batch of one partition in offset order, from its append until its ack level settles. */
interface InFlight {
  /** The offset after the batch's last message. */
  readonly end: number;
  settled: boolean;
}

/** A batch whose level is reached but whose offsets are not yet covered by a durable reservation. */
interface AwaitingReservation {
  readonly end: number;
  release(): void;
  reject(error: Error): void;
}

/**
 * Offset reservations grow by this many at least, and double (up to {@link reservationStepMax})
 * while a partition comes back for more within {@link reservationQuickMs}: each growth is one small
 * synced write per store, so a busy partition asks rarely; a crash leaves a gap of at most one step.
 */
const reservationStepMin = 4096;
const reservationStepMax = 1 << 20;
const reservationQuickMs = 1000;

/**
 * What one partition has handed out, and what a consumer may see of it (DESIGN.md §4, the readable
 * end). Offsets are handed out at append time; a batch is acknowledged once its ack level is reached
 * *and* a durable reservation covers its offsets (so no crash can hand them out twice); the readable
 * end is the first offset of the oldest batch still waiting, never past the reservation. Consumers
 * read below it only, so they never see what its producer may still lose.
 */
export class PartitionAcks {
  /** Offsets below this are covered by the store's durable offset ledger. */
  reservedEnd: number;
  /** Growth of the next reservation. */
  reservationStep = reservationStepMin;
  private lastReservationMs = -Infinity;
  /** End of the settled batches at the head of the queue (or of every batch when it is empty). */
  private settledEnd: number;
  private readonly queue: InFlight[] = [];
  private queueHead = 0;
  private readonly awaiting: AwaitingReservation[] = [];
  /**
   * Whether the ledger durably says offsets may be handed out past the written data. Until it
   * does, `memory` acks wait and the readable end stays below a gap (see {@link OffsetLedger}).
   */
  unwrittenMarked = false;
  /** Someone waits for {@link unwrittenMarked}. */
  markWanted = false;
  private readonly awaitingMark: AckWaiter[] = [];
  /** While the mark is not durable, the readable end stays below this gap's start. */
  private gapHold: number | undefined;

  /**
   * @param end the partition's end as recovered: everything below it is readable and reserved
   * @param onReadable called whenever the readable end moves
   */
  constructor(
    end: number,
    private readonly onReadable: () => void,
  ) {
    this.reservedEnd = end;
    this.settledEnd = end;
  }

  /** The first offset a consumer may not read yet. */
  get readableEnd(): number {
    const end = Math.min(this.settledEnd, this.reservedEnd);
    return this.gapHold === undefined ? end : Math.min(end, this.gapHold);
  }

  /**
   * A `memory` batch ending at `end` was appended: its level is reached, but it is acknowledged
   * (and readable) only once the ledger says offsets may be handed out unwritten. Returns false
   * when that is so already and the caller may acknowledge it as soon as it is reserved; else
   * the waiter its cache block settles with the write's outcome: whichever comes first, the mark
   * or the write, makes the batch readable and acknowledges it. A mark that fails only fails the
   * acknowledgement: the batch still holds the readable end until its write settles, so readers
   * never pass an offset whose data may yet be lost unmarked.
   */
  appendedUnwritten(
    end: number,
    acknowledge: () => void,
    fail: (error: Error) => void,
  ): AckWaiter | undefined {
    if (this.unwrittenMarked) {
      this.appendedSettled(end);
      return undefined;
    }
    this.markWanted = true;
    const entry: InFlight = { end, settled: false };
    this.queue.push(entry);
    let answered = false;
    const answer = (error?: Error): void => {
      if (answered) return;
      answered = true;
      if (error) fail(error);
      else this.whenReserved(end, acknowledge, fail);
    };
    this.awaitingMark.push({
      resolve: () => {
        this.settle(entry);
        answer();
      },
      reject: (error) => answer(error),
    });
    return {
      resolve: () => {
        this.settle(entry);
        answer();
      },
      reject: (error) => {
        this.settle(entry);
        answer(error);
      },
    };
  }

  /**
   * The batches from `from` on will never be written, and their offsets become a gap: readers
   * may pass it only once the ledger says offsets may have been handed out unwritten.
   */
  gapFrom(from: number): void {
    if (this.unwrittenMarked) return;
    this.markWanted = true;
    this.gapHold = Math.min(this.gapHold ?? from, from);
  }

  /** The ledger now durably says offsets may be handed out unwritten: releases who waited for it. */
  markedUnwritten(): void {
    const before = this.readableEnd;
    this.unwrittenMarked = true;
    this.markWanted = false;
    this.gapHold = undefined;
    for (const waiter of this.awaitingMark.splice(0)) waiter.resolve();
    if (this.readableEnd !== before) this.onReadable();
  }

  /** The ledger was written exactly (nothing handed out past the data): memory acks must mark it again. */
  markedExact(): void {
    this.unwrittenMarked = false;
  }

  /** A batch ending at `end` was appended; its level is reached at once (`memory`). */
  appendedSettled(end: number): void {
    if (this.queueHead === this.queue.length) {
      this.moveSettledEnd(end);
    } else {
      this.queue.push({ end, settled: true });
    }
  }

  /**
   * A batch ending at `end` was appended and waits for its level. Returns the waiter its cache
   * block settles: resolving acknowledges it (through `acknowledge`) once the reservation covers it,
   * rejecting fails it (`fail`); either way it stops holding the readable end back.
   */
  appendedWaiting(end: number, acknowledge: () => void, fail: (error: Error) => void): AckWaiter {
    const entry: InFlight = { end, settled: false };
    this.queue.push(entry);
    return {
      resolve: () => {
        this.settle(entry);
        this.whenReserved(end, acknowledge, fail);
      },
      reject: (error) => {
        this.settle(entry);
        fail(error);
      },
    };
  }

  /** Runs `release` once offsets below `end` are covered by a durable reservation; `reject` if never. */
  whenReserved(end: number, release: () => void, reject: (error: Error) => void): void {
    if (end <= this.reservedEnd) release();
    else this.awaiting.push({ end, release, reject });
  }

  /** Whether anyone waits for the reservation to grow. */
  get awaitsReservation(): boolean {
    return this.awaiting.length > 0;
  }

  /** Whether offsets up to `end` need a larger reservation soon; grows the step for busy partitions. */
  wantsReservation(end: number): boolean {
    return end + this.reservationStep / 2 > this.reservedEnd;
  }

  /** The reservation to ask for next, given the partition's next offset. */
  nextReservation(nextOffset: number, nowMs: number): number {
    if (nowMs - this.lastReservationMs < reservationQuickMs)
      this.reservationStep = Math.min(this.reservationStep * 2, reservationStepMax);
    else if (nowMs - this.lastReservationMs > 10 * reservationQuickMs)
      this.reservationStep = Math.max(this.reservationStep / 2, reservationStepMin);
    this.lastReservationMs = nowMs;
    return Math.max(this.reservedEnd, nextOffset + this.reservationStep);
  }

  /** A reservation up to `end` is durable: releases what it covers. */
  reserved(end: number): void {
    if (end <= this.reservedEnd) return;
    const before = this.readableEnd;
    this.reservedEnd = end;
    if (this.awaiting.length > 0) {
      const still: AwaitingReservation[] = [];
      for (const each of this.awaiting.splice(0)) {
        if (each.end <= end) each.release();
        else still.push(each);
      }
      this.awaiting.push(...still);
    }
    if (this.readableEnd !== before) this.onReadable();
  }

  /** The ledger cannot be written (the store failed): fails everyone waiting for it. */
  failAwaiting(error: Error): void {
    for (const each of this.awaiting.splice(0)) each.reject(error);
    for (const waiter of this.awaitingMark.splice(0)) waiter.reject(error);
  }

  private settle(entry: InFlight): void {
    entry.settled = true;
    const queue = this.queue;
    let head = this.queueHead;
    if (queue[head] !== entry) return;
    let end = this.settledEnd;
    while (head < queue.length && queue[head]!.settled) end = queue[head++]!.end;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.queueHead = head;
    this.moveSettledEnd(end);
  }

  private moveSettledEnd(end: number): void {
    const before = this.readableEnd;
    this.settledEnd = end;
    if (this.readableEnd !== before) this.onReadable();
  }
}
