// Goal: Producer and Consumer against a real master and broker — keyed messages keep to one
// partition with contiguous offsets; a group resumes exactly after its commit (no duplicate, no
// gap); 'latest' sees only new messages; an explicit offset map starts where it says and one outside
// the stored range is refused naming the range; unknown topics are NOT_FOUND; an oversize message is
// MESSAGE_TOO_LARGE and the producer keeps working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Admin, Consumer, Producer, partitionForKey, type ConsumedMessage } from '../../src/client/index.js';
import { MiB, type TubeError } from '../../src/common/index.js';
import { closeClusterClients, startClusterClients, type ClusterFixture } from './cluster-fixture.js';

const topic = 'events';
const partitions = 4;
const total = 10_000;
const keys = 100;

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;
// Every acknowledged message: `partition/offset` → value.
const acked = new Map<string, string>();

before(async () => {
  ({ cluster, admin, producer } = await startClusterClients());
  await admin.createTopic(topic, { partitions });
});
after(() => closeClusterClients({ cluster, admin, producer }));

async function consumeUntil(
  consumer: Consumer,
  count: number,
  timeoutMs = 20_000,
): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    if (Date.now() > deadline) throw new Error(`got ${out.length} of ${count} messages`);
    out.push(...(await consumer.poll({ maxMessages: count - out.length, timeoutMs: 2000 })));
  }
  return out;
}

test('10k keyed messages: each key lands in one partition, offsets are contiguous per partition', async () => {
  const results = await Promise.all(
    Array.from({ length: total }, async (_, i) => {
      const key = `k${i % keys}`;
      const value = `v${i}`;
      const result = await producer.send(topic, value, { key });
      acked.set(`${result.partition}/${result.offset}`, value);
      return { key, ...result };
    }),
  );
  const partitionsOfKey = new Map<string, Set<number>>();
  for (const { key, partition } of results) {
    const seen = partitionsOfKey.get(key) ?? new Set<number>();
    seen.add(partition);
    partitionsOfKey.set(key, seen);
  }
  for (const [key, seen] of partitionsOfKey) {
    assert.deepEqual([...seen], [partitionForKey(Buffer.from(key), partitions)], `key ${key}`);
  }
  for (let partition = 0; partition < partitions; partition++) {
    const offsets = results
      .filter((r) => r.partition === partition)
      .map((r) => r.offset)
      .sort((a, b) => a - b);
    assert.deepEqual(
      offsets,
      Array.from({ length: offsets.length }, (_, i) => i),
      `partition ${partition}`,
    );
  }
  assert.equal(acked.size, total);
  const ranges = await admin.listOffsets(topic);
  assert.equal(
    ranges.reduce((sum, range) => sum + range.latest, 0),
    total,
  );
});

test('a group resumes exactly after its commit: no duplicate, no gap', async () => {
  const first = new Consumer({
    masters: cluster.masters,
    group: 'resume',
    topics: [topic],
    start: 'earliest',
    autoCommit: false,
  });
  const part1 = await consumeUntil(first, 3777);
  // Everything handed out is processed: commit() says so; close() alone would leave the last
  // poll's batch for redelivery (at least once).
  await first.commit();
  await first.close();
  const second = new Consumer({ masters: cluster.masters, group: 'resume', topics: [topic] });
  const part2 = await consumeUntil(second, total - part1.length);
  assert.ok(second.caughtUp, 'the second consumer has read everything');
  const extra = await second.poll({ timeoutMs: 300 });
  assert.equal(extra.length, 0, 'nothing beyond the 10k');
  await second.close(); // the empty poll above finished the last batch, so close() commits it
  const seen = new Map<string, string>();
  for (const message of [...part1, ...part2]) {
    const id = `${message.partition}/${message.offset}`;
    assert.ok(!seen.has(id), `duplicate ${id}`);
    seen.set(id, message.value.toString());
  }
  assert.deepEqual(seen, acked);
  // Order within a partition.
  for (const batch of [part1, part2]) {
    const last = new Map<number, number>();
    for (const message of batch) {
      assert.ok((last.get(message.partition) ?? -1) < message.offset);
      last.set(message.partition, message.offset);
    }
  }
  const lag = await admin.groupOffsets('resume', topic);
  assert.ok(lag.every((entry) => entry.lag === 0 && entry.committed === entry.latest));
});

test("start 'latest' sees only messages produced after it started", async () => {
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'latest-only',
    topics: [topic],
    start: 'latest',
  });
  await consumer.start();
  assert.ok(consumer.caughtUp);
  await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send(topic, `new-${i}`)));
  const got = await consumeUntil(consumer, 20);
  assert.deepEqual(
    got.map((m) => m.value.toString()).sort(),
    Array.from({ length: 20 }, (_, i) => `new-${i}`).sort(),
  );
  assert.equal((await consumer.poll({ timeoutMs: 200 })).length, 0);
  for (const message of got) acked.set(`${message.partition}/${message.offset}`, message.value.toString());
  await consumer.close();
});

