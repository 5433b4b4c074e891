// One retry backoff for everything that reconnects or retries: clients and the broker's master link.

/** First wait before a retry, in milliseconds; each later wait doubles. */
export const backoffInitialMs = 100;
/** Longest wait between retries, in milliseconds. */
export const backoffMaxMs = 2000;

/** The wait before retry number `attempt` (1-based): 100, 200, 400 … capped at 2000 ms. */
export function backoffMs(attempt: number): number {
  return Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.max(0, attempt - 1));
}
