import * as path from 'node:path';
import { CheckedLog, encodeCheckedLine, logWriteError } from './checked-log.js';
import {
  damageError,
  durableFiles,
  planOpen,
  planRepair,
  readDurableFiles,
  type DurableFiles,
  type DurableReader,
  type DurableRepairReport,
  type LogRecord,
} from './durable-state-recovery.js';
import { TubeError, isTubeError } from './errors.js';
import { mkdirDurable, writeFileAtomic, type FileIO } from './file-io.js';

export type { DroppedStretch, DurableRepairReport } from './durable-state-recovery.js';

/*
 * One implementation of "snapshot + write-ahead log" for small in-memory state that must survive a
 * crash: group offsets on the broker, metadata on the master (DESIGN.md §6).
 *
 * Commits wait in a queue; whatever waits when the log is free becomes one batch, written as one
 * CRC-checked line with the next seq and fdatasync'd. Only then are the changes applied to the
 * state and the commits resolved, in queue order: the state never shows a change that is not
 * durable. A failed write fails the store for good (every later commit is refused until a
 * restart), so nothing of a refused commit can reach the disk through a later write or snapshot.
 *
 * Now and then the state is folded into a snapshot: the new snapshot is written to a temp file and
 * synced, the snapshot becomes snapshot.prev, the temp file becomes the snapshot, the log becomes
 * log.prev and a new empty log starts, each step made durable before the next. Any prefix of those
 * steps opens to exactly the committed state (see durable-state-recovery.ts for how), and a damaged
 * snapshot is rebuilt from snapshot.prev + log.prev + log.
 */

/** What {@link DurableState} logs through: pino's call shape, so a pino logger fits as is. */
export interface DurableStateLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * How the generic entries are laid out as JSON lines. The default is `{seq, changes}` for a log
 * line and `{seq, state}` for the snapshot; a user with an older on-disk format reads its own lines
 * here too. A `read…` function returns undefined for a line it does not recognise.
 */
export interface DurableStateLineFormat<Change> {
  /** One log line: a batch of changes (one or more) and its seq. */
  batchLine(seq: number, changes: readonly Change[]): unknown;
  readBatchLine(line: unknown): { seq: number; changes: Change[] } | undefined;
  /** `serialized` is what the `serialize` option returned. */
  snapshotLine(seq: number, serialized: unknown): unknown;
  /** `state` goes to the `deserialize` option. */
  readSnapshotLine(line: unknown): { seq: number; state: unknown } | undefined;
}

/** Options of {@link DurableState.open} and {@link DurableState.repair}. */
export interface DurableStateOptions<State, Change> {
  /** Directory of the files; created (durably) if missing. */
  dir: string;
  /** Snapshot file name inside `dir` (its previous copy is `<name>.prev`). */
  snapshotFile: string;
  /** Log file name inside `dir` (the log before the last compaction is `<name>.prev`). */
  logFile: string;
  /** The state before any change. */
  initial: () => State;
  /** Applies one change in place. Must be deterministic: replay calls it again after a restart. */
  apply: (state: State, change: Change) => void;
  /** The state as JSON-able data, for the snapshot. */
  serialize: (state: State) => unknown;
  /** The inverse of `serialize`; throwing counts as a damaged snapshot. */
  deserialize: (json: unknown) => State;
  /** Logged changes after which the log is folded into the snapshot. @default 10_000 */
  compactAfterChanges?: number;
  /** Line layout; defaults to `{seq, changes}` and `{seq, state}`. */
  lineFormat?: DurableStateLineFormat<Change>;
  /**
   * The command that repairs these files, named when an open refuses damaged files, e.g.
   * `tubemq master repair --data-dir /var/lib/tubemq/master`.
   */
  repairCommand: string;
  logger: DurableStateLogger;
}

/** Options of {@link DurableState.repair}: those of an open, less what only a running store uses. */
export type DurableRepairOptions<State, Change> = Omit<
  DurableStateOptions<State, Change>,
  'repairCommand' | 'compactAfterChanges'
>;

/** What a commit writes: the changes, or a function that derives them from the state as it will be. */
export type DurableCommit<State, Change> = readonly Change[] | ((state: State) => readonly Change[]);

