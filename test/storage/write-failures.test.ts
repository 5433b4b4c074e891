// Storage truth on bad days (issue 13, items 1 and 3): a full disk, a failed write, a failed sync.
// Whatever happens, nothing is acknowledged that is not on the file at its level, every
// acknowledged message stays readable, no offset is ever given to two messages, and a consumer
// never reads a message before its producer's ack level is reached.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isTubeError } from '../../src/common/errors.js';
import { nodeFileIO, type FileHandleIO, type FileIO } from '../../src/common/file-io.js';
import { StorageEngine, type StorageOptions } from '../../src/storage/index.js';
import { bindHandle } from '../helpers/bound-handle.js';
import { capturingLogger, removeTempDirs, tempDir } from '../helpers/storage-files.js';
import { mountTmpfs, writeBallast } from '../helpers/tmpfs.js';

after(removeTempDirs);

const topic = 't';
const KiB = 1024;
const MiB = 1024 * KiB;

function options(dataDir: string, extra: Partial<StorageOptions> = {}): StorageOptions {
  return {
    dataDir,
    logger: capturingLogger().logger,
    cacheBlockBytes: 64 * KiB,
    checkpointIntervalMs: 3_600_000,
    checkpointBytes: 1024 * MiB,
    retentionCheckIntervalMs: 0,
    ...extra,
  };
}

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected by the test`), { code });
}

/** What the test acknowledged, to check against every read. */
class AckedLog {
  readonly values = new Map<string, string>();
  /** Per partition, the end of the highest offset any ack handed out. */
  readonly handedOutEnd = new Map<number, number>();

  add(partition: number, baseOffset: number, values: readonly string[]): void {
    values.forEach((value, i) => this.values.set(`${partition}:${baseOffset + i}`, value));
    const end = baseOffset + values.length;
    this.handedOutEnd.set(partition, Math.max(end, this.handedOutEnd.get(partition) ?? 0));
  }

  /** Reads every partition from its earliest offset and checks each acked message is there, unchanged. */
  async verify(engine: StorageEngine, partitions: number): Promise<{ read: number; gaps: number }> {
    let read = 0;
    let gaps = 0;
    const seen = new Set<string>();
    for (let partition = 0; partition < partitions; partition++) {
      let offset = engine.earliestOffset(topic, partition);
      const latest = engine.latestOffset(topic, partition);
      while (offset < latest) {
        const result = await engine.read(topic, partition, offset, { maxMessages: 500 });
        gaps += result.gapSkipped;
        assert.equal(result.damagedSkipped, 0, 'nothing is damaged');
        for (const message of result.messages) {
          const key = `${partition}:${message.offset}`;
          const acked = this.values.get(key);
          if (acked !== undefined) assert.equal(message.value.toString(), acked, `value at ${key}`);
          seen.add(key);
          read++;
        }
        assert.ok(result.nextOffset > offset, `the read at ${partition}:${offset} moves on`);
        offset = result.nextOffset;
      }
      const state = engine.partitionState(topic, partition);
      assert.ok(
        state.nextOffset >= (this.handedOutEnd.get(partition) ?? 0),
        `partition ${partition} resumes at ${state.nextOffset}, below offsets it acknowledged`,
      );
    }
    const missing = [...this.values.keys()].filter((key) => !seen.has(key));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged messages are not readable`);
    return { read, gaps };
  }
}

