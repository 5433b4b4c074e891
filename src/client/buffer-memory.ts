// Bounded memory for messages a producer holds: every send reserves its bytes until the broker has
// answered for it. When the budget is spent, later sends wait their turn (first come, first served,
// so order is kept) instead of growing memory without bound.

/** A byte budget with a first-come-first-served queue of waiters. */
export class BufferMemory<Waiter> {
  readonly #capacity: number;
  #used = 0;
  readonly #waiting: { bytes: number; waiter: Waiter }[] = [];
  #head = 0;
  readonly #admit: (waiter: Waiter) => void;

  /**
   * @param capacity the budget in bytes
   * @param admit called with each waiter, in order, once its bytes are reserved
   */
  constructor(capacity: number, admit: (waiter: Waiter) => void) {
    this.#capacity = capacity;
    this.#admit = admit;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Waiters queued for room. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /**
   * Reserves `bytes` for `waiter` and admits it at once when there is room and nobody is queued
   * ahead; otherwise queues it. A request larger than the whole budget is admitted once the budget
   * is empty, so one big message cannot wait forever.
   */
  reserve(bytes: number, waiter: Waiter): void {
    if (this.waiting === 0 && this.#fits(bytes)) {
      this.#used += bytes;
      this.#admit(waiter);
      return;
    }
    this.#waiting.push({ bytes, waiter });
  }

  /** Gives `bytes` back and admits queued waiters that now fit, in order. */
  release(bytes: number): void {
    this.#used -= bytes;
    while (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head]!;
      if (!this.#fits(next.bytes)) break;
      this.#head++;
      this.#used += next.bytes;
      this.#admit(next.waiter);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Removes every queued waiter and returns them (to reject them when closing). */
  drainWaiting(): Waiter[] {
    const waiters = this.#waiting.slice(this.#head).map((entry) => entry.waiter);
    this.#waiting.length = 0;
    this.#head = 0;
    return waiters;
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.#capacity;
  }
}
