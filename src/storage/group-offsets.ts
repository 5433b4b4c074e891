import * as path from 'node:path';
import {
  DurableState,
  seqOfLine,
  type DurableRepairReport,
  type DurableStateLineFormat,
} from '../common/durable-state.js';
import type { FileIO } from '../common/file-io.js';
import type { StorageLogger } from './options.js';

/** One committed position: the next offset the group will read. */
export interface GroupOffsetCommit {
  group: string;
  topic: string;
  partition: number;
  offset: number;
}

type Offsets = Map<string, GroupOffsetCommit>;

/** Where a broker keeps its group offsets, under its data dir. */
export const groupOffsetsDirName = 'offsets';

/** The command that repairs a broker's offsets files, for the hint of a refused start. */
export function brokerRepairCommand(dataDir: string): string {
  return `tubemq broker repair --data-dir ${dataDir}`;
}
type SnapshotRow = [string, string, number, number];

const keyOf = (group: string, topic: string, partition: number) => JSON.stringify([group, topic, partition]);

/** Rebuilds a commit from untrusted JSON; undefined unless every field has the right type. */
function readCommit(group: unknown, topic: unknown, partition: unknown, offset: unknown) {
  if (typeof group !== 'string' || typeof topic !== 'string') return undefined;
  if (!Number.isSafeInteger(partition) || !Number.isSafeInteger(offset)) return undefined;
  return { group, topic, partition, offset } as GroupOffsetCommit;
}

function apply(offsets: Offsets, commit: GroupOffsetCommit): void {
  const { group, topic, partition, offset } = commit;
  if (offset < 0) offsets.delete(keyOf(group, topic, partition));
  else offsets.set(keyOf(group, topic, partition), { group, topic, partition, offset });
}

/**
 * Lines (docs/storage-format.md "Group offsets"): a log line holds a batch of commits as rows,
 * `{seq, commits: [[group, topic, partition, offset], …]}`, the snapshot keeps the same rows under
 * `offsets`. A log line of one commit, `{seq, group, topic, partition, offset}`, is what brokers
 * wrote before a line held a batch; it is still read.
 */
const lineFormat: DurableStateLineFormat<GroupOffsetCommit> = {
  batchLine: (seq, commits) => ({ seq, commits: commits.map(rowOf) }),
  readBatchLine(line) {
    const seq = seqOfLine(line);
    if (seq === undefined) return undefined;
    const { commits: rows, group, topic, partition, offset } = line as Record<string, unknown>;
    if (!Array.isArray(rows)) {
      const change = readCommit(group, topic, partition, offset);
      return change && { seq, changes: [change] };
    }
    const changes = (rows as unknown[]).map(readRow);
    if (changes.length === 0 || changes.some((each) => each === undefined)) return undefined;
    return { seq, changes: changes as GroupOffsetCommit[] };
  },
  snapshotLine: (seq, offsets) => ({ seq, offsets }),
  readSnapshotLine(line) {
    const seq = seqOfLine(line);
    return seq === undefined ? undefined : { seq, state: (line as { offsets?: unknown }).offsets };
  },
};

const rowOf = ({ group, topic, partition, offset }: GroupOffsetCommit): SnapshotRow => [
  group,
  topic,
  partition,
  offset,
];

const readRow = (row: unknown) =>
  Array.isArray(row) ? readCommit(row[0], row[1], row[2], row[3]) : undefined;

function deserialize(json: unknown): Offsets {
  if (!Array.isArray(json)) throw new TypeError('offsets is not an array');
  const offsets: Offsets = new Map();
  for (const row of json as unknown[]) {
    const commit = readRow(row);
    if (!commit) throw new TypeError('malformed offsets row');
    apply(offsets, commit);
  }
  return offsets;
}

const serialize = (offsets: Offsets): SnapshotRow[] => [...offsets.values()].map(rowOf);

/** Files of the store in `dir`, how they are read, and what repairs them. */
function durableOptions(dir: string, logger: StorageLogger) {
  return {
    dir,
    snapshotFile: 'offsets.snapshot',
    logFile: 'offsets.log',
    initial: (): Offsets => new Map(),
    apply,
    serialize,
    deserialize,
    lineFormat,
    logger,
  };
}

const matches = (each: GroupOffsetCommit, filter: { group?: string; topic?: string }) =>
  (filter.group === undefined || each.group === filter.group) &&
  (filter.topic === undefined || each.topic === filter.topic);

/**
 * Committed offsets of consumer groups (TubeMQ keeps them on the broker): a map kept durable by
 * {@link DurableState} as `offsets.snapshot` plus `offsets.log` (and their `.prev` copies). Reads
 * see a commit once it is durable; a failed write refuses that commit and every later one until a
 * restart (507/503).
 */
export class GroupOffsetStore {
  private constructor(private readonly durable: DurableState<Offsets, GroupOffsetCommit>) {}

  /**
   * Opens the store in `dir`. Damaged files refuse the open with an error that names the file,
   * the byte offset and `repairCommand`.
   */
  static async open(
    io: FileIO,
    dir: string,
    repairCommand: string,
    logger: StorageLogger,
  ): Promise<GroupOffsetStore> {
    const durable = await DurableState.open(io, { ...durableOptions(dir, logger), repairCommand });
    return new GroupOffsetStore(durable);
  }

  /**
   * Repairs the offsets files of the broker data dir `dataDir`, keeping every valid commit (see
   * {@link DurableState.repair}). The caller holds the data dir's lock.
   */
  static repair(io: FileIO, dataDir: string, logger: StorageLogger): Promise<DurableRepairReport> {
    return DurableState.repair(io, durableOptions(path.join(dataDir, groupOffsetsDirName), logger));
  }

  /** Records commits; resolves once they are durable. A negative offset removes the entry. */
  async commit(commits: readonly GroupOffsetCommit[]): Promise<void> {
    await this.durable.commit(commits);
  }

  /**
   * Removes every entry matching `filter`, including those of commits still being written;
   * resolves with the number removed, once durable.
   */
  async remove(filter: { group?: string; topic?: string }): Promise<number> {
    const removed = await this.durable.commit((offsets) =>
      [...offsets.values()].filter((each) => matches(each, filter)).map((each) => ({ ...each, offset: -1 })),
    );
    return removed.length;
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.durable.state.get(keyOf(group, topic, partition))?.offset;
  }

  /** Every commit, optionally of one group or topic. */
  list(filter: { group?: string; topic?: string } = {}): GroupOffsetCommit[] {
    return [...this.durable.state.values()].filter((each) => matches(each, filter));
  }

  close(): Promise<void> {
    return this.durable.close();
  }
}
