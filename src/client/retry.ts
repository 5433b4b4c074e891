// The retry policy of every client: which errors are worth another try, and how long to wait first.
import { setTimeout as sleep } from 'node:timers/promises';
import { TubeError } from '../common/index.js';

/** First wait before a retry, in milliseconds; each later wait doubles. */
export const backoffInitialMs = 100;
/** Longest wait between retries, in milliseconds. */
export const backoffMaxMs = 2000;

/** The wait before retry number `attempt` (1-based): 100, 200, 400 … capped at 2000 ms. */
export function backoffMs(attempt: number): number {
  return Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.max(0, attempt - 1));
}

/** Whether the same request may succeed later: a retriable TubeError (a plain Error never is). */
export function isRetriable(error: unknown): boolean {
  return error instanceof TubeError && error.retriable;
}

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}
