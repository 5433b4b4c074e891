// Exit codes and the one place an error becomes `error:`/`hint:` lines (ecosystem.md §5.3).
// Imports only the error table, which has no dependencies, so main.ts can use it eagerly.
import { inspect } from 'node:util';
import { TubeError } from '../common/errors.js';

/** The exit codes every command shares. */
export const exitCodes = {
  ok: 0,
  /** The server refused: topic exists, unknown topic, oversize message, failed produce. */
  refused: 1,
  /** Usage: a bad flag or value, a bad config file. */
  usage: 2,
  /** No master or broker answered (refused connection or timeout). */
  unreachable: 3,
  /** Interrupted by SIGINT, after flushing and committing. */
  interrupted: 130,
} as const;

/** A usage mistake found after parsing (a combination of flags, a bad config file): exit 2. */
export class UsageError extends Error {
  readonly hint: string | undefined;
  /** Print the command's help after the error, as commander does for its own usage errors. */
  readonly showHelp: boolean;

  constructor(message: string, options: { hint?: string; showHelp?: boolean } = {}) {
    super(message);
    this.name = 'UsageError';
    this.hint = options.hint;
    this.showHelp = options.showHelp ?? true;
  }
}

/** Whether `error` means that nothing answered: a refused connection, a timeout, a dropped link. */
export function isUnreachable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof TubeError && current.errorName === 'UNAVAILABLE') {
      const details = current.details;
      if (
        details.unreachable === true ||
        details.timeoutMs !== undefined ||
        details.correlationId !== undefined
      ) {
        return true;
      }
    }
    if (!(current instanceof Error)) break;
    current = current.cause;
  }
  return false;
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return exitCodes.usage;
  if (isUnreachable(error)) return exitCodes.unreachable;
  return exitCodes.refused;
}

/** The `error:` and `hint:` lines for an error; with `debug`, the code and stack too. */
export function formatError(error: unknown, debug = false): string {
  const lines: string[] = [];
  const message = error instanceof Error ? error.message : String(error);
  lines.push(`error: ${message}`);
  const hint = hintFor(error);
  if (hint !== undefined) lines.push(`hint: ${hint}`);
  if (debug) {
    if (error instanceof TubeError) {
      lines.push(`code: ${error.code} ${error.errorName}`);
      if (Object.keys(error.details).length > 0) lines.push(`details: ${JSON.stringify(error.details)}`);
    }
    if (error instanceof Error && error.stack !== undefined) lines.push(error.stack);
    for (
      let cause = error instanceof Error ? error.cause : undefined;
      cause instanceof Error;
      cause = cause.cause
    ) {
      lines.push(`caused by: ${cause.stack ?? cause.message}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The hint for an error: its own, else one made from its details, else the first from its causes. */
export function hintFor(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof UsageError && current.hint !== undefined) return current.hint;
    if (current instanceof TubeError) {
      if (current.hint !== undefined) return current.hint;
      const derived = hintFromDetails(current);
      if (derived !== undefined) return derived;
    }
    current = current.cause;
  }
  return undefined;
}

function hintFromDetails(error: TubeError): string | undefined {
  const { details } = error;
  if (typeof details.address === 'string' && details.unreachable === true) {
    return `is a tubemq daemon running at ${details.address}? start one with \`tubemq start\``;
  }
  if (typeof details.earliest === 'number' && typeof details.latest === 'number') {
    const where =
      typeof details.topic === 'string' && typeof details.partition === 'number'
        ? ` of ${details.topic}/${details.partition}`
        : '';
    return `valid offsets${where} are ${details.earliest} to ${details.latest} (latest = the next message); or use --offset earliest|latest`;
  }
  return undefined;
}

/** `value` as an Error, to rethrow something caught as unknown. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(typeof value === 'string' ? value : inspect(value));
}
