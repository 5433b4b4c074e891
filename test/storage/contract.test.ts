// The storage engine's public contract (DESIGN.md §4): topics, contiguous offsets, exact read-back
// at every ack level, read limits, restart, segment rolling, alter/delete, stream filters, time
// search, retention, group offsets, the memory cache bound and a closed engine. Real files only.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { TubeError } from '../../src/common/errors.js';
import {
  checkRecord,
  decodeRecord,
  recordLengthField,
  StorageEngine,
  type AckLevel,
  type MessageInput,
  type StorageOptions,
  type StoredMessage,
} from '../../src/storage/index.js';
import {
  capturingLogger,
  removeTempDirs,
  storeDir,
  tempDir,
  xorshiftBytes,
} from '../helpers/storage-files.js';

after(removeTempDirs);

function openEngine(dataDir: string, options: Partial<StorageOptions> = {}): Promise<StorageEngine> {
  return StorageEngine.open({
    dataDir,
    retentionCheckIntervalMs: 0,
    logger: capturingLogger().logger,
    ...options,
  });
}

/** Runs `action` and asserts it throws (or rejects with) a TubeError of `code`; returns the error. */
async function expectTubeError(action: () => unknown, code: number, what = ''): Promise<TubeError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof TubeError,
    `${what}: expected TubeError ${code}, got ${caught instanceof Error ? caught.stack : String(caught)}`,
  );
  assert.equal(caught.code, code, `${what}: ${caught.message}`);
  return caught;
}

/** A message as the engine should give it back: bytes as hex, stream and attributes as plain values. */
interface Comparable {
  partition: number;
  offset: number;
  timestamp: number | 'any';
  key: string | null;
  value: string;
  streamId: string | null;
  attributes: Record<string, string>;
}

const hexOf = (data: Buffer | string) =>
  (typeof data === 'string' ? Buffer.from(data) : data).toString('hex');

function expected(message: MessageInput, partition: number, offset: number): Comparable {
  return {
    partition,
    offset,
    timestamp: message.timestamp ?? 'any',
    // A zero-length key is stored as "no key" (keyLength 0); both read back as undefined.
    key: message.key === undefined || message.key.length === 0 ? null : hexOf(message.key),
    value: hexOf(message.value),
    streamId: message.streamId === undefined || message.streamId === '' ? null : message.streamId,
    attributes: { ...(message.attributes ?? {}) },
  };
}

function comparable(message: StoredMessage, anyTimestamp = false): Comparable {
  return {
    partition: message.partition,
    offset: message.offset,
    timestamp: anyTimestamp ? 'any' : message.timestamp,
    key: message.key === undefined ? null : hexOf(message.key),
    value: hexOf(message.value),
    streamId: message.streamId ?? null,
    attributes: { ...message.attributes },
  };
}

function assertMessages(actual: StoredMessage[], wanted: Comparable[], what = ''): void {
  assert.equal(actual.length, wanted.length, `${what}: message count`);
  actual.forEach((message, i) => {
    const want = wanted[i]!;
    assert.deepStrictEqual(comparable(message, want.timestamp === 'any'), want, `${what}: message ${i}`);
  });
}

/** Reads a partition from `from` to its end in steps of `maxMessages`, asserting progress each step. */
async function readAll(
  engine: StorageEngine,
  topic: string,
  partition: number,
  from = engine.earliestOffset(topic, partition),
  maxMessages = 1000,
): Promise<StoredMessage[]> {
  const latest = engine.latestOffset(topic, partition);
  const messages: StoredMessage[] = [];
  let offset = from;
  while (offset < latest) {
    const result = await engine.read(topic, partition, offset, { maxMessages });
    assert.ok(result.nextOffset > offset, `read at ${offset} of ${topic}/${partition} made no progress`);
    assert.ok(result.messages.length <= maxMessages);
    assert.equal(result.latestOffset, latest);
    assert.equal(result.damagedSkipped, 0);
    messages.push(...result.messages);
    offset = result.nextOffset;
  }
  assert.equal(offset, latest);
  return messages;
}

function dataFiles(dataDir: string, topic: string, store = 0): { name: string; size: number }[] {
  const dir = storeDir(dataDir, topic, store);
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.data'))
    .sort()
    .map((name) => ({ name, size: fs.statSync(path.join(dir, name)).size }));
}

function indexFiles(dataDir: string, topic: string, partition: number, store = 0): string[] {
  const dir = path.join(storeDir(dataDir, topic, store), 'index', String(partition));
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.index'))
    .sort();
}

/** A deterministic value of `size` bytes, different per seed. */
function bytesOf(seed: number, size: number): Buffer {
  return xorshiftBytes(size, (seed * 2654435761) >>> 0);
}

const ackLevelList: AckLevel[] = ['memory', 'written', 'fsync'];

describe('topics', () => {
  test('createTopic applies the defaults (3 partitions, 1 store); list and describe show it', async () => {
    // Goal: defaults and metadata views. Method: create with and without config, list, describe, reopen.
    const dir = tempDir();
    const engine = await openEngine(dir);
    const before = Date.now();
    const beta = await engine.createTopic('beta');
    assert.equal(beta.name, 'beta');
    assert.equal(beta.partitions, 3);
    assert.equal(beta.stores, 1);
    assert.equal(beta.retentionMs, 168 * 3600_000);
    assert.equal(beta.retentionBytes, -1);
    assert.equal(beta.ackFloor, 'memory');
    assert.ok(beta.createdAtMs >= before && beta.createdAtMs <= Date.now());
    const alpha = await engine.createTopic('alpha', { partitions: 6, stores: 3, retentionMs: 1000 });
    assert.equal(alpha.partitions, 6);
    assert.equal(alpha.stores, 3);
    assert.equal(alpha.retentionMs, 1000);
    assert.deepEqual(
      engine.listTopics().map((topic) => topic.name),
      ['alpha', 'beta'],
    );
    assert.deepEqual(engine.describeTopic('beta'), beta);
    assert.deepEqual(engine.describeTopic('alpha'), alpha);
    for (let p = 0; p < 3; p++) {
      assert.equal(engine.latestOffset('beta', p), 0);
      assert.equal(engine.earliestOffset('beta', p), 0);
    }
    // Returned objects are copies.
    engine.describeTopic('beta').partitions = 99;
    engine.listTopics()[0]!.partitions = 99;
    assert.equal(engine.describeTopic('beta').partitions, 3);
    assert.equal(engine.describeTopic('alpha').partitions, 6);
    assert.equal(engine.stats().topics, 2);
    assert.equal(engine.stats().stores, 4);
    await engine.close();
    const reopened = await openEngine(dir);
    assert.deepEqual(reopened.listTopics(), [alpha, beta]);
    await reopened.close();
  });
});

