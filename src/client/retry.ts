// The retry policy of every client: which errors are worth another try (the backoff is in common).
import { setTimeout as sleep } from 'node:timers/promises';
import { TubeError } from '../common/index.js';

/** Whether the same request may succeed later: a retriable TubeError (a plain Error never is). */
export function isRetriable(error: unknown): boolean {
  return error instanceof TubeError && error.retriable;
}

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}
