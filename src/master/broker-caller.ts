// The master as a client of its brokers, for the group operations only a broker can do: commit a
// group's offsets (bound sessions, offset resets) and delete them (DELETE_GROUP). Each call dials
// the broker at the address it registered, says HELLO as the master, asks, and hangs up: these are
// rare admin actions, not worth a standing connection per broker.
import { TubeError, isTubeError, type Logger } from '../common/index.js';
import {
  callJson,
  commitOffsetsMessage,
  deleteGroupOffsetsMessage,
  dial,
  formatAddress,
  releasePartitionsMessage,
  type Connection,
  type PartitionOffsetEntry,
  type TopicPartition,
} from '../protocol/index.js';
import type { BrokerRegistry } from './broker-registry.js';
import type { MetaStore } from './meta-store.js';

/** Most entries one COMMIT_OFFSETS or RELEASE_PARTITIONS carries (the messages' limit). */
const commitEntriesMax = 10_000;

/** What {@link BrokerCaller} needs. */
export interface BrokerCallerOptions {
  store: MetaStore;
  registry: BrokerRegistry;
  logger: Logger;
  /** The id to say HELLO with (the master's id, known once it listens). */
  clientId: () => string;
  /** Connect (TCP + HELLO) timeout, in ms. @default 5000 */
  connectTimeoutMs?: number;
}

/** Calls brokers on behalf of the group coordinator. */
export class BrokerCaller {
  constructor(private readonly options: BrokerCallerOptions) {}

  /**
   * Commits `offsets` for `group` with `force: true` (no lease checks) on the broker serving each
   * partition, all brokers at once. Rejects NOT_FOUND for a topic the master does not know and
   * UNAVAILABLE (naming the broker) when a broker cannot be reached or refuses.
   */
  async commitOffsets(group: string, offsets: readonly PartitionOffsetEntry[]): Promise<void> {
    await Promise.all(
      [...this.byHostingBroker(offsets)].map(([brokerId, entries]) =>
        this.withBroker(brokerId, `committing offsets of group "${group}"`, async (connection) => {
          for (let start = 0; start < entries.length; start += commitEntriesMax) {
            const chunk = entries.slice(start, start + commitEntriesMax);
            await callJson(connection, commitOffsetsMessage, { group, offsets: chunk, force: true });
          }
        }),
      ),
    );
  }

  /**
   * Ends the partition leases `memberId` of `group` holds on the brokers serving `partitions`: the
   * master removed that member (its session timed out, or its connection closed), and a hung
   * process's leases would otherwise hold the partitions' next owners back for the brokers' whole
   * lease time. Rejects like {@link commitOffsets}.
   */
  async releaseLeases(group: string, memberId: string, partitions: readonly TopicPartition[]): Promise<void> {
    await Promise.all(
      [...this.byHostingBroker(partitions)].map(([brokerId, entries]) =>
        this.withBroker(brokerId, `releasing the leases of member ${memberId}`, async (connection) => {
          for (let start = 0; start < entries.length; start += commitEntriesMax) {
            const chunk = entries.slice(start, start + commitEntriesMax);
            await callJson(connection, releasePartitionsMessage, {
              group,
              memberId,
              partitions: chunk.map(({ topic, partition }) => ({ topic, partition })),
            });
          }
        }),
      ),
    );
  }

  /**
   * Deletes `group`'s offsets on every online broker; resolves with the number of partitions
   * whose offsets went. Offline brokers are skipped (logged): they are not reachable anyway.
   */
  async deleteGroupOffsets(group: string): Promise<number> {
    const { store, registry, logger } = this.options;
    const brokers = store.brokers().filter(({ brokerId }) => registry.isOnline(brokerId));
    const offline = store.brokers().filter(({ brokerId }) => !registry.isOnline(brokerId));
    if (offline.length > 0) {
      logger.warn(
        { group, brokers: offline.map(({ brokerId }) => brokerId) },
        'deleting group offsets: offline brokers keep theirs',
      );
    }
    const counts = await Promise.all(
      brokers.map(({ brokerId }) =>
        this.withBroker(brokerId, `deleting offsets of group "${group}"`, async (connection) => {
          const { deleted } = await callJson(connection, deleteGroupOffsetsMessage, { group });
          return deleted;
        }),
      ),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Partitions grouped by the broker serving each; NOT_FOUND for one the master has not placed. */
  private byHostingBroker<T extends TopicPartition>(partitions: readonly T[]): Map<number, T[]> {
    const byBroker = new Map<number, T[]>();
    for (const entry of partitions) {
      const brokerId = this.options.store.topic(entry.topic)?.placement[entry.partition];
      if (brokerId === undefined) {
        throw new TubeError(
          'NOT_FOUND',
          `partition ${entry.partition} of topic "${entry.topic}" is not placed`,
          { details: { topic: entry.topic, partition: entry.partition } },
        );
      }
      const list = byBroker.get(brokerId) ?? [];
      list.push(entry);
      byBroker.set(brokerId, list);
    }
    return byBroker;
  }

  private async withBroker<T>(
    brokerId: number,
    what: string,
    call: (connection: Connection) => Promise<T>,
  ): Promise<T> {
    const broker = this.options.store.broker(brokerId);
    if (broker === undefined) {
      throw new TubeError('UNAVAILABLE', `${what}: broker ${brokerId} is not registered`, {
        details: { brokerId },
      });
    }
    const address = formatAddress(broker);
    let connection: Connection | undefined;
    try {
      ({ connection } = await dial(broker, {
        clientId: this.options.clientId(),
        connectTimeoutMs: this.options.connectTimeoutMs,
      }));
      return await call(connection);
    } catch (error) {
      // A broker's own refusal (NOT_FOUND, BAD_REQUEST) says something about the request; keep it.
      if (isTubeError(error) && !error.retriable) throw error;
      throw new TubeError(
        'UNAVAILABLE',
        `${what}: broker ${brokerId} at ${address} failed: ${(error as Error).message}`,
        { details: { brokerId, address }, hint: 'check that the broker is running', cause: error },
      );
    } finally {
      connection?.close();
    }
  }
}
