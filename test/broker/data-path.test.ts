// The broker's data path over real sockets, standalone: PRODUCE then FETCH at every ack level,
// long-poll wake-up and timeout, out-of-range offsets, oversize messages, offsets and LIST_OFFSETS.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Broker } from '../../src/broker/index.js';
import {
  commitOffsetsMessage,
  callJson,
  fetchOffsetsMessage,
  listOffsetsMessage,
  type Connection,
} from '../../src/protocol/index.js';
import {
  connect,
  dataDirWithTopics,
  fetch,
  produce,
  rejectsWith,
  removeTempDirs,
  startBroker,
} from './helpers.js';

after(removeTempDirs);

describe('broker data path (standalone)', () => {
  let broker: Broker;
  let client: Connection;
  let dataDir: string;

  test('setup', async () => {
    dataDir = await dataDirWithTopics({ orders: { partitions: 2 }, events: { partitions: 1 } });
    broker = await startBroker(dataDir, { storage: { maxMessageBytes: 4096 } });
    client = await connect(broker.port);
  });

  after(async () => {
    client?.close();
    await broker?.close();
  });

  for (const acks of ['memory', 'written', 'fsync'] as const) {
    // Goal: what a producer sends at this ack level comes back from FETCH byte for byte, in order,
    // with contiguous offsets and every field (key, timestamp, stream, attributes) intact.
    test(`produce then fetch round trip with acks=${acks}`, async () => {
      const partition = acks === 'written' ? 1 : 0;
      const before = await fetch(client, { topic: 'orders', partition, offset: 0 });
      const start = before.latestOffset;
      const sent = [
        {
          value: `v1-${acks}`,
          key: 'k1',
          timestamp: 1_700_000_000_000,
          streamId: 's',
          attributes: { a: '1' },
        },
        { value: Buffer.alloc(1024, 7) },
        { value: `v3-${acks}` },
      ];
      const answer = await produce(client, 'orders', partition, sent, acks);
      assert.deepEqual(answer, { baseOffset: start, count: 3 });
      const got = await fetch(client, { topic: 'orders', partition, offset: start });
      assert.equal(got.messages.length, 3);
      assert.equal(got.nextOffset, start + 3);
      assert.equal(got.latestOffset, start + 3);
      assert.deepEqual(
        got.messages.map((m) => m.offset),
        [start, start + 1, start + 2],
      );
      assert.equal(got.messages[0]!.value.toString(), `v1-${acks}`);
      assert.equal(got.messages[0]!.key?.toString(), 'k1');
      assert.equal(got.messages[0]!.timestamp, 1_700_000_000_000);
      assert.equal(got.messages[0]!.streamId, 's');
      assert.deepEqual(got.messages[0]!.attributes, { a: '1' });
      assert.ok(got.messages[1]!.value.equals(Buffer.alloc(1024, 7)));
      assert.equal(got.messages[2]!.value.toString(), `v3-${acks}`);
    });
  }

  // Goal: a fetch at the log end waits, and is answered as soon as a produce lands, with the new
  // message, well before its maxWaitMs (5 s) would have run out.
  test('long-poll is answered promptly when a produce lands', async () => {
    const latest = (await fetch(client, { topic: 'events', partition: 0, offset: 0 })).latestOffset;
    const startedAt = Date.now();
    const waiting = fetch(client, { topic: 'events', partition: 0, offset: latest, maxWaitMs: 5000 });
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(settled, false, 'the fetch at the log end must wait, not answer empty at once');
    await produce(client, 'events', 0, [{ value: 'wake up' }]);
    const got = await waiting;
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed < 2000, `answered after ${elapsed} ms, expected well under 5000`);
    assert.equal(got.messages.length, 1);
    assert.equal(got.messages[0]!.value.toString(), 'wake up');
    assert.equal(got.messages[0]!.offset, latest);
    assert.equal(got.nextOffset, latest + 1);
  });

  // Goal: with nothing produced, the long-poll answers empty once maxWaitMs has passed (not
  // before, and not much after), pointing at the same offset to continue from.
  test('long-poll answers empty after maxWaitMs when nothing lands', async () => {
    const latest = (await fetch(client, { topic: 'events', partition: 0, offset: 0 })).latestOffset;
    const startedAt = Date.now();
    const got = await fetch(client, { topic: 'events', partition: 0, offset: latest, maxWaitMs: 300 });
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 280, `answered after ${elapsed} ms, before maxWaitMs 300`);
    assert.ok(elapsed < 2000, `answered after ${elapsed} ms`);
    assert.deepEqual(got.messages, []);
    assert.equal(got.nextOffset, latest);
    assert.equal(got.latestOffset, latest);
  });

  // Goal: a produce to another partition does not wake a fetch parked on this one.
  test('long-poll is not woken by appends to other partitions', async () => {
    const latest = (await fetch(client, { topic: 'orders', partition: 0, offset: 0 })).latestOffset;
    const waiting = fetch(client, { topic: 'orders', partition: 0, offset: latest, maxWaitMs: 400 });
    await produce(client, 'orders', 1, [{ value: 'elsewhere' }]);
    const got = await waiting;
    assert.deepEqual(got.messages, []);
  });

  // Goal: past the end (or below the earliest) is OFFSET_OUT_OF_RANGE with the valid range in details.
  test('fetch past the end is OFFSET_OUT_OF_RANGE with {earliest, latest}', async () => {
    const latest = (await fetch(client, { topic: 'orders', partition: 0, offset: 0 })).latestOffset;
    const error = await rejectsWith(
      fetch(client, { topic: 'orders', partition: 0, offset: latest + 5, maxWaitMs: 1000 }),
      'OFFSET_OUT_OF_RANGE',
    );
    assert.deepEqual(error.details, { earliest: 0, latest });
  });

  // Goal: an oversize message is refused 413 and the same connection is served normally afterwards.
  test('oversize message gets MESSAGE_TOO_LARGE and the broker keeps serving', async () => {
    const error = await rejectsWith(
      produce(client, 'events', 0, [{ value: Buffer.alloc(5000) }]),
      'MESSAGE_TOO_LARGE',
    );
    assert.equal(error.code, 413);
    const next = await produce(client, 'events', 0, [{ value: 'small' }]);
    assert.equal(next.count, 1);
    const got = await fetch(client, { topic: 'events', partition: 0, offset: next.baseOffset });
    assert.equal(got.messages[0]!.value.toString(), 'small');
  });

  // Goal: an unknown topic is NOT_FOUND with the contract's message, for produce and fetch alike.
  test('unknown topic is NOT_FOUND', async () => {
    const a = await rejectsWith(produce(client, 'nope', 0, [{ value: 'x' }]), 'NOT_FOUND');
    assert.equal(a.message, 'topic "nope" does not exist');
    const b = await rejectsWith(fetch(client, { topic: 'nope', partition: 0, offset: 0 }), 'NOT_FOUND');
    assert.equal(b.message, 'topic "nope" does not exist');
  });

  // Goal: LIST_OFFSETS reports earliest/latest and the first offset at or after a timestamp.
  test('LIST_OFFSETS', async () => {
    const base = (await produce(client, 'orders', 1, [{ value: 'old', timestamp: 1000 }])).baseOffset;
    await produce(client, 'orders', 1, [{ value: 'new', timestamp: 2_000_000_000_000 }]);
    const answer = await callJson(client, listOffsetsMessage, {
      partitions: [
        { topic: 'orders', partition: 1, timestampMs: 1_999_999_999_999 },
        { topic: 'orders', partition: 0 },
      ],
    });
    const latest1 = (await fetch(client, { topic: 'orders', partition: 1, offset: 0 })).latestOffset;
    const latest0 = (await fetch(client, { topic: 'orders', partition: 0, offset: 0 })).latestOffset;
    assert.deepEqual(answer.offsets, [
      {
        topic: 'orders',
        partition: 1,
        earliest: 0,
        latest: latest1,
        gapOffsets: 0,
        gaps: [],
        offsetAtTimestamp: base + 1,
      },
      { topic: 'orders', partition: 0, earliest: 0, latest: latest0, gapOffsets: 0, gaps: [] },
    ]);
    await rejectsWith(
      callJson(client, listOffsetsMessage, { partitions: [{ topic: 'nope', partition: 0 }] }),
      'NOT_FOUND',
    );
  });

  // Goal: committed offsets are durable: they read back after the broker is closed and restarted.
  test('commit and fetch offsets survive a broker restart', async () => {
    await callJson(client, commitOffsetsMessage, {
      group: 'g1',
      offsets: [{ topic: 'orders', partition: 0, offset: 2 }],
    });
    const before = await callJson(client, fetchOffsetsMessage, {
      group: 'g1',
      partitions: [
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 1 },
      ],
    });
    assert.deepEqual(before.offsets, [
      { topic: 'orders', partition: 0, offset: 2 },
      { topic: 'orders', partition: 1, offset: null },
    ]);
    client.close();
    await broker.close();
    broker = await startBroker(dataDir);
    client = await connect(broker.port);
    const afterRestart = await callJson(client, fetchOffsetsMessage, {
      group: 'g1',
      partitions: [{ topic: 'orders', partition: 0 }],
    });
    assert.deepEqual(afterRestart.offsets, [{ topic: 'orders', partition: 0, offset: 2 }]);
    // The data survived too.
    const got = await fetch(client, { topic: 'orders', partition: 0, offset: 0 });
    assert.ok(got.messages.length >= 3);
  });
});
