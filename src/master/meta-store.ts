// The master's metadata on disk: meta.json (snapshot) + meta.wal (one CRC-checked line per change),
// through DurableState, so a change is fdatasync'd before the master acknowledges it and replayed
// on start (DESIGN.md §6).
import { DurableState, seqOfLine, type DurableStateLineFormat, type Logger } from '../common/index.js';
import { nodeFileIO, type FileIO } from '../common/file-io.js';
import type { TopicDescription } from '../protocol/index.js';
import {
  applyMetaChange,
  deserializeMetaState,
  initialMetaState,
  readMetaChange,
  serializeMetaState,
  type GroupSessionRecord,
  type KnownBroker,
  type MetaChange,
  type MetaState,
} from './meta-state.js';

/** Snapshot file name in the master's data dir. */
export const metaSnapshotFile = 'meta.json';
/** Log file name in the master's data dir. */
export const metaLogFile = 'meta.wal';

/**
 * Changes after which the log is folded into meta.json. Metadata changes are rare (topic created,
 * broker first seen), so this keeps the log short without compacting on every change.
 * @default 1000
 */
export const metaCompactAfterChangesDefault = 1000;

// `{seq, change}` like DurableState's default, but a change is validated on the way back in, so a
// line this code cannot read is skipped (and logged) rather than applied half-understood.
const lineFormat: DurableStateLineFormat<MetaChange> = {
  changeLine: (seq, change) => ({ seq, change }),
  readChangeLine(line) {
    const seq = seqOfLine(line);
    const change = seq === undefined ? undefined : readMetaChange((line as { change?: unknown }).change);
    return seq === undefined || change === undefined ? undefined : { seq, change };
  },
  snapshotLine: (seq, state) => ({ seq, state }),
  readSnapshotLine(line) {
    const seq = seqOfLine(line);
    return seq === undefined ? undefined : { seq, state: (line as { state?: unknown }).state };
  },
};

/** Options of {@link MetaStore.open}. */
export interface MetaStoreOptions {
  dir: string;
  logger: Logger;
  compactAfterChanges?: number;
  io?: FileIO;
}

/**
 * Topics, known brokers, the metadata version and groups' bound sessions, durable. Reads are synchronous from memory;
 * each write resolves once it is on disk. Writes that decide from the state (check, then change)
 * run inside {@link MetaStore.exclusive} so that two of them never decide from the same state.
 */
export class MetaStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly durable: DurableState<MetaState, MetaChange>) {}

  /** Opens (creating) meta.json and meta.wal in `dir` and replays them. */
  static async open(options: MetaStoreOptions): Promise<MetaStore> {
    const durable = await DurableState.open<MetaState, MetaChange>(options.io ?? nodeFileIO, {
      dir: options.dir,
      snapshotFile: metaSnapshotFile,
      logFile: metaLogFile,
      initial: initialMetaState,
      apply: applyMetaChange,
      serialize: serializeMetaState,
      deserialize: deserializeMetaState,
      compactAfterChanges: options.compactAfterChanges ?? metaCompactAfterChangesDefault,
      lineFormat,
      logger: options.logger,
    });
    return new MetaStore(durable);
  }

  /** The current metadata version. */
  get version(): number {
    return this.durable.state.version;
  }

  /** Every topic, sorted by name. */
  topics(): TopicDescription[] {
    return [...this.durable.state.topics.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  topic(name: string): TopicDescription | undefined {
    return this.durable.state.topics.get(name);
  }

  /** Every broker ever registered, sorted by id. */
  brokers(): KnownBroker[] {
    return [...this.durable.state.brokers.values()].sort((a, b) => a.brokerId - b.brokerId);
  }

  broker(brokerId: number): KnownBroker | undefined {
    return this.durable.state.brokers.get(brokerId);
  }

  /**
   * Runs `task` after every task queued before it has finished, so a check of the state and the
   * write that depends on it are not interleaved with another request's.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Records a new topic; resolves with the version it brought, once durable. Call inside {@link exclusive}. */
  async addTopic(topic: TopicDescription): Promise<number> {
    const version = this.version + 1;
    await this.durable.commit([{ type: 'topic-created', version, topic }]);
    return version;
  }

  /** Records a broker (new, or at a new address); resolves with the new version, once durable. Call inside {@link exclusive}. */
  async saveBroker(broker: KnownBroker): Promise<number> {
    const version = this.version + 1;
    await this.durable.commit([{ type: 'broker-saved', version, broker }]);
    return version;
  }

  /** A group's bound session, if it has one. */
  groupSession(group: string): GroupSessionRecord | undefined {
    return this.durable.state.groupSessions.get(group);
  }

  /** Every group with a bound session, sorted by name. */
  groupSessions(): GroupSessionRecord[] {
    return [...this.durable.state.groupSessions.values()].sort((a, b) =>
      a.group < b.group ? -1 : a.group > b.group ? 1 : 0,
    );
  }

  /** Records a group's bound session (new key, or applied); resolves once durable. Call inside {@link exclusive}. */
  async saveGroupSession(session: GroupSessionRecord): Promise<void> {
    await this.durable.commit([{ type: 'group-session-saved', session }]);
  }

  /** Forgets a group's bound session; resolves once durable. Call inside {@link exclusive}. */
  async deleteGroupSession(group: string): Promise<void> {
    await this.durable.commit([{ type: 'group-session-deleted', group }]);
  }

  /** Waits for queued writes, then closes the files. */
  async close(): Promise<void> {
    await this.queue;
    await this.durable.close();
  }
}
