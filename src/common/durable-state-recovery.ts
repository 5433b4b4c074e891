import * as path from 'node:path';
import { scanCheckedLines, type ScannedLines } from './checked-log.js';
import { TubeError } from './errors.js';
import type { FileIO } from './file-io.js';

/*
 * What DurableState finds in its files when it opens or repairs them, and what it makes of it
 * (DESIGN.md §6, docs/storage-format.md "Snapshot and log files").
 *
 * Four files: the snapshot, the snapshot before it (`.prev`), the log of lines after the snapshot
 * and the log before it (`.prev`). Every log line holds one batch of changes and a seq, one more
 * than the line before it. A compaction moves snapshot → snapshot.prev and log → log.prev, so the
 * previous snapshot plus both logs rebuild everything the snapshot held, as long as the seqs run
 * without a gap from the previous snapshot on. A gap is lost changes: nothing here ever fills one
 * silently, it refuses instead, naming the file, the byte offset and the command that repairs it.
 */

/** The paths of one DurableState's files. */
export interface DurableFiles {
  dir: string;
  snapshot: string;
  previousSnapshot: string;
  /** Where a new snapshot is written and synced before it is renamed over the snapshot. */
  temporarySnapshot: string;
  log: string;
  previousLog: string;
}

/** The file paths for a snapshot and a log file name in `dir`. */
export function durableFiles(dir: string, snapshotFile: string, logFile: string): DurableFiles {
  const snapshot = path.join(dir, snapshotFile);
  const log = path.join(dir, logFile);
  return {
    dir,
    snapshot,
    previousSnapshot: `${snapshot}.prev`,
    temporarySnapshot: `${snapshot}.tmp`,
    log,
    previousLog: `${log}.prev`,
  };
}

/** How one state's lines are read back (DurableStateLineFormat's reading half plus `deserialize`). */
export interface DurableReader<State, Change> {
  readBatchLine(line: unknown): { seq: number; changes: Change[] } | undefined;
  readSnapshotLine(line: unknown): { seq: number; state: unknown } | undefined;
  deserialize(json: unknown): State;
}

/** A snapshot file as found. */
export type SnapshotRead<State> =
  | { file: string; status: 'missing' }
  | { file: string; status: 'good'; seq: number; state: State }
  | { file: string; status: 'damaged'; bytes: number; reason: string };

/** One line of a log file, or the bytes after its last newline. */
export interface LogRecord<Change> {
  file: string;
  offset: number;
  bytes: number;
  /** The batch it holds; undefined when it is damaged or unreadable (then `problem` says why). */
  batch?: { seq: number; changes: Change[] };
  problem?: string;
}

/** A line whose CRC is good but which is no batch this version writes (a newer writer, or a bug). */
const unreadableLine = 'the line is not a change this version reads';

/** What follows the last newline of a log: a write cut short, or damage. */
const unterminated = 'bytes after the last newline';

/** Both snapshots and both logs, read but not yet judged. */
export interface DurableFilesRead<State, Change> {
  snapshot: SnapshotRead<State>;
  previousSnapshot: SnapshotRead<State>;
  /** log.prev's records in file order; empty when it is missing. */
  previousLogRecords: LogRecord<Change>[];
  /** log's records in file order. */
  logRecords: LogRecord<Change>[];
  /** Whether log.prev exists (a damaged snapshot can be rebuilt only through it). */
  hasPreviousLog: boolean;
}

async function readIfExists(io: FileIO, filePath: string): Promise<Buffer | undefined> {
  return (await io.exists(filePath)) ? io.readFile(filePath) : undefined;
}

