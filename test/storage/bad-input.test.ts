// Bad input to the storage engine gets a TubeError with the right code (DESIGN.md §5) and
// changes nothing: after every refusal the topics, offsets, data, commits and files are as before.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { TubeError } from '../../src/common/errors.js';
import {
  StorageEngine,
  type MessageInput,
  type StorageOptions,
  type TopicConfig,
} from '../../src/storage/index.js';
import { removeTempDirs, tempDir } from '../helpers/storage-files.js';

after(removeTempDirs);

const quiet = { info() {}, warn() {}, error() {} };

interface Fixture {
  engine: StorageEngine;
  dir: string;
}

/**
 * A fresh engine with topic `t` (2 partitions; 3 messages in partition 0, 1 in partition 1, one
 * still in the memory cache) and one committed offset: something that a bad call could damage.
 */
async function fixture(options: Partial<StorageOptions> = {}): Promise<Fixture> {
  const dir = tempDir();
  const engine = await StorageEngine.open({
    dataDir: dir,
    retentionCheckIntervalMs: 0,
    cacheBlockAgeMs: 60_000,
    logger: quiet,
    ...options,
  });
  await engine.createTopic('t', { partitions: 2 });
  await engine.append('t', 0, [
    { value: 'zero', key: 'k0', timestamp: 1000 },
    { value: 'one', streamId: 's', timestamp: 2000 },
  ]);
  await engine.append('t', 0, [{ value: 'two', attributes: { a: 'b' }, timestamp: 3000 }], {
    acks: 'memory',
  });
  await engine.append('t', 1, [{ value: 'p1', timestamp: 1500 }], { acks: 'fsync' });
  await engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset: 1 }]);
  return { engine, dir };
}

/** Everything a refused call must leave alone. */
async function snapshot({ engine, dir }: Fixture): Promise<unknown> {
  const partitions: unknown[] = [];
  for (const topic of engine.listTopics()) {
    for (let p = 0; p < topic.partitions; p++) {
      const earliest = engine.earliestOffset(topic.name, p);
      const latest = engine.latestOffset(topic.name, p);
      const read = await engine.read(topic.name, p, earliest);
      partitions.push({
        topic: topic.name,
        p,
        earliest,
        latest,
        nextOffset: read.nextOffset,
        messages: read.messages.map((message) => ({
          ...message,
          key: message.key?.toString('hex'),
          value: message.value.toString('hex'),
        })),
      });
    }
  }
  return {
    topics: engine.listTopics(),
    partitions,
    committed: engine.listCommittedOffsets(),
    cacheBytes: engine.stats().cacheBytes,
    files: fs.readdirSync(path.join(dir, 'topics')).sort(),
  };
}

