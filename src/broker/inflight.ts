// Counts requests still being served, so close() can let them answer before storage shuts.

/** A counter of in-flight request promises with a way to wait until none is left. */
export class Inflight {
  #count = 0;
  #idle: (() => void)[] = [];

  /** Requests in flight now. */
  get count(): number {
    return this.#count;
  }

  /** Counts `work` until it settles; returns it unchanged for the caller to answer from. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#count++;
    const done = (): void => {
      if (--this.#count === 0) for (const resolve of this.#idle.splice(0)) resolve();
    };
    work.then(done, done);
    return work;
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