async function readSnapshot<State, Change>(
  io: FileIO,
  file: string,
  reader: DurableReader<State, Change>,
): Promise<SnapshotRead<State>> {
  const content = await readIfExists(io, file);
  if (content === undefined) return { file, status: 'missing' };
  const damaged = (reason: string): SnapshotRead<State> => ({
    file,
    status: 'damaged',
    bytes: content.length,
    reason,
  });
  if (content.length === 0) return damaged('it is empty');
  const scan = scanCheckedLines(content);
  if (scan.lines.length !== 1 || scan.unterminatedBytes > 0)
    return damaged('it is not exactly one newline-terminated line');
  const entry = scan.lines[0]!.entry;
  if (entry === undefined) return damaged('it fails its CRC check');
  const snapshot = reader.readSnapshotLine(entry);
  if (snapshot === undefined) return damaged('it is not a snapshot this version reads');
  try {
    return { file, status: 'good', seq: snapshot.seq, state: reader.deserialize(snapshot.state) };
  } catch (error) {
    return damaged(
      `its content does not validate (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function recordsOf<Change>(
  file: string,
  scan: ScannedLines,
  reader: DurableReader<unknown, Change>,
): LogRecord<Change>[] {
  const records: LogRecord<Change>[] = scan.lines.map(({ offset, bytes, entry }) => {
    if (entry === undefined) return { file, offset, bytes, problem: 'the line fails its CRC check' };
    const batch = reader.readBatchLine(entry);
    return batch === undefined
      ? { file, offset, bytes, problem: unreadableLine }
      : { file, offset, bytes, batch };
  });
  if (scan.unterminatedBytes > 0) {
    records.push({
      file,
      offset: scan.size - scan.unterminatedBytes,
      bytes: scan.unterminatedBytes,
      problem: unterminated,
    });
  }
  return records;
}

/** Reads both snapshots and both logs; judges nothing. */
export async function readDurableFiles<State, Change>(
  io: FileIO,
  files: DurableFiles,
  reader: DurableReader<State, Change>,
): Promise<DurableFilesRead<State, Change>> {
  const snapshot = await readSnapshot(io, files.snapshot, reader);
  const previousSnapshot = await readSnapshot(io, files.previousSnapshot, reader);
  const previousLog = await readIfExists(io, files.previousLog);
  const log = await readIfExists(io, files.log);
  const lineReader = reader as DurableReader<unknown, Change>;
  return {
    snapshot,
    previousSnapshot,
    previousLogRecords: previousLog
      ? recordsOf(files.previousLog, scanCheckedLines(previousLog), lineReader)
      : [],
    logRecords: log ? recordsOf(files.log, scanCheckedLines(log), lineReader) : [],
    hasPreviousLog: previousLog !== undefined,
  };
}

/**
 * Whether the snapshot holds every line of log.prev. A compaction writes the snapshot before it
 * renames the log to log.prev, so a good snapshot always does, and damage in log.prev is then
 * damage of a copy nobody needs (it is what rebuilds a damaged snapshot).
 */
function snapshotHoldsPreviousLog<State, Change>(read: DurableFilesRead<State, Change>): boolean {
  return read.snapshot.status === 'good';
}

/**
 * Index of the last line whose seq is at or below `seq`: a damaged line before it is one the
 * snapshot already held (seqs only grow along the files), so nothing of it is lost.
 */
function lastCoveredIndex<Change>(records: readonly LogRecord<Change>[], seq: number): number {
  let last = -1;
  records.forEach((record, index) => {
    if (record.batch !== undefined && record.batch.seq <= seq) last = index;
  });
  return last;
}

/** The state replay starts from. */
export interface Baseline<State> {
  /** The snapshot file it came from; undefined for the initial (empty) state. */
  file: string | undefined;
  seq: number;
  state: State;
}

function baselineOf<State>(read: SnapshotRead<State>, initial: () => State): Baseline<State> {
  return read.status === 'good'
    ? { file: read.file, seq: read.seq, state: read.state }
    : { file: undefined, seq: 0, state: initial() };
}

/** Where the files are damaged in a way an open must not paper over. */
export interface DamageFound {
  file: string;
  offset: number;
  reason: string;
}

/** What an open does: the baseline, the lines to replay and the torn tail to drop, or a refusal. */
export type OpenPlan<State, Change> =
  | {
      ok: true;
      baseline: Baseline<State>;
      replay: LogRecord<Change>[];
      /** A torn last write, to be cut off before appending. */
      tornTail: LogRecord<Change> | undefined;
      /** The snapshot that was damaged, when the baseline is its previous copy. */
      damagedSnapshot: SnapshotRead<State> | undefined;
      /** Damaged lines that a later line's seq shows the snapshot already holds. */
      coveredDamage: LogRecord<Change>[];
    }
  | { ok: false; damage: DamageFound };

/**
 * Judges the files as an open must: only a torn last write may be dropped; a damaged line with
 * anything after it, a line this version cannot read, a gap or disorder in the seqs, or a damaged
 * snapshot the previous copy cannot rebuild, is a refusal.
 */
export function planOpen<State, Change>(
  read: DurableFilesRead<State, Change>,
  initial: () => State,
): OpenPlan<State, Change> {
  const { snapshot, previousSnapshot } = read;
  if (snapshot.status === 'damaged' && !read.hasPreviousLog)
    return refuse(snapshot.file, 0, `${snapshot.reason}, and there is no previous log to rebuild it from`);
  // A missing snapshot is a crash between the renames of a compaction (or no compaction yet); a
  // damaged one is rebuilt from the previous copy and the logs, if their seqs reach it.
  const baseline = baselineOf(snapshot.status === 'good' ? snapshot : previousSnapshot, initial);
  const damagedSnapshot = [snapshot, previousSnapshot].find(
    (each) => each.status === 'damaged' && snapshot.status !== 'good',
  );

  // The last line of the log may be a write the power cut short: nothing in it was acknowledged.
  // Only a CRC failure or a missing newline can be a tear, never a line that reads well.
  const last = read.logRecords.at(-1);
  const tornTail =
    last !== undefined && last.batch === undefined && last.problem !== unreadableLine ? last : undefined;
  const records = [...read.previousLogRecords, ...read.logRecords];
  if (tornTail !== undefined) records.pop();
  const covered = lastCoveredIndex(records, baseline.seq);
  const previousCovered = snapshotHoldsPreviousLog(read);
  const replay: LogRecord<Change>[] = [];
  const coveredDamage: LogRecord<Change>[] = [];
  let expected = baseline.seq + 1;
  let started = false;
  for (const [index, record] of records.entries()) {
    if (record.batch === undefined) {
      if (index < covered || (previousCovered && index < read.previousLogRecords.length)) {
        coveredDamage.push(record);
        continue;
      }
      const after = records.length - index - 1 + (tornTail === undefined ? 0 : 1);
      return refuseRecord(
        record,
        `${record.problem}, and ${after} more ${after === 1 ? 'line follows' : 'lines follow'} it`,
        damagedSnapshot,
      );
    }
    const { seq } = record.batch;
    if (!started && seq <= baseline.seq) continue;
    started = true;
    if (seq !== expected) {
      const reason =
        seq > expected
          ? `the changes with seq ${expected} to ${seq - 1} are missing before this line (seq ${seq})`
          : `this line's seq ${seq} is out of order (expected ${expected})`;
      return refuseRecord(record, reason, damagedSnapshot);
    }
    replay.push(record);
    expected++;
  }
  return { ok: true, baseline, replay, tornTail, damagedSnapshot, coveredDamage };
}