describe('append and read', () => {
  test('offsets are contiguous from 0 per partition and independent across partitions', async () => {
    // Goal: the n-th message of a partition has offset n. Method: interleave batches of varied sizes over 3 partitions.
    const engine = await openEngine(tempDir());
    await engine.createTopic('t');
    const next = [0, 0, 0];
    const sizes = [1, 5, 2, 17, 3, 1, 8, 4, 1, 11, 2];
    for (const [i, size] of sizes.entries()) {
      const partition = (i * 7) % 3;
      const batch = Array.from({ length: size }, (_, k) => ({
        value: `p${partition}-${next[partition]! + k}`,
      }));
      const result = await engine.append('t', partition, batch);
      assert.deepEqual(result, { baseOffset: next[partition], count: size });
      next[partition]! += size;
      assert.equal(engine.latestOffset('t', partition), next[partition]);
    }
    for (let p = 0; p < 3; p++) {
      const messages = await readAll(engine, 't', p);
      assert.deepEqual(
        messages.map((message) => [message.partition, message.offset, message.value.toString()]),
        Array.from({ length: next[p]! }, (_, offset) => [p, offset, `p${p}-${offset}`]),
      );
    }
    await engine.close();
  });

  for (const acks of ackLevelList) {
    test(`acks=${acks}: read returns key, value, timestamp, attributes and streamId byte for byte`, async () => {
      // Goal: exact read-back at this ack level, from the cache and from disk. Method: binary fields, read now, after flush, after reopen.
      const dir = tempDir();
      const engine = await openEngine(dir, { cacheBlockAgeMs: 60_000 });
      await engine.createTopic('t', { partitions: 2 });
      const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0x0d, 0x00]);
      const batch: MessageInput[] = [
        { value: binary, key: Buffer.from([0xff, 0x00, 0x80]), timestamp: 1_700_000_000_123 },
        { value: '', key: 'k', timestamp: 0 },
        { value: 'héllo ✓', streamId: 'orders', attributes: { region: 'eu', 'x.y': '' }, timestamp: 2 ** 50 },
        {
          value: bytesOf(1, 5000),
          key: bytesOf(2, 300),
          streamId: 's',
          attributes: { a: 'b' },
          timestamp: 5,
        },
        { value: Buffer.alloc(0), attributes: { only: 'attr', 'ü-k': 'ü-v' }, timestamp: 7 },
      ];
      const wanted = batch.map((message, i) => expected(message, 1, i));
      const result = await engine.append('t', 1, batch, { acks });
      assert.deepEqual(result, { baseOffset: 0, count: batch.length });
      // The engine copied the bytes: changing the caller's buffers changes nothing stored.
      binary.fill(0x55);
      assertMessages((await engine.read('t', 1, 0)).messages, wanted, `${acks}, first read`);
      // readRaw serves whole checked records, back to back.
      const raw = await engine.readRaw('t', 1, 0);
      assert.equal(raw.count, batch.length);
      assert.equal(raw.nextOffset, batch.length);
      let records = 0;
      for (const chunk of raw.chunks) {
        for (let at = 0; at < chunk.length; at += recordLengthField(chunk, at)) {
          assert.equal(checkRecord(chunk, at), recordLengthField(chunk, at));
          assert.equal(decodeRecord(chunk, at).offset, records++);
        }
      }
      assert.equal(records, batch.length);
      await engine.flush();
      assert.equal(engine.stats().cacheBytes, 0);
      assertMessages((await engine.read('t', 1, 0)).messages, wanted, `${acks}, after flush`);
      assert.equal(engine.latestOffset('t', 0), 0);
      await engine.close();
      const reopened = await openEngine(dir);
      assertMessages((await reopened.read('t', 1, 0)).messages, wanted, `${acks}, after reopen`);
      await reopened.close();
    });
  }

  test('a topic ackFloor raises weaker acks; every level resolves with the right offsets when mixed', async () => {
    // Goal: mixed ack levels in flight at once keep order. Method: fire 60 appends with rotating acks without awaiting.
    const engine = await openEngine(tempDir(), { defaultAcks: 'memory' });
    await engine.createTopic('floor', { partitions: 1, ackFloor: 'fsync' });
    const pending = Array.from({ length: 60 }, (_, i) =>
      engine.append('floor', 0, [{ value: `m${i}` }, { value: `n${i}` }], { acks: ackLevelList[i % 3]! }),
    );
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((result) => result.baseOffset),
      Array.from({ length: 60 }, (_, i) => i * 2),
    );
    const messages = await readAll(engine, 'floor', 0);
    assert.deepEqual(
      messages.map((message) => message.value.toString()),
      Array.from({ length: 60 }, (_, i) => [`m${i}`, `n${i}`]).flat(),
    );
    await engine.close();
  });

  test('read honours maxMessages and maxBytes (first record always returned); nextOffset continues to the end', async () => {
    // Goal: read limits and continuation. Method: 40 equal-size records, then reads with limits around the record size.
    const engine = await openEngine(tempDir());
    await engine.createTopic('limits', { partitions: 1 });
    const count = 40;
    await engine.append(
      'limits',
      0,
      Array.from({ length: count }, (_, i) => ({
        value: bytesOf(i, 100),
        key: `key-${String(i).padStart(2, '0')}`,
      })),
    );
    const recordSize = (await engine.readRaw('limits', 0, 0, { maxMessages: 1 })).chunks[0]!.length;
    assert.equal(recordSize, 48 + 6 + 100);
    for (const maxMessages of [1, 3, 7, 40, 1000]) {
      const result = await engine.read('limits', 0, 0, { maxMessages });
      assert.equal(result.messages.length, Math.min(maxMessages, count));
      assert.equal(result.nextOffset, Math.min(maxMessages, count));
      assert.equal(result.latestOffset, count);
    }
    for (const [maxBytes, wantedCount] of [
      [1, 1],
      [recordSize - 1, 1],
      [recordSize, 1],
      [2 * recordSize - 1, 1],
      [2 * recordSize, 2],
      [5 * recordSize + 3, 5],
      [100 * recordSize, count],
    ] as const) {
      const result = await engine.read('limits', 0, 10, { maxBytes });
      const wantedHere = Math.min(wantedCount, count - 10);
      assert.equal(result.messages.length, wantedHere, `maxBytes ${maxBytes}`);
      assert.equal(result.nextOffset, 10 + wantedHere, `maxBytes ${maxBytes}`);
      const raw = await engine.readRaw('limits', 0, 10, { maxBytes });
      const bytes = raw.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      assert.ok(raw.count === 1 || bytes <= maxBytes, `maxBytes ${maxBytes}: served ${bytes}`);
    }
    // Continuing with nextOffset from any start reaches the end and sees every message once.
    for (const [from, step] of [
      [0, 3],
      [17, 1],
      [39, 5],
    ] as const) {
      const messages = await readAll(engine, 'limits', 0, from, step);
      assert.deepEqual(
        messages.map((message) => message.offset),
        Array.from({ length: count - from }, (_, i) => from + i),
      );
    }
    const atEnd = await engine.read('limits', 0, count);
    assert.deepEqual(atEnd, {
      messages: [],
      nextOffset: count,
      latestOffset: count,
      damagedSkipped: 0,
      gapSkipped: 0,
    });
    const rawAtEnd = await engine.readRaw('limits', 0, count);
    assert.equal(rawAtEnd.count, 0);
    assert.deepEqual(rawAtEnd.chunks, []);
    await engine.close();
  });

  test('data survives a clean close and reopen with the same offsets, and appends continue after it', async () => {
    // Goal: restart keeps everything. Method: append at all ack levels over 4 partitions, close, reopen twice, compare.
    const dir = tempDir();
    const wanted = new Map<number, Comparable[]>();
    let engine = await openEngine(dir);
    await engine.createTopic('durable', { partitions: 4, stores: 2 });
    const appendRound = async (round: number) => {
      for (let p = 0; p < 4; p++) {
        const batch = Array.from({ length: 1 + ((p + round) % 4) }, (_, i) => ({
          value: bytesOf(round * 100 + p * 10 + i, 10 + i * 37),
          key: `r${round}`,
          timestamp: 1000 * round + i,
          streamId: i % 2 === 0 ? 'even' : undefined,
        }));
        const { baseOffset } = await engine.append('durable', p, batch, {
          acks: ackLevelList[(p + round) % 3]!,
        });
        const list = wanted.get(p) ?? [];
        assert.equal(baseOffset, list.length);
        list.push(...batch.map((message, i) => expected(message, p, baseOffset + i)));
        wanted.set(p, list);
      }
    };
    const check = async (what: string) => {
      for (let p = 0; p < 4; p++) {
        assert.equal(engine.latestOffset('durable', p), wanted.get(p)!.length, `${what}: latest of ${p}`);
        assertMessages(await readAll(engine, 'durable', p), wanted.get(p)!, `${what}: partition ${p}`);
      }
    };
    for (let round = 0; round < 5; round++) await appendRound(round);
    await check('before close');
    await engine.close();
    engine = await openEngine(dir);
    assert.ok(engine.openReports.length === 2 && engine.openReports.every((report) => report.clean));
    await check('after reopen');
    for (let round = 5; round < 8; round++) await appendRound(round);
    await check('appended after reopen');
    await engine.close();
    engine = await openEngine(dir);
    await check('after second reopen');
    await engine.close();
  });

  test('50 topics × 3 partitions, stores 1 and 3, interleaved appends read back exactly, also after reopen', async () => {
    // Goal: many topics share nothing by accident. Method: round-robin appends over 150 partitions, check all, reopen, check again.
    const dir = tempDir();
    let engine = await openEngine(dir);
    const topics = Array.from({ length: 50 }, (_, i) => `topic-${String(i).padStart(2, '0')}`);
    for (const [i, topic] of topics.entries())
      await engine.createTopic(topic, { stores: i % 2 === 0 ? 1 : 3 });
    assert.equal(engine.stats().stores, 25 * 1 + 25 * 3);
    const counts = new Map<string, number>();
    const pending: Promise<unknown>[] = [];
    for (let round = 0; round < 4; round++) {
      for (const [t, topic] of topics.entries()) {
        for (let p = 0; p < 3; p++) {
          const key = `${topic}/${p}`;
          const size = 1 + ((t + p + round) % 3);
          const base = counts.get(key) ?? 0;
          const batch = Array.from({ length: size }, (_, i) => ({ value: `${key}#${base + i}`, key }));
          counts.set(key, base + size);
          pending.push(
            engine
              .append(topic, p, batch, { acks: ackLevelList[(t + round) % 3]! })
              .then((result) => assert.equal(result.baseOffset, base, key)),
          );
        }
      }
    }
    await Promise.all(pending);
    const check = async (what: string) => {
      for (const topic of topics) {
        for (let p = 0; p < 3; p++) {
          const key = `${topic}/${p}`;
          const messages = await readAll(engine, topic, p);
          assert.deepEqual(
            messages.map((message) => [message.key?.toString(), message.value.toString()]),
            Array.from({ length: counts.get(key)! }, (_, i) => [key, `${key}#${i}`]),
            `${what}: ${key}`,
          );
        }
      }
    };
    await check('live');
    await engine.close();
    engine = await openEngine(dir);
    assert.equal(engine.listTopics().length, 50);
    await check('reopened');
    await engine.close();
  });
});

