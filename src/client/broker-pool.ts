// Connections to brokers, one per broker id, dialled on first use and again after one closes. A
// broker that moved (new host or port in the metadata) gets a fresh connection.
import { dial, formatAddress, type BrokerInfo, type Connection } from '../protocol/index.js';
import type { ResolvedClientOptions } from './options.js';

interface Entry {
  address: string;
  connection: Promise<Connection>;
  /** The connection once dialled, for callers that route without a promise. */
  opened?: Connection;
}

/** A pool of broker connections keyed by broker id. */
export class BrokerPool {
  readonly #options: ResolvedClientOptions;
  readonly #entries = new Map<number, Entry>();
  #closed = false;

  constructor(options: ResolvedClientOptions) {
    this.#options = options;
  }

  /**
   * The connection to `broker`, dialling it if there is none or the old one closed. Rejects with
   * UNAVAILABLE (retriable, `details.unreachable`) when the broker cannot be reached.
   */
  get(broker: BrokerInfo): Promise<Connection> {
    const address = formatAddress(broker);
    const known = this.#entries.get(broker.brokerId);
    if (known !== undefined && known.address === address) return known.connection;
    if (known !== undefined) this.drop(broker.brokerId);
    const connection = dial(broker, {
      clientId: this.#options.clientId,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      onClose: () => this.#forget(broker.brokerId, connection),
    }).then(({ connection: opened }) => {
      if (this.#closed) opened.close();
      entry.opened = opened;
      return opened;
    });
    const entry: Entry = { address, connection };
    this.#entries.set(broker.brokerId, entry);
    connection.catch(() => this.#forget(broker.brokerId, connection));
    return connection;
  }

  /** The open connection to `broker`, or undefined when there is none yet (then use {@link get}). */
  connected(broker: BrokerInfo): Connection | undefined {
    const entry = this.#entries.get(broker.brokerId);
    const opened = entry?.opened;
    return opened !== undefined && !opened.closed && entry!.address === formatAddress(broker)
      ? opened
      : undefined;
  }

  /** Closes and forgets the connection to `brokerId`, e.g. after it failed a request. */
  drop(brokerId: number): void {
    const entry = this.#entries.get(brokerId);
    if (entry === undefined) return;
    this.#entries.delete(brokerId);
    entry.connection.then(
      (connection) => connection.close(),
      () => undefined,
    );
  }

  /** Closes every connection; requests in flight reject with UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(
      entries.map((entry) =>
        entry.connection.then(
          (connection) => connection.close(),
          () => undefined,
        ),
      ),
    );
  }

  #forget(brokerId: number, connection: Promise<Connection>): void {
    if (this.#entries.get(brokerId)?.connection === connection) this.#entries.delete(brokerId);
  }
}