/** Asserts `action` throws or rejects with a TubeError of `code` and that the fixture did not change. */
async function refused(
  fx: Fixture,
  code: number,
  what: string,
  action: (engine: StorageEngine) => unknown,
): Promise<TubeError> {
  const before = await snapshot(fx);
  let caught: unknown;
  try {
    await action(fx.engine);
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof TubeError,
    `${what}: expected TubeError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
  );
  assert.equal(caught.code, code, `${what}: ${caught.message}`);
  assert.deepEqual(await snapshot(fx), before, `${what}: state changed`);
  return caught;
}

/** Casts a deliberately ill-typed value past the compiler, as a network peer could send it. */
const unchecked = <T>(value: unknown): T => value as T;

describe('unknown topics and partitions', () => {
  test('an unknown topic is NOT_FOUND (404) for every topic operation', async () => {
    // Goal: 404 for a topic that does not exist. Method: call each operation on "nope", compare state before/after.
    const fx = await fixture();
    const calls: [string, (engine: StorageEngine) => unknown][] = [
      ['append', (engine) => engine.append('nope', 0, [{ value: 'x' }])],
      ['read', (engine) => engine.read('nope', 0, 0)],
      ['readRaw', (engine) => engine.readRaw('nope', 0, 0)],
      ['earliestOffset', (engine) => engine.earliestOffset('nope', 0)],
      ['latestOffset', (engine) => engine.latestOffset('nope', 0)],
      ['offsetForTimestamp', (engine) => engine.offsetForTimestamp('nope', 0, 0)],
      ['describeTopic', (engine) => engine.describeTopic('nope')],
      ['alterTopic', (engine) => engine.alterTopic('nope', { partitions: 5 })],
      ['deleteTopic', (engine) => engine.deleteTopic('nope')],
      [
        'commitOffsets',
        (engine) => engine.commitOffsets([{ group: 'g', topic: 'nope', partition: 0, offset: 0 }]),
      ],
    ];
    for (const [what, call] of calls) await refused(fx, 404, what, call);
    await fx.engine.close();
  });

  test('a partition out of range is NOT_FOUND (404)', async () => {
    // Goal: 404 for partitions the topic does not have. Method: partitions 2 and 1000 of a 2-partition topic.
    const fx = await fixture();
    for (const partition of [2, 3, 1000]) {
      await refused(fx, 404, `append p${partition}`, (engine) =>
        engine.append('t', partition, [{ value: 'x' }]),
      );
      await refused(fx, 404, `read p${partition}`, (engine) => engine.read('t', partition, 0));
      await refused(fx, 404, `readRaw p${partition}`, (engine) => engine.readRaw('t', partition, 0));
      await refused(fx, 404, `earliest p${partition}`, (engine) => engine.earliestOffset('t', partition));
      await refused(fx, 404, `latest p${partition}`, (engine) => engine.latestOffset('t', partition));
      await refused(fx, 404, `time p${partition}`, (engine) => engine.offsetForTimestamp('t', partition, 0));
      await refused(fx, 404, `commit p${partition}`, (engine) =>
        engine.commitOffsets([{ group: 'g', topic: 't', partition, offset: 0 }]),
      );
    }
    await fx.engine.close();
  });

  test('a negative, fractional or non-number partition is BAD_REQUEST (400)', async () => {
    // Goal: malformed partitions are 400, not 404 or a crash. Method: -1, 0.5, NaN, ±Infinity, "0", null.
    const fx = await fixture();
    const partitions = [
      -1,
      0.5,
      1.5,
      NaN,
      Infinity,
      -Infinity,
      2 ** 53,
      unchecked<number>('0'),
      unchecked<number>(null),
    ];
    for (const partition of partitions) {
      const name = String(partition);
      await refused(fx, 400, `append p=${name}`, (engine) => engine.append('t', partition, [{ value: 'x' }]));
      await refused(fx, 400, `read p=${name}`, (engine) => engine.read('t', partition, 0));
      await refused(fx, 400, `readRaw p=${name}`, (engine) => engine.readRaw('t', partition, 0));
      await refused(fx, 400, `latest p=${name}`, (engine) => engine.latestOffset('t', partition));
      await refused(fx, 400, `earliest p=${name}`, (engine) => engine.earliestOffset('t', partition));
    }
    await fx.engine.close();
  });
});

describe('offsets', () => {
  test('a negative, fractional or non-number offset is BAD_REQUEST (400)', async () => {
    // Goal: malformed offsets are 400. Method: read and readRaw at -1, 0.5, NaN, ±Infinity, 2^53, "0".
    const fx = await fixture();
    for (const offset of [-1, -0.5, 0.5, NaN, Infinity, -Infinity, 2 ** 53, unchecked<number>('0')]) {
      await refused(fx, 400, `read @${String(offset)}`, (engine) => engine.read('t', 0, offset));
      await refused(fx, 400, `readRaw @${String(offset)}`, (engine) => engine.readRaw('t', 0, offset));
    }
    await fx.engine.close();
  });

  test('an offset beyond the latest is OFFSET_OUT_OF_RANGE (301) with earliest and latest', async () => {
    // Goal: 301 past the end, with the range in details. Method: read latest + 1 and far beyond, on both partitions.
    const fx = await fixture();
    for (const [partition, latest] of [
      [0, 3],
      [1, 1],
    ] as const) {
      for (const offset of [latest + 1, latest + 2, 1_000_000]) {
        const error = await refused(fx, 301, `read p${partition}@${offset}`, (engine) =>
          engine.read('t', partition, offset),
        );
        assert.deepEqual(error.details, { earliest: 0, latest });
        assert.equal(error.retriable, false);
        await refused(fx, 301, `readRaw p${partition}@${offset}`, (engine) =>
          engine.readRaw('t', partition, offset),
        );
      }
      // At latest itself the read is fine and empty.
      assert.deepEqual((await fx.engine.read('t', partition, latest)).messages, []);
    }
    await fx.engine.close();
  });

  test('bad read limits are BAD_REQUEST (400)', async () => {
    // Goal: maxMessages and maxBytes must be positive integers. Method: 0, -1, 1.5, NaN for each.
    const fx = await fixture();
    for (const bad of [0, -1, 1.5, NaN]) {
      await refused(fx, 400, `maxMessages ${bad}`, (engine) => engine.read('t', 0, 0, { maxMessages: bad }));
      await refused(fx, 400, `maxBytes ${bad}`, (engine) => engine.read('t', 0, 0, { maxBytes: bad }));
      await refused(fx, 400, `raw maxMessages ${bad}`, (engine) =>
        engine.readRaw('t', 0, 0, { maxMessages: bad }),
      );
    }
    await fx.engine.close();
  });

  test('a non-integer timestamp for time search is BAD_REQUEST (400)', async () => {
    // Goal: offsetForTimestamp validates its input. Method: NaN, 1.5, Infinity.
    const fx = await fixture();
    for (const ts of [NaN, 1.5, Infinity]) {
      await refused(fx, 400, `ts ${ts}`, (engine) => engine.offsetForTimestamp('t', 0, ts));
    }
    await fx.engine.close();
  });
});

describe('batches and messages', () => {
  test('a message over maxMessageBytes is MESSAGE_TOO_LARGE (413) and rejects its whole batch', async () => {
    // Goal: size limit counts key + attributes + value, and no partial batch is stored. Method: a bad message amid good ones.
    const fx = await fixture({ maxMessageBytes: 1024 });
    const good: MessageInput = { value: 'fine', key: 'k' };
    const tooLarge: [string, MessageInput][] = [
      ['value', { value: Buffer.alloc(1025) }],
      ['key + value', { value: Buffer.alloc(425), key: Buffer.alloc(600) }],
      ['attributes + value', { value: Buffer.alloc(1000), attributes: { a: 'x'.repeat(30) } }],
      ['stream id + value', { value: Buffer.alloc(1010), streamId: 'abcdefghij' }],
      ['multi-byte string', { value: 'é'.repeat(513) }],
    ];
    for (const [what, message] of tooLarge) {
      for (const batch of [[message], [good, message], [good, good, message, good]]) {
        const error = await refused(fx, 413, `${what} in a batch of ${batch.length}`, (engine) =>
          engine.append('t', 0, batch, { acks: 'written' }),
        );
        assert.equal(error.details.maxMessageBytes, 1024);
        assert.ok((error.details.bytes as number) > 1024);
        await refused(fx, 413, `${what}, memory acks`, (engine) =>
          engine.append('t', 1, batch, { acks: 'memory' }),
        );
      }
    }
    // Exactly the limit is accepted: it is "over" that is refused.
    const atLimit = await fx.engine.append('t', 1, [
      { value: Buffer.alloc(1000), key: Buffer.alloc(24) },
      { value: 'é'.repeat(512) },
      { value: Buffer.alloc(1024 - '$stream=abcdefghij'.length), streamId: 'abcdefghij' },
    ]);
    assert.deepEqual(atLimit, { baseOffset: 1, count: 3 });
    await fx.engine.close();
  });

  test('an empty or non-array batch is BAD_REQUEST (400)', async () => {
    // Goal: a batch is a non-empty array. Method: [], a bare message, null, a string.
    const fx = await fixture();
    for (const batch of [[], { value: 'x' }, null, undefined, 'x']) {
      await refused(fx, 400, `batch ${JSON.stringify(batch)}`, (engine) =>
        engine.append('t', 0, unchecked<MessageInput[]>(batch)),
      );
    }
    await fx.engine.close();
  });

  test('an invalid acks level is BAD_REQUEST (400)', async () => {
    // Goal: only memory, written and fsync exist. Method: a few impostors, each on a valid batch.
    const fx = await fixture();
    for (const acks of ['sometimes', '', 'FSYNC', 'all', 1, {}]) {
      await refused(fx, 400, `acks ${JSON.stringify(acks)}`, (engine) =>
        engine.append('t', 0, [{ value: 'x' }], { acks: unchecked<'memory'>(acks) }),
      );
    }
    await fx.engine.close();
  });

  test('attributes or stream ids with "," or "=", and "$" or empty attribute keys, are BAD_REQUEST (400)', async () => {
    // Goal: attributes stay parseable and $-keys stay reserved. Method: each bad form, alone and after a good message.
    const fx = await fixture();
    const bad: [string, MessageInput][] = [
      ['comma in key', { value: 'x', attributes: { 'a,b': 'v' } }],
      ['equals in key', { value: 'x', attributes: { 'a=b': 'v' } }],
      ['comma in value', { value: 'x', attributes: { a: 'x,y' } }],
      ['equals in value', { value: 'x', attributes: { a: 'x=y' } }],
      ['$stream key', { value: 'x', attributes: { $stream: 'x' } }],
      ['$ key', { value: 'x', attributes: { $x: 'y' } }],
      ['empty key', { value: 'x', attributes: { '': 'v' } }],
      ['comma in stream id', { value: 'x', streamId: 'a,b' }],
      ['equals in stream id', { value: 'x', streamId: 'a=b' }],
      ['stream id of 257 characters', { value: 'x', streamId: 's'.repeat(257) }],
    ];
    for (const [what, message] of bad) {
      await refused(fx, 400, what, (engine) => engine.append('t', 0, [message]));
      await refused(fx, 400, `${what} after a good message`, (engine) =>
        engine.append('t', 1, [{ value: 'good' }, message], { acks: 'memory' }),
      );
    }
    await fx.engine.close();
  });

  test('a bad timestamp is BAD_REQUEST (400)', async () => {
    // Goal: timestamps are non-negative integer milliseconds. Method: -1, 1.5, NaN, 2^53, a string.
    const fx = await fixture();
    for (const timestamp of [-1, 1.5, NaN, Infinity, 2 ** 53, unchecked<number>('1000')]) {
      await refused(fx, 400, `timestamp ${String(timestamp)}`, (engine) =>
        engine.append('t', 0, [{ value: 'ok' }, { value: 'x', timestamp }]),
      );
    }
    await fx.engine.close();
  });

  test('a message of the wrong shape is BAD_REQUEST (400), not a TypeError', async () => {
    // Goal: "every method checks its input and throws a TubeError" (storage-engine.ts). Method: values/keys/attributes of wrong types.
    const bad: [string, unknown][] = [
      ['null message', null],
      ['missing value', { key: 'k' }],
      ['null value', { value: null }],
      ['number value', { value: 42 }],
      ['object value', { value: { a: 1 } }],
      ['number key', { value: 'x', key: 7 }],
      ['number attribute value', { value: 'x', attributes: { a: 1 } }],
      ['number stream id', { value: 'x', streamId: 5 }],
    ];
    // Every case is tried (on a fresh fixture, since a failure may leave damage), then all failures are reported.
    const failures: string[] = [];
    for (const [what, message] of bad) {
      const each = await fixture();
      try {
        await refused(each, 400, what, (engine) =>
          engine.append('t', 0, [{ value: 'good' }, unchecked<MessageInput>(message)]),
        );
      } catch (error) {
        failures.push(error instanceof Error ? error.message.split('\n')[0]! : String(error));
      }
      await each.engine.close();
    }
    assert.deepEqual(failures, []);
  });
});

describe('failed batches leave no trace', () => {
  test('a batch that fails while its records are written leaves no phantom offset', async () => {
    // Goal: a batch is all or nothing, whatever goes wrong in it. Method: a good message, then one whose key or value is not a Buffer.
    const cases: [string, unknown][] = [
      ['Uint8Array value', { value: new Uint8Array([1, 2, 3]) }],
      ['Uint8Array key', { value: 'x', key: new TextEncoder().encode('key') }],
      ['number key', { value: 'x', key: 7 }],
    ];
    for (const [what, message] of cases) {
      const fx = await fixture();
      const before = await snapshot(fx);
      const outcome = await fx.engine
        .append('t', 0, [{ value: 'good' }, unchecked<MessageInput>(message)], { acks: 'memory' })
        .then(
          () => 'stored',
          () => 'refused',
        );
      // Either the whole batch was stored (offsets 3 and 4) or none of it.
      const stored = outcome === 'stored' ? 2 : 0;
      assert.equal(
        fx.engine.latestOffset('t', 0),
        3 + stored,
        `${what}: latestOffset after a ${outcome} batch`,
      );
      if (stored === 0) assert.deepEqual(await snapshot(fx), before, `${what}: state changed`);
      // The next good batch gets the next offset and every message reads back as appended, from cache and disk.
      const next = await fx.engine.append('t', 0, [{ value: 'next-a' }, { value: 'next-b' }], {
        acks: 'memory',
      });
      assert.equal(next.baseOffset, 3 + stored, what);
      for (const where of ['cache', 'disk']) {
        if (where === 'disk') await fx.engine.flush();
        const read = await fx.engine.read('t', 0, 0);
        assert.equal(read.damagedSkipped, 0, `${what} (${where}): damaged records`);
        assert.deepEqual(
          read.messages.map((message) => message.offset),
          [0, 1, 2, 3, 4, 5, 6].slice(0, 5 + stored),
          `${what} (${where}): offsets`,
        );
        assert.deepEqual(
          read.messages.slice(-2).map((message) => message.value.toString()),
          ['next-a', 'next-b'],
          `${what} (${where}): values`,
        );
      }
      await fx.engine.close();
    }
  });
});

describe('topic administration', () => {
  test('invalid topic names are BAD_REQUEST (400) and create nothing', async () => {
    // Goal: names become directories, so only a safe alphabet passes. Method: hostile names; 64 characters is the boundary.
    const fx = await fixture();
    const names = [
      '',
      '../x',
      '..',
      '.',
      'a'.repeat(65),
      'has space',
      ' lead',
      'a/b',
      'a\\b',
      '.hidden',
      '-dash',
      'nul\0byte',
      'tab\tname',
      'ünïcode',
      unchecked<string>(42),
      unchecked<string>(undefined),
    ];
    for (const name of names) {
      await refused(fx, 400, `name ${JSON.stringify(name)}`, (engine) => engine.createTopic(name));
    }
    const longest = 'a'.repeat(64);
    assert.equal((await fx.engine.createTopic(longest)).name, longest);
    assert.equal((await fx.engine.createTopic('A-z_0.9')).name, 'A-z_0.9');
    await fx.engine.close();
  });

  test('a duplicate create is ALREADY_EXISTS (409); ifNotExists returns the existing topic', async () => {
    // Goal: create is not an upsert. Method: create "t" again with and without ifNotExists, other config.
    const fx = await fixture();
    const existing = fx.engine.describeTopic('t');
    await refused(fx, 409, 'duplicate', (engine) => engine.createTopic('t'));
    await refused(fx, 409, 'duplicate with other config', (engine) =>
      engine.createTopic('t', { partitions: 7 }),
    );
    const before = await snapshot(fx);
    assert.deepEqual(await fx.engine.createTopic('t', { partitions: 7 }, { ifNotExists: true }), existing);
    assert.deepEqual(await snapshot(fx), before);
    // Two racing creates of one new name: one wins, the other gets 409.
    const outcomes = await Promise.allSettled([fx.engine.createTopic('race'), fx.engine.createTopic('race')]);
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    const loser = outcomes.find((outcome) => outcome.status === 'rejected');
    assert.ok(loser && loser.reason instanceof TubeError && loser.reason.code === 409);
    await fx.engine.close();
  });

  test('invalid topic configs are BAD_REQUEST (400) and create nothing', async () => {
    // Goal: configs are checked before anything is written. Method: each bad field on createTopic of a new name.
    const fx = await fixture();
    const configs: [string, Partial<TopicConfig>][] = [
      ['partitions 0', { partitions: 0 }],
      ['partitions -1', { partitions: -1 }],
      ['partitions 1.5', { partitions: 1.5 }],
      ['partitions NaN', { partitions: NaN }],
      ['partitions 1025', { partitions: 1025 }],
      ['stores 0', { stores: 0 }],
      ['stores > partitions', { partitions: 3, stores: 4 }],
      ['stores > default partitions', { stores: 4 }],
      ['stores 65', { partitions: 100, stores: 65 }],
      ['retentionMs -2', { retentionMs: -2 }],
      ['retentionMs 1.5', { retentionMs: 1.5 }],
      ['retentionBytes -2', { retentionBytes: -2 }],
      ['ackFloor bogus', { ackFloor: unchecked<'memory'>('bogus') }],
      ['partitions as string', { partitions: unchecked<number>('3') }],
    ];
    for (const [what, config] of configs) {
      await refused(fx, 400, what, (engine) => engine.createTopic('fresh', config));
    }
    assert.equal(fs.existsSync(path.join(fx.dir, 'topics', 'fresh')), false);
    await fx.engine.close();
  });

  test('invalid alterTopic changes are BAD_REQUEST (400) and change nothing', async () => {
    // Goal: alter validates the whole new config; partitions never shrink; stores never change. Method: bad changes on "t".
    const fx = await fixture();
    const changes: [string, Partial<TopicConfig>][] = [
      ['shrink', { partitions: 1 }],
      ['partitions 0', { partitions: 0 }],
      ['partitions 1.5', { partitions: 2.5 }],
      ['retentionMs -2', { retentionMs: -2 }],
      ['retentionBytes -2', { retentionBytes: -2 }],
      ['ackFloor bogus', { ackFloor: unchecked<'memory'>('bogus') }],
      // Stores keep their count (storage-engine.ts alterTopic); a peer sending it anyway must be refused.
      ['stores changed', { partitions: 4, stores: 2 }],
    ];
    for (const [what, change] of changes) {
      await refused(fx, 400, what, (engine) => engine.alterTopic('t', change));
    }
    // The topic still works as before, and still after a reopen.
    assert.equal((await fx.engine.append('t', 1, [{ value: 'after' }])).baseOffset, 1);
    await fx.engine.close();
    const reopened = await StorageEngine.open({
      dataDir: fx.dir,
      retentionCheckIntervalMs: 0,
      logger: quiet,
    });
    assert.equal(reopened.describeTopic('t').stores, 1);
    assert.equal(reopened.describeTopic('t').partitions, 2);
    assert.deepEqual(
      (await reopened.read('t', 1, 0)).messages.map((message) => message.value.toString()),
      ['p1', 'after'],
    );
    await reopened.close();
  });
});

describe('group offsets', () => {
  test('bad commits are refused as a whole: empty group 400, past the end 301, unknown topic 404', async () => {
    // Goal: a commit batch is validated before any of it is stored. Method: one bad commit after a good one in each batch.
    const fx = await fixture();
    const good = { group: 'g', topic: 't', partition: 1, offset: 1 };
    await refused(fx, 400, 'empty group', (engine) =>
      engine.commitOffsets([good, { group: '', topic: 't', partition: 0, offset: 0 }]),
    );
    await refused(fx, 400, 'group not a string', (engine) =>
      engine.commitOffsets([good, { group: unchecked<string>(7), topic: 't', partition: 0, offset: 0 }]),
    );
    const error = await refused(fx, 301, 'past the end', (engine) =>
      engine.commitOffsets([good, { group: 'g', topic: 't', partition: 0, offset: 4 }]),
    );
    assert.deepEqual(error.details, { earliest: 0, latest: 3 });
    await refused(fx, 404, 'unknown topic', (engine) =>
      engine.commitOffsets([good, { group: 'g', topic: 'nope', partition: 0, offset: 0 }]),
    );
    await refused(fx, 404, 'partition out of range', (engine) =>
      engine.commitOffsets([good, { group: 'g', topic: 't', partition: 9, offset: 0 }]),
    );
    // The end itself is a valid commit (the group has read everything).
    await fx.engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset: 3 }]);
    assert.equal(fx.engine.committedOffset('g', 't', 0), 3);
    await fx.engine.close();
  });

  test('a negative or fractional commit offset is BAD_REQUEST (400), as for reads', async () => {
    // Goal: malformed offsets are 400 everywhere (§5: 301 means aged out or beyond the end). Method: -1, 0.5, NaN.
    const fx = await fixture();
    for (const offset of [-1, 0.5, NaN]) {
      await refused(fx, 400, `commit offset ${offset}`, (engine) =>
        engine.commitOffsets([{ group: 'g', topic: 't', partition: 0, offset }]),
      );
    }
    await fx.engine.close();
  });
});
