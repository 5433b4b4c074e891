// The broker's side of the master: dial the masters in turn (backoff 100 ms doubling to 2 s),
// REGISTER_BROKER, apply the assignment, heartbeat with the applied version, apply pushed
// assignments and heartbeat at once so the master learns fast (CREATE_TOPIC waits for that).
// Losing the master never stops data: the link just keeps reconnecting in the background.
import { backoffMs, isTubeError, type Logger } from '../common/index.js';
import {
  brokerAssignmentPush,
  brokerHeartbeatMessage,
  callJson,
  dial,
  formatAddress,
  opcodes,
  registerBrokerMessage,
  type Address,
  type Connection,
  type Frame,
} from '../protocol/index.js';
import type { AssignmentApplier } from './assignment.js';

const connectTimeoutMs = 2000;

/** Options of {@link MasterLink}. */
export interface MasterLinkOptions {
  masters: readonly Address[];
  brokerId: number;
  /** The address clients reach this broker at, as registered. */
  advertised: Address;
  applier: AssignmentApplier;
  logger: Logger;
}

/** One broker's registration with the master list, kept alive until closed. */
export class MasterLink {
  readonly #options: MasterLinkOptions;
  #closed = false;
  #connection: Connection | undefined;
  #heartbeatIntervalMs = 1000;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatRunning = false;
  #heartbeatAgain = false;
  #backoffTimer: NodeJS.Timeout | undefined;
  #wakeBackoff: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #registered!: () => void;
  /** Resolves on the first registration whose assignment is applied. */
  readonly registered: Promise<void>;

  constructor(options: MasterLinkOptions) {
    this.#options = options;
    this.registered = new Promise((resolve) => (this.#registered = resolve));
  }

  /** Starts connecting in the background; never rejects. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops heartbeating, closes the connection and waits for the loop to end. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#backoffTimer);
    this.#wakeBackoff?.();
    this.#connection?.close();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { masters, logger } = this.#options;
    let failures = 0;
    for (let turn = 0; !this.#closed; turn++) {
      const address = masters[turn % masters.length]!;
      const label = formatAddress(address);
      try {
        const { closed } = await this.#connect(address);
        failures = 0;
        await closed;
        if (!this.#closed) logger.warn({ master: label }, 'lost the master; reconnecting');
      } catch (error) {
        failures++;
        if (!this.#closed) {
          logger.warn({ master: label, err: error, failures }, 'cannot register with the master');
        }
      } finally {
        clearTimeout(this.#heartbeatTimer);
        this.#connection?.close();
        this.#connection = undefined;
      }
      if (this.#closed) break;
      await this.#sleep(backoffMs(failures));
    }
  }

  /** Dials and registers; `closed` resolves when that connection closes. */
  async #connect(address: Address): Promise<{ closed: Promise<void> }> {
    let onClosed!: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const { connection } = await dial(address, {
      clientId: `broker-${this.#options.brokerId}`,
      connectTimeoutMs,
      onPush: (frame) => this.#onPush(frame),
      onClose: () => onClosed(),
    });
    this.#connection = connection;
    this.#heartbeatAgain = false;
    if (this.#closed) {
      connection.close();
      return { closed };
    }
    await this.#register(connection);
    this.#scheduleHeartbeat();
    return { closed };
  }

  async #register(connection: Connection): Promise<void> {
    const { brokerId, advertised, applier, logger } = this.#options;
    const answer = await callJson(connection, registerBrokerMessage, {
      brokerId,
      host: advertised.host,
      port: advertised.port,
    });
    this.#heartbeatIntervalMs = answer.heartbeatIntervalMs;
    await applier.apply(answer.assignment, true);
    logger.info({ brokerId, version: applier.appliedVersion }, 'registered with the master');
    this.#registered();
  }

  #onPush(frame: Frame): void {
    if (frame.opcode !== opcodes.BROKER_ASSIGNMENT) return;
    let assignment;
    try {
      assignment = brokerAssignmentPush.decode(frame.body);
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'ignored a malformed BROKER_ASSIGNMENT push');
      return;
    }
    // Heartbeat as soon as it is applied: that heartbeat is what lets CREATE_TOPIC return.
    void this.#options.applier.apply(assignment).then(() => this.#heartbeatNow());
  }

  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    if (this.#closed || this.#connection === undefined) return;
    this.#heartbeatTimer = setTimeout(() => this.#heartbeatNow(), this.#heartbeatIntervalMs);
  }

  /** Sends a heartbeat now, or right after the one in flight; never two at once. */
  #heartbeatNow(): void {
    if (this.#closed || this.#connection === undefined) return;
    if (this.#heartbeatRunning) {
      this.#heartbeatAgain = true;
      return;
    }
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatRunning = true;
    const connection = this.#connection;
    void this.#heartbeat(connection).finally(() => {
      this.#heartbeatRunning = false;
      if (this.#heartbeatAgain) {
        this.#heartbeatAgain = false;
        this.#heartbeatNow();
      } else {
        this.#scheduleHeartbeat();
      }
    });
  }

  async #heartbeat(connection: Connection): Promise<void> {
    const { brokerId, applier, logger } = this.#options;
    try {
      await applier.idle();
      const answer = await callJson(
        connection,
        brokerHeartbeatMessage,
        { brokerId, appliedVersion: applier.appliedVersion },
        { timeoutMs: Math.max(this.#heartbeatIntervalMs * 3, 1000) },
      );
      if (answer.assignment !== undefined) {
        const before = applier.appliedVersion;
        await applier.apply(answer.assignment);
        // Report the new version at once rather than an interval later (not after a failed
        // application: that retries with the next regular heartbeat, not in a tight loop).
        if (applier.appliedVersion > before) this.#heartbeatAgain = true;
      }
    } catch (error) {
      if (isTubeError(error, 'NOT_REGISTERED')) {
        logger.warn({ brokerId }, 'the master forgot this broker; registering again');
        try {
          await this.#register(connection);
        } catch (registerError) {
          logger.warn({ err: registerError }, 'registering again failed; reconnecting');
          connection.close();
        }
        return;
      }
      if (!connection.closed) {
        logger.warn({ err: error }, 'heartbeat failed; reconnecting');
        connection.close();
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeBackoff = resolve;
      this.#backoffTimer = setTimeout(resolve, ms);
    });
  }
}
