// Bit rot (reliability-anchors.md §5.4 c, Jepsen bitflip-file-chunks): one flipped bit in a data
// segment or an index file must cost at most the record it hits. A record that does not match what
// was written is never served, the damaged one is skipped, counted and reported, and everything
// before and after it is still served, after a clean shutdown as well as after a crash (when the
// recovery scan runs over the damaged bytes).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  StorageEngine,
  type StorageLogger,
  type StorageOptions,
  type StoredMessage,
} from '../../src/storage/index.js';
import {
  capturingLogger,
  dataFiles,
  readPartition,
  recordsOnDisk,
  removeTempDirs,
  storeDir,
  tempDir,
  type FoundRecord,
  type LogEntry,
} from '../helpers/storage-files.js';

const topic = 'rot';
const indexEntryBytes = 32;

function engineOptions(dataDir: string, logger: StorageLogger, segmentBytes: number): StorageOptions {
  return {
    dataDir,
    segmentBytes,
    indexSegmentEntries: 64,
    // Only open and close write checkpoints: after abandon() the last one is the store's first
    // (position 0), so the recovery scan covers every byte, damaged ones included.
    checkpointIntervalMs: 3_600_000,
    checkpointBytes: 1024 * 1024 * 1024,
    retentionCheckIntervalMs: 0,
    logger,
  };
}

after(removeTempDirs);

/** The value of (partition, offset): 0 to 500 bytes, derived from both. */
function valueOf(partition: number, offset: number): Buffer {
  const length = (offset * 37 + partition * 101) % 501;
  const value = Buffer.alloc(length);
  let state = (partition + 1) * 0x9e3779b1 + offset * 0x85ebca6b;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    value[i] = state >>> 24;
  }
  return value;
}

function keyOf(partition: number, offset: number): string | undefined {
  return offset % 4 === 0 ? `key-${partition}-${offset}` : undefined;
}

/** The records of a store as laid out on disk, each checked against what was written. */
function recordsWritten(dataDir: string): FoundRecord[] {
  const found = recordsOnDisk(dataDir, topic);
  for (const record of found) {
    assert.ok(record.value.equals(valueOf(record.partition, record.offset)), 'setup: value on disk');
  }
  return found;
}

/** Appends `perPartition` records to each partition, strictly alternating partitions. */
async function writeStore(
  dataDir: string,
  partitions: number,
  perPartition: number,
  segmentBytes: number,
  shutdown: 'close' | 'abandon',
): Promise<void> {
  const engine = await StorageEngine.open(engineOptions(dataDir, capturingLogger().logger, segmentBytes));
  await engine.createTopic(topic, { partitions });
  for (let offset = 0; offset < perPartition; offset++) {
    for (let partition = 0; partition < partitions; partition++) {
      const key = keyOf(partition, offset);
      const { baseOffset } = await engine.append(topic, partition, [
        { value: valueOf(partition, offset), ...(key === undefined ? {} : { key }) },
      ]);
      assert.equal(baseOffset, offset);
    }
  }
  if (shutdown === 'close') {
    await engine.close();
  } else {
    await engine.flush();
    await engine.abandon();
  }
}