const isSeq = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Reads the `seq` of a decoded line, or undefined when the line is not an object with one. */
export function seqOfLine(line: unknown): number | undefined {
  if (typeof line !== 'object' || line === null) return undefined;
  const seq = (line as { seq?: unknown }).seq;
  return isSeq(seq) ? seq : undefined;
}

function defaultLineFormat<Change>(): DurableStateLineFormat<Change> {
  return {
    batchLine: (seq, changes) => ({ seq, changes }),
    readBatchLine(line) {
      const seq = seqOfLine(line);
      const changes = (line as { changes?: unknown } | undefined)?.changes;
      return seq === undefined || !Array.isArray(changes) ? undefined : { seq, changes: changes as Change[] };
    },
    snapshotLine: (seq, state) => ({ seq, state }),
    readSnapshotLine(line) {
      const seq = seqOfLine(line);
      if (seq === undefined || !('state' in (line as object))) return undefined;
      return { seq, state: (line as { state: unknown }).state };
    },
  };
}

interface PendingCommit<State, Change> {
  commit: DurableCommit<State, Change>;
  resolve: (changes: readonly Change[]) => void;
  reject: (error: Error) => void;
}

/** The line format (the default unless given), how lines are read back, and the file paths. */
function formatAndFiles<State, Change>(options: DurableRepairOptions<State, Change>) {
  const format = options.lineFormat ?? defaultLineFormat<Change>();
  const reader: DurableReader<State, Change> = {
    readBatchLine: (line) => format.readBatchLine(line),
    readSnapshotLine: (line) => format.readSnapshotLine(line),
    deserialize: options.deserialize,
  };
  return {
    format,
    reader,
    files: durableFiles(options.dir, options.snapshotFile, options.logFile),
  };
}

function replayOnto<State, Change>(
  state: State,
  batches: readonly { changes: readonly Change[] }[],
  apply: (state: State, change: Change) => void,
): number {
  let changes = 0;
  for (const batch of batches) {
    for (const change of batch.changes) apply(state, change);
    changes += batch.changes.length;
  }
  return changes;
}

const where = (record: LogRecord<unknown>) => ({
  file: record.file,
  offset: record.offset,
  bytes: record.bytes,
});

/**
 * State kept in memory and made durable as a snapshot file plus a log of changes.
 *
 * {@link DurableState.commit} resolves once its changes are fdatasync'd, and only then does
 * {@link DurableState.state} show them (commits that wait together share one write and one sync).
 * {@link DurableState.open} loads the snapshot and replays the log lines newer than it; a torn
 * last line is dropped and reported, any other damage refuses the open (see
 * {@link DurableState.repair}).
 */
export class DurableState<State, Change> {
  private sequence: number;
  private changesSinceSnapshot: number;
  private snapshotExists: boolean;
  private readonly queue: PendingCommit<State, Change>[] = [];
  private writing = false;
  private idle: Promise<void> = Promise.resolve();
  /** Set by the first failed write, sync or compaction: every later commit is refused with it. */
  private failure: TubeError | undefined;
  private closed = false;

  private constructor(
    private readonly io: FileIO,
    private readonly files: DurableFiles,
    private log: CheckedLog,
    private readonly current: State,
    start: { seq: number; changesSinceSnapshot: number; snapshotExists: boolean },
    private readonly options: DurableStateOptions<State, Change>,
    private readonly format: DurableStateLineFormat<Change>,
    private readonly compactAfter: number,
  ) {
    this.sequence = start.seq;
    this.changesSinceSnapshot = start.changesSinceSnapshot;
    this.snapshotExists = start.snapshotExists;
  }

