import * as path from 'node:path';
import { CheckedLog, decodeCheckedLine, encodeCheckedLine } from './checked-log.js';
import { mkdirDurable, writeFileAtomic, type FileIO } from './file-io.js';

/*
 * One implementation of "snapshot + write-ahead log" for small in-memory state that must survive a
 * crash: group offsets on the broker, metadata on the master (DESIGN.md §6).
 *
 * Every change gets the next sequence number and goes to a CRC-checked, fdatasync'd log before its
 * commit resolves. Now and then the whole state is written to a snapshot (atomically) tagged with
 * the last sequence number it contains, and the log is emptied. A crash between the two leaves a
 * log whose lines are all covered by the snapshot; replay skips them by their seq, so no step of a
 * compaction needs to be atomic with another.
 */

/** What {@link DurableState} logs through: pino's call shape, so a pino logger fits as is. */
export interface DurableStateLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * How the generic entries are laid out as JSON lines. The default is `{seq, change}` for the log and
 * `{seq, state}` for the snapshot; a user with an older on-disk format maps its own lines here.
 * A `read…` function returns undefined for a line it does not recognise.
 */
export interface DurableStateLineFormat<Change> {
  changeLine(seq: number, change: Change): unknown;
  readChangeLine(line: unknown): { seq: number; change: Change } | undefined;
  /** `serialized` is what the `serialize` option returned. */
  snapshotLine(seq: number, serialized: unknown): unknown;
  /** `state` goes to the `deserialize` option. */
  readSnapshotLine(line: unknown): { seq: number; state: unknown } | undefined;
}

/** Options of {@link DurableState.open}. */
export interface DurableStateOptions<State, Change> {
  /** Directory of both files; created (durably) if missing. */
  dir: string;
  /** Snapshot file name inside `dir`. */
  snapshotFile: string;
  /** Log file name inside `dir`. */
  logFile: string;
  /** The state before any change (also what a damaged snapshot is replaced by). */
  initial: () => State;
  /** Applies one change in place. Must be deterministic: replay calls it again after a restart. */
  apply: (state: State, change: Change) => void;
  /** The state as JSON-able data, for the snapshot. */
  serialize: (state: State) => unknown;
  /** The inverse of `serialize`; throwing counts as a damaged snapshot. */
  deserialize: (json: unknown) => State;
  /** Logged changes after which the log is folded into the snapshot. @default 10_000 */
  compactAfterChanges?: number;
  /** Line layout; defaults to `{seq, change}` and `{seq, state}`. */
  lineFormat?: DurableStateLineFormat<Change>;
  logger: DurableStateLogger;
}

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
    changeLine: (seq, change) => ({ seq, change }),
    readChangeLine(line) {
      const seq = seqOfLine(line);
      if (seq === undefined || !('change' in (line as object))) return undefined;
      return { seq, change: (line as { change: Change }).change };
    },
    snapshotLine: (seq, state) => ({ seq, state }),
    readSnapshotLine(line) {
      const seq = seqOfLine(line);
      if (seq === undefined || !('state' in (line as object))) return undefined;
      return { seq, state: (line as { state: unknown }).state };
    },
  };
}

/**
 * State kept in memory and made durable as a snapshot file plus a log of changes.
 *
 * {@link DurableState.commit} applies changes and resolves once they are fdatasync'd (commits that
 * arrive together share one write and one sync). {@link DurableState.open} loads the snapshot and
 * replays the log lines newer than it; a torn or damaged log tail is cut and reported.
 */