describe('a full disk (tmpfs)', () => {
  for (const acks of ['written', 'fsync'] as const) {
    test(`at ${acks}: 507, no ack for unwritten data, reads go on, writes resume once space is back, nothing lost or reused after a restart`, async (t) => {
      const disk = mountTmpfs(3 * MiB);
      if ('refused' in disk) return t.skip(disk.refused);
      let engine: StorageEngine | undefined;
      try {
        const ballast = path.join(disk.dir, 'ballast');
        writeBallast(ballast, 768 * KiB);
        const dataDir = path.join(disk.dir, 'data');
        engine = await StorageEngine.open(options(dataDir));
        await engine.createTopic(topic, { partitions: 2 });
        const acked = new AckedLog();
        const refusals = new Map<string, number>();
        let round = 0;
        let fullRounds = 0;
        // Four appends at once, so blocks hold several batches when the disk fills mid-write.
        while (fullRounds < 5 && round < 2000) {
          const current = engine;
          const batches = [0, 1, 2, 3].map((i) => {
            const values = Array.from({ length: 6 }, (_, m) => `r${round}-${i}-${m}-${'x'.repeat(900)}`);
            return { partition: i % 2, values };
          });
          const outcomes = await Promise.allSettled(
            batches.map(({ partition, values }) =>
              current.append(
                topic,
                partition,
                values.map((value) => ({ value })),
                { acks },
              ),
            ),
          );
          let refused = 0;
          outcomes.forEach((outcome, i) => {
            if (outcome.status === 'fulfilled') {
              acked.add(batches[i]!.partition, outcome.value.baseOffset, batches[i]!.values);
              return;
            }
            const name = isTubeError(outcome.reason) ? outcome.reason.errorName : String(outcome.reason);
            refusals.set(name, (refusals.get(name) ?? 0) + 1);
            refused++;
          });
          fullRounds = refused === batches.length ? fullRounds + 1 : 0;
          round++;
        }
        assert.ok(fullRounds >= 5, `the disk never filled in ${round} rounds`);
        assert.deepEqual([...refusals.keys()], ['STORAGE_FULL'], 'every refusal is 507');
        assert.ok(acked.values.size > 500, `only ${acked.values.size} messages were acknowledged`);
        t.diagnostic(`acked ${acked.values.size} messages, refused ${refusals.get('STORAGE_FULL')} batches`);

        // While full: every acknowledged message reads back.
        await acked.verify(engine, 2);

        // Space comes back: writes resume by themselves.
        fs.unlinkSync(ballast);
        const freedAt = performance.now();
        let resumed: { baseOffset: number } | undefined;
        while (!resumed && performance.now() - freedAt < 5000) {
          resumed = await engine
            .append(topic, 0, [{ value: 'after-space-came-back' }], { acks })
            .catch(() => undefined);
          if (!resumed) await delay(100);
        }
        assert.ok(resumed, 'writes did not resume within 5 s of space being freed');
        t.diagnostic(`writes resumed ${Math.round(performance.now() - freedAt)} ms after space was freed`);
        assert.ok(resumed.baseOffset >= acked.handedOutEnd.get(0)!, 'the resumed write reuses no offset');
        acked.add(0, resumed.baseOffset, ['after-space-came-back']);

        await engine.close();
        engine = await StorageEngine.open(options(dataDir));
        const after = await acked.verify(engine, 2);
        t.diagnostic(`after a restart: ${after.read} messages read, ${after.gaps} gap offsets skipped`);
        const next = await engine.append(topic, 1, [{ value: 'after-restart' }], { acks });
        assert.ok(next.baseOffset >= acked.handedOutEnd.get(1)!, 'no offset is reused after the restart');
      } finally {
        await engine?.close().catch(() => undefined);
        disk.unmount();
      }
    });
  }
});

describe('writes checked to the last byte', () => {
  test('a write cut short by a full disk rejects with ENOSPC instead of resolving', async (t) => {
    const disk = mountTmpfs(256 * KiB);
    if ('refused' in disk) return t.skip(disk.refused);
    try {
      const handle = await nodeFileIO.open(path.join(disk.dir, 'f'), { create: true });
      try {
        // libuv writes what fits and reports that count with no error; the rest must be retried.
        await assert.rejects(handle.writev([Buffer.alloc(200 * KiB), Buffer.alloc(200 * KiB)], 0), {
          code: 'ENOSPC',
        });
      } finally {
        await handle.close();
      }
    } finally {
      disk.unmount();
    }
  });
});

/** The real file system with the data files' writes and syncs under the test's control. */
class DataFileFaults {
  /** Errno for every data write (writev and O_DSYNC writes) while set. */
  writeError: string | undefined;
  /** Errno for every data sync (fdatasync and O_DSYNC writes) while set. */
  syncError: string | undefined;
  /** While set, durable data writes and syncs wait for it. */
  holdDurable: Promise<void> | undefined;

  readonly io: FileIO = {
    ...nodeFileIO,
    open: async (filePath, openOptions) => {
      const handle = await nodeFileIO.open(filePath, openOptions);
      return filePath.endsWith('.data') ? this.wrap(handle) : handle;
    },
  };

