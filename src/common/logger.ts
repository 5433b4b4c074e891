import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, written as `name` on every line. */
  name: string;
  /** Minimum level; defaults to `TUBEMQ_LOG_LEVEL`, else `fallbackLevel` (`silent` under `NODE_ENV=test`). */
  level?: Level | 'silent';
  /** The level when neither `level` nor `TUBEMQ_LOG_LEVEL` says one. @default 'info' */
  fallbackLevel?: Level;
  /** Where lines go; defaults to stdout (pino's own). Daemons use `createDaemonLogger`. */
  destination?: DestinationStream;
}

function defaultLevel(fallback: Level): string {
  const fromEnv = process.env.TUBEMQ_LOG_LEVEL;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // Test output is TAP that CI parses; stray JSON lines would only get in the way.
  return process.env.NODE_ENV === 'test' ? 'silent' : fallback;
}

/** Create a JSON-lines logger (pino). */
export function createLogger(options: LoggerOptions): Logger {
  const config = {
    name: options.name,
    level: options.level ?? defaultLevel(options.fallbackLevel ?? 'info'),
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/**
 * The logger of a library client: JSON lines on stderr (stdout belongs to the application), at
 * `TUBEMQ_LOG_LEVEL` or else `warn`, so rebalances and retries stay quiet unless asked for.
 */
export function createClientLogger(name: string): Logger {
  return createLogger({
    name,
    fallbackLevel: 'warn',
    destination: pino.destination({ dest: 2, sync: true }),
  });
}
