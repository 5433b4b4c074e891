// `tubemq consume <topic>`: prints messages as kafka-console-consumer and kcat do, and stops on
// --max-messages, --timeout-ms (idle), --exit-at-end or Ctrl-C (after committing: exit 130).
// With --group the process is a balanced member of the group, sharing the partitions with the
// other members; --partition, --offset N, --offsets and --to-datetime assign partitions on the
// client instead, so the start is exact. Without --group it uses a throwaway group that commits
// nothing and reads every partition. --pull polls; --push hands messages to consumer.run().
import { randomBytes } from 'node:crypto';
import { Admin, Consumer, type ConsumerOptions, type ConsumerStart } from '../../client/index.js';
import { streamIdBytesMax, streamIdsPerTopicMax } from '../../protocol/index.js';
import { asError, exitCodes, UsageError } from '../exit.js';
import { clientOptions, type GlobalOptions, type Invocation } from '../invocation.js';
import { messageFormatter, type MessageFormatter } from '../message-format.js';
import { status, writeOut } from '../output.js';
import type { OffsetSpec } from '../parsers.js';

/** How long one poll waits at most, so Ctrl-C and --timeout-ms are noticed promptly. */
const pollSliceMs = 500;

/** The consume flags that choose where to start and which partitions to read. */
export interface StartFlags {
  group?: string | undefined;
  offset?: OffsetSpec | undefined;
  partition?: number | undefined;
  offsets?: Map<number, number> | undefined;
  fromBeginning?: boolean | undefined;
  /** `--to-datetime`, as epoch ms. */
  toDatetime?: number | undefined;
  /** `--session-key`: with --offsets, a bound start of a balanced group. */
  sessionKey?: string | undefined;
}

/** Where a consumer starts, and whether it assigns its partitions itself. */
export interface StartPlan {
  start: ConsumerStart;
  /** Client-side assignment: exactly these partitions (no balancing). Absent: a balanced member. */
  partitions?: number[];
  /** A bound start of a balanced group: these offsets, applied once per session key. */
  bound?: { sessionKey: string; offsets: Record<string, Record<number, number>> };
}

/**
 * Where to start and which partitions to read, from the flags (ecosystem.md §5.2). An exact start
 * (an offset, an offset map, a time) assigns partitions on the client: a balanced group applies
 * such a start only where it has no commit. `partitionCount` is needed (and checked against) when
 * a partition is named, an offset needs one inferred, or every partition is to be assigned.
 */
export function startPlan(topic: string, flags: StartFlags, partitionCount: number | undefined): StartPlan {
  const named: ConsumerStart = flags.group === undefined ? 'latest' : 'committed';
  checkStartFlags(flags);
  if (flags.sessionKey !== undefined && flags.offsets !== undefined) {
    const entries = sortedEntries(flags.offsets);
    for (const [partition] of entries) checkPartition(topic, partition, partitionCount);
    return {
      start: named,
      bound: { sessionKey: flags.sessionKey, offsets: { [topic]: Object.fromEntries(entries) } },
    };
  }
  if (flags.offsets !== undefined) {
    const entries = sortedEntries(flags.offsets);
    for (const [partition] of entries) checkPartition(topic, partition, partitionCount);
    return {
      start: { [topic]: Object.fromEntries(entries) },
      partitions: entries.map(([partition]) => partition),
    };
  }
  let partition = flags.partition;
  if (partition !== undefined) checkPartition(topic, partition, partitionCount);
  if (flags.toDatetime !== undefined) {
    return {
      start: { timestampMs: flags.toDatetime },
      partitions: partition === undefined ? allPartitions(topic, partitionCount) : [partition],
    };
  }
  const offset = flags.fromBeginning === true ? 'earliest' : flags.offset;
  if (typeof offset === 'number') {
    if (partition === undefined) {
      if (partitionCount !== 1) {
        throw new UsageError(
          `--offset ${offset} needs --partition P` +
            (partitionCount === undefined ? '' : `: topic ${topic} has ${partitionCount} partitions`),
          { hint: `e.g. --offset ${offset} --partition 0, or --offsets 0:${offset},1:${offset}` },
        );
      }
      partition = 0;
    }
    return { start: { [topic]: { [partition]: offset } }, partitions: [partition] };
  }
  const start = offset ?? named;
  if (partition !== undefined) return { start, partitions: [partition] };
  // A throwaway group has nobody to share with: it reads every partition without joining the master.
  if (flags.group === undefined) return { start, partitions: allPartitions(topic, partitionCount) };
  return { start };
}

