// The master's metadata on disk: meta.json (snapshot) + meta.wal (one CRC-checked line per batch of
// changes) and their .prev copies, through DurableState, so a change is fdatasync'd before the
// master acknowledges it or shows it to anyone, and replayed on start (DESIGN.md §6).
import {
  DurableState,
  seqOfLine,
  type DurableRepairReport,
  type DurableStateLineFormat,
  type Logger,
  withDataDirLock,
} from '../common/index.js';
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

// `{seq, changes}` like DurableState's default (and `{seq, change}`, the one-change lines written
// before a line held a batch), but each change is validated on the way back in, so a line this code
// cannot read is reported as such rather than applied half-understood.
const lineFormat: DurableStateLineFormat<MetaChange> = {
  batchLine: (seq, changes) => ({ seq, changes }),
  readBatchLine(line) {
    const seq = seqOfLine(line);
    if (seq === undefined) return undefined;
    const { change, changes } = line as { change?: unknown; changes?: unknown };
    const raw = Array.isArray(changes) ? (changes as unknown[]) : change === undefined ? [] : [change];
    const read = raw.map(readMetaChange);
    if (read.length === 0 || read.some((each) => each === undefined)) return undefined;
    return { seq, changes: read as MetaChange[] };
  },
  snapshotLine: (seq, state) => ({ seq, state }),
  readSnapshotLine(line) {
    const seq = seqOfLine(line);
    return seq === undefined ? undefined : { seq, state: (line as { state?: unknown }).state };
  },
};

/** The command that repairs a master's metadata files, for the hint of a refused start. */
export function masterRepairCommand(dataDir: string): string {
  return `tubemq master repair --data-dir ${dataDir}`;
}

function durableOptions(dir: string, logger: Logger, compactAfterChanges?: number) {
  return {
    dir,
    snapshotFile: metaSnapshotFile,
    logFile: metaLogFile,
    initial: initialMetaState,
    apply: applyMetaChange,
    serialize: serializeMetaState,
    deserialize: deserializeMetaState,
    compactAfterChanges: compactAfterChanges ?? metaCompactAfterChangesDefault,
    lineFormat,
    logger,
  };
}

/** Options of {@link MetaStore.open}. */
export interface MetaStoreOptions {
  dir: string;
  logger: Logger;
  compactAfterChanges?: number;
  io?: FileIO;
}

/**
 * Topics, known brokers, the metadata version and groups' bound sessions, durable. Reads are synchronous from memory
 * and see a write only once it is on disk, when it resolves. A failed write rejects with a storage
 * error (507/503) and so does every later one until a restart; reads go on. Writes that decide from
 * the state (check, then change) run inside {@link MetaStore.exclusive} so that two of them never
 * decide from the same state.
 */
export class MetaStore {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly durable: DurableState<MetaState, MetaChange>) {}

  /** Opens (creating) meta.json and meta.wal in `dir` and replays them. */
  static async open(options: MetaStoreOptions): Promise<MetaStore> {
    const durable = await DurableState.open<MetaState, MetaChange>(options.io ?? nodeFileIO, {
      ...durableOptions(options.dir, options.logger, options.compactAfterChanges),
      repairCommand: masterRepairCommand(options.dir),
    });
    return new MetaStore(durable);
  }

  /**
   * Repairs meta.json, meta.wal and their `.prev` copies in `dir` so that a master starts, keeping
   * every valid change (see {@link DurableState.repair}). The caller holds the data dir's lock.
   */
  static repair(options: Omit<MetaStoreOptions, 'compactAfterChanges'>): Promise<DurableRepairReport> {
    return DurableState.repair(options.io ?? nodeFileIO, durableOptions(options.dir, options.logger));
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

  /**
   * Records a new topic; resolves with the version it brought, once durable (and only then do
   * readers see it). Call inside {@link exclusive}.
   */
  addTopic(topic: TopicDescription): Promise<number> {
    return this.commitVersioned((version) => ({ type: 'topic-created', version, topic }));
  }

  /**
   * Records a broker (new, or at a new address); resolves with the new version, once durable.
   * Call inside {@link exclusive}.
   */
  saveBroker(broker: KnownBroker): Promise<number> {
    return this.commitVersioned((version) => ({ type: 'broker-saved', version, broker }));
  }

  /** Commits a change that brings the next version, numbered from the state it is written onto. */
  private async commitVersioned(change: (version: number) => MetaChange): Promise<number> {
    let version = 0;
    await this.durable.commit((state) => {
      version = state.version + 1;
      return [change(version)];
    });
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

/**
 * Repairs the metadata files of the master data dir `dataDir` (see {@link MetaStore.repair}) while
 * holding its lock: refused while a master runs on it.
 */
export function repairMasterDataDir(dataDir: string, logger: Logger): Promise<DurableRepairReport> {
  return withDataDirLock(dataDir, 'master', () => MetaStore.repair({ dir: dataDir, logger }));
}
