// What a broker is started with, and the defaults filled in once so the rest never guesses.
import { createLogger, type Logger } from '../common/index.js';
import type { Address } from '../protocol/index.js';
import type { StorageOptions } from '../storage/index.js';

/** Settings of {@link Broker.start}. */
export interface BrokerOptions {
  /** This broker's id in the cluster, 1 to 2^32-1. */
  brokerId: number;
  /** Address to bind. */
  host: string;
  /** Port to bind; 0 takes any free port (read it back from {@link Broker.port}). */
  port: number;
  /**
   * The host the master tells clients to connect to.
   * @default `host`, or 127.0.0.1 when `host` is a wildcard (0.0.0.0, ::)
   */
  advertisedHost?: string;
  /** The storage engine's directory; the broker's lock and last assignment live there too. */
  dataDir: string;
  /** Masters to register with, tried in turn. Empty: standalone, serving every topic in local storage. */
  masters: Address[];
  /** @default a pino logger named `broker` */
  logger?: Logger;
  /** Storage engine settings besides its directory. */
  storage?: Partial<Omit<StorageOptions, 'dataDir'>>;
  /**
   * Most long-polling FETCH requests one connection may have waiting; one more is answered BUSY,
   * so a misbehaving client cannot pin unbounded timers and memory.
   * @default 4096
   */
  fetchWaitersPerConnectionMax?: number;
  /**
   * How long a consumer's partition lease (CLAIM_PARTITIONS) lives without a fetch, commit or claim
   * by its holder; it also ends at once when the holder's connection closes.
   * @default 10000
   */
  consumerLeaseMs?: number;
}

/** {@link BrokerOptions} with every default applied. */
export interface ResolvedBrokerOptions extends Required<Omit<BrokerOptions, 'storage'>> {
  storage: Partial<Omit<StorageOptions, 'dataDir'>>;
}

const wildcardHosts = new Set(['0.0.0.0', '::', '']);

/** Fills in defaults and rejects settings that cannot work, before anything is opened. */
export function resolveBrokerOptions(options: BrokerOptions): ResolvedBrokerOptions {
  const { brokerId, host, port, dataDir, masters } = options;
  if (!Number.isInteger(brokerId) || brokerId < 1 || brokerId > 0xffff_ffff)
    throw new RangeError(`brokerId must be an integer in [1, 4294967295], got ${brokerId}`);
  if (!Number.isInteger(port) || port < 0 || port > 0xffff)
    throw new RangeError(`port must be an integer in [0, 65535], got ${port}`);
  if (typeof dataDir !== 'string' || dataDir === '') throw new TypeError('dataDir is required');
  if (!Array.isArray(masters)) throw new TypeError('masters must be an array (empty for standalone)');
  const fetchWaitersPerConnectionMax = options.fetchWaitersPerConnectionMax ?? 4096;
  if (!Number.isInteger(fetchWaitersPerConnectionMax) || fetchWaitersPerConnectionMax < 1)
    throw new RangeError('fetchWaitersPerConnectionMax must be a positive integer');
  const consumerLeaseMs = options.consumerLeaseMs ?? 10_000;
  if (!Number.isInteger(consumerLeaseMs) || consumerLeaseMs < 1 || consumerLeaseMs > 0x7fff_ffff)
    throw new RangeError(`consumerLeaseMs must be an integer in [1, 2147483647], got ${consumerLeaseMs}`);
  return {
    brokerId,
    host,
    port,
    advertisedHost: options.advertisedHost ?? (wildcardHosts.has(host) ? '127.0.0.1' : host),
    dataDir,
    masters: [...masters],
    logger: options.logger ?? createLogger({ name: 'broker' }),
    storage: options.storage ?? {},
    fetchWaitersPerConnectionMax,
    consumerLeaseMs,
  };
}
