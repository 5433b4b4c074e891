// The master daemon as a library class: what `tubemq master start` and `tubemq start` run.
import * as path from 'node:path';
import {
  TubeError,
  acquireDataDirLock,
  createLogger,
  type DataDirLock,
  type Logger,
} from '../common/index.js';
import type { FileIO } from '../common/file-io.js';
import { ProtocolServer } from '../protocol/index.js';
import { BrokerCaller } from './broker-caller.js';
import { brokerHandlers } from './broker-handlers.js';
import { BrokerRegistry } from './broker-registry.js';
import { GroupCoordinator } from './group-coordinator.js';
import { groupHandlers } from './group-handlers.js';
import type { MasterContext, MasterIdentity } from './master-context.js';
import { MetaStore } from './meta-store.js';
import { topicHandlers } from './topic-handlers.js';

/** Options of {@link Master.start}. */
export interface MasterOptions {
  /** Address to bind, e.g. `127.0.0.1` or `0.0.0.0`. */
  host: string;
  /** Port to bind; 0 = any free port (read it back from {@link Master.port}). */
  port: number;
  /** Holds meta.json, meta.wal and the lock; created if missing. */
  dataDir: string;
  logger?: Logger;
  /** Sent in HELLO answers and CLUSTER_STATUS. @default `master-<host>:<port>` (the bound port) */
  masterId?: string;
  /** How often brokers are told to heartbeat, in ms. @default 1000 */
  heartbeatIntervalMs?: number;
  /** A broker not heard from for this long is offline, in ms. @default 5000 */
  brokerTimeoutMs?: number;
  /** How long CREATE_TOPIC waits for the hosting brokers to apply the topic, in ms. @default 5000 */
  topicApplyTimeoutMs?: number;
  /** Metadata changes after which meta.wal is folded into meta.json. @default 1000 */
  metaCompactAfterChanges?: number;
  /** The file system under the metadata files; tests wrap it to inject disk failures. @default nodeFileIO */
  fileIO?: FileIO;
  /** How often group members are told to heartbeat (at most a third of their session timeout), in ms. @default 1000 */
  groupHeartbeatIntervalMs?: number;
  /**
   * How long a bound session or a forced offset reset waits for a group's members to release
   * their partitions, in ms. @default 15000
   */
  groupPauseTimeoutMs?: number;
}

/** Defaults of the {@link MasterOptions} timings (TubeMQ's: heartbeat 1 s, dead after 5 s). */
export const masterDefaults = {
  heartbeatIntervalMs: 1000,
  brokerTimeoutMs: 5000,
  topicApplyTimeoutMs: 5000,
  groupHeartbeatIntervalMs: 1000,
  groupPauseTimeoutMs: 15_000,
} as const;

function positiveMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TubeError(
      'BAD_REQUEST',
      `${name} must be a positive whole number of milliseconds, got ${value}`,
    );
  }
  return value;
}

/**
 * A running master: metadata (topics, placement, known brokers, bound group sessions) durable in
 * its data dir, a broker registry fed by registrations and heartbeats, the consumer-group
 * coordinator, and the admin and metadata requests of clients.
 */
export class Master {
  private closing: Promise<void> | undefined;

  private constructor(
    /** The address bound. */
    readonly host: string,
    /** The port bound (the real one when 0 was asked). */
    readonly port: number,
    /** The id this master answers HELLO with. */
    readonly masterId: string,
    private readonly server: ProtocolServer,
    private readonly registry: BrokerRegistry,
    private readonly groups: GroupCoordinator,
    private readonly store: MetaStore,
    private readonly lock: DataDirLock,
    private readonly logger: Logger,
  ) {}

  /**
   * Takes the data dir's lock, replays the metadata, then listens. Rejects ALREADY_EXISTS when
   * another process holds the data dir, UNAVAILABLE when the port cannot be bound.
   */
  static async start(options: MasterOptions): Promise<Master> {
    const logger = options.logger ?? createLogger({ name: 'master' });
    const heartbeatIntervalMs = positiveMs(
      'heartbeatIntervalMs',
      options.heartbeatIntervalMs ?? masterDefaults.heartbeatIntervalMs,
    );
    const brokerTimeoutMs = positiveMs(
      'brokerTimeoutMs',
      options.brokerTimeoutMs ?? masterDefaults.brokerTimeoutMs,
    );
    const topicApplyTimeoutMs = positiveMs(
      'topicApplyTimeoutMs',
      options.topicApplyTimeoutMs ?? masterDefaults.topicApplyTimeoutMs,
    );
    const dataDir = path.resolve(options.dataDir);

    const lock = await acquireDataDirLock(dataDir, 'master');
    let store: MetaStore | undefined;
    let registry: BrokerRegistry | undefined;
    let groups: GroupCoordinator | undefined;
    try {
      store = await MetaStore.open({
        dir: dataDir,
        logger,
        compactAfterChanges: options.metaCompactAfterChanges,
        io: options.fileIO,
      });
      registry = new BrokerRegistry({ brokerTimeoutMs, logger });
      // The port (and so the default id) is known only after listen; handlers read it lazily.
      let identity: MasterIdentity = { masterId: '', host: options.host, port: 0, startedAtMs: Date.now() };
      const context: MasterContext = {
        store,
        registry,
        logger,
        heartbeatIntervalMs,
        topicApplyTimeoutMs,
        identity: () => identity,
      };
      groups = new GroupCoordinator({
        store,
        brokers: new BrokerCaller({ store, registry, logger, clientId: () => identity.masterId }),
        logger,
        heartbeatIntervalMs: positiveMs(
          'groupHeartbeatIntervalMs',
          options.groupHeartbeatIntervalMs ?? masterDefaults.groupHeartbeatIntervalMs,
        ),
        pauseTimeoutMs: positiveMs(
          'groupPauseTimeoutMs',
          options.groupPauseTimeoutMs ?? masterDefaults.groupPauseTimeoutMs,
        ),
      });
      const server = new ProtocolServer({
        role: 'master',
        get serverId() {
          return identity.masterId;
        },
        handlers: new Map([...topicHandlers(context), ...brokerHandlers(context), ...groupHandlers(groups)]),
        logger,
      });
      const port = await server.listen(options.host, options.port);
      const masterId = options.masterId ?? `master-${options.host}:${port}`;
      identity = { ...identity, masterId, port };
      logger.info(
        { host: options.host, port, dataDir, topics: store.topics().length, version: store.version },
        'master listening',
      );
      return new Master(options.host, port, masterId, server, registry, groups, store, lock, logger);
    } catch (error) {
      groups?.close();
      registry?.close();
      await store?.close().catch(() => undefined);
      await lock.release();
      throw error;
    }
  }

  /**
   * Stops accepting, closes every connection, stops broker tracking, closes the metadata files
   * and releases the data dir. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    // Registry first: its waiters release CREATE_TOPIC answers, and a broker's closing connection
    // is then not logged as a failure.
    this.registry.close();
    this.groups.close();
    await this.server.close();
    await this.store.close();
    await this.lock.release();
    this.logger.info({ port: this.port }, 'master stopped');
  }
}
