import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, written as `name` on every line. */
  name: string;
  /** Minimum level; defaults to `TUBEMQ_LOG_LEVEL`, else `info` (`silent` under `NODE_ENV=test`). */
  level?: Level | 'silent';
  /** Where lines go; defaults to stdout. Daemons pass `pino.destination({ sync: false })`. */
  destination?: DestinationStream;
}

function defaultLevel(): string {
  const fromEnv = process.env.TUBEMQ_LOG_LEVEL;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // Test output is TAP that CI parses; stray JSON lines would only get in the way.
  return process.env.NODE_ENV === 'test' ? 'silent' : 'info';
}

/** Create a JSON-lines logger (pino). */
export function createLogger(options: LoggerOptions): Logger {
  const config = { name: options.name, level: options.level ?? defaultLevel() };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}