test('an explicit offset map starts exactly there; one outside the stored range is refused with the range', async () => {
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'explicit',
    topics: [topic],
    partitions: { [topic]: [2] },
    start: { [topic]: { 2: 5 } },
    commit: false,
  });
  const [message] = await consumeUntil(consumer, 1);
  assert.equal(message!.partition, 2);
  assert.equal(message!.offset, 5);
  assert.equal(message!.value.toString(), acked.get('2/5'));
  assert.deepEqual(
    consumer.positions().map(({ partition, position }) => ({ partition, position })),
    [{ partition: 2, position: 6 }],
  );
  await consumer.close();
  const latest = (await admin.listOffsets(topic))[2]!.latest;
  const beyond = new Consumer({
    masters: cluster.masters,
    group: 'explicit',
    topics: [topic],
    start: { [topic]: { 2: latest + 1000 } },
  });
  await assert.rejects(beyond.start(), (error: TubeError) => {
    assert.equal(error.errorName, 'OFFSET_OUT_OF_RANGE');
    assert.match(error.message, new RegExp(`\\[0, ${latest}\\]`));
    assert.deepEqual(
      { earliest: error.details.earliest, latest: error.details.latest },
      { earliest: 0, latest },
    );
    return true;
  });
  await beyond.close();
  // commit:false stored nothing.
  assert.ok((await admin.groupOffsets('explicit', topic)).every((entry) => entry.committed === null));
});

test('more partitions than request slots: batches queue for a slot instead of failing BUSY', async () => {
  // 300 partitions, each with its own batch in flight, against a connection's 256 slots; with no
  // retries a BUSY refusal would fail a send.
  await admin.createTopic('wide', { partitions: 300 });
  const eager = new Producer({ masters: cluster.masters, retries: 0 });
  try {
    await eager.send('wide', 'warm-up', { partition: 0 });
    const results = await Promise.all(
      Array.from({ length: 3 * 300 }, (_, i) => eager.send('wide', `m${i}`, { partition: i % 300 })),
    );
    assert.equal(results.length, 900);
    for (const [i, result] of results.entries()) assert.equal(result.partition, i % 300);
  } finally {
    await eager.close();
  }
});

test('an unknown topic is NOT_FOUND for producer and consumer', async () => {
  await assert.rejects(producer.send('no-such-topic', 'x'), (error: TubeError) => {
    assert.equal(error.errorName, 'NOT_FOUND');
    assert.match(error.message, /no-such-topic/);
    return true;
  });
  const consumer = new Consumer({ masters: cluster.masters, group: 'g', topics: ['no-such-topic'] });
  await assert.rejects(consumer.poll(), (error: TubeError) => error.errorName === 'NOT_FOUND');
  await consumer.close();
});

test('an oversize message is MESSAGE_TOO_LARGE and the producer keeps working', async () => {
  const outcomes = await Promise.allSettled([
    producer.send(topic, 'before', { partition: 0 }),
    producer.send(topic, Buffer.alloc(2 * MiB), { partition: 0 }),
    producer.send(topic, 'after', { partition: 0 }),
  ]);
  assert.equal(outcomes[0].status, 'fulfilled');
  assert.equal(outcomes[1].status, 'rejected');
  assert.equal((outcomes[1].reason as TubeError).errorName, 'MESSAGE_TOO_LARGE');
  assert.equal(outcomes[2].status, 'fulfilled');
  const later = await producer.send(topic, 'later', { partition: 0 });
  assert.equal(later.offset, (outcomes[2] as PromiseFulfilledResult<{ offset: number }>).value.offset + 1);
});

test('in a PRODUCE_BATCHES request, an oversize message fails alone; other partitions land', async () => {
  // One turn's sends to 3 partitions travel as one request; partition 1's batch is refused
  // MESSAGE_TOO_LARGE by the broker (2 MiB over its 1 MiB limit), is split and resent on its own.
  const sends = [
    producer.send(topic, 'p0', { partition: 0 }),
    producer.send(topic, 'p1-before', { partition: 1 }),
    producer.send(topic, Buffer.alloc(2 * MiB), { partition: 1 }),
    producer.send(topic, 'p1-after', { partition: 1 }),
    producer.send(topic, 'p2', { partition: 2 }),
  ];
  const outcomes = await Promise.allSettled(sends);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
  );
  assert.equal(((outcomes[2] as PromiseRejectedResult).reason as TubeError).errorName, 'MESSAGE_TOO_LARGE');
  const [before, after] = [outcomes[1], outcomes[3]] as PromiseFulfilledResult<{ offset: number }>[];
  assert.equal(after!.value.offset, before!.value.offset + 1, 'the neighbours land in order, no gap');
});

test('for await yields in partition order; leaving the loop gives back the message it was on', async () => {
  // Goal: at least once through iteration. Method: break on the 25th message; only 24 count as
  // processed, and iterating again yields the 25th first; commit() inside the loop then covers it.
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'iterate',
    topics: [topic],
    start: 'earliest',
    autoCommit: false,
  });
  const yielded: ConsumedMessage[] = [];
  for await (const message of consumer) {
    yielded.push(message);
    if (yielded.length === 25) break;
  }
  const byPartition = new Map<number, number>();
  for (const message of yielded) {
    assert.equal(
      message.offset,
      byPartition.get(message.partition) ?? 0,
      'contiguous, in order, from earliest',
    );
    byPartition.set(message.partition, message.offset + 1);
  }
  const positionsAfterBreak = consumer.positions();
  for await (const message of consumer) {
    assert.deepEqual(
      { partition: message.partition, offset: message.offset },
      { partition: yielded[24]!.partition, offset: yielded[24]!.offset },
      'the message the first loop left is handed out again',
    );
    await consumer.commit();
    break;
  }
  await consumer.close();
  const committed = await admin.groupOffsets('iterate', topic);
  for (const entry of committed) {
    assert.equal(entry.committed, byPartition.get(entry.partition) ?? 0, `partition ${entry.partition}`);
  }
  assert.equal(
    committed.reduce((sum, entry) => sum + (entry.committed ?? 0), 0),
    25,
  );
  assert.equal(
    positionsAfterBreak.reduce((sum, entry) => sum + entry.position, 0),
    24,
    'after the break the read position is back on the 25th message',
  );
});