describe('segments', () => {
  test('tiny segments roll; reads cross data and index segment boundaries before and after reopen', async () => {
    // Goal: rolling is invisible to readers. Method: segmentBytes 4096, 16 index entries, read from every offset with small steps.
    const dir = tempDir();
    const options = { segmentBytes: 4096, indexSegmentEntries: 16 };
    let engine = await openEngine(dir, options);
    await engine.createTopic('roll', { partitions: 2 });
    const wanted: Comparable[][] = [[], []];
    for (let i = 0; i < 120; i++) {
      const p = i % 2;
      const batch = Array.from({ length: 1 + (i % 3) }, (_, k) => ({
        value: bytesOf(i * 10 + k, 60 + ((i * 37 + k * 11) % 200)),
        timestamp: i,
      }));
      const { baseOffset } = await engine.append('roll', p, batch, { acks: ackLevelList[i % 3]! });
      wanted[p]!.push(...batch.map((message, k) => expected(message, p, baseOffset + k)));
    }
    await engine.flush();
    const check = async (what: string) => {
      for (const p of [0, 1]) {
        const list = wanted[p]!;
        assert.equal(engine.latestOffset('roll', p), list.length);
        assertMessages(await readAll(engine, 'roll', p), list, `${what} p${p} whole`);
        assertMessages(await readAll(engine, 'roll', p, 0, 7), list, `${what} p${p} by 7`);
        for (let from = 0; from < list.length; from += 5) {
          const result = await engine.read('roll', p, from, { maxMessages: 20 });
          assert.ok(result.messages.length >= 1);
          assertMessages(
            result.messages,
            list.slice(from, from + result.messages.length),
            `${what} p${p} @${from}`,
          );
        }
      }
    };
    await check('live');
    const segments = dataFiles(dir, 'roll');
    assert.ok(segments.length >= 5, `expected several data segments, got ${segments.length}`);
    for (const segment of segments.slice(0, -1))
      assert.ok(segment.size <= 4096, `${segment.name} is ${segment.size}`);
    assert.equal(segments[0]!.name, '00000000000000000000.data');
    assert.ok(indexFiles(dir, 'roll', 0).length >= 5);
    assert.equal(indexFiles(dir, 'roll', 1)[1], '00000000000000000016.index');
    await engine.close();
    engine = await openEngine(dir, options);
    await check('reopened');
    // Appends after reopen go on across new boundaries.
    for (let i = 0; i < 40; i++) {
      const message = { value: bytesOf(9000 + i, 150), timestamp: 1000 + i };
      const { baseOffset } = await engine.append('roll', 0, [message]);
      wanted[0]!.push(expected(message, 0, baseOffset));
    }
    await check('appended after reopen');
    await engine.close();
  });
});