  /**
   * Opens (creating) the files in `dir` and recovers the state they hold. Rejects with
   * UNAVAILABLE, naming the file, the byte offset and `repairCommand`, when they are damaged in a
   * way that replaying around it could lose acknowledged changes.
   */
  static async open<State, Change>(
    io: FileIO,
    options: DurableStateOptions<State, Change>,
  ): Promise<DurableState<State, Change>> {
    const { logger } = options;
    const compactAfter = options.compactAfterChanges ?? 10_000;
    if (!Number.isSafeInteger(compactAfter) || compactAfter < 1)
      throw new RangeError(`compactAfterChanges must be a positive integer, got ${compactAfter}`);
    const { format, reader, files } = formatAndFiles(options);
    await mkdirDurable(io, files.dir);

    const read = await readDurableFiles(io, files, reader);
    const plan = planOpen(read, options.initial);
    if (!plan.ok) throw damageError(plan.damage, options.repairCommand);
    const { baseline, tornTail, damagedSnapshot } = plan;
    if (damagedSnapshot?.status === 'damaged') {
      logger.error(
        {
          file: damagedSnapshot.file,
          reason: damagedSnapshot.reason,
          rebuiltFrom: baseline.file ?? 'empty state',
        },
        'snapshot is damaged; rebuilt it from the previous snapshot and the logs',
      );
    }
    for (const record of plan.coveredDamage) {
      logger.warn(
        { ...where(record), reason: record.problem },
        'damaged log line ignored: the snapshot holds it',
      );
    }
    if (tornTail !== undefined) {
      logger.warn({ ...where(tornTail), reason: tornTail.problem }, 'torn last log line dropped');
    }
    // A temp snapshot is a compaction that never finished; the files it would have replaced are whole.
    if (await io.exists(files.temporarySnapshot)) await io.unlink(files.temporarySnapshot);
    const created = !(await io.exists(files.log));
    const lastLine = read.logRecords.at(-1);
    const keptBytes = tornTail?.offset ?? (lastLine === undefined ? 0 : lastLine.offset + lastLine.bytes);
    const log = await CheckedLog.open(io, files.log, keptBytes);
    if (created) await io.syncDirectory(files.dir);
    const changes = replayOnto(
      baseline.state,
      plan.replay.map((record) => record.batch!),
      options.apply,
    );
    return new DurableState(
      io,
      files,
      log,
      baseline.state,
      {
        seq: plan.replay.at(-1)?.batch?.seq ?? baseline.seq,
        changesSinceSnapshot: changes,
        snapshotExists: read.snapshot.status !== 'missing',
      },
      options,
      format,
      compactAfter,
    );
  }

  /** The state; callers must not modify it (changes go through {@link DurableState.commit}). */
  get state(): State {
    return this.current;
  }