export class DurableState<State, Change> {
  private sequence = 0;
  private changesSinceSnapshot = 0;
  private compaction: Promise<void> | undefined;
  /** Set when a compaction failed: the log may no longer be safe to append to. */
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly io: FileIO,
    private readonly snapshotPath: string,
    private readonly log: CheckedLog,
    private current: State,
    private readonly options: DurableStateOptions<State, Change>,
    private readonly format: DurableStateLineFormat<Change>,
    private readonly compactAfter: number,
  ) {}

  /** Opens (creating) the files in `dir` and recovers the state they hold. */
  static async open<State, Change>(
    io: FileIO,
    options: DurableStateOptions<State, Change>,
  ): Promise<DurableState<State, Change>> {
    const { dir, logger } = options;
    const format = options.lineFormat ?? defaultLineFormat<Change>();
    const compactAfter = options.compactAfterChanges ?? 10_000;
    if (!Number.isSafeInteger(compactAfter) || compactAfter < 1)
      throw new RangeError(`compactAfterChanges must be a positive integer, got ${compactAfter}`);
    await mkdirDurable(io, dir);
    const snapshotPath = path.join(dir, options.snapshotFile);
    const logPath = path.join(dir, options.logFile);

    let state: State | undefined;
    let snapshotSeq = 0;
    if (await io.exists(snapshotPath)) {
      const text = (await io.readFile(snapshotPath)).toString('utf8').trimEnd();
      const snapshot = format.readSnapshotLine(decodeCheckedLine(text));
      try {
        if (snapshot) {
          state = options.deserialize(snapshot.state);
          snapshotSeq = snapshot.seq;
        }
      } catch {
        state = undefined;
      }
      // The log alone may not hold everything (it was emptied at the last compaction), but it is
      // the best there is; refusing to start would lose even that.
      if (state === undefined)
        logger.error({ file: snapshotPath }, 'snapshot is damaged; using the log only');
    }
    state ??= options.initial();

    const { log, replay } = await CheckedLog.open(io, logPath);
    if (replay.truncatedBytes > 0)
      logger.warn({ file: logPath, bytes: replay.truncatedBytes }, 'log tail cut');
    const store = new DurableState(io, snapshotPath, log, state, options, format, compactAfter);
    store.sequence = snapshotSeq;
    for (const entry of replay.entries) {
      const line = format.readChangeLine(entry);
      if (line === undefined) {
        // Its CRC is good, so it is not a torn write but a line this code cannot read (a bug or a
        // newer writer); skipping it keeps every other change rather than stopping at it.
        logger.error({ file: logPath, line: entry }, 'unreadable log line skipped');
        continue;
      }
      // Lines at or below the snapshot's seq are already in it: a crash hit between the snapshot
      // and the emptying of the log.
      if (line.seq <= snapshotSeq) continue;
      options.apply(store.current, line.change);
      store.sequence = Math.max(store.sequence, line.seq);
      store.changesSinceSnapshot++;
    }
    return store;
  }

  /** The state; callers must not modify it (changes go through {@link DurableState.commit}). */
  get state(): State {
    return this.current;
  }

  /**
   * Applies `changes` in order to the state and resolves once they are durable. The state shows
   * them at once, before they are durable (as a page cache would); only the resolution is a promise.
   */
  async commit(changes: readonly Change[]): Promise<void> {
    // A compaction snapshots the state and then empties the log: a change logged in between would
    // be erased without being in the snapshot, so wait.
    while (this.compaction) await this.compaction;
    if (this.closed) throw new Error('durable state is closed');
    if (this.failure) throw this.failure;
    const lines = changes.map((change) => this.format.changeLine(++this.sequence, change));
    for (const change of changes) this.options.apply(this.current, change);
    this.changesSinceSnapshot += changes.length;
    await this.log.append(lines);
    if (this.changesSinceSnapshot >= this.compactAfter && !this.compaction) {
      this.compaction = this.compact().finally(() => (this.compaction = undefined));
      // Awaited so that a writer faster than the disk is held back; this commit was already durable,
      // so a failed compaction is not its failure (it is logged and stops later commits).
      await this.compaction;
    }
  }

  /** Folds the log into a new snapshot, then empties the log; a crash between leaves both consistent. */
  private async compact(): Promise<void> {
    try {
      // Every change applied so far is queued in the log; let it land before the snapshot claims it.
      await this.log.append([]);
      const serialized = this.options.serialize(this.current);
      const line = encodeCheckedLine(this.format.snapshotLine(this.sequence, serialized));
      await writeFileAtomic(this.io, this.snapshotPath, Buffer.from(line));
      await this.log.reset();
      this.changesSinceSnapshot = 0;
    } catch (error) {
      // A reset that failed half-way may leave the log's size unknown, and an append after that
      // could leave a gap that a replay would stop at, losing later changes: stop here instead.
      this.failure = new Error('durable state unusable after a failed compaction', { cause: error });
      this.options.logger.error({ file: this.snapshotPath, error }, 'compaction failed');
    }
  }

  /** Waits for a running compaction and queued writes, then closes the log. */
  async close(): Promise<void> {
    while (this.compaction) await this.compaction;
    this.closed = true;
    await this.log.close();
  }
}