describe('alter and delete', () => {
  test('alterTopic adds partitions to a live topic (new start at 0, old keep data); shrinking is BAD_REQUEST', async () => {
    // Goal: partitions only grow, live. Method: 2 → 5 partitions over 2 stores, append everywhere, try to shrink, reopen.
    const dir = tempDir();
    let engine = await openEngine(dir);
    await engine.createTopic('grow', { partitions: 2, stores: 2 });
    await engine.append('grow', 0, [{ value: 'a0' }, { value: 'a1' }]);
    await engine.append('grow', 1, [{ value: 'b0' }]);
    await expectTubeError(() => engine.latestOffset('grow', 4), 404, 'before alter');
    const altered = await engine.alterTopic('grow', { partitions: 5, retentionMs: 60_000 });
    assert.equal(altered.partitions, 5);
    assert.equal(altered.stores, 2);
    assert.equal(altered.retentionMs, 60_000);
    assert.deepEqual(engine.describeTopic('grow'), altered);
    for (const p of [2, 3, 4]) {
      assert.equal(engine.latestOffset('grow', p), 0);
      assert.equal(engine.earliestOffset('grow', p), 0);
      assert.deepEqual((await engine.read('grow', p, 0)).messages, []);
    }
    assert.deepEqual(
      (await readAll(engine, 'grow', 0)).map((message) => message.value.toString()),
      ['a0', 'a1'],
    );
    for (const p of [2, 3, 4]) {
      const result = await engine.append('grow', p, [{ value: `new${p}` }], { acks: 'written' });
      assert.equal(result.baseOffset, 0);
    }
    await engine.append('grow', 0, [{ value: 'a2' }]);
    await expectTubeError(() => engine.alterTopic('grow', { partitions: 4 }), 400, 'shrink');
    await expectTubeError(() => engine.alterTopic('grow', { partitions: 1 }), 400, 'shrink below stores');
    assert.equal(engine.describeTopic('grow').partitions, 5);
    await engine.close();
    engine = await openEngine(dir);
    assert.equal(engine.describeTopic('grow').partitions, 5);
    assert.deepEqual(
      (await readAll(engine, 'grow', 0)).map((message) => message.value.toString()),
      ['a0', 'a1', 'a2'],
    );
    assert.deepEqual(
      (await readAll(engine, 'grow', 1)).map((message) => message.value.toString()),
      ['b0'],
    );
    for (const p of [2, 3, 4]) {
      assert.deepEqual(
        (await readAll(engine, 'grow', p)).map((message) => [message.partition, message.value.toString()]),
        [[p, `new${p}`]],
      );
    }
    await engine.close();
  });

  test('deleteTopic removes it: NOT_FOUND, files gone, committed offsets gone, recreated empty', async () => {
    // Goal: delete leaves nothing behind. Method: data + commits on two topics, delete one, check files and offsets, recreate, reopen.
    const dir = tempDir();
    let engine = await openEngine(dir, { segmentBytes: 4096 });
    await engine.createTopic('doomed', { partitions: 2, stores: 2 });
    await engine.createTopic('keeper', { partitions: 1 });
    for (let i = 0; i < 30; i++) await engine.append('doomed', i % 2, [{ value: bytesOf(i, 500) }]);
    await engine.append('keeper', 0, [{ value: 'k' }, { value: 'k2' }]);
    const pendingMemory = engine.append('doomed', 0, [{ value: 'in cache' }], { acks: 'memory' });
    await engine.commitOffsets([
      { group: 'g1', topic: 'doomed', partition: 0, offset: 3 },
      { group: 'g1', topic: 'doomed', partition: 1, offset: 2 },
      { group: 'g2', topic: 'doomed', partition: 1, offset: 1 },
      { group: 'g1', topic: 'keeper', partition: 0, offset: 2 },
    ]);
    await pendingMemory;
    await engine.deleteTopic('doomed');
    await expectTubeError(() => engine.describeTopic('doomed'), 404, 'describe');
    await expectTubeError(() => engine.latestOffset('doomed', 0), 404, 'latestOffset');
    await expectTubeError(() => engine.read('doomed', 0, 0), 404, 'read');
    await expectTubeError(() => engine.append('doomed', 0, [{ value: 'x' }]), 404, 'append');
    await expectTubeError(() => engine.deleteTopic('doomed'), 404, 'delete again');
    assert.deepEqual(
      engine.listTopics().map((topic) => topic.name),
      ['keeper'],
    );
    assert.equal(fs.existsSync(path.join(dir, 'topics', 'doomed')), false);
    const trash = path.join(dir, 'trash');
    assert.ok(!fs.existsSync(trash) || fs.readdirSync(trash).length === 0, 'trash emptied');
    assert.deepEqual(engine.listCommittedOffsets({ topic: 'doomed' }), []);
    assert.equal(engine.committedOffset('g1', 'doomed', 0), undefined);
    assert.equal(engine.committedOffset('g1', 'keeper', 0), 2);
    assert.deepEqual(
      (await readAll(engine, 'keeper', 0)).map((message) => message.value.toString()),
      ['k', 'k2'],
    );
    assert.equal(engine.stats().topics, 1);
    const recreated = await engine.createTopic('doomed', { partitions: 2 });
    assert.equal(recreated.stores, 1);
    for (const p of [0, 1]) {
      assert.equal(engine.latestOffset('doomed', p), 0);
      assert.equal(engine.earliestOffset('doomed', p), 0);
    }
    assert.equal(engine.committedOffset('g1', 'doomed', 0), undefined);
    assert.equal((await engine.append('doomed', 0, [{ value: 'fresh' }])).baseOffset, 0);
    await engine.close();
    engine = await openEngine(dir, { segmentBytes: 4096 });
    assert.deepEqual(
      engine.listTopics().map((topic) => [topic.name, topic.stores]),
      [
        ['doomed', 1],
        ['keeper', 1],
      ],
    );
    assert.deepEqual(
      (await readAll(engine, 'doomed', 0)).map((message) => message.value.toString()),
      ['fresh'],
    );
    assert.equal(engine.latestOffset('doomed', 1), 0);
    assert.deepEqual(engine.listCommittedOffsets({ topic: 'doomed' }), []);
    assert.deepEqual(engine.listCommittedOffsets(), [
      { group: 'g1', topic: 'keeper', partition: 0, offset: 2 },
    ]);
    await engine.close();
  });
});