  private wrap(handle: FileHandleIO): FileHandleIO {
    return {
      ...bindHandle(handle),
      writev: async (buffers, position) => {
        if (this.writeError) throw errnoError(this.writeError);
        return handle.writev(buffers, position);
      },
      writevDurable: async (buffers, position) => {
        await this.holdDurable;
        if (this.writeError) throw errnoError(this.writeError);
        if (this.syncError) throw errnoError(this.syncError);
        return handle.writevDurable(buffers, position);
      },
      datasync: async () => {
        await this.holdDurable;
        if (this.syncError) throw errnoError(this.syncError);
        return handle.datasync();
      },
    };
  }
}

describe('the readable end', () => {
  test('a consumer sees a batch only once it reached its ack level, and nothing after a batch still waiting', async () => {
    const faults = new DataFileFaults();
    const dataDir = tempDir();
    const engine = await StorageEngine.open(options(dataDir, { fileIO: faults.io }));
    try {
      await engine.createTopic(topic, { partitions: 1 });
      await engine.append(topic, 0, [{ value: 'written-0' }], { acks: 'written' });
      const woken: number[] = [];
      engine.onReadable((_, partition) => woken.push(partition));
      let release!: () => void;
      faults.holdDurable = new Promise((resolve) => (release = resolve));
      const fsyncAck = engine.append(topic, 0, [{ value: 'fsync-1' }], { acks: 'fsync' });
      // Acknowledged before the fsync batch ahead of it: a later batch at a weaker level.
      const written = await engine.append(topic, 0, [{ value: 'written-2' }], { acks: 'written' });
      assert.equal(written.baseOffset, 2);
      assert.equal(engine.latestOffset(topic, 0), 1, 'the readable end waits for the fsync batch');
      const before = await engine.read(topic, 0, 0);
      assert.deepEqual(
        before.messages.map((m) => m.value.toString()),
        ['written-0'],
      );
      assert.equal(before.latestOffset, 1);
      woken.length = 0;
      faults.holdDurable = undefined;
      release();
      assert.equal((await fsyncAck).baseOffset, 1);
      assert.equal(engine.latestOffset(topic, 0), 3);
      assert.ok(woken.length > 0, 'long-polls are told the readable end moved');
      const afterSync = await engine.read(topic, 0, 1);
      assert.deepEqual(
        afterSync.messages.map((m) => m.value.toString()),
        ['fsync-1', 'written-2'],
      );
    } finally {
      await engine.close();
    }
  });
});