function refuse<State, Change>(file: string, offset: number, reason: string): OpenPlan<State, Change> {
  return { ok: false, damage: { file, offset, reason } };
}

function refuseRecord<State, Change>(
  record: LogRecord<Change>,
  reason: string,
  damagedSnapshot: SnapshotRead<State> | undefined,
): OpenPlan<State, Change> {
  if (damagedSnapshot?.status === 'damaged') {
    // The log problem is why the snapshot cannot be rebuilt; the snapshot is what is broken.
    return refuse(
      damagedSnapshot.file,
      0,
      `${damagedSnapshot.reason}, and its previous copy with the logs cannot rebuild it: ` +
        `${record.file} at byte ${record.offset}: ${reason}`,
    );
  }
  return refuse(record.file, record.offset, reason);
}

/** The refusal of an open, as the daemon reports it: file, byte offset and the repair command. */
export function damageError(damage: DamageFound, repairCommand: string): TubeError {
  return new TubeError(
    'UNAVAILABLE',
    `${damage.file} is damaged at byte ${damage.offset}: ${damage.reason}; ` +
      'refusing to start rather than lose acknowledged changes',
    {
      details: { file: damage.file, offset: damage.offset },
      hint: `run \`${repairCommand}\`: it keeps every valid change and says what it drops`,
    },
  );
}

/** A stretch of log bytes a repair left out. */
export interface DroppedStretch {
  file: string;
  offset: number;
  bytes: number;
  lines: number;
  reason: string;
  /** False when a later line shows that the snapshot used already held what these lines held. */
  lost: boolean;
}