describe('stream filters', () => {
  test('streamIds returns only matching messages and nextOffset moves past skipped ones', async () => {
    // Goal: filtered reads skip other streams without stalling. Method: mixed streams, filtered reads from cache and from disk.
    const dir = tempDir();
    let engine = await openEngine(dir, { cacheBlockAgeMs: 60_000 });
    await engine.createTopic('streams', { partitions: 1 });
    const streams = ['a', 'b', undefined, 'a', 'c', 'b', 'b', 'a', undefined, 'c', 'b', 'b'];
    await engine.append(
      'streams',
      0,
      streams.map((streamId, i) => ({ value: `v${i}`, streamId })),
      { acks: 'memory' },
    );
    const offsetsOf = (wanted: (string | undefined)[]) =>
      streams.flatMap((streamId, i) => (wanted.includes(streamId) ? [i] : []));
    const check = async (what: string) => {
      for (const ids of [['a'], ['b'], ['c'], ['a', 'c'], ['zzz']]) {
        const result = await engine.read('streams', 0, 0, { streamIds: ids });
        assert.deepEqual(
          result.messages.map((message) => [message.offset, message.streamId, message.value.toString()]),
          offsetsOf(ids).map((offset) => [offset, streams[offset], `v${offset}`]),
          `${what} ${ids.join(',')}`,
        );
        // Nothing matching is left after the read, so the reader is told to continue at the end.
        assert.equal(result.nextOffset, streams.length, `${what} ${ids.join(',')}`);
      }
      // With maxMessages, nextOffset is just past the last returned match.
      const two = await engine.read('streams', 0, 0, { streamIds: ['a'], maxMessages: 2 });
      assert.deepEqual(
        two.messages.map((message) => message.offset),
        [0, 3],
      );
      assert.equal(two.nextOffset, 4);
      const rest = await engine.read('streams', 0, two.nextOffset, { streamIds: ['a'], maxMessages: 2 });
      assert.deepEqual(
        rest.messages.map((message) => message.offset),
        [7],
      );
      assert.equal(rest.nextOffset, streams.length);
      // Starting in a run of skipped messages.
      const fromSkipped = await engine.read('streams', 0, 8, { streamIds: ['c'] });
      assert.deepEqual(
        fromSkipped.messages.map((message) => message.offset),
        [9],
      );
      assert.equal(fromSkipped.nextOffset, streams.length);
      const raw = await engine.readRaw('streams', 0, 0, { streamIds: ['b'] });
      assert.equal(raw.count, offsetsOf(['b']).length);
      assert.equal(raw.nextOffset, streams.length);
    };
    await check('cache');
    await engine.flush();
    await check('disk');
    await engine.close();
    engine = await openEngine(dir);
    await check('reopened');
    // A long run of other streams: every read makes progress, and the match after the run is found.
    const run = Array.from({ length: 10_000 }, (_, i) => ({ value: String(i), streamId: 'noise' }));
    await engine.append('streams', 0, [...run, { value: 'needle', streamId: 'rare' }]);
    let offset = streams.length;
    const found: string[] = [];
    for (let reads = 0; offset < engine.latestOffset('streams', 0); reads++) {
      assert.ok(reads < 100, 'filtered reads stall');
      const result = await engine.read('streams', 0, offset, { streamIds: ['rare'] });
      assert.ok(result.nextOffset > offset);
      found.push(...result.messages.map((message) => `${message.offset}:${message.value.toString()}`));
      offset = result.nextOffset;
    }
    assert.deepEqual(found, [`${streams.length + 10_000}:needle`]);
    await engine.close();
  });
});

describe('time search', () => {
  test('offsetForTimestamp gives the first offset at or after a timestamp, the log end after all', async () => {
    // Goal: time search over explicit timestamps. Method: timestamps 1000..10000 (one duplicate), probe around each, reopen.
    const dir = tempDir();
    let engine = await openEngine(dir, { indexSegmentEntries: 4 });
    await engine.createTopic('time', { partitions: 2 });
    const stamps = [1000, 2000, 3000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000];
    await engine.append(
      'time',
      1,
      stamps.slice(0, 4).map((timestamp) => ({ value: 'x', timestamp })),
    );
    await engine.append(
      'time',
      1,
      stamps.slice(4).map((timestamp) => ({ value: 'x', timestamp })),
      { acks: 'memory' },
    );
    const firstAtOrAfter = (ts: number) => {
      const found = stamps.findIndex((stamp) => stamp >= ts);
      return found < 0 ? stamps.length : found;
    };
    const check = async (what: string) => {
      for (const ts of [0, 999, 1000, 1001, 2999, 3000, 3001, 5500, 9999, 10000, 10001, 2 ** 45]) {
        assert.equal(await engine.offsetForTimestamp('time', 1, ts), firstAtOrAfter(ts), `${what} ts ${ts}`);
      }
      assert.equal(await engine.offsetForTimestamp('time', 0, 5000), 0, `${what} empty partition`);
    };
    await check('live');
    await engine.close();
    engine = await openEngine(dir, { indexSegmentEntries: 4 });
    await check('reopened');
    await engine.close();
  });

  test('offsetForTimestamp gives the same answer whether or not the engine restarted between appends', async () => {
    // Goal: the index timestamp stays monotone across a restart. Method: a late timestamp, then earlier ones, with and without reopen.
    const run = async (restart: boolean) => {
      const dir = tempDir();
      let engine = await openEngine(dir);
      await engine.createTopic('clock', { partitions: 1 });
      await engine.append('clock', 0, [{ value: 'late', timestamp: 5000 }]);
      if (restart) {
        await engine.close();
        engine = await openEngine(dir);
      }
      await engine.append(
        'clock',
        0,
        [1000, 2000, 3000, 4000].map((timestamp) => ({ value: 'early', timestamp })),
      );
      const answers = [];
      for (const ts of [500, 2500, 3500, 5000, 6000])
        answers.push(await engine.offsetForTimestamp('clock', 0, ts));
      await engine.close();
      return answers;
    };
    const withoutRestart = await run(false);
    // Offset 0 carries 5000, so it is the first offset at or after any ts ≤ 5000; nothing reaches 6000.
    assert.deepEqual(withoutRestart, [0, 0, 0, 0, 5]);
    assert.deepEqual(await run(true), withoutRestart);
  });
});