describe('a failed write never rewinds', () => {
  test('EIO on a data write: not acked, store read-only (503), acked data served, the failed offsets never handed out again', async () => {
    const faults = new DataFileFaults();
    const dataDir = tempDir();
    // A memory batch stays cached until the fsync batch after it makes the block urgent.
    let engine = await StorageEngine.open(options(dataDir, { fileIO: faults.io, cacheBlockAgeMs: 60_000 }));
    try {
      await engine.createTopic(topic, { partitions: 1 });
      await engine.append(topic, 0, [{ value: 'payment #0' }], { acks: 'fsync' });
      const memory = await engine.append(topic, 0, [{ value: 'memory #1' }], { acks: 'memory' });
      assert.equal(memory.baseOffset, 1);
      faults.writeError = 'EIO';
      await assert.rejects(engine.append(topic, 0, [{ value: 'payment #2' }], { acks: 'fsync' }), (error) =>
        isTubeError(error, 'UNAVAILABLE'),
      );
      faults.writeError = undefined;
      // Read-only until a restart, even with the disk well again.
      await assert.rejects(engine.append(topic, 0, [{ value: 'payment #3' }], { acks: 'written' }), (error) =>
        isTubeError(error, 'UNAVAILABLE'),
      );
      const read = await engine.read(topic, 0, 0);
      assert.deepEqual(
        read.messages.map((m) => m.value.toString()),
        ['payment #0'],
      );
      assert.equal(engine.nextOffset(topic, 0), 3, 'the failed batches keep their offsets: no rewind');
      assert.deepEqual(engine.partitionState(topic, 0).gaps, [{ from: 1, to: 3, cause: 'write-failed' }]);
      await engine.close();

      engine = await StorageEngine.open(options(dataDir));
      assert.deepEqual(
        (await engine.read(topic, 0, 0)).messages.map((m) => m.value.toString()),
        ['payment #0'],
      );
      // Offset 1 was acknowledged at `memory` (handed out, then lost with its write): never again.
      const next = await engine.append(topic, 0, [{ value: 'payment #4' }], { acks: 'fsync' });
      assert.ok(next.baseOffset >= 2, `offset ${next.baseOffset} was handed out before the failure`);
      const after = await engine.read(topic, 0, 0);
      assert.deepEqual(
        after.messages.map((m) => [m.offset, m.value.toString()]),
        [
          [0, 'payment #0'],
          [next.baseOffset, 'payment #4'],
        ],
      );
      assert.equal(after.gapSkipped, next.baseOffset - 1);
    } finally {
      await engine.close();
    }
  });

  test('ENOSPC: 507 while full, writes resume by themselves once space is reported, past the gap', async () => {
    const faults = new DataFileFaults();
    let full = false;
    const io: FileIO = {
      ...faults.io,
      availableBytes: (dir) => (full ? Promise.resolve(0) : nodeFileIO.availableBytes(dir)),
    };
    const dataDir = tempDir();
    const engine = await StorageEngine.open(options(dataDir, { fileIO: io }));
    try {
      await engine.createTopic(topic, { partitions: 1 });
      await engine.append(topic, 0, [{ value: 'a' }], { acks: 'written' });
      full = true;
      faults.writeError = 'ENOSPC';
      await assert.rejects(engine.append(topic, 0, [{ value: 'b' }], { acks: 'written' }), (error) =>
        isTubeError(error, 'STORAGE_FULL'),
      );
      await assert.rejects(engine.append(topic, 0, [{ value: 'c' }], { acks: 'written' }), (error) =>
        isTubeError(error, 'STORAGE_FULL'),
      );
      full = false;
      faults.writeError = undefined;
      const freedAt = performance.now();
      let resumed: { baseOffset: number } | undefined;
      while (!resumed && performance.now() - freedAt < 5000) {
        resumed = await engine.append(topic, 0, [{ value: 'd' }], { acks: 'written' }).catch(() => undefined);
        if (!resumed) await delay(50);
      }
      assert.ok(resumed, 'writes resumed within 5 s');
      assert.equal(resumed.baseOffset, 2, 'the failed batch keeps its offset');
      // Readers pass the gap once the ledger records it, which the resumed store does next.
      const deadline = performance.now() + 2000;
      while (engine.latestOffset(topic, 0) < 3 && performance.now() < deadline) await delay(20);
      const read = await engine.read(topic, 0, 0);
      assert.deepEqual(
        read.messages.map((m) => [m.offset, m.value.toString()]),
        [
          [0, 'a'],
          [2, 'd'],
        ],
      );
      assert.equal(read.gapSkipped, 1);
    } finally {
      await engine.close();
    }
  });

  test('EIO on a sync: the fsync batch is refused, the store is read-only, acknowledged messages are served', async () => {
    const faults = new DataFileFaults();
    const dataDir = tempDir();
    let engine = await StorageEngine.open(options(dataDir, { fileIO: faults.io }));
    try {
      await engine.createTopic(topic, { partitions: 1 });
      await engine.append(topic, 0, [{ value: 'w0' }], { acks: 'written' });
      faults.syncError = 'EIO';
      await assert.rejects(engine.append(topic, 0, [{ value: 'f1' }], { acks: 'fsync' }), (error) =>
        isTubeError(error, 'UNAVAILABLE'),
      );
      await assert.rejects(engine.append(topic, 0, [{ value: 'w2' }], { acks: 'written' }), (error) =>
        isTubeError(error, 'UNAVAILABLE'),
      );
      // What was acknowledged is served; the refused batch's data was written, and a consumer may
      // read it as it may any message whose producer saw an error.
      assert.equal((await engine.read(topic, 0, 0)).messages[0]?.value.toString(), 'w0');
      await engine.close();
      faults.syncError = undefined;
      engine = await StorageEngine.open(options(dataDir));
      assert.equal((await engine.read(topic, 0, 0)).messages[0]?.value.toString(), 'w0');
    } finally {
      await engine.close();
    }
  });
});