/** What a repair found and did. */
export interface DurableRepairReport {
  /** Whether the files were rewritten (false: nothing to repair). */
  repaired: boolean;
  /** The snapshot the repaired state was built on, or undefined for the empty state. */
  snapshotUsed: { file: string; seq: number } | undefined;
  /** Snapshot files that could not be used, and why. */
  damagedSnapshots: { file: string; bytes: number; reason: string }[];
  /** Log bytes left out. */
  dropped: DroppedStretch[];
  /** Ranges of seqs that no file holds: changes lost for good. */
  missing: { fromSeq: number; toSeq: number }[];
  /** Log lines (batches) replayed onto the snapshot used, and the changes in them. */
  keptLines: number;
  keptChanges: number;
  /** The seq of the snapshot the repair wrote (the last seq kept). */
  seq: number;
  /** Where the original files were copied before they were replaced. */
  backupDir: string | undefined;
}

/** What a repair keeps: the best snapshot and every valid line after it, in seq order. */
export interface RepairPlan<State, Change> {
  baseline: Baseline<State>;
  replay: { seq: number; changes: Change[] }[];
  report: Omit<DurableRepairReport, 'repaired' | 'backupDir' | 'seq'>;
  /** Whether anything at all is wrong. */
  needed: boolean;
}

/**
 * Plans a repair: the newest good snapshot (the snapshot, else its previous copy, else the empty
 * state), then every valid line above its seq in seq order; everything else is reported.
 */
export function planRepair<State, Change>(
  read: DurableFilesRead<State, Change>,
  initial: () => State,
): RepairPlan<State, Change> {
  const damagedSnapshots = [read.snapshot, read.previousSnapshot].flatMap((each) =>
    each.status === 'damaged' ? [{ file: each.file, bytes: each.bytes, reason: each.reason }] : [],
  );
  const baseline = baselineOf(
    read.snapshot.status === 'good' ? read.snapshot : read.previousSnapshot,
    initial,
  );
  const records = [...read.previousLogRecords, ...read.logRecords];
  const covered = lastCoveredIndex(records, baseline.seq);
  const previousCovered = snapshotHoldsPreviousLog(read);
  const dropped: DroppedStretch[] = [];
  const bySeq = new Map<number, { seq: number; changes: Change[] }>();
  for (const [index, record] of records.entries()) {
    const batch = record.batch;
    if (batch !== undefined && batch.seq <= baseline.seq) continue;
    if (batch !== undefined && !bySeq.has(batch.seq)) {
      bySeq.set(batch.seq, batch);
      continue;
    }
    const reason = record.problem ?? `the line repeats seq ${batch!.seq}, kept once`;
    const lost =
      batch === undefined && index > covered && !(previousCovered && index < read.previousLogRecords.length);
    const previous = dropped.at(-1);
    if (
      previous !== undefined &&
      previous.file === record.file &&
      previous.offset + previous.bytes === record.offset &&
      previous.reason === reason &&
      previous.lost === lost
    ) {
      previous.bytes += record.bytes;
      previous.lines++;
    } else {
      const lines = record.problem === unterminated ? 0 : 1;
      dropped.push({ file: record.file, offset: record.offset, bytes: record.bytes, lines, reason, lost });
    }
  }
  const replay = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const missing: { fromSeq: number; toSeq: number }[] = [];
  let expected = baseline.seq + 1;
  for (const { seq } of replay) {
    if (seq > expected) missing.push({ fromSeq: expected, toSeq: seq - 1 });
    expected = seq + 1;
  }
  const report = {
    snapshotUsed: baseline.file === undefined ? undefined : { file: baseline.file, seq: baseline.seq },
    damagedSnapshots,
    dropped,
    missing,
    keptLines: replay.length,
    keptChanges: replay.reduce((sum, batch) => sum + batch.changes.length, 0),
  };
  // A snapshot missing while its previous copy is there is a crash between two renames, which an
  // open handles; everything else in the report is something an open would drop or refuse.
  const needed = damagedSnapshots.length > 0 || dropped.length > 0 || missing.length > 0;
  return { baseline, replay, report, needed };
}