/** The flag combinations commander cannot express; checked before anything connects. */
export function checkStartFlags(flags: StartFlags): void {
  if (flags.sessionKey !== undefined && (flags.offsets === undefined || flags.group === undefined)) {
    throw new UsageError('--session-key needs --group and --offsets P:N,...', {
      hint: 'e.g. --group g --offsets 0:100,1:250 --session-key reset-1',
    });
  }
}

function sortedEntries(offsets: Map<number, number>): [number, number][] {
  return [...offsets.entries()].sort(([a], [b]) => a - b);
}

function allPartitions(topic: string, partitionCount: number | undefined): number[] {
  if (partitionCount === undefined) throw new Error(`the partition count of ${topic} is needed`);
  return Array.from({ length: partitionCount }, (_, partition) => partition);
}

function checkPartition(topic: string, partition: number, partitionCount: number | undefined): void {
  if (partitionCount !== undefined && partition >= partitionCount) {
    throw new UsageError(
      `partition ${partition} does not exist: topic ${topic} has ${partitionCount} partitions (0-${partitionCount - 1})`,
      { showHelp: false },
    );
  }
}

/** Whether the plan needs the topic's partition count (to check, infer or list partitions). */
function needsPartitionCount(flags: StartFlags): boolean {
  return (
    flags.group === undefined ||
    flags.offsets !== undefined ||
    flags.partition !== undefined ||
    flags.toDatetime !== undefined ||
    typeof flags.offset === 'number'
  );
}

/**
 * The `--filter` stream ids of one topic, checked against the limits the broker applies, so a
 * list over them is a usage error (exit 2) naming the limit rather than a refusal.
 */
export function checkFilter(streamIds: readonly string[]): void {
  if (streamIds.length > streamIdsPerTopicMax) {
    throw new UsageError(
      `--filter names ${streamIds.length} stream ids: at most ${streamIdsPerTopicMax} per topic`,
      { showHelp: false },
    );
  }
  for (const id of streamIds) {
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes > streamIdBytesMax) {
      throw new UsageError(
        `--filter stream id ${JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id)} is ${bytes} bytes: ` +
          `at most ${streamIdBytesMax} bytes each`,
        { showHelp: false },
      );
    }
  }
}

/** `tubemq consume`. */
export async function consume(invocation: Invocation): Promise<number> {
  const topic = invocation.args[0] as string;
  const { options, globals } = invocation;
  if (globals.json && options.format !== undefined) {
    throw new UsageError('--json and --format cannot be used together');
  }
  const filter = options.filter as string[] | undefined;
  if (filter !== undefined) checkFilter(filter);
  const flags: StartFlags = {
    group: options.group as string | undefined,
    offset: options.offset as OffsetSpec | undefined,
    partition: options.partition as number | undefined,
    offsets: options.offsets as Map<number, number> | undefined,
    fromBeginning: options.fromBeginning === true,
    toDatetime: options.toDatetime as number | undefined,
    sessionKey: options.sessionKey as string | undefined,
  };
  checkStartFlags(flags);
  // --timeout-ms means "idle timeout" here (kafka-console-consumer), not a request timeout.
  const client = clientOptions({ ...globals, timeoutMs: undefined });
  let partitionCount: number | undefined;
  if (needsPartitionCount(flags)) {
    const admin = new Admin(client);
    try {
      partitionCount = (await admin.describeTopic(topic)).partitions;
    } finally {
      await admin.close();
    }
  }
  const plan = startPlan(topic, flags, partitionCount);
  const throwaway = flags.group === undefined;
  const consumerOptions: ConsumerOptions = {
    ...client,
    group: flags.group ?? `tubemq-cli-${process.pid}-${randomBytes(4).toString('hex')}`,
    topics: [topic],
    start: plan.start,
    ...(plan.partitions === undefined ? {} : { partitions: { [topic]: plan.partitions } }),
    ...(plan.bound === undefined ? {} : { bound: plan.bound }),
    ...(filter === undefined ? {} : { filters: { [topic]: filter } }),
    ...(throwaway ? { commit: false, autoCommit: false } : {}),
  };
  const loop: LoopOptions = {
    format: messageFormatter({
      json: globals.json,
      format: options.format as string | undefined,
      printKey: options.printKey === true,
      printPartition: options.printPartition === true,
      printOffset: options.printOffset === true,
      printTimestamp: options.printTimestamp === true,
    }),
    globals,
    maxMessages: options.maxMessages as number | undefined,
    idleTimeoutMs: globals.timeoutMs,
    exitAtEnd: options.exitAtEnd === true,
  };
  const consumer = new Consumer(consumerOptions);
  return options.push === true ? pushLoop(consumer, loop) : pullLoop(consumer, loop);
}