  /**
   * Writes the changes and resolves with them once they are durable; the state shows them from
   * that moment on, not before. Commits keep their order. `commit` may be a function: it is called
   * with the state holding every commit queued before it, right before the write, so a change
   * that depends on the state (remove what is there) sees every earlier change.
   *
   * Rejects with STORAGE_FULL (507) or UNAVAILABLE (503) when a write or sync fails; from then on
   * every commit is refused the same way until a restart, and the state stays as it was.
   */
  commit(commit: DurableCommit<State, Change>): Promise<readonly Change[]> {
    if (this.closed) return Promise.reject(new Error('durable state is closed'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ commit, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        this.idle = this.writeQueued();
      }
    });
  }

  /** The error that stopped this store, if one did. */
  get failed(): TubeError | undefined {
    return this.failure;
  }

  private async writeQueued(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const batch = this.takeBatch();
        const changes = batch.flatMap((each) => each.changes);
        if (changes.length > 0) {
          const seq = this.sequence + 1;
          try {
            await this.log.append(this.format.batchLine(seq, changes));
          } catch (error) {
            this.fail(error, batch);
            return;
          }
          this.sequence = seq;
          try {
            for (const change of changes) this.options.apply(this.current, change);
          } catch (error) {
            // Durable but not applied: the state no longer matches the files, so stop here.
            this.fail(new TubeError('INTERNAL', 'applying a durable change failed', { cause: error }), batch);
            return;
          }
          this.changesSinceSnapshot += changes.length;
        }
        for (const each of batch) each.pending.resolve(each.changes);
        if (this.changesSinceSnapshot >= this.compactAfter) {
          try {
            await this.compact();
          } catch (error) {
            this.fail(error, []);
            return;
          }
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Takes the next batch off the queue: plain commits join; a derived one must see the state with all before it. */
  private takeBatch(): { pending: PendingCommit<State, Change>; changes: readonly Change[] }[] {
    const batch: { pending: PendingCommit<State, Change>; changes: readonly Change[] }[] = [];
    while (this.queue.length > 0) {
      const pending = this.queue[0]!;
      if (typeof pending.commit === 'function' && batch.length > 0) break;
      this.queue.shift();
      try {
        const changes = typeof pending.commit === 'function' ? pending.commit(this.current) : pending.commit;
        batch.push({ pending, changes });
      } catch (error) {
        pending.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return batch;
  }

  /** Latches the failure and refuses `batch` and everything queued behind it. */
  private fail(error: unknown, batch: readonly { pending: PendingCommit<State, Change> }[]): void {
    const failure = isTubeError(error) ? error : logWriteError(error, this.files.log);
    this.failure = failure;
    this.options.logger.error(
      { file: this.files.log, err: error },
      'durable state failed: commits are refused until a restart',
    );
    for (const each of batch) each.pending.reject(failure);
    for (const pending of this.queue.splice(0)) pending.reject(failure);
  }

  /**
   * Folds the log into a new snapshot, keeping the old snapshot and log as `.prev` copies. Runs
   * between batches, so no line is written while the files move. Each rename is made durable
   * before the next, so that a crash leaves a prefix of the steps, whatever the file system
   * reorders; every prefix opens to the same state (durable-state-recovery.ts).
   */
  private async compact(): Promise<void> {
    const { io, files } = this;
    const line = encodeCheckedLine(
      this.format.snapshotLine(this.sequence, this.options.serialize(this.current)),
    );
    const temporary = await io.open(files.temporarySnapshot, { create: true });
    try {
      await temporary.truncate(0);
      await temporary.writev([Buffer.from(line)], 0);
      await temporary.datasync();
    } finally {
      await temporary.close();
    }
    if (this.snapshotExists) await this.renameDurably(files.snapshot, files.previousSnapshot);
    await this.renameDurably(files.temporarySnapshot, files.snapshot);
    this.snapshotExists = true;
    await this.log.close();
    await this.renameDurably(files.log, files.previousLog);
    this.log = await CheckedLog.open(io, files.log, 0);
    await io.syncDirectory(files.dir);
    this.changesSinceSnapshot = 0;
  }

  private async renameDurably(from: string, to: string): Promise<void> {
    await this.io.rename(from, to);
    await this.io.syncDirectory(this.files.dir);
  }

  /** Waits for queued commits (and a compaction they started), then closes the log. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.idle;
    await this.log.close().catch((error: unknown) => {
      // A compaction that failed may have closed it already; a failed store has nothing to save.
      if (!this.failure) throw error;
    });
  }

  /**
   * Repairs the files in `dir` so that an open succeeds, keeping every valid change: the newest
   * good snapshot (the snapshot, else its `.prev` copy, else the empty state), then every line
   * whose CRC and layout are good, in seq order. The originals are copied to
   * `<dir>/repair-<time>/` first; then a new snapshot of the result replaces them with an empty
   * log. Touches nothing when nothing is wrong. The caller must hold the data dir (no daemon on it).
   */
  static async repair<State, Change>(
    io: FileIO,
    options: DurableRepairOptions<State, Change>,
  ): Promise<DurableRepairReport> {
    const { format, reader, files } = formatAndFiles(options);
    const plan = planRepair(await readDurableFiles(io, files, reader), options.initial);
    const state = plan.baseline.state;
    replayOnto(state, plan.replay, options.apply);
    const seq = plan.replay.at(-1)?.seq ?? plan.baseline.seq;
    if (!plan.needed) return { ...plan.report, repaired: false, seq, backupDir: undefined };

    // Copies first: until the new snapshot is renamed in, the originals stay where they are, and
    // a crash leaves the files as they were (run the repair again).
    const backupDir = path.join(files.dir, `repair-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await mkdirDurable(io, backupDir);
    const originals = [
      files.snapshot,
      files.previousSnapshot,
      files.temporarySnapshot,
      files.log,
      files.previousLog,
    ];
    for (const file of originals) {
      if (await io.exists(file))
        await writeFileAtomic(io, path.join(backupDir, path.basename(file)), await io.readFile(file));
    }
    // The new snapshot holds every seq kept, so whatever is left in the logs is at or below it.
    const line = encodeCheckedLine(format.snapshotLine(seq, options.serialize(state)));
    await writeFileAtomic(io, files.snapshot, Buffer.from(line));
    for (const file of [files.previousSnapshot, files.temporarySnapshot, files.previousLog]) {
      if (await io.exists(file)) await io.unlink(file);
    }
    const log = await CheckedLog.open(io, files.log, 0);
    await log.close();
    await io.syncDirectory(files.dir);
    return { ...plan.report, repaired: true, seq, backupDir };
  }
}
