// Time retention that fires (issue 13, item 5): data segments roll by age (`segmentMs`, a tenth of
// the retention time by default) as well as by size, and a retention run closes an idle topic's old
// active segment, so a topic that writes little still ages out. Real files; the engine's `nowMs`
// argument stands in for a clock that has moved on.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TubeError } from '../../src/common/errors.js';
import { StorageEngine, type StorageOptions } from '../../src/storage/index.js';
import { topicSegmentMs } from '../../src/storage/options.js';
import {
  capturingLogger,
  dataFiles,
  readPartition,
  removeTempDirs,
  storeDir,
  tempDir,
} from '../helpers/storage-files.js';
import { withDataFileHandles } from '../helpers/bound-handle.js';

after(removeTempDirs);

/** Retention 2 s, so segments roll at 200 ms of age. */
const retentionMs = 2000;

function openEngine(dataDir: string, options: Partial<StorageOptions> = {}): Promise<StorageEngine> {
  return StorageEngine.open({
    dataDir,
    retentionCheckIntervalMs: 0,
    logger: capturingLogger().logger,
    ...options,
  });
}

/** Appends `count` small messages to a partition, one batch each; returns their values. */
async function produce(engine: StorageEngine, topic: string, partition: number, count: number) {
  const values: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = `${topic}-${partition}-${engine.nextOffset(topic, partition)}`;
    await engine.append(topic, partition, [{ value }]);
    values.push(value);
  }
  return values;
}

/** Asserts a read below `earliest` is OFFSET_OUT_OF_RANGE (301) naming the stored range. */
async function assertBelowEarliest(
  engine: StorageEngine,
  topic: string,
  partition: number,
  what: string,
): Promise<void> {
  const earliest = engine.earliestOffset(topic, partition);
  const latest = engine.latestOffset(topic, partition);
  assert.ok(earliest > 0, `${what}: something was deleted`);
  await assert.rejects(
    () => engine.read(topic, partition, earliest - 1),
    (error: unknown) => {
      assert.ok(error instanceof TubeError, String(error));
      assert.equal(error.code, 301, `${what}: ${error.message}`);
      assert.deepEqual(error.details, { earliest, latest });
      return true;
    },
  );
}

async function values(engine: StorageEngine, topic: string, partition: number): Promise<string[]> {
  const { messages, damagedSkipped } = await readPartition(engine, topic, partition, 100);
  assert.equal(damagedSkipped, 0);
  return messages.map((message) => message.value.toString());
}

describe('segmentMs', () => {
  test('defaults to a tenth of the retention time, at most 1 h, at least 100 ms; an engine value wins', () => {
    assert.equal(topicSegmentMs({ retentionMs: 2000 }, 0), 200);
    assert.equal(topicSegmentMs({ retentionMs: 168 * 3_600_000 }, 0), 3_600_000);
    assert.equal(topicSegmentMs({ retentionMs: -1 }, 0), 3_600_000);
    assert.equal(topicSegmentMs({ retentionMs: 0 }, 0), 100);
    assert.equal(topicSegmentMs({ retentionMs: 2000 }, 50), 50);
  });

  test('a negative engine segmentMs is refused', async () => {
    await assert.rejects(() => StorageEngine.open({ dataDir: tempDir(), segmentMs: -1 }), RangeError);
  });
});

