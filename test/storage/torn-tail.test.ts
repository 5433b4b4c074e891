// Torn tails (reliability-anchors.md §5.4 b, Kafka testCorruptLog, Jepsen truncate-file): a store's
// last data segment is cut at every byte inside its last 3 records, and recovery must keep exactly
// the longest valid prefix, resume appending right after it, and then reopen cleanly.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { StorageEngine, type StorageLogger, type StorageOptions } from '../../src/storage/index.js';
import { bindHandle } from '../helpers/bound-handle.js';
import { nodeFileIO, type FileIO } from '../../src/common/file-io.js';
import {
  capturingLogger,
  dataFiles,
  readPartition,
  recordsOnDisk,
  removeTempDirs,
  storeDir,
  tempDir,
} from '../helpers/storage-files.js';

const topic = 'torn';
const recordsTotal = 48;

/**
 * The real file system without fsync: these tests cut files themselves and never lose power, so
 * syncs only cost time (hundreds of reopens). Every read, write and truncate is real.
 */
const noSyncIO: FileIO = {
  ...nodeFileIO,
  async open(filePath, options) {
    const handle = await nodeFileIO.open(filePath, options);
    return {
      ...bindHandle(handle),
      writevDurable: (buffers, position) => handle.writev(buffers, position),
      datasync: () => Promise.resolve(),
    };
  },
  syncDirectory: () => Promise.resolve(),
};

function engineOptions(dataDir: string, logger: StorageLogger): StorageOptions {
  return {
    dataDir,
    fileIO: noSyncIO,
    segmentBytes: 1024,
    indexSegmentEntries: 16,
    // No timed or size-triggered checkpoints: only open and close write them, so each variant
    // controls exactly where the last checkpoint stands.
    checkpointIntervalMs: 3_600_000,
    checkpointBytes: 1024 * 1024 * 1024,
    retentionCheckIntervalMs: 0,
    logger,
  };
}

after(removeTempDirs);

/** Message n of the whole run (partition n mod P): small, varied, derived from n alone. */
function messageOf(n: number): { value: Buffer; key?: string; streamId?: string } {
  const length = (n * 13) % 29;
  const value = Buffer.alloc(length);
  for (let i = 0; i < length; i++) value[i] = (n * 31 + i * 7) & 0xff;
  return {
    value,
    ...(n % 3 === 0 ? { key: `k${n}` } : {}),
    ...(n % 5 === 0 ? { streamId: `s${n % 2}` } : {}),
  };
}

async function appendRun(engine: StorageEngine, partitions: number, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) {
    const { baseOffset } = await engine.append(topic, n % partitions, [messageOf(n)]);
    assert.equal(baseOffset, Math.floor(n / partitions));
  }
}

type Variant = 'checkpoint behind (abandon)' | 'no checkpoint (close, then delete checkpoint.*)';
const variants: Variant[] = [
  'checkpoint behind (abandon)',
  'no checkpoint (close, then delete checkpoint.*)',
];

/**
 * Writes the pristine store. "checkpoint behind": a first session writes 60% and closes (a clean
 * checkpoint there), a second writes the rest and is abandoned, so recovery rescans from the
 * middle. "no checkpoint": everything is written and closed, then both checkpoint slots go, so
 * recovery rebuilds every index from the data alone.
 */
async function writePristine(partitions: number, variant: Variant | 'checkpoint ahead'): Promise<string> {
  const dataDir = tempDir();
  const { logger } = capturingLogger();
  let engine = await StorageEngine.open(engineOptions(dataDir, logger));
  await engine.createTopic(topic, { partitions });
  if (variant === 'checkpoint behind (abandon)') {
    const middle = Math.floor(recordsTotal * 0.6);
    await appendRun(engine, partitions, 0, middle);
    await engine.close();
    engine = await StorageEngine.open(engineOptions(dataDir, logger));
    await appendRun(engine, partitions, middle, recordsTotal);
    await engine.flush();
    await engine.abandon();
  } else {
    await appendRun(engine, partitions, 0, recordsTotal);
    await engine.close();
    if (variant !== 'checkpoint ahead') {
      for (const name of ['checkpoint.0', 'checkpoint.1'])
        fs.rmSync(path.join(storeDir(dataDir, topic), name), { force: true });
    }
  }
  return dataDir;
}