describe('retention', () => {
  test('by size: whole old segments go, never the active one; earliestOffset moves up; below it is 301', async () => {
    // Goal: size retention. Method: 4 KiB segments, retentionBytes 8 KiB, fill ~40 KiB, enforce, check files, offsets, reads, reopen.
    const dir = tempDir();
    const options = { segmentBytes: 4096, indexSegmentEntries: 16 };
    let engine = await openEngine(dir, options);
    const retentionBytes = 8192;
    await engine.createTopic('sized', { partitions: 1, retentionBytes });
    const values: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      values.push(bytesOf(i, 150));
      await engine.append('sized', 0, [{ value: values[i]! }]);
    }
    await engine.flush();
    const before = dataFiles(dir, 'sized');
    const totalBefore = before.reduce((sum, file) => sum + file.size, 0);
    assert.ok(totalBefore > 4 * retentionBytes);
    const deleted = await engine.enforceRetention();
    assert.ok(deleted > 0);
    const afterFiles = dataFiles(dir, 'sized');
    assert.equal(afterFiles.length, before.length - deleted);
    assert.deepEqual(afterFiles, before.slice(deleted), 'the oldest segments went, the newest stayed');
    const kept = afterFiles.reduce((sum, file) => sum + file.size, 0);
    assert.ok(kept >= retentionBytes, `kept ${kept} < retentionBytes ${retentionBytes}`);
    assert.ok(kept - afterFiles[0]!.size < retentionBytes, `kept ${kept}: one more segment could have gone`);
    assert.equal(engine.stats().bytesOnDisk, kept);
    const earliest = engine.earliestOffset('sized', 0);
    assert.ok(earliest > 0);
    assert.equal(engine.latestOffset('sized', 0), 200);
    const check = async (what: string) => {
      assert.equal(engine.earliestOffset('sized', 0), earliest, what);
      for (const below of [0, earliest - 1]) {
        const error = await expectTubeError(
          () => engine.read('sized', 0, below),
          301,
          `${what} read ${below}`,
        );
        assert.equal(error.details.earliest, earliest);
        assert.equal(error.details.latest, 200);
      }
      const messages = await readAll(engine, 'sized', 0, earliest, 13);
      assert.equal(messages.length, 200 - earliest);
      messages.forEach((message, i) =>
        assert.ok(message.value.equals(values[earliest + i]!), `${what} ${i}`),
      );
    };
    await check('live');
    assert.equal(await engine.enforceRetention(), 0, 'a second run finds nothing to delete');
    await engine.close();
    engine = await openEngine(dir, options);
    await check('reopened');
    // retentionBytes 0: everything but the active segment goes, the last message stays readable.
    await engine.alterTopic('sized', { retentionBytes: 0 });
    await engine.enforceRetention();
    const last = dataFiles(dir, 'sized');
    assert.equal(last.length, 1);
    assert.equal(last[0]!.name, afterFiles.at(-1)!.name, 'the active segment is never deleted');
    const latest = engine.latestOffset('sized', 0);
    assert.equal(latest, 200);
    const tail = await readAll(engine, 'sized', 0);
    assert.ok(tail.length >= 1);
    assert.equal(tail.at(-1)!.offset, 199);
    assert.ok(tail.at(-1)!.value.equals(values[199]!));
    await engine.close();
  });

  test('by time: segments older than retentionMs go at a future nowMs; reading at earliest works', async () => {
    // Goal: time retention. Method: roll segments over 3 partitions, enforce at now (nothing) then an
    // hour after the last of them was written, just before the last records (all closed ones).
    const dir = tempDir();
    const options = { segmentBytes: 4096, indexSegmentEntries: 8 };
    let engine = await openEngine(dir, options);
    await engine.createTopic('aged', { partitions: 3, retentionMs: 3_600_000 });
    const values: Buffer[][] = [[], [], []];
    for (let i = 0; i < 150; i++) {
      const p = i % 3;
      values[p]!.push(bytesOf(i, 200));
      await engine.append('aged', p, [{ value: values[p]!.at(-1)! }], { acks: ackLevelList[i % 3]! });
    }
    await engine.flush();
    const closedWrittenMs = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
    // One more record per partition in one cache block (a block never spans segments), so each
    // partition has something in the active segment.
    const extra = [0, 1, 2].map((p) => {
      values[p]!.push(bytesOf(1000 + p, 200));
      return engine.append('aged', p, [{ value: values[p]!.at(-1)! }], { acks: 'memory' });
    });
    await Promise.all(extra);
    await engine.flush();
    const before = dataFiles(dir, 'aged');
    assert.ok(before.length >= 4);
    assert.equal(await engine.enforceRetention(Date.now()), 0, 'nothing is an hour old yet');
    assert.equal(await engine.enforceRetention(closedWrittenMs + 3_600_000 + 1), before.length - 1);
    // The active segment is past its segmentMs (6 min), so the run closed it; it is kept.
    const left = dataFiles(dir, 'aged');
    assert.deepEqual(left.slice(0, 1), before.slice(-1), 'only the last segment is left');
    assert.deepEqual(
      left.slice(1).map((file) => file.size),
      [0],
      'and a new, empty one',
    );
    const earliest = [0, 1, 2].map((p) => engine.earliestOffset('aged', p));
    const check = async (what: string) => {
      for (const p of [0, 1, 2]) {
        assert.equal(engine.earliestOffset('aged', p), earliest[p], `${what} p${p}`);
        assert.ok(earliest[p]! > 0 && earliest[p]! < 51, `${what} p${p} earliest ${earliest[p]}`);
        assert.equal(engine.latestOffset('aged', p), 51);
        const error = await expectTubeError(
          () => engine.read('aged', p, earliest[p]! - 1),
          301,
          `${what} p${p}`,
        );
        assert.deepEqual(error.details, { earliest: earliest[p], latest: 51 });
        const atEarliest = await engine.read('aged', p, earliest[p]!, { maxMessages: 1 });
        assert.equal(atEarliest.messages[0]!.offset, earliest[p]);
        assert.ok(atEarliest.messages[0]!.value.equals(values[p]![earliest[p]!]!));
        const messages = await readAll(engine, 'aged', p);
        assert.equal(messages.length, 51 - earliest[p]!);
        messages.forEach((message, i) =>
          assert.ok(message.value.equals(values[p]![earliest[p]! + i]!), `${what} p${p} #${i}`),
        );
        // Time search never answers an offset that is gone.
        assert.equal(await engine.offsetForTimestamp('aged', p, 0), earliest[p]);
      }
    };
    await check('live');
    await engine.close();
    engine = await openEngine(dir, options);
    await check('reopened');
    await engine.append('aged', 0, [{ value: 'after' }]);
    assert.equal(engine.latestOffset('aged', 0), 52);
    await engine.close();
  });

  test('a read racing retention returns the data or 301 with the new earliest and latest offsets', async () => {
    // Goal: the OFFSET_OUT_OF_RANGE contract holds mid-read too. Method: start a read of offset 0 from disk, run retention before it completes.
    const engine = await openEngine(tempDir(), { segmentBytes: 4096, indexSegmentEntries: 16 });
    await engine.createTopic('race', { partitions: 1, retentionBytes: 0 });
    const values = Array.from({ length: 100 }, (_, i) => bytesOf(i, 150));
    for (const value of values) await engine.append('race', 0, [{ value }]);
    await engine.flush();
    const reading = engine.read('race', 0, 0, { maxMessages: 5 }).then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const deleted = await engine.enforceRetention();
    assert.ok(deleted > 0);
    const outcome = await reading;
    const earliest = engine.earliestOffset('race', 0);
    assert.ok(earliest > 0);
    if (outcome.ok) {
      outcome.result.messages.forEach((message, i) => assert.ok(message.value.equals(values[i]!)));
    } else {
      assert.ok(outcome.error instanceof TubeError, String(outcome.error));
      assert.equal(outcome.error.code, 301);
      assert.deepEqual(outcome.error.details, { earliest, latest: 100 });
    }
    await engine.close();
  });
});

