// What every command implementation receives: its arguments, its own options, the global options,
// and a few helpers. Type-only imports keep this module free of runtime dependencies.
import type { Command } from 'commander';

/** The options every command accepts (ecosystem.md §5.2). */
export interface GlobalOptions {
  /** Master list `host:port[,host:port...]` (flag, env TUBEMQ_MASTER or the default). */
  master: string;
  json: boolean;
  quiet: boolean;
  debug: boolean;
  /** Request timeout; for `consume`, how long to wait for a message before exiting. */
  timeoutMs: number | undefined;
  /** False with `--no-color` or `NO_COLOR`. */
  color: boolean;
}

/** One run of one command. */
export interface Invocation {
  /** Positional arguments as commander parsed them. */
  args: unknown[];
  /** The command's own options. */
  options: Record<string, unknown>;
  globals: GlobalOptions;
  command: Command;
  /** Where each option's value came from: `cli`, `env`, `default`, or undefined when unset. */
  sourceOf(option: string): string | undefined;
}

/** A command implementation; resolves to the exit code (undefined = 0). */
export type CommandHandler = (invocation: Invocation) => Promise<number | void>;

/** The default master address (TubeMQ's master port on this machine). */
export const defaultMaster = '127.0.0.1:8715';

/** The client options for the global flags. */
export function clientOptions(globals: GlobalOptions): {
  masters: string;
  clientId: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
} {
  const base = { masters: globals.master, clientId: `tubemq-cli-${process.pid}` };
  if (globals.timeoutMs === undefined) return base;
  return {
    ...base,
    requestTimeoutMs: globals.timeoutMs,
    connectTimeoutMs: Math.min(globals.timeoutMs, 5000),
  };
}