interface LoopOptions {
  format: MessageFormatter;
  globals: GlobalOptions;
  maxMessages: number | undefined;
  idleTimeoutMs: number | undefined;
  exitAtEnd: boolean;
}

/** How often push mode checks the idle timeout and --exit-at-end while no message arrives. */
const pushCheckIntervalMs = 100;

/**
 * Whether every partition this consumer has is read to its end. A balanced member that has no
 * partitions yet is not at the end: its assignment may still be on the way.
 */
function atEnd(consumer: Consumer): boolean {
  return consumer.caughtUp && consumer.assignment().length > 0;
}

async function pullLoop(consumer: Consumer, loop: LoopOptions): Promise<number> {
  let count = 0;
  let interrupted = false;
  let failure: unknown;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  try {
    await consumer.start();
    let lastMessageAt = Date.now();
    while (!interrupted) {
      if (loop.maxMessages !== undefined && count >= loop.maxMessages) break;
      const idleLeft =
        loop.idleTimeoutMs === undefined ? pollSliceMs : loop.idleTimeoutMs - (Date.now() - lastMessageAt);
      const batch = await consumer.poll({
        timeoutMs: Math.max(1, Math.min(pollSliceMs, idleLeft)),
        ...(loop.maxMessages === undefined ? {} : { maxMessages: loop.maxMessages - count }),
      });
      if (batch.length > 0) {
        let text = '';
        for (const message of batch) text += loop.format(message);
        count += batch.length;
        lastMessageAt = Date.now();
        await writeOut(text);
      } else if (loop.idleTimeoutMs !== undefined && Date.now() - lastMessageAt >= loop.idleTimeoutMs) {
        break;
      }
      if (loop.exitAtEnd && atEnd(consumer)) break;
    }
  } catch (error) {
    failure = error;
  }
  process.off('SIGINT', onSigint);
  // Everything polled was printed, so all of it is processed: commit it (a throwaway group commits
  // nothing). After a failure only what the consumer knows finished is committed, by close().
  if (failure === undefined) {
    await consumer.commit().catch((error: unknown) => {
      failure = error;
    });
  }
  await consumer.close().catch((error: unknown) => {
    failure ??= error;
  });
  return finish(loop, count, failure, interrupted);
}

/**
 * Push mode: consumer.run() calls the handler per message (one at a time per partition, in offset
 * order); a printed message is processed, and close() commits what was processed. Stopping closes
 * the consumer, which ends run(); a message handed over after the stop is rolled back, so it is
 * neither printed nor committed.
 */
async function pushLoop(consumer: Consumer, loop: LoopOptions): Promise<number> {
  let count = 0;
  let interrupted = false;
  let failure: unknown;
  let lastMessageAt = Date.now();
  let closing: Promise<void> | undefined;
  const stop = (): void => {
    // Closed from a fresh turn, never from inside a handler run() is still waiting on.
    closing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => consumer.close());
  };
  const onSigint = (): void => {
    interrupted = true;
    stop();
  };
  process.once('SIGINT', onSigint);
  const checks = setInterval(() => {
    const idle = loop.idleTimeoutMs !== undefined && Date.now() - lastMessageAt >= loop.idleTimeoutMs;
    if (idle || (loop.exitAtEnd && atEnd(consumer))) stop();
  }, pushCheckIntervalMs);
  try {
    await consumer.start();
    lastMessageAt = Date.now();
    if (closing === undefined) {
      await consumer.run(async (message) => {
        if (closing !== undefined) {
          message.rollback();
          return;
        }
        await writeOut(loop.format(message));
        count++;
        lastMessageAt = Date.now();
        if (loop.maxMessages !== undefined && count >= loop.maxMessages) stop();
        else if (loop.exitAtEnd && atEnd(consumer)) stop();
      });
    }
  } catch (error) {
    failure = error;
  }
  clearInterval(checks);
  process.off('SIGINT', onSigint);
  stop();
  await closing?.catch((error: unknown) => {
    failure ??= error;
  });
  return finish(loop, count, failure, interrupted);
}

function finish(loop: LoopOptions, count: number, failure: unknown, interrupted: boolean): number {
  status(loop.globals, `Processed a total of ${count} messages`);
  if (failure !== undefined) throw asError(failure);
  return interrupted ? exitCodes.interrupted : exitCodes.ok;
}
