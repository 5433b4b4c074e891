// `tubemq produce <topic> [message...]`: the arguments, else stdin one message per line (Kafka's
// console producer, kcat -P). Sends are pipelined through the producer's batching; the first
// failure stops reading, and every message is either acknowledged or reported — never dropped.
import { createInterface } from 'node:readline';
import { Producer } from '../../client/index.js';
import { TubeError } from '../../common/errors.js';
import { asError, exitCodes, isUnreachable, UsageError } from '../exit.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { status, writeOut } from '../output.js';

/** Sends in flight at most; beyond it reading waits (the producer bounds its memory too). */
const windowMax = 8192;

/** One message parsed from its line. */
export interface ParsedLine {
  key?: string;
  value: string;
}

/** Splits a `--parse-key` line at the first separator; a line without one is a usage error naming it. */
export function parseKeyedLine(line: string, separator: string, where: string): ParsedLine {
  const at = line.indexOf(separator);
  if (at < 0) {
    throw new UsageError(
      `${where} has no key separator ${JSON.stringify(separator)}: ${JSON.stringify(line)}`,
      {
        hint: 'write KEY<separator>VALUE on every line, or pick the separator with --key-separator',
        showHelp: false,
      },
    );
  }
  return { key: line.slice(0, at), value: line.slice(at + separator.length) };
}

/** `tubemq produce`. */
export async function produce(invocation: Invocation): Promise<number> {
  const topic = invocation.args[0] as string;
  const messages = (invocation.args[1] as string[] | undefined) ?? [];
  const { options, globals } = invocation;
  const parseKey = options.parseKey === true;
  const separator = options.keySeparator as string;
  const fixed = {
    ...(typeof options.key === 'string' ? { key: options.key } : {}),
    ...(typeof options.partition === 'number' ? { partition: options.partition } : {}),
    ...(typeof options.streamId === 'string' ? { streamId: options.streamId } : {}),
  };
  const producer = new Producer({
    ...clientOptions(globals),
    acks: options.acks as 'memory' | 'written' | 'fsync',
  });

  let produced = 0;
  const partitions = new Map<number, { count: number; lastOffset: number }>();
  let failure: unknown;
  let interrupted = false;
  const inflight = new Set<Promise<void>>();
  const fromStdin = messages.length === 0;
  const label = (n: number): string => (fromStdin ? `line ${n}` : `message ${n}`);

  const send = (text: string, n: number): void => {
    const parsed = parseKey ? parseKeyedLine(text, separator, label(n)) : { value: text };
    const sendOptions = parsed.key === undefined ? fixed : { ...fixed, key: parsed.key };
    const done = producer.send(topic, parsed.value, sendOptions).then(
      ({ partition, offset }) => {
        produced++;
        const entry = partitions.get(partition);
        if (entry === undefined) partitions.set(partition, { count: 1, lastOffset: offset });
        else {
          entry.count++;
          entry.lastOffset = Math.max(entry.lastOffset, offset);
        }
      },
      (error: unknown) => {
        failure ??= explain(error, label(n));
      },
    );
    const tracked = done.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  const prompt = fromStdin && process.stdin.isTTY === true;
  const lines = fromStdin
    ? createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
    : undefined;
  const onSigint = (): void => {
    interrupted = true;
    lines?.close();
  };
  process.once('SIGINT', onSigint);
  try {
    let n = 0;
    if (prompt) process.stderr.write('> ');
    for await (const text of lines ?? messages) {
      n++;
      if (failure !== undefined || interrupted) break;
      // An empty line is no message (a trailing newline or a blank line by mistake).
      if (text !== '') send(text, n);
      if (inflight.size >= windowMax) await Promise.race(inflight);
      if (prompt) process.stderr.write('> ');
    }
    await Promise.all(inflight);
  } catch (error) {
    failure ??= error;
    await Promise.all(inflight);
  } finally {
    process.off('SIGINT', onSigint);
    lines?.close();
    try {
      await producer.close();
    } catch (error) {
      failure ??= error;
    }
  }

  if (globals.json) {
    const byPartition = [...partitions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, entry]) => ({ partition, ...entry }));
    await writeOut(JSON.stringify({ topic, produced, partitions: byPartition }, null, 2) + '\n');
  }
  status(globals, `Produced ${produced} messages`);
  if (failure !== undefined) throw asError(failure);
  return interrupted ? exitCodes.interrupted : exitCodes.ok;
}

/**
 * Adds which message failed to a refusal, with its code (413 for an oversize message). An unknown
 * topic or an unreachable server is reported as it is: it is about the run, not one message.
 */
function explain(error: unknown, where: string): unknown {
  if (!(error instanceof TubeError) || isUnreachable(error) || error.errorName === 'NOT_FOUND') return error;
  return new TubeError(error.errorName, `${where} was not produced: ${error.message} (code ${error.code})`, {
    details: { ...error.details },
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    cause: error,
  });
}