function flipBit(filePath: string, at: number, bit: number): void {
  const fd = fs.openSync(filePath, 'r+');
  try {
    const byte = Buffer.alloc(1);
    assert.equal(fs.readSync(fd, byte, 0, 1, at), 1, `flip: ${filePath} has no byte ${at}`);
    byte[0] = byte[0]! ^ (1 << bit);
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** The index file of `partition` holding `offset`, and the entry's byte position in it. */
function indexEntryOf(dataDir: string, partition: number, offset: number): { file: string; at: number } {
  const dir = path.join(storeDir(dataDir, topic), 'index', String(partition));
  const bases = fs
    .readdirSync(dir)
    .filter((name) => /^\d{20}\.index$/.test(name))
    .map((name) => Number(name.slice(0, 20)))
    .sort((a, b) => a - b);
  const base = bases.filter((each) => each <= offset).at(-1);
  assert.ok(base !== undefined, `setup: no index file of partition ${partition} holds offset ${offset}`);
  const file = path.join(dir, `${String(base).padStart(20, '0')}.index`);
  const at = (offset - base) * indexEntryBytes;
  assert.ok(fs.statSync(file).size >= at + indexEntryBytes, 'setup: the entry is in its file');
  return { file, at };
}

/** Fails on any served record that differs from what was written at its offset. */
function assertAllGenuine(messages: StoredMessage[], partition: number, context: string): void {
  for (const message of messages) {
    assert.equal(message.partition, partition, `${context}: a record of another partition was served`);
    assert.ok(
      message.value.equals(valueOf(partition, message.offset)),
      `${context}: partition ${partition} offset ${message.offset} was served with a wrong value`,
    );
    assert.equal(
      message.key?.toString('utf8'),
      keyOf(partition, message.offset),
      `${context}: partition ${partition} offset ${message.offset} was served with a wrong key`,
    );
  }
}

interface Served {
  /** Per partition: the offsets served, in order. */
  offsets: number[][];
  damagedSkipped: number;
}

/** Reads every partition, checks every served record, and returns what was served. */
async function readAll(engine: StorageEngine, partitions: number, context: string): Promise<Served> {
  const served: Served = { offsets: [], damagedSkipped: 0 };
  for (let partition = 0; partition < partitions; partition++) {
    const { messages, damagedSkipped } = await readPartition(engine, topic, partition, 100);
    assertAllGenuine(messages, partition, context);
    served.offsets.push(messages.map((message) => message.offset));
    served.damagedSkipped += damagedSkipped;
  }
  return served;
}

/** `[1, 2, 3, 7]` → `1-3, 7`. */
function spans(offsets: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < offsets.length; i++) {
    const start = offsets[i]!;
    while (i + 1 < offsets.length && offsets[i + 1] === offsets[i]! + 1) i++;
    parts.push(start === offsets[i] ? String(start) : `${start}-${offsets[i]}`);
  }
  return parts.join(', ');
}

/** Compares served offsets with the wanted ones, naming only the differences on failure. */
function assertOffsets(got: readonly number[], want: readonly number[], context: string): void {
  const have = new Set(got);
  const wanted = new Set(want);
  const missing = want.filter((offset) => !have.has(offset));
  const extra = got.filter((offset) => !wanted.has(offset));
  assert.ok(
    missing.length === 0 && extra.length === 0 && got.length === want.length,
    `${context}: missing offsets [${spans(missing)}], unexpected offsets [${spans(extra)}]` +
      ` (${got.length} served, ${want.length} wanted)`,
  );
  assert.deepEqual(got, want, `${context}: offsets out of order`);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/** A warning that names the record: its offset (and partition), or its file and position. */
function warnsAbout(entries: LogEntry[], target: FoundRecord): boolean {
  return entries.some(
    (entry) =>
      entry.level === 'warn' &&
      ((entry.fields.offset === target.offset && entry.fields.partition === target.partition) ||
        (typeof entry.fields.file === 'string' &&
          path.basename(entry.fields.file) === target.file &&
          entry.fields.position === target.at)),
  );
}

describe('one flipped bit in a store of several segments', () => {
  const partitions = 2;
  const perPartition = 160;
  const segmentBytes = 8 * 1024;
  const pristine = { close: '', abandon: '' };
  let records: FoundRecord[] = [];
  /** A record in the middle of a middle segment, with a value of some length. */
  let target: FoundRecord;

  before(async () => {
    for (const shutdown of ['close', 'abandon'] as const) {
      pristine[shutdown] = tempDir();
      await writeStore(pristine[shutdown], partitions, perPartition, segmentBytes, shutdown);
    }
    records = recordsWritten(pristine.close);
    assert.equal(records.length, partitions * perPartition);
    assert.deepEqual(recordsWritten(pristine.abandon), records, 'setup: both stores have the same layout');
    const files = dataFiles(pristine.close, topic);
    assert.ok(files.length >= 5, `setup: want several segments, got ${files.length}`);
    const middleFile = files[Math.floor(files.length / 2)]!;
    const inFile = records.filter((record) => record.file === middleFile);
    assert.ok(inFile.length >= 5, 'setup: the middle segment holds several records');
    const middle = Math.floor(inFile.length / 2);
    target = [...inFile.slice(middle), ...inFile.slice(0, middle)].find(
      (record) => record.partition === 0 && record.value.length >= 16,
    )!;
    assert.ok(target !== undefined && target !== inFile[0] && target !== inFile.at(-1));
  });

  /** Copies a pristine store, damages it, reopens it and checks every partition. */
  async function damageAndCheck(
    shutdown: 'close' | 'abandon',
    damage: (dataDir: string) => void,
    expectSkipped: 'target' | 'target or none',
  ): Promise<string> {
    const context = `${shutdown}, damaged partition ${target.partition} offset ${target.offset}`;
    const dataDir = tempDir();
    fs.cpSync(pristine[shutdown], dataDir, { recursive: true });
    damage(dataDir);
    const { logger, entries } = capturingLogger();
    const engine = await StorageEngine.open(engineOptions(dataDir, logger, segmentBytes));
    const served = await readAll(engine, partitions, context);
    for (let partition = 0; partition < partitions; partition++) {
      assert.equal(
        engine.latestOffset(topic, partition),
        perPartition,
        `${context}: latestOffset p${partition}`,
      );
      const all = range(0, perPartition);
      const others = all.filter((offset) => partition !== target.partition || offset !== target.offset);
      const got = served.offsets[partition]!;
      if (partition === target.partition && expectSkipped === 'target or none' && got.length === all.length) {
        assertOffsets(got, all, `${context}: partition ${partition}`);
        continue;
      }
      assertOffsets(
        got,
        others,
        `${context}: partition ${partition} should serve every record but the damaged one`,
      );
    }
    const skippedTarget = served.offsets[target.partition]!.length < perPartition;
    if (skippedTarget) {
      assert.ok(served.damagedSkipped > 0, `${context}: reads should count the skipped record`);
      assert.ok(engine.stats().damagedRecordsSkipped > 0, `${context}: stats should count it`);
      assert.ok(
        warnsAbout(entries, target),
        `${context}: a warning should name offset ${target.offset} or ${target.file}@${target.at}; got ${JSON.stringify(
          entries.filter((entry) => entry.level === 'warn'),
        )}`,
      );
    }
    // The store still takes appends after the damaged record.
    const { baseOffset } = await engine.append(topic, target.partition, [{ value: 'after the damage' }]);
    assert.equal(baseOffset, perPartition);
    await engine.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    return skippedTarget
      ? 'the damaged record was skipped and reported'
      : 'the damaged record was served intact';
  }

  const dataCases: { name: string; byte: (record: FoundRecord) => number; bit: number }[] = [
    {
      name: 'in the value',
      byte: (record) => record.at + record.valueAt + (record.value.length >> 1),
      bit: 3,
    },
    { name: 'in the header offset field', byte: (record) => record.at + 20, bit: 0 },
    { name: 'in the header length field', byte: (record) => record.at + 4, bit: 2 },
  ];

  for (const shutdown of ['close', 'abandon'] as const) {
    const how = shutdown === 'close' ? 'after a clean close' : 'after a crash (abandon, recovery scan)';
    for (const each of dataCases) {
      // Goal: a bit flipped in a record costs only that record; method: flip one bit of a record mid-segment, reopen, read both partitions, compare with what was written.
      test(`bit flip ${each.name} of a record, ${how}: only that record is skipped, and reported`, async (t) => {
        const outcome = await damageAndCheck(
          shutdown,
          (dataDir) => flipBit(path.join(storeDir(dataDir, topic), target.file), each.byte(target), each.bit),
          'target',
        );
        t.diagnostic(outcome);
      });
    }

    // Goal: a flipped bit in an index entry serves nothing wrong and loses nothing else; method: flip its length field, reopen, read all (serving the intact record is fine too).
    test(`bit flip in the index entry of a record, ${how}: nothing wrong is served, nothing else is lost`, async (t) => {
      const outcome = await damageAndCheck(
        shutdown,
        (dataDir) => {
          const entry = indexEntryOf(dataDir, target.partition, target.offset);
          flipBit(entry.file, entry.at + 9, 0);
        },
        'target or none',
      );
      t.diagnostic(outcome);
    });
  }

  // Goal: damage in the last record of an earlier segment is mid-log damage, not a torn tail; method: flip a value bit there, crash-reopen, expect later segments served.
  test('bit flip in the last record of an earlier segment, after a crash: later segments are still served', async () => {
    const files = dataFiles(pristine.abandon, topic);
    const lastOfSecond = records.filter((record) => record.file === files[1]).at(-1)!;
    const context = `damaged ${lastOfSecond.file}@${lastOfSecond.at} (partition ${lastOfSecond.partition} offset ${lastOfSecond.offset})`;
    const dataDir = tempDir();
    fs.cpSync(pristine.abandon, dataDir, { recursive: true });
    const byte =
      lastOfSecond.value.length > 0
        ? lastOfSecond.at + lastOfSecond.valueAt + (lastOfSecond.value.length >> 1)
        : lastOfSecond.at + 24;
    flipBit(path.join(storeDir(dataDir, topic), lastOfSecond.file), byte, 5);
    const { logger } = capturingLogger();
    const engine = await StorageEngine.open(engineOptions(dataDir, logger, segmentBytes));
    const served = await readAll(engine, partitions, context);
    for (let partition = 0; partition < partitions; partition++) {
      const want = range(0, perPartition).filter(
        (offset) => partition !== lastOfSecond.partition || offset !== lastOfSecond.offset,
      );
      assertOffsets(served.offsets[partition]!, want, `${context}: partition ${partition}`);
      assert.equal(
        engine.latestOffset(topic, partition),
        perPartition,
        `${context}: latestOffset p${partition}`,
      );
    }
    assert.deepEqual(
      dataFiles(dataDir, topic),
      files,
      `${context}: recovery must not delete the segments after the damaged record`,
    );
    await engine.close();
  });

  // Goal: a flip in a record's partition field costs no record of another partition; method: turn p0 into p1 in a p0 header whose offset p1 expects next, crash-reopen, read.
  test('bit flip in the header partition field, after a crash: only that record is lost', async () => {
    const context = `partition field of partition 0 offset ${target.offset} flipped to 1`;
    const dataDir = tempDir();
    fs.cpSync(pristine.abandon, dataDir, { recursive: true });
    flipBit(path.join(storeDir(dataDir, topic), target.file), target.at + 16, 0);
    const engine = await StorageEngine.open(engineOptions(dataDir, capturingLogger().logger, segmentBytes));
    const served = await readAll(engine, partitions, context);
    assertOffsets(
      served.offsets[0]!,
      range(0, perPartition).filter((offset) => offset !== target.offset),
      `${context}: partition 0 loses only the damaged record`,
    );
    assertOffsets(
      served.offsets[1]!,
      range(0, perPartition),
      `${context}: partition 1 must keep its intact record at offset ${target.offset}`,
    );
    await engine.close();
  });

  for (const when of ['read once before the flip', 'written by this engine'] as const) {
    // Goal: damage appearing under a running engine is never served; method: write or read everything, flip a value bit on disk, read again through the same engine.
    test(`bit flip while the engine is open, records ${when}: never served`, async () => {
      const context = `live flip, ${when}`;
      const dataDir = tempDir();
      const { logger } = capturingLogger();
      let engine: StorageEngine;
      if (when === 'written by this engine') {
        // Write afresh and keep the engine open, so the flipped bytes are ones it wrote itself.
        engine = await StorageEngine.open(engineOptions(dataDir, logger, segmentBytes));
        await engine.createTopic(topic, { partitions });
        for (let offset = 0; offset < perPartition; offset++) {
          for (let partition = 0; partition < partitions; partition++) {
            const key = keyOf(partition, offset);
            await engine.append(topic, partition, [
              { value: valueOf(partition, offset), ...(key === undefined ? {} : { key }) },
            ]);
          }
        }
        await engine.flush();
        assert.deepEqual(recordsWritten(dataDir), records, 'setup: same layout as the pristine store');
      } else {
        fs.cpSync(pristine.close, dataDir, { recursive: true });
        engine = await StorageEngine.open(engineOptions(dataDir, logger, segmentBytes));
        await readAll(engine, partitions, `${context}, before the flip`);
      }
      try {
        flipBit(path.join(storeDir(dataDir, topic), target.file), target.at + target.valueAt + 3, 6);
        const served = await readAll(engine, partitions, context);
        assert.ok(
          !served.offsets[target.partition]!.includes(target.offset),
          `${context}: the damaged record was served`,
        );
      } finally {
        await engine.close();
      }
    });
  }
});

describe('property: one random bit flip anywhere in the data files', () => {
  const partitions = 1;
  const perPartition = 60;
  const segmentBytes = 4 * 1024;
  const pristine = { close: '', abandon: '' };
  let records: FoundRecord[] = [];
  let files: { name: string; size: number; start: number }[] = [];
  let totalBits = 0;

  before(async () => {
    for (const shutdown of ['close', 'abandon'] as const) {
      pristine[shutdown] = tempDir();
      await writeStore(pristine[shutdown], partitions, perPartition, segmentBytes, shutdown);
    }
    records = recordsWritten(pristine.close);
    let start = 0;
    files = dataFiles(pristine.close, topic).map((name) => {
      const size = fs.statSync(path.join(storeDir(pristine.close, topic), name)).size;
      start += size;
      return { name, size, start: start - size };
    });
    totalBits = start * 8;
    assert.ok(files.length >= 3, `setup: want several segments, got ${files.length}`);
  });

  /** Flips global bit `bit` of the concatenated data files; returns the record it lands in. */
  function flipGlobalBit(dataDir: string, bit: number): FoundRecord {
    const byte = bit >> 3;
    const file = files.find((each) => byte >= each.start && byte < each.start + each.size)!;
    const at = byte - file.start;
    flipBit(path.join(storeDir(dataDir, topic), file.name), at, bit & 7);
    return records.find(
      (record) => record.file === file.name && at >= record.at && at < record.at + record.length,
    )!;
  }

  /** Copies `source`, flips `bit`, opens an engine on the copy and runs `check`; always cleans up. */
  async function withFlippedBit(
    source: string,
    bit: number,
    check: (engine: StorageEngine, hit: FoundRecord, context: string) => Promise<void>,
  ): Promise<void> {
    const dataDir = tempDir();
    fs.cpSync(source, dataDir, { recursive: true });
    const hit = flipGlobalBit(dataDir, bit);
    const context = `bit ${bit} (offset ${hit.offset}, ${hit.file}@${hit.at})`;
    const engine = await StorageEngine.open(engineOptions(dataDir, capturingLogger().logger, segmentBytes));
    try {
      await check(engine, hit, context);
    } finally {
      await engine.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const anyBit = () => fc.integer({ min: 0, max: totalBits - 1 });

  // Goal: after a clean close any flipped bit costs exactly the record it hits; method: fast-check picks the bit, reopen (no scan), read everything and compare.
  test('after a clean close: exactly the hit record is skipped, every other one is served', async () => {
    await fc.assert(
      fc.asyncProperty(anyBit(), (bit) =>
        withFlippedBit(pristine.close, bit, async (engine, hit, context) => {
          const served = await readAll(engine, partitions, context);
          assertOffsets(
            served.offsets[0]!,
            range(0, perPartition).filter((offset) => offset !== hit.offset),
            context,
          );
          assert.ok(served.damagedSkipped > 0, `${context}: the skip should be counted`);
        }),
      ),
      { numRuns: 30 },
    );
  });

  // Goal: after a crash no flipped bit makes recovery serve a wrong record or lose an earlier one; method: fast-check picks the bit in an abandoned store, reopen, read, append.
  test('after a crash: never a wrong record, nothing before the hit record lost', async () => {
    await fc.assert(
      fc.asyncProperty(anyBit(), (bit) =>
        withFlippedBit(pristine.abandon, bit, async (engine, hit, context) => {
          const served = await readAll(engine, partitions, context);
          const got = new Set(served.offsets[0]);
          assert.ok(!got.has(hit.offset), `${context}: the damaged record was served`);
          for (const offset of range(0, hit.offset)) {
            assert.ok(got.has(offset), `${context}: offset ${offset}, before the damage, was lost`);
          }
          const laterInSegment = records.filter(
            (record) => record.file === hit.file && record.offset > hit.offset,
          );
          for (const record of laterInSegment) {
            assert.ok(
              got.has(record.offset),
              `${context}: offset ${record.offset}, later in the segment, was lost`,
            );
          }
          const latest = engine.latestOffset(topic, 0);
          assert.ok(latest >= hit.offset, `${context}: latestOffset ${latest} below the damage`);
          const { baseOffset } = await engine.append(topic, 0, [{ value: 'after' }]);
          assert.equal(baseOffset, latest);
          const back = await engine.read(topic, 0, baseOffset);
          assert.equal(back.messages[0]?.value.toString(), 'after', `${context}: the new record reads back`);
        }),
      ),
      { numRuns: 30 },
    );
  });
});
