// Power loss (DESIGN.md §4: an `fsync` ack survives power loss; research/reliability-anchors.md T3,
// the Jepsen/LazyFS finding that lazily synced queues lose acknowledged writes). The engine runs on
// a layer that models the disk cache (test/helpers/power-loss-io.ts); at many crash points the
// power fails, the disk is left with only what was durable, and a new engine on the real file
// system must still hold every fsync-acked batch and every resolved group offset commit.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeFileAtomic } from '../../src/common/file-io.js';
import {
  StorageEngine,
  type AckLevel,
  type MessageInput,
  type StorageLogger,
  type StorageOptions,
  type StoredMessage,
} from '../../src/storage/index.js';
import { withDataFileHandles } from '../helpers/bound-handle.js';
import { isPowerLost, PowerLossIO, type PowerLossOptions } from '../helpers/power-loss-io.js';

const KiB = 1024;
const topic = 't';
const partitions = 3;

/** /dev/shm keeps real fsyncs cheap; the layer, not the device, decides what survives. */
const tempBase = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
let tempRoot = '';
let tempCount = 0;
before(() => {
  tempRoot = fs.mkdtempSync(path.join(tempBase, 'tubemq-power-loss-'));
});
after(() => {
  if (tempRoot) fs.rmSync(tempRoot, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = path.join(tempRoot, `d${++tempCount}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const silentLogger: StorageLogger = { info() {}, warn() {}, error() {} };

/** Small everything, so segments and index segments roll and checkpoints come often. */
const engineOptions: Omit<StorageOptions, 'dataDir'> = {
  segmentBytes: 64 * KiB,
  indexSegmentEntries: 16,
  cacheBlockBytes: 16 * KiB,
  cacheBlockAgeMs: 3,
  checkpointIntervalMs: 8,
  checkpointBytes: 48 * KiB,
  retentionCheckIntervalMs: 0,
  logger: silentLogger,
};

/** mulberry32, so every crash point replays the same workload choices. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
  bytes(length: number): Buffer {
    const buffer = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) buffer[i] = this.int(256);
    return buffer;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- what the producers and committers were told ------------------------------------------------

interface Batch {
  id: number;
  partition: number;
  acks: AckLevel;
  messages: MessageInput[];
  state: 'pending' | 'resolved' | 'rejected';
  baseOffset?: number;
}

interface Commit {
  group: string;
  partition: number;
  offset: number;
  state: 'pending' | 'resolved' | 'rejected';
}

class Ledger {
  readonly batches: Batch[] = [];
  readonly byMessageId = new Map<string, { batch: Batch; index: number }>();
  /** Every commit in call order. */
  readonly commits: Commit[] = [];
  /** Errors that came while the power was still on: the engine failing by itself. */
  readonly unexpected: string[] = [];
  topicCreated = false;
  private nextId = 1;

  newBatch(partition: number, acks: AckLevel, random: Random): Batch {
    const id = this.nextId++;
    const count = 1 + random.int(4);
    const messages: MessageInput[] = [];
    const batch: Batch = { id, partition, acks, messages, state: 'pending' };
    for (let i = 0; i < count; i++) {
      const messageId = `${id}.${i}`;
      const value = Buffer.concat([Buffer.from(`${messageId}|`), random.bytes(150 + random.int(2400))]);
      const message: MessageInput = { value };
      if (random.int(2) === 0) message.key = Buffer.from(`key-${messageId}`);
      if (random.int(3) === 0) message.streamId = `s${random.int(3)}`;
      if (random.int(4) === 0) message.attributes = { run: String(id % 7) };
      messages.push(message);
      this.byMessageId.set(messageId, { batch, index: i });
    }
    this.batches.push(batch);
    return batch;
  }

  /** The end of the highest fsync-acked batch of a partition: what a consumer may commit. */
  ackedEnd(partition: number): number {
    let end = 0;
    for (const batch of this.batches) {
      if (batch.partition === partition && batch.acks === 'fsync' && batch.baseOffset !== undefined)
        end = Math.max(end, batch.baseOffset + batch.messages.length);
    }
    return end;
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Records an error unless the power was already gone (then every call is expected to fail). */
function noteError(ledger: Ledger, layer: PowerLossIO | undefined, what: string, error: unknown): void {
  if (isPowerLost(error) || layer?.lost) return;
  const cause = (error as { cause?: unknown }).cause;
  if (isPowerLost(cause)) return;
  ledger.unexpected.push(`${what}: ${describeError(error)}`);
}

interface WorkloadSize {
  appenders: number;
  batchesPerAppender: number;
  committers: number;
  commitsPerCommitter: number;
}

/** Concurrent appenders (mostly fsync, some written and memory) and group offset committers. */
async function runWorkload(
  engine: StorageEngine,
  layer: PowerLossIO | undefined,
  ledger: Ledger,
  random: Random,
  size: WorkloadSize,
): Promise<void> {
  const stopped = () => layer?.lost ?? false;
  const appender = async () => {
    for (let n = 0; n < size.batchesPerAppender && !stopped(); n++) {
      const roll = random.int(20);
      const acks: AckLevel = roll < 14 ? 'fsync' : roll < 17 ? 'written' : 'memory';
      const batch = ledger.newBatch(random.int(partitions), acks, random);
      try {
        const result = await engine.append(topic, batch.partition, batch.messages, { acks });
        batch.state = 'resolved';
        batch.baseOffset = result.baseOffset;
      } catch (error) {
        batch.state = 'rejected';
        noteError(ledger, layer, `append (${acks})`, error);
      }
      if (random.int(4) === 0) await sleep(random.int(4));
      else await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const committer = async (group: string) => {
    for (let n = 0; n < size.commitsPerCommitter && !stopped(); n++) {
      await sleep(1 + random.int(4));
      if (stopped()) break;
      const partition = random.int(partitions);
      // What a consumer that read the fsync-acked data commits. Bounded by the log end, so that a
      // loss in an earlier power failure shows up as lost data, not as a refused commit here.
      const offset = Math.min(ledger.ackedEnd(partition), engine.latestOffset(topic, partition));
      const commit: Commit = { group, partition, offset, state: 'pending' };
      ledger.commits.push(commit);
      try {
        await engine.commitOffsets([{ group, topic, partition, offset: commit.offset }]);
        commit.state = 'resolved';
      } catch (error) {
        commit.state = 'rejected';
        noteError(ledger, layer, 'commitOffsets', error);
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: size.appenders }, () => appender()),
    ...Array.from({ length: size.committers }, (_, i) => committer(`g${i}`)),
  ]);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- checking the disk after the power came back --------------------------------------------------

type Category = 'open' | 'topic' | 'fsync' | 'commits' | 'offsets' | 'append' | 'errors';

class Findings {
  readonly byCategory = new Map<Category, string[]>();
  fsyncBatchesChecked = 0;
  commitKeysChecked = 0;
  damagedSkipped = 0;
  add(category: Category, message: string): void {
    const list = this.byCategory.get(category) ?? [];
    list.push(message);
    this.byCategory.set(category, list);
  }
}

function messageIdOf(value: Buffer): string {
  const bar = value.indexOf(0x7c);
  return bar < 0 ? '' : value.toString('latin1', 0, bar);
}

function sameMessage(stored: StoredMessage, sent: MessageInput): boolean {
  const key = sent.key === undefined ? undefined : Buffer.from(sent.key);
  return (
    Buffer.from(sent.value).equals(stored.value) &&
    (key === undefined ? stored.key === undefined : stored.key !== undefined && key.equals(stored.key)) &&
    stored.streamId === sent.streamId &&
    JSON.stringify(stored.attributes) === JSON.stringify(sent.attributes ?? {})
  );
}

async function readPartition(
  engine: StorageEngine,
  partition: number,
  findings: Findings,
): Promise<{
  messages: Map<number, StoredMessage>;
  damaged: number;
  gaps: number;
  earliest: number;
  latest: number;
}> {
  const earliest = engine.earliestOffset(topic, partition);
  const latest = engine.latestOffset(topic, partition);
  const messages = new Map<number, StoredMessage>();
  let damaged = 0;
  let gaps = 0;
  let offset = earliest;
  let previous = -1;
  while (offset < latest) {
    const result = await engine.read(topic, partition, offset, {
      maxMessages: 500,
      maxBytes: 8 * 1024 * KiB,
    });
    damaged += result.damagedSkipped;
    gaps += result.gapSkipped;
    for (const message of result.messages) {
      if (message.offset <= previous || message.offset >= latest || message.partition !== partition) {
        findings.add(
          'offsets',
          `partition ${partition}: message at offset ${message.offset} (partition ${message.partition}) out of order after ${previous}, latest ${latest}`,
        );
      }
      previous = message.offset;
      messages.set(message.offset, message);
    }
    if (result.nextOffset <= offset) {
      findings.add(
        'offsets',
        `partition ${partition}: read at ${offset} does not advance (latest ${latest})`,
      );
      break;
    }
    offset = result.nextOffset;
  }
  return { messages, damaged, gaps, earliest, latest };
}

/** Opens a new engine on the real file system and checks every promise the old one made. */
async function verifyAfterPowerLoss(
  dataDir: string,
  ledger: Ledger,
  mode: 'drop' | 'random',
  findings: Findings,
): Promise<void> {
  let engine: StorageEngine;
  try {
    engine = await StorageEngine.open({ dataDir, ...engineOptions });
  } catch (error) {
    findings.add('open', `reopening failed: ${describeError(error)}`);
    return;
  }
  try {
    const acked = ledger.batches.filter((batch) => batch.acks === 'fsync' && batch.state === 'resolved');
    if (!engine.listTopics().some((each) => each.name === topic)) {
      if (ledger.topicCreated)
        findings.add(
          'topic',
          `topic ${topic} is gone after the restart although createTopic had resolved (${acked.length} fsync-acked batches with it)`,
        );
      if (acked.length > 0)
        findings.add('fsync', `${acked.length} fsync-acked batches lost: topic ${topic} is gone`);
    } else {
      await verifyPartitions(engine, ledger, mode, findings, acked);
    }
    verifyCommits(engine, ledger, findings);
    if (engine.listTopics().some((each) => each.name === topic)) {
      await verifyAppendContinues(engine, dataDir, findings);
      return; // verifyAppendContinues closed it
    }
  } catch (error) {
    findings.add('open', `checking the reopened engine threw: ${describeError(error)}`);
  }
  await engine.close().catch(() => undefined);
}

async function verifyPartitions(
  engine: StorageEngine,
  ledger: Ledger,
  mode: 'drop' | 'random',
  findings: Findings,
  acked: Batch[],
): Promise<void> {
  for (let partition = 0; partition < partitions; partition++) {
    const { messages, damaged, gaps, earliest, latest } = await readPartition(engine, partition, findings);
    findings.damagedSkipped += damaged;
    if (messages.size + damaged + gaps !== latest - earliest) {
      findings.add(
        'offsets',
        `partition ${partition}: [${earliest}, ${latest}) holds ${messages.size} messages, ${damaged} damaged and ${gaps} gap offsets: some offsets are unaccounted for`,
      );
    }
    // Every offset handed out before the power loss (an ack at any level) is below the new end:
    // recovery may leave a gap where data was lost, but never gives such an offset again.
    const handedOut = ledger.batches
      .filter((batch) => batch.partition === partition && batch.state === 'resolved')
      .reduce((end, batch) => Math.max(end, batch.baseOffset! + batch.messages.length), 0);
    if (engine.partitionState(topic, partition).nextOffset < handedOut) {
      findings.add(
        'offsets',
        `partition ${partition}: resumes at ${engine.partitionState(topic, partition).nextOffset} though offsets up to ${handedOut - 1} were acknowledged: they would be reused`,
      );
    }
    if (gaps > 0 && engine.partitionState(topic, partition).gapOffsets < gaps) {
      findings.add(
        'offsets',
        `partition ${partition}: ${gaps} gap offsets read but the ledger reports fewer`,
      );
    }
    if (mode === 'drop' && damaged > 0) {
      findings.add(
        'offsets',
        `partition ${partition}: ${damaged} damaged records after losing only whole unsynced writes`,
      );
    }
    const seen = new Set<string>();
    for (const [offset, message] of messages) {
      const id = messageIdOf(message.value);
      const sent = ledger.byMessageId.get(id);
      if (!sent) {
        findings.add('offsets', `partition ${partition} offset ${offset}: a message nobody sent (${id})`);
        continue;
      }
      if (seen.has(id)) findings.add('offsets', `partition ${partition}: message ${id} stored twice`);
      seen.add(id);
      if (sent.batch.partition !== partition)
        findings.add('offsets', `message ${id} of partition ${sent.batch.partition} found in ${partition}`);
      if (sent.batch.baseOffset !== undefined && sent.batch.baseOffset + sent.index !== offset) {
        findings.add(
          'offsets',
          `message ${id} acked at offset ${sent.batch.baseOffset + sent.index} is at ${offset} (partition ${partition})`,
        );
      }
      if (!sameMessage(message, sent.batch.messages[sent.index]!))
        findings.add('offsets', `message ${id} at ${partition}/${offset} differs from what was sent`);
    }
    for (const batch of acked) {
      if (batch.partition !== partition) continue;
      findings.fsyncBatchesChecked++;
      const base = batch.baseOffset!;
      for (let i = 0; i < batch.messages.length; i++) {
        const stored = messages.get(base + i);
        if (!stored) {
          findings.add(
            'fsync',
            `fsync-acked batch ${batch.id} lost: offset ${base + i} of partition ${partition} missing (log now [${earliest}, ${latest}))`,
          );
          break;
        }
        if (!sameMessage(stored, batch.messages[i]!)) {
          findings.add(
            'fsync',
            `fsync-acked batch ${batch.id}: offset ${partition}/${base + i} holds ${messageIdOf(stored.value)}, not the acked bytes`,
          );
          break;
        }
      }
    }
  }
}

function verifyCommits(engine: StorageEngine, ledger: Ledger, findings: Findings): void {
  const keys = new Map<string, Commit[]>();
  for (const commit of ledger.commits) {
    const key = `${commit.group}/${commit.partition}`;
    keys.set(key, [...(keys.get(key) ?? []), commit]);
  }
  for (const [key, commits] of keys) {
    const { group, partition } = commits[0]!;
    const lastResolved = commits.map((commit) => commit.state).lastIndexOf('resolved');
    const allowed = new Set(commits.slice(Math.max(0, lastResolved)).map((commit) => commit.offset));
    let actual: number | undefined;
    try {
      actual = engine.committedOffset(group, topic, partition);
    } catch (error) {
      findings.add('commits', `${key}: committedOffset threw ${describeError(error)}`);
      continue;
    }
    findings.commitKeysChecked++;
    if (lastResolved < 0 ? actual !== undefined && !allowed.has(actual) : !allowed.has(actual!)) {
      findings.add(
        'commits',
        `group offset ${key} is ${actual} after the restart; the last resolved commit was ${lastResolved < 0 ? 'none' : commits[lastResolved]!.offset} (allowed: ${[...allowed].join(', ')})`,
      );
    }
  }
}

/** Appending continues at the recovered end, and survives a clean restart; then the engine is closed. */
async function verifyAppendContinues(
  engine: StorageEngine,
  dataDir: string,
  findings: Findings,
): Promise<void> {
  const ends: number[] = [];
  try {
    for (let partition = 0; partition < partitions; partition++) {
      const end = engine.latestOffset(topic, partition);
      const result = await engine.append(topic, partition, [{ value: `after-${partition}` }], {
        acks: 'fsync',
      });
      if (result.baseOffset !== end)
        findings.add(
          'append',
          `partition ${partition}: append after restart got ${result.baseOffset}, end was ${end}`,
        );
      ends.push(end);
    }
    await engine.commitOffsets([{ group: 'after', topic, partition: 0, offset: ends[0]! + 1 }]);
  } catch (error) {
    findings.add('append', `appending after the restart failed: ${describeError(error)}`);
  }
  await engine.close();
  if (ends.length < partitions) return;
  const again = await StorageEngine.open({ dataDir, ...engineOptions });
  try {
    for (let partition = 0; partition < partitions; partition++) {
      const latest = again.latestOffset(topic, partition);
      const read = await again.read(topic, partition, ends[partition]!, { maxMessages: 1 });
      if (latest !== ends[partition]! + 1 || read.messages[0]?.value.toString() !== `after-${partition}`) {
        findings.add(
          'append',
          `partition ${partition}: after a clean restart latest is ${latest} (want ${ends[partition]! + 1}) and offset ${ends[partition]} holds ${read.messages[0]?.value.toString('latin1', 0, 16)}`,
        );
      }
    }
    if (again.committedOffset('after', topic, 0) !== ends[0]! + 1)
      findings.add('append', `a commit made after the restart is not there after a clean restart`);
  } finally {
    await again.close();
  }
}

// ---- one crash point ------------------------------------------------------------------------------

interface CrashPoint {
  /** The power fails just before this mutating operation; undefined: after the workload. */
  crashAt: number | undefined;
  loss: PowerLossOptions;
  seed: number;
  /** When set, recovery itself runs on a second layer that loses power at this operation. */
  secondCrashAt?: number;
}

interface PointResult {
  label: string;
  operations: number;
  findings: Findings;
  fsyncAcked: number;
  commitsResolved: number;
  /** Entries the power loss removed because no directory sync had made them durable. */
  removed: string[];
}

const workloadSize: WorkloadSize = {
  appenders: 4,
  batchesPerAppender: 10,
  committers: 2,
  commitsPerCommitter: 6,
};

/** Topic made and closed cleanly on the real file system: its directories are durable. */
async function prepareExistingTopic(dataDir: string, ledger: Ledger, random: Random): Promise<void> {
  const engine = await StorageEngine.open({ dataDir, ...engineOptions });
  await engine.createTopic(topic, { partitions, stores: 2 });
  ledger.topicCreated = true;
  await runWorkload(engine, undefined, ledger, random, {
    appenders: 2,
    batchesPerAppender: 3,
    committers: 1,
    commitsPerCommitter: 1,
  });
  await engine.close();
}

/**
 * One session on a power-loss layer: open, (create the topic,) run the workload, restart cleanly
 * halfway, go on; the power fails at the crash point (or after the end). Resolves once the disk
 * holds only durable state.
 */
async function crashSession(
  dataDir: string,
  layer: PowerLossIO,
  ledger: Ledger,
  random: Random,
  createTopic: boolean,
  size: WorkloadSize,
  restartHalfway: boolean,
  loss: PowerLossOptions,
): Promise<void> {
  const session = (async () => {
    let engine = await StorageEngine.open({ dataDir, ...engineOptions, fileIO: layer });
    if (createTopic) {
      await engine.createTopic(topic, { partitions, stores: 2 });
      ledger.topicCreated = true;
    } else if (!engine.listTopics().some((each) => each.name === topic)) {
      return; // lost by an earlier power loss; the check after the last one reports it
    }
    await runWorkload(engine, layer, ledger, random, size);
    if (restartHalfway && !layer.lost) {
      await engine.close();
      engine = await StorageEngine.open({ dataDir, ...engineOptions, fileIO: layer });
      await runWorkload(engine, layer, ledger, random, size);
    }
  })();
  try {
    await withTimeout(session, 20_000, 'the workload');
  } catch (error) {
    noteError(ledger, layer, 'session', error);
  }
  // Past the last operation: the power fails now, with the engine still open. The engine object
  // is then simply dropped, as a dead machine drops it (no close, no abandon).
  if (!layer.lost) void layer.powerLoss(loss);
  await withTimeout(layer.whenPowerLost(), 20_000, 'the power loss');
}

async function runCrashPoint(point: CrashPoint, freshDataDir: boolean): Promise<PointResult> {
  const dataDir = freshDir();
  const ledger = new Ledger();
  const random = new Random(point.seed);
  if (!freshDataDir) await prepareExistingTopic(dataDir, ledger, random);
  const layer = new PowerLossIO();
  if (point.crashAt !== undefined) layer.crashAfterOperations(point.crashAt, point.loss);
  await crashSession(dataDir, layer, ledger, random, freshDataDir, workloadSize, true, point.loss);
  const report = await layer.whenPowerLost();
  const removed = report.removed.map((each) => each.slice(dataDir.length));
  let label = `${freshDataDir ? 'fresh' : 'existing'} seed ${point.seed}, ${point.loss.mode ?? 'drop'}: power lost before op ${report.operations + 1} (${report.trigger.replace(dataDir, '')})`;
  if (point.secondCrashAt !== undefined) {
    // The power fails again while the engine recovers and takes a few more appends.
    const second = new PowerLossIO();
    second.crashAfterOperations(point.secondCrashAt, point.loss);
    await crashSession(
      dataDir,
      second,
      ledger,
      random,
      false,
      { appenders: 2, batchesPerAppender: 3, committers: 1, commitsPerCommitter: 2 },
      false,
      point.loss,
    );
    const secondReport = await second.whenPowerLost();
    removed.push(...secondReport.removed.map((each) => each.slice(dataDir.length)));
    label += `; again before op ${secondReport.operations + 1} of recovery (${secondReport.trigger.replace(dataDir, '')})`;
  }
  const findings = new Findings();
  for (const message of ledger.unexpected) findings.add('errors', message);
  await verifyAfterPowerLoss(dataDir, ledger, point.loss.mode ?? 'drop', findings);
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    label,
    operations: report.operations,
    findings,
    fsyncAcked: ledger.batches.filter((batch) => batch.acks === 'fsync' && batch.state === 'resolved').length,
    commitsResolved: ledger.commits.filter((commit) => commit.state === 'resolved').length,
    // Shallowest first: a lost directory explains everything below it.
    removed: [...new Set(removed)].sort(
      (a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b),
    ),
  };
}

/** Calibrates the run length, then loses power at evenly spread operations over it. */
async function runMatrix(freshDataDir: boolean, points: number, firstSeed: number): Promise<PointResult[]> {
  const results: PointResult[] = [];
  const calibration = await runCrashPoint({ crashAt: undefined, loss: {}, seed: firstSeed }, freshDataDir);
  results.push(calibration);
  const total = calibration.operations;
  for (let i = 0; i < points; i++) {
    const crashAt = 1 + Math.round((i * (total - 1)) / (points - 1));
    const mode = i % 2 === 0 ? 'drop' : 'random';
    const seed = firstSeed + 1 + i;
    results.push(
      await runCrashPoint(
        {
          crashAt,
          loss: { mode, seed },
          seed,
          secondCrashAt: i % 4 === 3 ? 3 + ((i * 7) % 40) : undefined,
        },
        freshDataDir,
      ),
    );
  }
  return results;
}

function assertCategory(results: PointResult[], category: Category): void {
  const failed = results.filter((result) => (result.findings.byCategory.get(category) ?? []).length > 0);
  if (failed.length === 0) return;
  const examples = failed
    .slice(0, 6)
    .map((result) => {
      const messages = result.findings.byCategory.get(category)!;
      const removed =
        result.removed.length === 0
          ? ''
          : `\n      (the power loss removed entries no directory sync had made durable: ${result.removed.slice(0, 5).join(', ')}${result.removed.length > 5 ? ', ...' : ''})`;
      return `  - [${result.label}]\n      ${messages.slice(0, 3).join('\n      ')}${messages.length > 3 ? `\n      (+${messages.length - 3} more)` : ''}${removed}`;
    })
    .join('\n');
  assert.fail(`${failed.length} of ${results.length} crash points broke this promise, e.g.:\n${examples}`);
}

function summarize(results: PointResult[], startedMs: number): string {
  const distinct = new Set(results.map((result) => result.operations)).size;
  const fsyncAcked = results.reduce((sum, result) => sum + result.fsyncAcked, 0);
  const checked = results.reduce((sum, result) => sum + result.findings.fsyncBatchesChecked, 0);
  const commits = results.reduce((sum, result) => sum + result.commitsResolved, 0);
  const damaged = results.reduce((sum, result) => sum + result.findings.damagedSkipped, 0);
  return (
    `${results.length} power losses (${distinct} distinct crash operations, ops per run up to ` +
    `${Math.max(...results.map((result) => result.operations))}); ${fsyncAcked} fsync-acked batches ` +
    `(${checked} checked on a surviving topic), ${commits} resolved commits; ${damaged} damaged records ` +
    `skipped after random-mode losses; ${((Date.now() - startedMs) / 1000).toFixed(1)} s`
  );
}

function matrixSuite(name: string, freshDataDir: boolean, points: number, firstSeed: number): void {
  describe(name, () => {
    let results: PointResult[] = [];
    let startedMs = 0;
    before(async () => {
      startedMs = Date.now();
      results = await runMatrix(freshDataDir, points, firstSeed);
    });
    test('exercises enough crash points', (t) => {
      t.diagnostic(summarize(results, startedMs));
      assert.ok(results.length >= points, `only ${results.length} crash points ran`);
      assert.ok(new Set(results.map((result) => result.operations)).size >= Math.min(points, 60) * 0.9);
      assert.ok(
        results.reduce((sum, result) => sum + result.fsyncAcked, 0) > points,
        'too few fsync-acked batches for the test to mean anything',
      );
    });
    test('the engine makes no error of its own while the power is on', () =>
      assertCategory(results, 'errors'));
    test('the engine opens after every power loss', () => assertCategory(results, 'open'));
    test('a created topic survives', () => assertCategory(results, 'topic'));
    test('every fsync-acked batch is present byte-for-byte at its acked offsets', () =>
      assertCategory(results, 'fsync'));
    test('every resolved group offset commit survives', () => assertCategory(results, 'commits'));
    test('every offset is a message, a damaged record or a reported gap; none is reused, duplicated or foreign', () =>
      assertCategory(results, 'offsets'));
    test('appending continues at the recovered end', () => assertCategory(results, 'append'));
  });
}

// ---- the layer itself: it must really lose what was not synced -------------------------------------

describe('PowerLossIO model', () => {
  test('keeps only synced bytes of files whose directory entry is durable', async () => {
    const dir = freshDir();
    const layer = new PowerLossIO();
    const both = await layer.open(path.join(dir, 'c'), { create: true });
    const entryOnly = await layer.open(path.join(dir, 'd'), { create: true });
    await layer.syncDirectory(dir);
    await both.writev([Buffer.from('synced')], 0);
    await both.datasync();
    await both.writev([Buffer.from('++tail not synced')], 6);
    await entryOnly.writev([Buffer.from('unsynced')], 0);
    // Created after the last directory sync: their entries are not durable.
    const neverSynced = await layer.open(path.join(dir, 'a'), { create: true });
    await neverSynced.writev([Buffer.from('lost')], 0);
    const dataSyncedOnly = await layer.open(path.join(dir, 'b'), { create: true });
    await dataSyncedOnly.writev([Buffer.from('no entry')], 0);
    await dataSyncedOnly.datasync();
    assert.equal(fs.readFileSync(path.join(dir, 'c'), 'utf8'), 'synced++tail not synced'); // page cache
    const report = await layer.powerLoss();
    assert.deepEqual(fs.readdirSync(dir).sort(), ['c', 'd']);
    assert.equal(fs.readFileSync(path.join(dir, 'c'), 'utf8'), 'synced');
    assert.equal(fs.readFileSync(path.join(dir, 'd'), 'utf8'), '');
    assert.equal(report.droppedOperations, 2); // c's tail and d's write; a and b are gone whole
    await assert.rejects(both.writev([Buffer.from('x')], 0), { name: 'PowerLost' });
    await assert.rejects(layer.readdir(dir), { name: 'PowerLost' });
  });

  test('a durable write keeps its own bytes, not the earlier unsynced ones (a range sync)', async () => {
    const dir = freshDir();
    const layer = new PowerLossIO();
    const handle = await layer.open(path.join(dir, 'f'), { create: true });
    await layer.syncDirectory(dir);
    await handle.writev([Buffer.from('AAAA')], 0);
    await handle.writevDurable([Buffer.from('BB'), Buffer.from('BB')], 4);
    await layer.powerLoss();
    assert.deepEqual(fs.readFileSync(path.join(dir, 'f')), Buffer.from('\0\0\0\0BBBB'));
  });

  test('restores overwritten bytes, undoes truncates, unlinks, renames and mkdirs', async () => {
    const dir = freshDir();
    fs.writeFileSync(path.join(dir, 'old'), 'old durable content');
    fs.writeFileSync(path.join(dir, 'gone'), 'unlinked without a directory sync');
    fs.writeFileSync(path.join(dir, 'moved'), 'renamed without a directory sync');
    const layer = new PowerLossIO();
    const handle = await layer.open(path.join(dir, 'old'));
    await handle.writev([Buffer.from('NEW')], 0);
    await handle.truncate(5);
    await layer.unlink(path.join(dir, 'gone'));
    await layer.rename(path.join(dir, 'moved'), path.join(dir, 'target'));
    await layer.mkdir(path.join(dir, 'sub', 'deeper'));
    await layer.syncDirectory(path.join(dir, 'sub')); // its own entry in dir is still not durable
    assert.equal(fs.readFileSync(path.join(dir, 'old'), 'utf8'), 'NEW d');
    await layer.powerLoss();
    assert.deepEqual(fs.readdirSync(dir).sort(), ['gone', 'moved', 'old']);
    assert.equal(fs.readFileSync(path.join(dir, 'old'), 'utf8'), 'old durable content');
    assert.equal(fs.readFileSync(path.join(dir, 'gone'), 'utf8'), 'unlinked without a directory sync');
    assert.equal(fs.readFileSync(path.join(dir, 'moved'), 'utf8'), 'renamed without a directory sync');
  });

  test('a synced directory change and a synced write survive', async () => {
    const dir = freshDir();
    const layer = new PowerLossIO();
    await layer.mkdir(path.join(dir, 'sub'));
    await layer.syncDirectory(dir);
    const handle = await layer.open(path.join(dir, 'sub', 'f'), { create: true });
    await handle.writev([Buffer.from('kept')], 0);
    await handle.datasync();
    await layer.syncDirectory(path.join(dir, 'sub'));
    await layer.unlink(path.join(dir, 'sub', 'f')); // not synced: the file comes back
    await layer.powerLoss();
    assert.equal(fs.readFileSync(path.join(dir, 'sub', 'f'), 'utf8'), 'kept');
  });

  test('crashAfterOperations(n) refuses the n-th mutating operation; in-flight completions do not count', async () => {
    const dir = freshDir();
    const layer = new PowerLossIO();
    layer.crashAfterOperations(4);
    const handle = await layer.open(path.join(dir, 'f'), { create: true }); // 1
    await layer.syncDirectory(dir); // 2
    await handle.writev([Buffer.from('first')], 0); // 3
    await assert.rejects(handle.datasync(), { name: 'PowerLost' }); // 4: never runs
    const report = await layer.whenPowerLost();
    assert.equal(report.operations, 3);
    assert.match(report.trigger, /^datasync /);
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), '');

    const second = new PowerLossIO();
    const again = await second.open(path.join(dir, 'f'));
    const write = again.writev([Buffer.from('in flight')], 0);
    const sync = again.datasync(); // queued behind the write in the kernel; still not durable
    const loss = second.powerLoss();
    // Both rejections must be observed at once: awaiting one first would leave the other unhandled.
    await Promise.all([
      assert.rejects(write, { name: 'PowerLost' }),
      assert.rejects(sync, { name: 'PowerLost' }),
      loss,
    ]);
    assert.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), '');
  });

  test('random mode keeps a seeded part of unsynced writes, torn at sector boundaries', async () => {
    const sizes = new Set<number>();
    for (let seed = 1; seed <= 12; seed++) {
      const dir = freshDir();
      fs.writeFileSync(path.join(dir, 'f'), '');
      const layer = new PowerLossIO();
      const handle = await layer.open(path.join(dir, 'f'));
      await handle.writev([Buffer.alloc(512, 'a')], 0);
      await handle.datasync();
      for (let i = 1; i < 6; i++) await handle.writev([Buffer.alloc(1024, 'b')], i * 1024);
      await layer.powerLoss({ mode: 'random', seed });
      const content = fs.readFileSync(path.join(dir, 'f'));
      assert.ok(content.subarray(0, 512).equals(Buffer.alloc(512, 'a')), 'synced bytes kept');
      for (let at = 512; at < content.length; at++)
        assert.ok(content[at] === 0 || content[at] === 0x62, 'only written bytes or holes');
      sizes.add(content.length);
    }
    assert.ok(sizes.size > 2, `seeds should leave different states, got sizes ${[...sizes].join(', ')}`);
  });
});

describe('sanity: the power-loss layer can make the engine lose data', () => {
  test('a written-acked append with no sync is not on disk after the power loss; an fsync-acked one is', async () => {
    const dataDir = freshDir();
    const setup = await StorageEngine.open({ dataDir, ...engineOptions, checkpointIntervalMs: 60_000 });
    await setup.createTopic(topic, { partitions: 1 });
    await setup.append(topic, 0, [{ value: 'durable-0' }], { acks: 'fsync' });
    await setup.close();

    const options = { dataDir, ...engineOptions, checkpointIntervalMs: 60_000 };
    const layer = new PowerLossIO();
    const engine = await StorageEngine.open({ ...options, fileIO: layer });
    const written = await engine.append(topic, 0, [{ value: 'volatile-written-1' }], { acks: 'written' });
    assert.equal(written.baseOffset, 1);
    assert.ok(treeContains(dataDir, 'volatile-written-1'), 'the write reached the OS (page cache)');
    const report = await layer.powerLoss();
    assert.ok(report.droppedOperations > 0);
    assert.ok(!treeContains(dataDir, 'volatile-written-1'), 'an unsynced write survived the power loss');
    const reopened = await StorageEngine.open(options);
    // Offset 1 was handed out and lost with the power: it is a reported gap, never reused.
    const state = reopened.partitionState(topic, 0);
    assert.ok(state.nextOffset > 1, `offset 1 must not be given again (next is ${state.nextOffset})`);
    assert.deepEqual(state.gaps, [{ from: 1, to: state.nextOffset, cause: 'recovery' }]);
    assert.equal(state.gapOffsets, state.nextOffset - 1);
    const afterLoss = await reopened.read(topic, 0, 0);
    assert.deepEqual(
      afterLoss.messages.map((message) => message.value.toString()),
      ['durable-0'],
    );
    assert.equal(afterLoss.gapSkipped, state.nextOffset - 1);
    assert.equal(afterLoss.nextOffset, state.nextOffset);
    const next = await reopened.append(topic, 0, [{ value: 'after-the-gap' }], { acks: 'written' });
    assert.equal(next.baseOffset, state.nextOffset);
    await reopened.close();

    const layer2 = new PowerLossIO();
    const engine2 = await StorageEngine.open({ ...options, fileIO: layer2 });
    const synced = await engine2.append(topic, 0, [{ value: 'synced-1' }], { acks: 'fsync' });
    await layer2.powerLoss();
    const last = await StorageEngine.open(options);
    const read = await last.read(topic, 0, synced.baseOffset);
    assert.equal(read.messages[0]?.value.toString(), 'synced-1');
    await last.close();
  });
});

describe('fsync acks by durable writes', () => {
  test('an fsync ack after an unsynced written append makes both durable', async () => {
    const options = { dataDir: freshDir(), ...engineOptions, checkpointIntervalMs: 60_000 };
    const setup = await StorageEngine.open(options);
    await setup.createTopic(topic, { partitions: 1 });
    await setup.close();

    const layer = new PowerLossIO();
    const engine = await StorageEngine.open({ ...options, fileIO: layer });
    await engine.append(topic, 0, [{ value: 'written-0' }], { acks: 'written' });
    // A durable write of this batch alone would leave a hole where the first one was.
    await engine.append(topic, 0, [{ value: 'fsync-1' }], { acks: 'fsync' });
    await layer.powerLoss();
    const reopened = await StorageEngine.open(options);
    const read = await reopened.read(topic, 0, 0);
    assert.deepEqual(
      read.messages.map((message) => message.value.toString()),
      ['written-0', 'fsync-1'],
    );
    await reopened.close();
  });

  test('fsync acks on a synced log cost one durable write each and no fdatasync of the data', async () => {
    const calls = { durableWrites: 0, dataSyncs: 0 };
    const countingIO = withDataFileHandles((handle) => ({
      writevDurable: (buffers, position) => {
        calls.durableWrites++;
        return handle.writevDurable(buffers, position);
      },
      datasync: () => {
        calls.dataSyncs++;
        return handle.datasync();
      },
    }));
    const options = { dataDir: freshDir(), ...engineOptions, checkpointIntervalMs: 60_000 };
    const engine = await StorageEngine.open({ ...options, fileIO: countingIO });
    await engine.createTopic(topic, { partitions: 1 });
    for (let i = 0; i < 5; i++) await engine.append(topic, 0, [{ value: `m${i}` }], { acks: 'fsync' });
    assert.deepEqual(calls, { durableWrites: 5, dataSyncs: 0 });
    await engine.close();
  });
});

function treeContains(dir: string, needle: string): boolean {
  for (const entry of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(dir, entry);
    if (fs.statSync(file).isFile() && fs.readFileSync(file).includes(needle)) return true;
  }
  return false;
}

describe('writeFileAtomic under power loss', () => {
  const newContent = Buffer.from('new content, shorter');
  const scenarios: { name: string; old?: Buffer; staleTemp?: Buffer }[] = [
    { name: 'replacing a longer file', old: Buffer.alloc(3000, 'o') },
    { name: 'replacing a shorter file', old: Buffer.from('old') },
    { name: 'creating the file', old: undefined },
    {
      name: 'with a stale temp file left by an earlier crash',
      old: Buffer.from('old'),
      staleTemp: Buffer.alloc(5000, 'x'),
    },
  ];
  for (const scenario of scenarios) {
    test(`leaves the old or the new content at every crash point, ${scenario.name}`, async () => {
      const setUp = () => {
        const dir = freshDir();
        const file = path.join(dir, 'state.json');
        if (scenario.old) fs.writeFileSync(file, scenario.old);
        if (scenario.staleTemp) fs.writeFileSync(`${file}.tmp`, scenario.staleTemp);
        return file;
      };
      const probe = new PowerLossIO();
      await writeFileAtomic(probe, setUp(), newContent);
      const total = probe.operations;
      assert.ok(total >= 5, `writeFileAtomic did only ${total} operations`);
      let points = 0;
      for (let crashAt = 1; crashAt <= total + 1; crashAt++) {
        for (const loss of [
          { mode: 'drop' } as const,
          ...[1, 2, 3, 4].map((seed) => ({ mode: 'random' as const, seed })),
        ]) {
          const file = setUp();
          const layer = new PowerLossIO();
          if (crashAt <= total) layer.crashAfterOperations(crashAt, loss);
          let completed = false;
          try {
            await writeFileAtomic(layer, file, newContent);
            completed = true;
          } catch (error) {
            assert.ok(isPowerLost(error), `unexpected ${describeError(error)}`);
          }
          if (!layer.lost) void layer.powerLoss(loss);
          await layer.whenPowerLost();
          const content = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
          const where = `crash before op ${crashAt}/${total}, ${loss.mode}${'seed' in loss ? ` seed ${loss.seed}` : ''}`;
          if (completed) assert.deepEqual(content, newContent, `${where}: a completed write was lost`);
          else if (content === undefined)
            assert.equal(scenario.old, undefined, `${where}: the file vanished`);
          else
            assert.ok(
              content.equals(newContent) || (scenario.old !== undefined && content.equals(scenario.old)),
              `${where}: mixed content ${content.toString('latin1', 0, 40)}`,
            );
          points++;
        }
      }
      assert.ok(points >= 30);
    });
  }
});

// ---- the engine under power loss ------------------------------------------------------------------

matrixSuite(
  'power loss on a fresh data dir (the engine creates every directory through the layer)',
  true,
  80,
  100,
);
matrixSuite(
  'power loss on an existing topic (made and closed cleanly before the power can fail)',
  false,
  80,
  500,
);