/** A directory tree in memory: directories (no bytes) and files, parents first. */
type Tree = { relative: string; bytes?: Buffer }[];

function readTree(dir: string): Tree {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((relative) => {
      const full = path.join(dir, relative);
      return fs.statSync(full).isDirectory() ? { relative } : { relative, bytes: fs.readFileSync(full) };
    });
}

/** Recreates a tree: cheaper than fs.cp, which stats every entry on both sides. */
async function writeTree(tree: Tree, dir: string): Promise<void> {
  await fs.promises.mkdir(dir);
  for (const { relative, bytes } of tree) {
    const full = path.join(dir, relative);
    if (bytes) await fs.promises.writeFile(full, bytes);
    else await fs.promises.mkdir(full);
  }
}

/** Cut positions checked at once: each has its own directory and engine, and they mostly wait on I/O. */
const cutsAtOnce = 3;

/**
 * Cuts the pristine store's last segment at every byte inside its last `recordsCut` records (a
 * fresh copy per cut) and checks recovery, appending after it, and a clean reopen.
 */
async function checkEveryCut(pristine: string, partitions: number, recordsCut = 3): Promise<number> {
  const records = recordsOnDisk(pristine, topic);
  assert.equal(records.length, recordsTotal, 'setup: every written record is on disk');
  for (const record of records) {
    assert.ok(record.value.equals(messageOf(record.offset * partitions + record.partition).value));
  }
  const files = dataFiles(pristine, topic);
  assert.ok(files.length >= 3, `setup: the store should span several segments, got ${files.length}`);
  const lastFile = files.at(-1)!;
  const inLast = records.filter((record) => record.file === lastFile);
  assert.ok(
    inLast.length >= recordsCut,
    `setup: the last segment holds ${inLast.length} records, want ${recordsCut} or more`,
  );
  const firstCut = inLast.at(-recordsCut)!.at;
  const fileEnd = inLast.at(-1)!.at + inLast.at(-1)!.length;
  const workDir = tempDir();
  const tree = readTree(pristine);

  const checkCut = async (cut: number): Promise<void> => {
    const where = `cut at byte ${cut} of ${lastFile} (records there end at ${inLast
      .slice(-3)
      .map((record) => record.at + record.length)
      .join(', ')})`;
    const dataDir = path.join(workDir, `cut-${cut}`);
    await writeTree(tree, dataDir);
    const lastPath = path.join(storeDir(dataDir, topic), lastFile);
    await fs.promises.truncate(lastPath, cut);

    // Every record that lies wholly before the cut survives; the one the cut splits and all later go.
    const kept = records.filter((record) => record.file !== lastFile || record.at + record.length <= cut);
    const partial = inLast.find((record) => record.at < cut && cut < record.at + record.length);
    const expected = Array.from({ length: partitions }, (_, partition) =>
      kept.filter((record) => record.partition === partition),
    );

    const { logger, entries } = capturingLogger();
    const engine = await StorageEngine.open(engineOptions(dataDir, logger));
    const report = engine.openReports.find((each) => each.topic === topic);
    assert.ok(report, where);
    assert.equal(report.clean, false, `${where}: a cut store must not open as clean`);
    assert.equal(
      report.truncatedBytes,
      partial ? cut - partial.at : 0,
      `${where}: truncatedBytes should be the partial record's bytes`,
    );
    assert.equal(report.damagedRecords, 0, `${where}: a torn tail is not damage in the middle`);
    assert.equal(
      fs.statSync(lastPath).size,
      partial ? partial.at : cut,
      `${where}: the partial record should be cut off the file`,
    );
    if (partial) {
      assert.ok(
        entries.some((entry) => entry.level === 'warn' && entry.fields.position === partial.at),
        `${where}: the truncation should be reported with its position`,
      );
    }

    // Offsets cut off were handed out: a partition resumes at or after its kept prefix, and the
    // offsets between are a reported gap, never given to another message.
    const resumes: number[] = [];
    for (let partition = 0; partition < partitions; partition++) {
      const want = expected[partition]!;
      const state = engine.partitionState(topic, partition);
      resumes.push(state.nextOffset);
      assert.ok(
        state.nextOffset >= want.length,
        `${where}: partition ${partition} resumes below its kept prefix`,
      );
      if (state.nextOffset > want.length) {
        assert.deepEqual(
          state.gaps.at(-1),
          { from: want.length, to: state.nextOffset, cause: 'recovery' },
          `${where}: the offsets cut off are a reported gap`,
        );
      }
      assert.equal(
        engine.latestOffset(topic, partition),
        state.nextOffset,
        `${where}: latestOffset of partition ${partition}`,
      );
      const { messages, damagedSkipped } = await readPartition(engine, topic, partition, 1000);
      assert.equal(damagedSkipped, 0, `${where}: partition ${partition} skipped damaged records`);
      assert.deepEqual(
        messages.map((message) => message.offset),
        want.map((record) => record.offset),
        `${where}: partition ${partition} should hold exactly the records before the cut`,
      );
      for (const [i, message] of messages.entries()) {
        assert.ok(message.value.equals(want[i]!.value), `${where}: partition ${partition} offset ${i}`);
      }
    }

    // Appending resumes where the partition resumed, and the new records read back.
    const added = Array.from({ length: partitions }, (_, partition) =>
      Buffer.from(`after ${cut} on ${partition}`),
    );
    for (let partition = 0; partition < partitions; partition++) {
      const { baseOffset } = await engine.append(topic, partition, [{ value: added[partition]! }]);
      assert.equal(baseOffset, resumes[partition], `${where}: append after recovery, p${partition}`);
      const back = await engine.read(topic, partition, baseOffset);
      assert.equal(back.messages.length, 1, `${where}: the new record of partition ${partition} reads back`);
      assert.ok(back.messages[0]!.value.equals(added[partition]!));
    }
    await engine.close();

    // A clean reopen serves the same prefix plus the new record.
    const reopened = await StorageEngine.open(engineOptions(dataDir, capturingLogger().logger));
    assert.ok(
      reopened.openReports.every((each) => each.clean),
      `${where}: the reopen after a clean close should be clean: ${JSON.stringify(reopened.openReports)}`,
    );
    for (let partition = 0; partition < partitions; partition++) {
      const { messages, damagedSkipped } = await readPartition(reopened, topic, partition, 1000);
      assert.equal(damagedSkipped, 0);
      const want = [...expected[partition]!.map((record) => record.value), added[partition]!];
      const wantOffsets = [...expected[partition]!.map((record) => record.offset), resumes[partition]!];
      assert.equal(messages.length, want.length, `${where}: partition ${partition} after the reopen`);
      for (const [i, message] of messages.entries()) {
        assert.equal(message.offset, wantOffsets[i]);
        assert.ok(
          message.value.equals(want[i]!),
          `${where}: partition ${partition} offset ${i} after reopen`,
        );
      }
    }
    await reopened.close();
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  };

  // A small pool; after the first failure no new cut starts, and the lowest failing cut is reported.
  const cuts = Array.from({ length: fileEnd - firstCut }, (_, i) => firstCut + i);
  const failures: { cut: number; error: unknown }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failures.length === 0 && next < cuts.length) {
      const cut = cuts[next++]!;
      try {
        await checkCut(cut);
      } catch (error) {
        failures.push({ cut, error });
      }
    }
  };
  await Promise.all(Array.from({ length: cutsAtOnce }, worker));
  if (failures.length > 0) throw failures.sort((x, y) => x.cut - y.cut)[0]!.error;
  return cuts.length;
}

for (const partitions of [1, 3]) {
  for (const variant of variants) {
    // Goal: recovery keeps exactly the longest valid prefix of a torn tail; method: cut the last segment at every byte of its last 3 records, reopen, compare, append, reopen cleanly.
    test(`torn tail, ${partitions} partition(s) in one store, ${variant}: longest valid prefix kept`, async (t) => {
      const pristine = await writePristine(partitions, variant);
      const cuts = await checkEveryCut(pristine, partitions);
      t.diagnostic(`${cuts} cut positions checked`);
    });
  }
}

// Goal: a clean checkpoint claiming more data than the (later cut) segment holds is not trusted past the data; method: cut every byte of the last record, check as above.
test('torn tail behind a clean checkpoint that claims more data: the checkpoint is not trusted past the data', async (t) => {
  const pristine = await writePristine(1, 'checkpoint ahead');
  const cuts = await checkEveryCut(pristine, 1, 1);
  t.diagnostic(`${cuts} cut positions checked`);
});
