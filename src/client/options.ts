// Options every client (Admin, Producer, Consumer) shares, and their defaults in one place.
import { hostname } from 'node:os';
import { TubeError, type Logger } from '../common/index.js';
import { parseAddressList, type Address } from '../protocol/index.js';

/** The port a master address without one gets (TubeMQ's master port). */
export const masterPortDefault = 8715;

/** Options shared by {@link Admin}, {@link Producer} and {@link Consumer}. */
export interface ClientOptions {
  /**
   * Master list: `'h:p,h:p'` or `Address[]`. The client talks to the first that answers and moves on
   * to the next when one fails. Default `process.env.TUBEMQ_MASTER ?? '127.0.0.1:8715'`.
   */
  masters?: string | Address[];
  /** Sent in HELLO to every server; shows up in their logs. Default `tubemq-ts-<host>-<pid>`. */
  clientId?: string;
  /** Milliseconds a request waits for its answer (a long-poll fetch gets its wait on top). Default 30000. */
  requestTimeoutMs?: number;
  /** Milliseconds for a TCP connect plus HELLO. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Where the client logs (a pino logger, or anything with pino's `child`, `debug`, `info`, `warn`
   * and `error`). Default: JSON lines on stderr at `TUBEMQ_LOG_LEVEL`, else `warn`.
   */
  logger?: Logger;
}

/** {@link ClientOptions} with every default filled in. */
export interface ResolvedClientOptions {
  masters: Address[];
  clientId: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  logger: Logger | undefined;
}

/** Fills in defaults and parses the master list; throws BAD_REQUEST for an unparsable list. */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const masters =
    typeof options.masters === 'string' || options.masters === undefined
      ? parseAddressList(options.masters ?? process.env.TUBEMQ_MASTER ?? '127.0.0.1:8715', masterPortDefault)
      : options.masters.map((address) => ({ host: address.host, port: address.port }));
  if (masters.length === 0) {
    throw new TubeError('BAD_REQUEST', 'empty master list', { hint: 'give at least one host:port' });
  }
  return {
    masters,
    clientId: options.clientId ?? `tubemq-ts-${hostname()}-${process.pid}`,
    requestTimeoutMs: positive(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs'),
    connectTimeoutMs: positive(options.connectTimeoutMs ?? 5000, 'connectTimeoutMs'),
    logger: options.logger,
  };
}

/** Checks that a numeric option is a positive integer; throws BAD_REQUEST naming it otherwise. */
export function positive(value: number, name: string): number {
  return integerAtLeast(value, 1, name);
}

/** Checks that a numeric option is an integer of at least `min`; throws BAD_REQUEST naming it otherwise. */
export function integerAtLeast(value: number, min: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TubeError('BAD_REQUEST', `${name} must be an integer of at least ${min}, got ${value}`);
  }
  return value;
}
