// Which brokers are alive right now, and what metadata version each has applied. Nothing here is
// durable: after a restart every broker is offline until it registers again (the durable list of
// known brokers lives in the meta store).
import { TubeError, type Logger } from '../common/index.js';
import type { Session } from '../protocol/index.js';

/** Options of {@link BrokerRegistry}. */
export interface BrokerRegistryOptions {
  /** A broker not heard from for this long is offline. */
  brokerTimeoutMs: number;
  logger: Logger;
}

interface LiveBroker {
  session: Session;
  appliedVersion: number;
  timer: NodeJS.Timeout;
}

interface ApplyWaiter {
  brokerIds: readonly number[];
  version: number;
  finish: () => void;
}

/**
 * Live broker sessions. A broker is online from its registration until it misses heartbeats for
 * `brokerTimeoutMs` or its connection closes; then it is offline and must register again (its
 * heartbeats are refused NOT_REGISTERED).
 */
export class BrokerRegistry {
  private readonly live = new Map<number, LiveBroker>();
  private readonly lastHeard = new Map<number, number>();
  private readonly brokerOfSession = new WeakMap<Session, number>();
  private readonly waiters = new Set<ApplyWaiter>();
  private closed = false;

  constructor(private readonly options: BrokerRegistryOptions) {}

  isOnline(brokerId: number): boolean {
    return this.live.has(brokerId);
  }

  /** The session of an online broker. */
  session(brokerId: number): Session | undefined {
    return this.live.get(brokerId)?.session;
  }

  /** When the broker was last heard from (registration or heartbeat); 0 if not since this master started. */
  lastHeartbeatAtMs(brokerId: number): number {
    return this.lastHeard.get(brokerId) ?? 0;
  }

  /**
   * Marks `brokerId` online on `session`, replacing an earlier session of the same broker (whose
   * connection is closed: a broker that re-registered elsewhere no longer uses it).
   */
  attach(brokerId: number, session: Session): void {
    if (this.closed) throw new TubeError('UNAVAILABLE', 'the master is shutting down');
    const previous = this.live.get(brokerId);
    if (previous !== undefined) clearTimeout(previous.timer);
    // A connection registering as another id leaves its old id: one connection, one broker.
    const otherId = this.brokerOfSession.get(session);
    if (otherId !== undefined && otherId !== brokerId && this.live.get(otherId)?.session === session) {
      this.markOffline(otherId, 'its connection registered as another broker');
    }
    const timer = setTimeout(
      () => this.markOffline(brokerId, 'missed heartbeats'),
      this.options.brokerTimeoutMs,
    );
    timer.unref();
    this.live.set(brokerId, { session, appliedVersion: 0, timer });
    this.lastHeard.set(brokerId, Date.now());
    this.brokerOfSession.set(session, brokerId);
    session.onClose(() => {
      if (this.live.get(brokerId)?.session === session) this.markOffline(brokerId, 'connection closed');
    });
    if (previous !== undefined && previous.session !== session) previous.session.connection.close();
    this.options.logger.info({ brokerId, remoteAddress: session.remoteAddress }, 'broker online');
  }

  /**
   * Records a heartbeat; false when `brokerId` is not online on this session (the caller answers
   * NOT_REGISTERED so the broker registers again).
   */
  heartbeat(brokerId: number, session: Session, appliedVersion: number): boolean {
    const broker = this.live.get(brokerId);
    if (broker === undefined || broker.session !== session) return false;
    broker.timer.refresh();
    broker.appliedVersion = Math.max(broker.appliedVersion, appliedVersion);
    this.lastHeard.set(brokerId, Date.now());
    this.settleWaiters();
    return true;
  }

  /** Takes a broker offline (it stays known; it comes back by registering). */
  markOffline(brokerId: number, reason: string): void {
    const broker = this.live.get(brokerId);
    if (broker === undefined) return;
    clearTimeout(broker.timer);
    this.live.delete(brokerId);
    if (!this.closed) this.options.logger.warn({ brokerId, reason }, 'broker offline');
    this.settleWaiters();
  }

  /**
   * Resolves once every broker in `brokerIds` has reported `appliedVersion >= version` or is
   * offline (it will get the assignment when it registers again), or after `timeoutMs`.
   * @returns the brokers that did not report the version (empty when all did).
   */
  waitApplied(brokerIds: readonly number[], version: number, timeoutMs: number): Promise<number[]> {
    const notApplied = () => brokerIds.filter((id) => (this.live.get(id)?.appliedVersion ?? -1) < version);
    return new Promise((resolve) => {
      const waiter: ApplyWaiter = {
        brokerIds,
        version,
        finish: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(notApplied());
        },
      };
      const timer = setTimeout(waiter.finish, timeoutMs);
      this.waiters.add(waiter);
      this.settleWaiters();
    });
  }

  /** Stops every timer and releases every waiter; brokers are no longer tracked. */
  close(): void {
    this.closed = true;
    for (const brokerId of [...this.live.keys()]) this.markOffline(brokerId, 'master closing');
    for (const waiter of [...this.waiters]) waiter.finish();
  }

  private settleWaiters(): void {
    for (const waiter of [...this.waiters]) {
      const waiting = waiter.brokerIds.some((id) => {
        const broker = this.live.get(id);
        return broker !== undefined && broker.appliedVersion < waiter.version;
      });
      if (!waiting || this.closed) waiter.finish();
    }
  }
}