describe('time retention', () => {
  test('an idle topic ages out entirely; appends then continue at the right offsets', async () => {
    // Goal: a topic that writes a little and then nothing loses it all after the retention time.
    // Method: 2 partitions, 5 messages each, no more writes; a run at now does nothing, a run past
    // the retention time closes the active segment and deletes it; then append, read, reopen.
    const dir = tempDir();
    let engine = await openEngine(dir);
    await engine.createTopic('idle', { partitions: 2, retentionMs });
    for (const p of [0, 1]) await produce(engine, 'idle', p, 5);
    await engine.flush();
    const before = dataFiles(dir, 'idle');
    assert.equal(before.length, 1);
    assert.equal(await engine.enforceRetention(Date.now()), 0, 'nothing is old yet');
    assert.deepEqual(dataFiles(dir, 'idle'), before, 'a young active segment is left alone');

    assert.equal(await engine.enforceRetention(Date.now() + retentionMs + 500), 1);
    const left = dataFiles(dir, 'idle');
    assert.equal(left.length, 1, 'one new, empty segment takes the next appends');
    assert.notEqual(left[0], before[0], 'the old segment file is gone');
    assert.equal(fs.statSync(path.join(storeDir(dir, 'idle'), left[0]!)).size, 0);
    assert.equal(engine.stats().bytesOnDisk, 0);
    for (const p of [0, 1]) {
      assert.equal(engine.earliestOffset('idle', p), 5, `p${p}: earliest is the next offset`);
      assert.equal(engine.latestOffset('idle', p), 5);
      await assertBelowEarliest(engine, 'idle', p, `p${p}`);
      assert.deepEqual(await values(engine, 'idle', p), []);
    }
    assert.equal(await engine.enforceRetention(Date.now() + retentionMs + 500), 0, 'an empty segment stays');

    // The store keeps taking appends, at the offsets after the deleted ones.
    const later = await produce(engine, 'idle', 0, 3);
    assert.deepEqual(later, ['idle-0-5', 'idle-0-6', 'idle-0-7']);
    assert.deepEqual(await values(engine, 'idle', 0), later);
    await engine.close();
    engine = await openEngine(dir);
    assert.equal(engine.earliestOffset('idle', 0), 5);
    assert.equal(engine.earliestOffset('idle', 1), 5);
    assert.deepEqual(await values(engine, 'idle', 0), later);
    assert.deepEqual((await engine.append('idle', 1, [{ value: 'x' }])).baseOffset, 5);
    assert.equal(
      engine.openReports.every((report) => report.clean),
      true,
    );
    await engine.close();
  });

  test('the background run ages an idle topic out on its own', async () => {
    // Goal: the retention timer (not a test call) closes and deletes the idle segment in real time.
    // Method: retention 400 ms (segmentMs 100), timer every 50 ms, wait for earliest to move.
    const dir = tempDir();
    const engine = await openEngine(dir, { retentionCheckIntervalMs: 50 });
    await engine.createTopic('quiet', { partitions: 1, retentionMs: 400 });
    await produce(engine, 'quiet', 0, 4);
    const deadline = Date.now() + 5000;
    while (engine.earliestOffset('quiet', 0) < 4) {
      assert.ok(Date.now() < deadline, 'earliest never moved up');
      await sleep(25);
    }
    await assertBelowEarliest(engine, 'quiet', 0, 'quiet');
    assert.equal(engine.stats().bytesOnDisk, 0);
    assert.equal((await engine.append('quiet', 0, [{ value: 'next' }])).baseOffset, 4);
    await engine.close();
  });

  test('a busy topic rolls by age and keeps only its recent segments', async () => {
    // Goal: segments roll at segmentMs though far below segmentBytes, so retention can keep just
    // the recent ones. Method: append every ~10 ms (segmentMs 200) until there are 5 segments,
    // noting when and at which offset the third began; run retention as if that moment were
    // retentionMs ago: the two segments closed before it go, the rest stay.
    const dir = tempDir();
    const engine = await openEngine(dir);
    await engine.createTopic('busy', { partitions: 1, retentionMs });
    const start = Date.now();
    let thirdMs = 0;
    let thirdOffset = 0;
    while (dataFiles(dir, 'busy').length < 5) {
      assert.ok(Date.now() - start < 10_000, 'segments never rolled by age');
      // One batch per write (each append waits for its write), so a segment starts at a batch.
      const { baseOffset } = await engine.append('busy', 0, [{ value: `m${engine.nextOffset('busy', 0)}` }]);
      if (thirdMs === 0 && dataFiles(dir, 'busy').length === 3) {
        thirdMs = Date.now();
        thirdOffset = baseOffset;
      }
      await sleep(10);
    }
    const elapsed = Date.now() - start;
    const total = engine.nextOffset('busy', 0);
    const before = dataFiles(dir, 'busy');
    // A segment rolls only once its first write is 200 ms old, so there are at most elapsed/200 + 1.
    assert.ok(before.length <= Math.floor(elapsed / 200) + 1, `${before.length} segments in ${elapsed} ms`);

    assert.equal(await engine.enforceRetention(thirdMs + retentionMs), 2);
    const left = dataFiles(dir, 'busy');
    assert.deepEqual(left.slice(0, before.length - 2), before.slice(2), 'the oldest two went');
    assert.equal(engine.earliestOffset('busy', 0), thirdOffset);
    await assertBelowEarliest(engine, 'busy', 0, 'busy');
    assert.deepEqual(
      await values(engine, 'busy', 0),
      Array.from({ length: total - thirdOffset }, (_, i) => `m${thirdOffset + i}`),
      'everything from earliest on is readable, in order',
    );
    await engine.close();
  });

  test('a reopened store takes segment ages from the files, not from the open', async () => {
    // Goal: after a restart, an old idle segment still ages out and a young one is not cut early.
    // Method: two topics written and closed; one's data file is backdated an hour (mtime), then the
    // engine reopens and retention runs at now and at now + retentionMs.
    const dir = tempDir();
    let engine = await openEngine(dir);
    await engine.createTopic('old', { partitions: 1, retentionMs });
    await engine.createTopic('young', { partitions: 1, retentionMs });
    await produce(engine, 'old', 0, 3);
    await produce(engine, 'young', 0, 3);
    await engine.close();
    const oldFile = path.join(storeDir(dir, 'old'), dataFiles(dir, 'old')[0]!);
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(oldFile, hourAgo, hourAgo);

    engine = await openEngine(dir);
    assert.equal(await engine.enforceRetention(Date.now()), 1, 'only the backdated segment goes');
    assert.equal(engine.earliestOffset('old', 0), 3);
    await assertBelowEarliest(engine, 'old', 0, 'old');
    assert.equal(engine.earliestOffset('young', 0), 0);
    assert.deepEqual(await values(engine, 'young', 0), ['young-0-0', 'young-0-1', 'young-0-2']);
    assert.equal(dataFiles(dir, 'young').length, 1, 'a young reopened segment is not rolled');

    // Past its segmentMs the young one is closed but kept; past the retention time it goes.
    assert.equal(await engine.enforceRetention(Date.now() + 300), 0);
    assert.equal(dataFiles(dir, 'young').length, 2);
    assert.equal(engine.earliestOffset('young', 0), 0);
    assert.equal(await engine.enforceRetention(Date.now() + retentionMs + 500), 1);
    assert.equal(engine.earliestOffset('young', 0), 3);
    assert.equal((await engine.append('old', 0, [{ value: 'again' }])).baseOffset, 3);
    await engine.close();
  });

  test('a retention roll waits for the flush: never beside a data write, every message in order', async () => {
    // Goal: a retention roll takes the flush's turn. Method: data writes take 30 ms; a run during
    // one does not roll, the next run does, and the write landed whole in the old segment. Then a
    // topic that keeps data forever gets appends at every ack level while runs "two hours later"
    // keep closing its active segment; everything reads back in order, also after a reopen.
    const dir = tempDir();
    const slowIO = withDataFileHandles((handle) => ({
      writev: async (buffers, position) => {
        await sleep(30);
        return handle.writev(buffers, position);
      },
      writevDurable: async (buffers, position) => {
        await sleep(30);
        return handle.writevDurable(buffers, position);
      },
    }));
    let engine = await openEngine(dir, { fileIO: slowIO });
    await engine.createTopic('raced', { partitions: 2, retentionMs: -1 });
    const later = () => Date.now() + 7_200_000;
    await engine.append('raced', 0, [{ value: 'v0' }]);
    const writing = engine.append('raced', 1, [{ value: 'v1' }]);
    await sleep(10); // the flush of v1 is in its write now
    assert.equal(await engine.enforceRetention(later()), 0);
    assert.equal(dataFiles(dir, 'raced').length, 1, 'no roll beside a running data write');
    await writing;
    await engine.enforceRetention(later());
    const rolled = dataFiles(dir, 'raced');
    assert.equal(rolled.length, 2, 'the next run rolls');
    const firstSize = fs.statSync(path.join(storeDir(dir, 'raced'), rolled[0]!)).size;
    assert.equal(rolled[1], `${String(firstSize).padStart(20, '0')}.data`, 'the new base is the old end');

    const acks = ['memory', 'written', 'fsync'] as const;
    const appends: Promise<unknown>[] = [];
    for (let i = 2; i < 200; i++) {
      appends.push(engine.append('raced', i % 2, [{ value: `v${i}` }], { acks: acks[i % 3]! }));
      if (i % 5 === 0) {
        void engine.enforceRetention(later());
        await sleep(i % 3);
      }
    }
    await Promise.all(appends);
    await engine.flush();
    const wanted = (p: number) => Array.from({ length: 100 }, (_, n) => `v${2 * n + p}`);
    for (const p of [0, 1]) assert.deepEqual(await values(engine, 'raced', p), wanted(p));
    await engine.close();
    engine = await openEngine(dir);
    assert.equal(
      engine.openReports.every((report) => report.clean),
      true,
    );
    for (const p of [0, 1]) assert.deepEqual(await values(engine, 'raced', p), wanted(p));
    await engine.close();
  });
});
