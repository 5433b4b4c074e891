// `tubemq consume <topic>`: prints messages as kafka-console-consumer and kcat do, and stops on
// --max-messages, --timeout-ms (idle), --exit-at-end or Ctrl-C (after committing: exit 130).
// Without --group it uses a throwaway group that commits nothing.
import { randomBytes } from 'node:crypto';
import { Admin, Consumer, type ConsumerOptions, type ConsumerStart } from '../../client/index.js';
import { asError, exitCodes, UsageError } from '../exit.js';
import { clientOptions, type GlobalOptions, type Invocation } from '../invocation.js';
import { messageFormatter } from '../message-format.js';
import { status, writeOut } from '../output.js';
import type { OffsetSpec } from '../parsers.js';

/** How long one poll waits at most, so Ctrl-C and --timeout-ms are noticed promptly. */
const pollSliceMs = 500;

/** The consume flags that choose where to start. */
export interface StartFlags {
  group?: string | undefined;
  offset?: OffsetSpec | undefined;
  partition?: number | undefined;
  offsets?: Map<number, number> | undefined;
  fromBeginning?: boolean | undefined;
}

/** Where to start and which partitions to read, from the flags (ecosystem.md §5.2). */
export function startPlan(
  topic: string,
  flags: StartFlags,
  partitionCount: number | undefined,
): { start: ConsumerStart; partitions?: number[] } {
  const named: ConsumerStart = flags.group === undefined ? 'latest' : 'committed';
  if (flags.offsets !== undefined) {
    const entries = [...flags.offsets.entries()].sort(([a], [b]) => a - b);
    for (const [partition] of entries) checkPartition(topic, partition, partitionCount);
    return {
      start: { [topic]: Object.fromEntries(entries) },
      partitions: entries.map(([partition]) => partition),
    };
  }
  let partition = flags.partition;
  if (partition !== undefined) checkPartition(topic, partition, partitionCount);
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
  return partition === undefined ? { start } : { start, partitions: [partition] };
}

function checkPartition(topic: string, partition: number, partitionCount: number | undefined): void {
  if (partitionCount !== undefined && partition >= partitionCount) {
    throw new UsageError(
      `partition ${partition} does not exist: topic ${topic} has ${partitionCount} partitions (0-${partitionCount - 1})`,
      { showHelp: false },
    );
  }
}

/** Whether the plan needs the topic's partition count (to check or infer a partition). */
function needsPartitionCount(flags: StartFlags): boolean {
  return flags.offsets !== undefined || flags.partition !== undefined || typeof flags.offset === 'number';
}

/** `tubemq consume`. */
export async function consume(invocation: Invocation): Promise<number> {
  const topic = invocation.args[0] as string;
  const { options, globals } = invocation;
  if (globals.json && options.format !== undefined) {
    throw new UsageError('--json and --format cannot be used together');
  }
  const flags: StartFlags = {
    group: options.group as string | undefined,
    offset: options.offset as OffsetSpec | undefined,
    partition: options.partition as number | undefined,
    offsets: options.offsets as Map<number, number> | undefined,
    fromBeginning: options.fromBeginning === true,
  };
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
    ...(throwaway ? { commit: false, autoCommit: false } : {}),
  };
  const format = messageFormatter({
    json: globals.json,
    format: options.format as string | undefined,
    printKey: options.printKey === true,
    printPartition: options.printPartition === true,
    printOffset: options.printOffset === true,
    printTimestamp: options.printTimestamp === true,
  });
  return runConsumer(new Consumer(consumerOptions), {
    format,
    globals,
    maxMessages: options.maxMessages as number | undefined,
    idleTimeoutMs: globals.timeoutMs,
    exitAtEnd: options.exitAtEnd === true,
  });
}

interface LoopOptions {
  format: (message: Parameters<ReturnType<typeof messageFormatter>>[0]) => string;
  globals: GlobalOptions;
  maxMessages: number | undefined;
  idleTimeoutMs: number | undefined;
  exitAtEnd: boolean;
}

async function runConsumer(consumer: Consumer, loop: LoopOptions): Promise<number> {
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
      if (loop.exitAtEnd && consumer.caughtUp) break;
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
  status(loop.globals, `Processed a total of ${count} messages`);
  if (failure !== undefined) throw asError(failure);
  return interrupted ? exitCodes.interrupted : exitCodes.ok;
}