describe('group offsets', () => {
  test('commitOffsets then committedOffset and listCommittedOffsets; survives reopen', async () => {
    // Goal: committed offsets are kept and durable. Method: commit for two groups, overwrite one, reopen, read back.
    const dir = tempDir();
    let engine = await openEngine(dir);
    await engine.createTopic('t', { partitions: 2 });
    await engine.createTopic('u', { partitions: 1 });
    await engine.append('t', 0, [{ value: '1' }, { value: '2' }, { value: '3' }]);
    await engine.append('t', 1, [{ value: '1' }]);
    await engine.append('u', 0, [{ value: '1' }, { value: '2' }]);
    assert.equal(engine.committedOffset('g', 't', 0), undefined);
    await engine.commitOffsets([
      { group: 'g', topic: 't', partition: 0, offset: 1 },
      { group: 'g', topic: 't', partition: 1, offset: 1 },
      { group: 'h', topic: 'u', partition: 0, offset: 2 },
    ]);
    await engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset: 3 }]);
    await engine.commitOffsets([{ group: 'g', topic: 'u', partition: 0, offset: 0 }]);
    const check = (what: string) => {
      assert.equal(engine.committedOffset('g', 't', 0), 3, what);
      assert.equal(engine.committedOffset('g', 't', 1), 1, what);
      assert.equal(engine.committedOffset('h', 'u', 0), 2, what);
      assert.equal(engine.committedOffset('g', 'u', 0), 0, what);
      assert.equal(engine.committedOffset('h', 't', 0), undefined, what);
      const sort = (list: { group: string; topic: string; partition: number }[]) =>
        [...list].sort((a, b) =>
          `${a.group}/${a.topic}/${a.partition}`.localeCompare(`${b.group}/${b.topic}/${b.partition}`),
        );
      assert.deepEqual(sort(engine.listCommittedOffsets({ group: 'g' })), [
        { group: 'g', topic: 't', partition: 0, offset: 3 },
        { group: 'g', topic: 't', partition: 1, offset: 1 },
        { group: 'g', topic: 'u', partition: 0, offset: 0 },
      ]);
      assert.deepEqual(sort(engine.listCommittedOffsets({ topic: 'u' })), [
        { group: 'g', topic: 'u', partition: 0, offset: 0 },
        { group: 'h', topic: 'u', partition: 0, offset: 2 },
      ]);
      assert.equal(engine.listCommittedOffsets().length, 4);
    };
    check('live');
    await engine.close();
    engine = await openEngine(dir);
    check('reopened');
    await engine.close();
  });

  test('more than 10,000 commits (past log compaction) then reopen give the last values', async () => {
    // Goal: compaction keeps the newest offsets. Method: 24,000 commits in sequential and concurrent batches, reopen twice.
    const dir = tempDir();
    let engine = await openEngine(dir);
    await engine.createTopic('busy', { partitions: 4 });
    for (let p = 0; p < 4; p++)
      await engine.append(
        'busy',
        p,
        Array.from({ length: 100 }, (_, i) => ({ value: String(i) })),
      );
    const groups = Array.from({ length: 25 }, (_, i) => `group-${i}`);
    const last = new Map<string, number>();
    const batchOf = (round: number) =>
      groups.flatMap((group, g) =>
        [0, 1, 2, 3].map((partition) => {
          const offset = (round * 7 + g * 3 + partition) % 101;
          last.set(`${group}/${partition}`, offset);
          return { group, topic: 'busy', partition, offset };
        }),
      );
    // 100 commits per call: 120 calls sequentially, then 120 concurrently.
    for (let round = 0; round < 120; round++) await engine.commitOffsets(batchOf(round));
    const concurrent: Promise<void>[] = [];
    for (let round = 120; round < 240; round++) concurrent.push(engine.commitOffsets(batchOf(round)));
    await Promise.all(concurrent);
    assert.ok(fs.existsSync(path.join(dir, 'offsets', 'offsets.snapshot')), 'the log was compacted');
    const check = (what: string) => {
      for (const group of groups) {
        for (let partition = 0; partition < 4; partition++) {
          assert.equal(
            engine.committedOffset(group, 'busy', partition),
            last.get(`${group}/${partition}`),
            `${what}: ${group}/${partition}`,
          );
        }
      }
      assert.equal(engine.listCommittedOffsets().length, groups.length * 4);
    };
    check('live');
    await engine.close();
    engine = await openEngine(dir);
    check('reopened');
    await engine.commitOffsets([{ group: 'group-0', topic: 'busy', partition: 0, offset: 100 }]);
    last.set('group-0/0', 100);
    await engine.close();
    engine = await openEngine(dir);
    check('reopened twice');
    await engine.close();
  });
});

