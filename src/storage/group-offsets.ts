import { DurableState, seqOfLine, type DurableStateLineFormat } from '../common/durable-state.js';
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
 * The lines as they were before {@link DurableState} existed (docs/storage-format.md "Group
 * offsets"): a log line is the commit's fields next to its seq, the snapshot keeps rows under
 * `offsets`. Keeping them lets a broker open the files an older one wrote.
 */
const lineFormat: DurableStateLineFormat<GroupOffsetCommit> = {
  changeLine: (seq, { group, topic, partition, offset }) => ({ seq, group, topic, partition, offset }),
  readChangeLine(line) {
    const seq = seqOfLine(line);
    if (seq === undefined) return undefined;
    const { group, topic, partition, offset } = line as Record<string, unknown>;
    const change = readCommit(group, topic, partition, offset);
    return change && { seq, change };
  },
  snapshotLine: (seq, offsets) => ({ seq, offsets }),
  readSnapshotLine(line) {
    const seq = seqOfLine(line);
    return seq === undefined ? undefined : { seq, state: (line as { offsets?: unknown }).offsets };
  },
};

function deserialize(json: unknown): Offsets {
  if (!Array.isArray(json)) throw new TypeError('offsets is not an array');
  const offsets: Offsets = new Map();
  for (const row of json as unknown[]) {
    const commit = Array.isArray(row) ? readCommit(row[0], row[1], row[2], row[3]) : undefined;
    if (!commit) throw new TypeError('malformed offsets row');
    apply(offsets, commit);
  }
  return offsets;
}

const serialize = (offsets: Offsets): SnapshotRow[] =>
  [...offsets.values()].map((each) => [each.group, each.topic, each.partition, each.offset]);

/**
 * Committed offsets of consumer groups (TubeMQ keeps them on the broker): a map kept durable by
 * {@link DurableState} as `offsets.snapshot` plus `offsets.log`, each commit one log line.
 */
export class GroupOffsetStore {
  private constructor(private readonly durable: DurableState<Offsets, GroupOffsetCommit>) {}

  static async open(io: FileIO, dir: string, logger: StorageLogger): Promise<GroupOffsetStore> {
    const durable = await DurableState.open<Offsets, GroupOffsetCommit>(io, {
      dir,
      snapshotFile: 'offsets.snapshot',
      logFile: 'offsets.log',
      initial: () => new Map(),
      apply,
      serialize,
      deserialize,
      lineFormat,
      logger,
    });
    return new GroupOffsetStore(durable);
  }

  /** Records commits; resolves once they are durable. A negative offset removes the entry. */
  commit(commits: readonly GroupOffsetCommit[]): Promise<void> {
    return this.durable.commit(commits);
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.durable.state.get(keyOf(group, topic, partition))?.offset;
  }

  /** Every commit, optionally of one group or topic. */
  list(filter: { group?: string; topic?: string } = {}): GroupOffsetCommit[] {
    return [...this.durable.state.values()].filter(
      (each) =>
        (filter.group === undefined || each.group === filter.group) &&
        (filter.topic === undefined || each.topic === filter.topic),
    );
  }

  close(): Promise<void> {
    return this.durable.close();
  }
}
