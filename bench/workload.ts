// Workload pieces shared by the storage bench and its memory child process.
import { randomFillSync } from 'node:crypto';
import { TubeError } from '../src/common/index.js';
import type { AckLevel, MessageInput, StorageEngine, StorageLogger } from '../src/storage/index.js';

/** A logger that only counts, so the engine's lines never mix into the table. */
export interface CountingLogger extends StorageLogger {
  readonly counts: { info: number; warn: number; error: number };
  lastProblem: string | undefined;
}

export function countingLogger(): CountingLogger {
  const logger: CountingLogger = {
    counts: { info: 0, warn: 0, error: 0 },
    lastProblem: undefined,
    info: () => void logger.counts.info++,
    warn: (fields, message) => {
      logger.counts.warn++;
      logger.lastProblem = `${message} ${JSON.stringify(fields)}`;
    },
    error: (fields, message) => {
      logger.counts.error++;
      logger.lastProblem = `${message} ${JSON.stringify(fields)}`;
    },
  };
  return logger;
}

/** `count` messages of `valueBytes` random bytes each (views into one buffer). */
export function makeBatch(count: number, valueBytes: number): { messages: MessageInput[]; values: Buffer[] } {
  const backing = randomFillSync(Buffer.allocUnsafe(count * valueBytes));
  const values = Array.from({ length: count }, (_, i) =>
    backing.subarray(i * valueBytes, (i + 1) * valueBytes),
  );
  return { messages: values.map((value) => ({ value })), values };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counts of what the appenders met besides success. */
export interface AppendCounters {
  busy: number;
}

/** Appends, retrying after 1 ms on BUSY (419: the cache is full while the disk catches up), as a producer would. */
export async function appendRetrying(
  engine: StorageEngine,
  topic: string,
  partition: number,
  messages: readonly MessageInput[],
  acks: AckLevel,
  counters: AppendCounters,
): Promise<void> {
  for (;;) {
    try {
      await engine.append(topic, partition, messages, { acks });
      return;
    } catch (error) {
      if (!(error instanceof TubeError) || error.errorName !== 'BUSY') throw error;
      counters.busy++;
      await sleep(1);
    }
  }
}

/** Runs `task(0..total-1)` on `workers` concurrent loops, each awaiting its task before taking the next. */
export async function drive(
  workers: number,
  total: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) await task(next++);
    }),
  );
}
