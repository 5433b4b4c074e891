// The broker daemon as a library class: storage behind a protocol server, the hosting check, the
// long-poll registry and the master link, started and closed in the right order.
import { acquireDataDirLock, type DataDirLock } from '../common/data-dir-lock.js';
import { TubeError } from '../common/index.js';
import { opcodes, ProtocolServer, type Frame, type RequestHandler, type Session } from '../protocol/index.js';
import { StorageEngine } from '../storage/index.js';
import { AssignmentApplier } from './assignment.js';
import type { BrokerContext } from './context.js';
import { FetchWaiters } from './fetch-waiters.js';
import { handleFetch } from './handlers/fetch.js';
import { handleDeleteGroupOffsets, handleListGroupOffsets } from './handlers/group-offsets.js';
import { handleClaimPartitions, handleReleasePartitions } from './handlers/leases.js';
import { handleCommitOffsets, handleFetchOffsets, handleListOffsets } from './handlers/offsets.js';
import { handleProduce, handleProduceBatches } from './handlers/produce.js';
import { Hosting } from './hosting.js';
import { Inflight } from './inflight.js';
import { MasterLink } from './master-link.js';
import { PartitionLeases } from './partition-leases.js';
import { resolveBrokerOptions, type BrokerOptions, type ResolvedBrokerOptions } from './options.js';

type Handler = (context: BrokerContext, frame: Frame, session: Session) => ReturnType<RequestHandler>;

/**
 * A running broker: serves PRODUCE, PRODUCE_BATCHES, FETCH (long-poll), COMMIT_OFFSETS,
 * FETCH_OFFSETS, LIST_OFFSETS, the consumer groups' partition leases (CLAIM_PARTITIONS,
 * RELEASE_PARTITIONS) and group offsets (LIST_GROUP_OFFSETS, DELETE_GROUP_OFFSETS) for the
 * partitions its master assigns it (every local topic when standalone).
 *
 * @example
 * const broker = await Broker.start({ brokerId: 1, host: '127.0.0.1', port: 0, dataDir, masters: [] });
 * // … broker.port …
 * await broker.close();
 */
export class Broker {
  /** The port bound (the real one when started with port 0). */
  readonly port: number;
  readonly brokerId: number;
  readonly #context: BrokerContext;
  readonly #options: ResolvedBrokerOptions;
  readonly #lock: DataDirLock;
  readonly #server: ProtocolServer;
  readonly #inflight: Inflight;
  readonly #link: MasterLink | undefined;
  #closed: Promise<void> | undefined;

  private constructor(parts: {
    options: ResolvedBrokerOptions;
    context: BrokerContext;
    lock: DataDirLock;
    server: ProtocolServer;
    inflight: Inflight;
    port: number;
    link: MasterLink | undefined;
  }) {
    this.#options = parts.options;
    this.brokerId = parts.options.brokerId;
    this.#context = parts.context;
    this.#lock = parts.lock;
    this.#server = parts.server;
    this.#inflight = parts.inflight;
    this.port = parts.port;
    this.#link = parts.link;
  }

