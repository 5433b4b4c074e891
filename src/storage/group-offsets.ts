import * as path from 'node:path';
import { CheckedLog, decodeCheckedLine, encodeCheckedLine } from '../common/checked-log.js';
import { mkdirDurable, writeFileAtomic, type FileIO } from '../common/file-io.js';
import type { StorageLogger } from './options.js';

/** One committed position: the next offset the group will read. */
export interface GroupOffsetCommit {
  group: string;
  topic: string;
  partition: number;
  offset: number;
}

interface LogLine {
  seq: number;
  group: string;
  topic: string;
  partition: number;
  offset: number;
}

interface Snapshot {
  seq: number;
  offsets: [string, string, number, number][];
}

/** Log lines after which the log is folded into the snapshot. */
const compactAfterLines = 10_000;

const keyOf = (group: string, topic: string, partition: number) => JSON.stringify([group, topic, partition]);

/**
 * Committed offsets of consumer groups (TubeMQ keeps them on the broker). Commits go to an
 * append-only, CRC-checked, fdatasync'd log before they are acknowledged; the log is folded into
 * an atomically replaced snapshot now and then.
 */
export class GroupOffsetStore {
  private readonly offsets = new Map<string, GroupOffsetCommit>();
  private sequence = 0;
  private linesSinceSnapshot = 0;
  private compaction: Promise<void> | undefined;

  private constructor(
    private readonly io: FileIO,
    private readonly snapshotPath: string,
    private readonly log: CheckedLog,
  ) {}

  static async open(io: FileIO, dir: string, logger: StorageLogger): Promise<GroupOffsetStore> {
    await mkdirDurable(io, dir);
    const snapshotPath = path.join(dir, 'offsets.snapshot');
    let snapshot: Snapshot = { seq: 0, offsets: [] };
    if (await io.exists(snapshotPath)) {
      const decoded = decodeCheckedLine((await io.readFile(snapshotPath)).toString('utf8').trimEnd()) as
        Snapshot | undefined;
      if (decoded) snapshot = decoded;
      else logger.error({ file: snapshotPath }, 'group offset snapshot is damaged; using the log only');
    }
    const { log, replay } = await CheckedLog.open(io, path.join(dir, 'offsets.log'));
    if (replay.truncatedBytes > 0)
      logger.warn(
        { file: path.join(dir, 'offsets.log'), bytes: replay.truncatedBytes },
        'group offset log tail cut',
      );
    const store = new GroupOffsetStore(io, snapshotPath, log);
    for (const [group, topic, partition, offset] of snapshot.offsets)
      store.remember({ group, topic, partition, offset });
    store.sequence = snapshot.seq;
    for (const entry of replay.entries as LogLine[]) {
      if (entry.seq <= snapshot.seq) continue;
      store.remember(entry);
      store.sequence = entry.seq;
      store.linesSinceSnapshot++;
    }
    return store;
  }

  private remember(commit: GroupOffsetCommit): void {
    const { group, topic, partition, offset } = commit;
    if (offset < 0) this.offsets.delete(keyOf(group, topic, partition));
    else this.offsets.set(keyOf(group, topic, partition), { group, topic, partition, offset });
  }

  /** Records commits; resolves once they are durable. A negative offset removes the entry. */
  async commit(commits: readonly GroupOffsetCommit[]): Promise<void> {
    while (this.compaction) await this.compaction;
    const lines: LogLine[] = commits.map((commit) => ({ seq: ++this.sequence, ...commit }));
    for (const commit of commits) this.remember(commit);
    this.linesSinceSnapshot += lines.length;
    await this.log.append(lines);
    if (this.linesSinceSnapshot >= compactAfterLines && !this.compaction) {
      this.compaction = this.compact().finally(() => (this.compaction = undefined));
      await this.compaction;
    }
  }

  /** Folds the log into a new snapshot, then empties the log; a crash between leaves both consistent. */
  private async compact(): Promise<void> {
    await this.log.append([]);
    const snapshot: Snapshot = {
      seq: this.sequence,
      offsets: [...this.offsets.values()].map((each) => [
        each.group,
        each.topic,
        each.partition,
        each.offset,
      ]),
    };
    await writeFileAtomic(this.io, this.snapshotPath, Buffer.from(encodeCheckedLine(snapshot)));
    await this.log.reset();
    this.linesSinceSnapshot = 0;
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.offsets.get(keyOf(group, topic, partition))?.offset;
  }

  /** Every commit, optionally of one group or topic. */
  list(filter: { group?: string; topic?: string } = {}): GroupOffsetCommit[] {
    return [...this.offsets.values()].filter(
      (each) =>
        (filter.group === undefined || each.group === filter.group) &&
        (filter.topic === undefined || each.topic === filter.topic),
    );
  }

  async close(): Promise<void> {
    while (this.compaction) await this.compaction;
    await this.log.close();
  }
}
