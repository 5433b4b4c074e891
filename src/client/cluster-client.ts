// The plumbing under Admin, Producer and Consumer: the master link, the metadata cache and the
// broker pool, plus the two questions every data request asks — which broker serves this partition,
// and what to do when the answer is a retriable error.
import { TubeError, backoffMs, type Logger, createClientLogger } from '../common/index.js';
import type { BrokerInfo, Connection, TopicPartition } from '../protocol/index.js';
import { BrokerPool } from './broker-pool.js';
import { MasterLink } from './master-link.js';
import { MetadataCache } from './metadata-cache.js';
import type { ResolvedClientOptions } from './options.js';
import { delay, isRetriable } from './retry.js';
import { clientClosed, partitionNotFound } from './client-errors.js';

/** Where a partition lives right now. */
export interface PartitionRoute {
  broker: BrokerInfo;
  connection: Connection;
}

/** How often producers re-read the metadata of the topics they use, in ms. */
export const metadataRefreshIntervalMs = 30_000;

/** Retries a broker request makes for retriable errors unless told otherwise. */
export const requestRetriesDefault = 5;

/** Shared connections and metadata of one client. */
export class ClusterClient {
  readonly options: ResolvedClientOptions;
  readonly master: MasterLink;
  readonly metadata: MetadataCache;
  readonly brokers: BrokerPool;
  readonly logger: Logger;
  #closed = false;
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(options: ResolvedClientOptions, component: string) {
    this.options = options;
    this.master = new MasterLink(options);
    this.metadata = new MetadataCache(this.master);
    this.brokers = new BrokerPool(options);
    this.logger = options.logger?.child({ component }) ?? createClientLogger(component);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The broker serving `topic`/`partition` per the metadata. Rejects NOT_FOUND for an unknown topic
   * or a partition it does not have, UNAVAILABLE when the broker is unknown or unreachable.
   */
  async brokerOf(topic: string, partition: number): Promise<BrokerInfo> {
    let description = await this.metadata.topic(topic);
    if (partition >= description.partitions) description = await this.metadata.refresh(topic);
    if (!Number.isInteger(partition) || partition < 0 || partition >= description.partitions) {
      throw partitionNotFound(topic, partition, description.partitions);
    }
    const brokerId = description.placement[partition]!;
    const broker = this.metadata.broker(brokerId);
    if (broker !== undefined) return broker;
    await this.metadata.refresh(topic);
    const refreshed = this.metadata.broker(brokerId);
    if (refreshed !== undefined) return refreshed;
    throw new TubeError(
      'UNAVAILABLE',
      `broker ${brokerId} serving ${topic}/${partition} is not known to the master`,
      {
        details: { topic, partition, brokerId },
      },
    );
  }

  /** The broker serving a partition and a connection to it. */
  async route(topic: string, partition: number): Promise<PartitionRoute> {
    if (this.#closed) throw clientClosed();
    const broker = await this.brokerOf(topic, partition);
    return { broker, connection: await this.brokers.get(broker) };
  }

  /**
   * The route of a partition when the metadata is cached and its broker's connection is open,
   * without a promise; undefined otherwise (then use {@link route}, which also reports errors).
   */
  routeNow(topic: string, partition: number): PartitionRoute | undefined {
    if (this.#closed) return undefined;
    const brokerId = this.metadata.cached(topic)?.placement[partition];
    const broker = brokerId === undefined ? undefined : this.metadata.broker(brokerId);
    const connection = broker === undefined ? undefined : this.brokers.connected(broker);
    return connection === undefined ? undefined : { broker: broker!, connection };
  }

  /** Groups partitions by the broker serving each, per the (possibly refreshed) metadata. */
  async byBroker<T extends TopicPartition>(
    items: readonly T[],
  ): Promise<Map<number, { broker: BrokerInfo; items: T[] }>> {
    const groups = new Map<number, { broker: BrokerInfo; items: T[] }>();
    for (const item of items) {
      const broker = await this.brokerOf(item.topic, item.partition);
      let group = groups.get(broker.brokerId);
      if (group === undefined) {
        group = { broker, items: [] };
        groups.set(broker.brokerId, group);
      }
      group.items.push(item);
    }
    return groups;
  }

  /**
   * Runs `attempt` until it succeeds, a non-retriable error comes back, or `retries` retries are
   * spent. Before each retry the metadata of `topics` is refreshed (the partition may have moved)
   * and the wait doubles from 100 ms to 2 s. `retryIf` narrows which retriable errors are retried.
   */
  async withRetries<T>(
    topics: readonly string[],
    attempt: () => Promise<T>,
    retries = requestRetriesDefault,
    retryIf: (error: unknown) => boolean = () => true,
  ): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (this.#closed || !isRetriable(error) || !retryIf(error) || tries >= retries) throw error;
        this.logger.debug({ err: error, tries }, 'retrying after a retriable error');
        await delay(backoffMs(tries + 1));
        await this.refreshQuietly(topics);
      }
    }
  }

  /** Refreshes metadata of `topics`, ignoring failures (the next request reports them). */
  async refreshQuietly(topics: readonly string[]): Promise<void> {
    await Promise.all(topics.map((topic) => this.metadata.refresh(topic).catch(() => undefined)));
  }

  /**
   * Refreshes every cached topic each `intervalMs`, so partitions added to a topic and brokers that
   * moved are noticed without an error first. The timer does not keep the process alive.
   */
  refreshPeriodically(intervalMs: number): void {
    if (this.#refreshTimer !== undefined) return;
    this.#refreshTimer = setInterval(() => void this.refreshQuietly(this.metadata.topicNames()), intervalMs);
    this.#refreshTimer.unref();
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    await Promise.all([this.brokers.close(), this.master.close()]);
  }
}