  /**
   * Takes the data-dir lock, opens storage (recovering it), listens, and starts registering with
   * the masters in the background. Resolves once listening; it does not wait for a master (see
   * {@link Broker.whenRegistered}). Throws ALREADY_EXISTS when another process holds the data dir.
   */
  static async start(options: BrokerOptions): Promise<Broker> {
    const resolved = resolveBrokerOptions(options);
    const { brokerId, dataDir, logger } = resolved;
    const lock = await acquireDataDirLock(dataDir, 'broker');
    let storage: StorageEngine | undefined;
    try {
      storage = await StorageEngine.open({
        logger: logger.child({ component: 'storage' }),
        ...resolved.storage,
        dataDir,
      });
      const engine = storage;
      const standalone = resolved.masters.length === 0;
      const hosting = new Hosting(brokerId, standalone, (topic) => topicExists(engine, topic));
      const applier = new AssignmentApplier(engine, hosting, dataDir, logger);
      if (!standalone) await applier.restore();
      const waiters = new FetchWaiters(resolved.fetchWaitersPerConnectionMax);
      // Long-polls wake when what consumers may read grows, not when a batch is appended.
      engine.onReadable((topic, partition) => waiters.wake(topic, partition));
      const context: BrokerContext = {
        brokerId,
        storage: engine,
        hosting,
        waiters,
        leases: new PartitionLeases({ leaseMs: resolved.consumerLeaseMs }),
        logger,
        closing: false,
      };
      const inflight = new Inflight();
      const server = new ProtocolServer({
        role: 'broker',
        serverId: `broker-${brokerId}`,
        handlers: handlerTable(context, inflight),
        logger,
      });
      const port = await server.listen(resolved.host, resolved.port);
      const link = standalone
        ? undefined
        : new MasterLink({
            masters: resolved.masters,
            brokerId,
            advertised: { host: resolved.advertisedHost, port },
            applier,
            logger,
          });
      const broker = new Broker({ options: resolved, context, lock, server, inflight, port, link });
      link?.start();
      logger.info({ brokerId, host: resolved.host, port, standalone }, 'broker listening');
      return broker;
    } catch (error) {
      await storage?.close().catch(() => undefined);
      await lock.release();
      throw error;
    }
  }

  /**
   * Resolves once registered with a master and its first assignment is applied; at once when
   * standalone. Never rejects: while no master answers, it simply waits.
   */
  whenRegistered(): Promise<void> {
    return this.#link?.registered ?? Promise.resolve();
  }

  /**
   * Stops accepting, answers parked long-polls with what they have (nothing) and lets in-flight
   * requests answer, then flushes and closes storage and releases the data-dir lock. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const context = this.#context;
    context.closing = true;
    await this.#link?.close();
    context.waiters.closeAll();
    await this.#inflight.idle();
    // The handlers' answers are queued by promise callbacks; let them run before connections close.
    await new Promise((resolve) => setImmediate(resolve));
    await this.#server.close();
    await context.storage.close();
    await this.#lock.release();
    context.logger.info({ brokerId: this.brokerId, dataDir: this.#options.dataDir }, 'broker closed');
  }
}

function topicExists(storage: StorageEngine, topic: string): boolean {
  try {
    storage.describeTopic(topic);
    return true;
  } catch {
    return false;
  }
}

/** The opcode table; each handler refuses new work once the broker is closing, and is counted in flight. */
function handlerTable(context: BrokerContext, inflight: Inflight): Map<number, RequestHandler> {
  const wrap =
    (handler: Handler): RequestHandler =>
    (frame, session) => {
      if (context.closing) {
        throw new TubeError('UNAVAILABLE', `broker ${context.brokerId} is shutting down`);
      }
      const result = handler(context, frame, session);
      return result instanceof Promise ? inflight.track(result) : result;
    };
  return new Map<number, RequestHandler>([
    [opcodes.PRODUCE, wrap((context, frame) => handleProduce(context, frame))],
    [opcodes.PRODUCE_BATCHES, wrap((context, frame) => handleProduceBatches(context, frame))],
    [opcodes.FETCH, wrap(handleFetch)],
    [opcodes.COMMIT_OFFSETS, wrap((context, frame) => handleCommitOffsets(context, frame))],
    [opcodes.FETCH_OFFSETS, wrap((context, frame) => handleFetchOffsets(context, frame))],
    [opcodes.LIST_OFFSETS, wrap((context, frame) => handleListOffsets(context, frame))],
    [opcodes.CLAIM_PARTITIONS, wrap(handleClaimPartitions)],
    [opcodes.RELEASE_PARTITIONS, wrap((context, frame) => handleReleasePartitions(context, frame))],
    [opcodes.LIST_GROUP_OFFSETS, wrap((context, frame) => handleListGroupOffsets(context, frame))],
    [opcodes.DELETE_GROUP_OFFSETS, wrap((context, frame) => handleDeleteGroupOffsets(context, frame))],
  ]);
}