describe('memory cache bound', () => {
  test('a full cache answers BUSY (419), stays within cacheBytesMax, and takes appends again after a flush', async () => {
    // Goal: the cache never grows without bound. Method: 64 KiB cache, memory acks, no age flush, 300 appends without awaiting.
    const cacheBytesMax = 64 * 1024;
    const engine = await openEngine(tempDir(), {
      cacheBytesMax,
      cacheBlockAgeMs: 600_000,
      defaultAcks: 'memory',
    });
    await engine.createTopic('full', { partitions: 2 });
    const attempts = Array.from({ length: 300 }, (_, i) => {
      const promise = engine.append('full', i % 2, [{ value: bytesOf(i, 1000) }]);
      return promise.then(
        (result) => ({ ok: true as const, i, result }),
        (error: unknown) => ({ ok: false as const, i, error }),
      );
    });
    assert.ok(engine.stats().cacheBytes <= cacheBytesMax, `cache holds ${engine.stats().cacheBytes}`);
    const outcomes = await Promise.all(attempts);
    type Outcome = (typeof outcomes)[number];
    const accepted = outcomes.filter((outcome): outcome is Extract<Outcome, { ok: true }> => outcome.ok);
    const refused = outcomes.filter((outcome): outcome is Extract<Outcome, { ok: false }> => !outcome.ok);
    assert.ok(accepted.length > 0, 'some appends fit');
    assert.ok(refused.length > 0, 'the cache filled up');
    for (const outcome of refused) {
      assert.ok(outcome.error instanceof TubeError, String(outcome.error));
      assert.equal(outcome.error.code, 419);
      assert.equal(outcome.error.retriable, true);
    }
    const stats = engine.stats();
    assert.ok(stats.cacheBytes <= cacheBytesMax, `cache holds ${stats.cacheBytes}`);
    assert.ok(stats.cacheBytes > cacheBytesMax / 2, `cache holds only ${stats.cacheBytes}`);
    // Refused appends took no offsets; accepted ones are contiguous per partition.
    for (const p of [0, 1]) {
      const mine = accepted.filter((outcome) => outcome.i % 2 === p);
      assert.deepEqual(
        mine.map((outcome) => outcome.result.baseOffset),
        mine.map((_, k) => k),
      );
      assert.equal(engine.latestOffset('full', p), mine.length);
    }
    await engine.flush();
    assert.equal(engine.stats().cacheBytes, 0);
    for (let i = 0; i < 50; i++) await engine.append('full', 0, [{ value: bytesOf(10_000 + i, 1000) }]);
    assert.ok(engine.stats().cacheBytes <= cacheBytesMax);
    const messages = await readAll(engine, 'full', 0);
    const wanted = [
      ...accepted.filter((outcome) => outcome.i % 2 === 0).map((outcome) => bytesOf(outcome.i, 1000)),
      ...Array.from({ length: 50 }, (_, i) => bytesOf(10_000 + i, 1000)),
    ];
    assert.equal(messages.length, wanted.length);
    messages.forEach((message, i) => assert.ok(message.value.equals(wanted[i]!), `message ${i}`));
    await engine.close();
  });
});

describe('closed engine', () => {
  test('every operation of a closed engine rejects with UNAVAILABLE (503)', async () => {
    // Goal: nothing works after close, with a clear code. Method: close, then call each public operation.
    const engine = await openEngine(tempDir());
    await engine.createTopic('t', { partitions: 1 });
    await engine.append('t', 0, [{ value: 'x' }]);
    await engine.close();
    await engine.close(); // a second close is harmless
    const operations: [string, () => unknown][] = [
      ['createTopic', () => engine.createTopic('other')],
      ['alterTopic', () => engine.alterTopic('t', { partitions: 2 })],
      ['deleteTopic', () => engine.deleteTopic('t')],
      ['listTopics', () => engine.listTopics()],
      ['describeTopic', () => engine.describeTopic('t')],
      ['append', () => engine.append('t', 0, [{ value: 'y' }])],
      ['read', () => engine.read('t', 0, 0)],
      ['readRaw', () => engine.readRaw('t', 0, 0)],
      ['earliestOffset', () => engine.earliestOffset('t', 0)],
      ['latestOffset', () => engine.latestOffset('t', 0)],
      ['offsetForTimestamp', () => engine.offsetForTimestamp('t', 0, 0)],
      ['commitOffsets', () => engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset: 0 }])],
      ['committedOffset', () => engine.committedOffset('g', 't', 0)],
      ['listCommittedOffsets', () => engine.listCommittedOffsets()],
      ['enforceRetention', () => engine.enforceRetention()],
      ['flush', () => engine.flush()],
    ];
    for (const [name, operation] of operations) {
      const error = await expectTubeError(operation, 503, name);
      assert.equal(error.retriable, true);
    }
  });
});

describe('property', () => {
  const attributeText = fc.stringMatching(/^[A-Za-z0-9._ü-]{0,6}$/);
  const messageArbitrary: fc.Arbitrary<MessageInput> = fc.record(
    {
      value: fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
        fc.string({ maxLength: 40 }),
        fc.constant(''),
      ),
      key: fc.oneof(
        fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes)),
        fc.string({ maxLength: 8 }),
      ),
      timestamp: fc.integer({ min: 0, max: 2 ** 48 }),
      streamId: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
      attributes: fc.dictionary(
        attributeText.filter((key) => key !== ''),
        attributeText,
        { maxKeys: 3 },
      ),
    },
    { requiredKeys: ['value'] },
  );
  const batchArbitrary = fc.record({
    partition: fc.integer({ min: 0, max: 2 }),
    acks: fc.constantFrom<AckLevel>('memory', 'written', 'fsync'),
    messages: fc.array(messageArbitrary, { minLength: 1, maxLength: 5 }),
  });

  test('any sequence of batches reads back exactly, before and after close + reopen', async () => {
    // Goal: append/read is the identity, whatever the batches. Method: fast-check (50 runs) of batches over 3 partitions, concurrent appends.
    await fc.assert(
      fc.asyncProperty(fc.array(batchArbitrary, { minLength: 1, maxLength: 12 }), async (batches) => {
        const dir = tempDir();
        try {
          let engine = await openEngine(dir, { segmentBytes: 2048, indexSegmentEntries: 8 });
          await engine.createTopic('prop', { stores: 2, partitions: 3 });
          const wanted: Comparable[][] = [[], [], []];
          const started = Date.now();
          const results = await Promise.all(
            batches.map((batch) => {
              const list = wanted[batch.partition]!;
              const base = list.length;
              list.push(...batch.messages.map((message, i) => expected(message, batch.partition, base + i)));
              return engine
                .append('prop', batch.partition, batch.messages, { acks: batch.acks })
                .then((result) => ({ result, base, count: batch.messages.length }));
            }),
          );
          for (const { result, base, count } of results)
            assert.deepEqual(result, { baseOffset: base, count });
          const ended = Date.now();
          const check = async (what: string) => {
            for (let p = 0; p < 3; p++) {
              const messages = await readAll(engine, 'prop', p, 0, 4);
              assertMessages(messages, wanted[p]!, `${what} p${p}`);
              for (const [i, message] of messages.entries()) {
                if (wanted[p]![i]!.timestamp === 'any')
                  assert.ok(message.timestamp >= started && message.timestamp <= ended, 'broker timestamp');
              }
            }
          };
          await check('live');
          await engine.close();
          engine = await openEngine(dir, { segmentBytes: 2048, indexSegmentEntries: 8 });
          await check('reopened');
          await engine.close();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 50 },
    );
  });
});
