// Goal: the consumer's modes that need no group coordinator, against a real master and broker —
// stream filters (limits checked before anything is sent; a forced 32-bit hash collision never
// leaks; positions move past skipped messages), client-side assignment under leases (a second
// consumer of the group is refused PARTITION_OWNED_BY_OTHER naming the holder; assign() offsets),
// push run() (order per partition, a throwing handler and rollback() redeliver, commits cover only
// what the handler finished), pause/resume, and a start by timestamp.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Admin, Consumer, Producer, type ConsumedMessage } from '../../src/client/index.js';
import { TubeError } from '../../src/common/index.js';
import { streamHash } from '../../src/storage/index.js';
import { closeClusterClients, startClusterClients, type ClusterFixture } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;

before(async () => {
  ({ cluster, admin, producer } = await startClusterClients());
});
after(() => closeClusterClients({ cluster, admin, producer }));

async function pollUntil(consumer: Consumer, count: number, timeoutMs = 15_000): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    if (Date.now() > deadline) throw new Error(`got ${out.length} of ${count} messages`);
    out.push(...(await consumer.poll({ maxMessages: count - out.length, timeoutMs: 500 })));
  }
  return out;
}

/** Two different stream ids with the same storage hash, found by brute force. */
function collidingStreamIds(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `stream-${i}`;
    const hash = streamHash(id);
    const earlier = seen.get(hash);
    if (earlier !== undefined) return [earlier, id];
    seen.set(hash, id);
  }
}

function rejectsWith(name: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof TubeError, String(error));
    assert.equal(error.errorName, name, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

test('filter limits are checked client-side with the limit named', () => {
  const base = { masters: cluster.masters, group: 'limits', topics: ['t'] };
  const tooMany = Array.from({ length: 501 }, (_, i) => `id-${i}`);
  assert.throws(
    () => new Consumer({ ...base, filters: { t: tooMany } }),
    rejectsWith('BAD_REQUEST', /at most 500/),
  );
  assert.throws(
    () => new Consumer({ ...base, filters: { t: ['x'.repeat(257)] } }),
    rejectsWith('BAD_REQUEST', /1 to 256 UTF-8 bytes/),
  );
  // 86 three-byte characters are 258 bytes though only 86 characters.
  assert.throws(
    () => new Consumer({ ...base, filters: { t: ['€'.repeat(86)] } }),
    rejectsWith('BAD_REQUEST', /256/),
  );
  assert.throws(
    () => new Consumer({ ...base, filters: { t: [''] } }),
    rejectsWith('BAD_REQUEST', /1 to 256/),
  );
  assert.throws(
    () => new Consumer({ ...base, filters: { other: ['a'] } }),
    rejectsWith('BAD_REQUEST', /not subscribed/),
  );
  // Exactly at the limits is fine.
  new Consumer({ ...base, filters: { t: [...tooMany.slice(0, 500), 'y'.repeat(256)].slice(1) } });
});

test('a filter on one of two colliding stream ids never delivers the other; offsets move past both', async () => {
  const [wanted, colliding] = collidingStreamIds();
  assert.notEqual(wanted, colliding);
  assert.equal(streamHash(wanted), streamHash(colliding));
  await admin.createTopic('collide', { partitions: 1 });
  const sent: string[] = [];
  for (let i = 0; i < 300; i++) {
    const streamId = i % 3 === 0 ? wanted : i % 3 === 1 ? colliding : 'unrelated';
    await producer.send('collide', `${streamId}:${i}`, { streamId, partition: 0 });
    if (streamId === wanted) sent.push(`${streamId}:${i}`);
  }
  // The last message is the colliding stream: the position must still reach the end.
  await producer.send('collide', `${colliding}:last`, { streamId: colliding, partition: 0 });
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'collide-filter',
    topics: ['collide'],
    partitions: { collide: [0] },
    filters: { collide: [wanted] },
    start: 'earliest',
    autoCommit: false,
  });
  const got = await pollUntil(consumer, sent.length);
  assert.deepEqual(
    got.map((m) => m.value.toString()),
    sent,
  );
  assert.ok(got.every((m) => m.streamId === wanted));
  assert.equal((await consumer.poll({ timeoutMs: 600 })).length, 0, 'no colliding message leaks');
  await consumer.commit();
  const [offsets] = await admin.groupOffsets('collide-filter', 'collide');
  assert.equal(offsets?.committed, 301, 'the commit moved past the skipped messages');
  await consumer.close();
});

test('client-side assignment holds leases: a second consumer of the group is refused naming the holder', async () => {
  await admin.createTopic('leased', { partitions: 2 });
  for (let i = 0; i < 20; i++) await producer.send('leased', `m${i}`, { partition: i % 2 });
  const first = new Consumer({
    masters: cluster.masters,
    group: 'leases',
    // assign() reads exactly what it names: nothing of 'collide'.
    topics: ['leased', 'collide'],
    start: 'earliest',
  });
  first.assign([
    { topic: 'leased', partition: 0 },
    { topic: 'leased', partition: 1, offset: 5 },
  ]);
  await first.start();
  assert.ok(first.memberId !== undefined);
  assert.deepEqual(first.assignment(), [
    { topic: 'leased', partition: 0 },
    { topic: 'leased', partition: 1 },
  ]);
  const got = await pollUntil(first, 15);
  assert.equal(got.filter((m) => m.partition === 1)[0]?.offset, 5, 'assign() offset wins');
  const second = new Consumer({
    masters: cluster.masters,
    group: 'leases',
    topics: ['leased'],
    partitions: { leased: [1] },
  });
  await assert.rejects(second.start(), (error) => {
    assert.ok(error instanceof TubeError);
    assert.equal(error.errorName, 'PARTITION_OWNED_BY_OTHER');
    assert.equal(error.code, 410);
    assert.match(error.message, new RegExp(`held by ${first.memberId}`));
    assert.ok(error.hint !== undefined);
    return true;
  });
  await second.close();
  // Another group reads the same partition freely.
  const other = new Consumer({
    masters: cluster.masters,
    group: 'leases-2',
    topics: ['leased'],
    partitions: { leased: [1] },
    start: 'earliest',
  });
  assert.equal((await pollUntil(other, 10)).length, 10);
  await other.close();
  // Once the first closes (commit, release), the partition can be taken.
  await first.commit();
  await first.close();
  const third = new Consumer({
    masters: cluster.masters,
    group: 'leases',
    topics: ['leased'],
    partitions: { leased: [1] },
  });
  await third.start();
  assert.equal((await third.poll({ timeoutMs: 300 })).length, 0, 'resumes after the commit');
  await third.close();
});

test('run(): order per partition, a throwing handler and rollback() redeliver, commits cover finished messages', async () => {
  await admin.createTopic('pushed', { partitions: 3 });
  const perPartition = 40;
  for (let i = 0; i < perPartition; i++) {
    for (let partition = 0; partition < 3; partition++)
      await producer.send('pushed', `${partition}:${i}`, { partition });
  }
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'push',
    topics: ['pushed'],
    partitions: { pushed: [0, 1, 2] },
    start: 'earliest',
    autoCommit: false,
  });
  const seen: ConsumedMessage[] = [];
  const attempts = new Map<string, number>();
  let concurrent = 0;
  let maxConcurrent = 0;
  const done = new Promise<void>((resolve) => {
    const finished = new Set<string>();
    void consumer.run(
      async (message) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        try {
          const id = `${message.partition}/${message.offset}`;
          const tries = (attempts.get(id) ?? 0) + 1;
          attempts.set(id, tries);
          await new Promise((r) => setTimeout(r, 1));
          if (message.partition === 0 && message.offset === 7 && tries === 1) throw new Error('boom');
          if (message.partition === 1 && message.offset === 9 && tries < 3) {
            message.rollback();
            return;
          }
          seen.push(message);
          finished.add(id);
          if (finished.size === 3 * perPartition) resolve();
        } finally {
          concurrent--;
        }
      },
      { partitionsConcurrently: 2, retryDelayMs: 50 },
    );
  });
  await done;
  assert.equal(attempts.get('0/7'), 2, 'the throw redelivered once');
  assert.equal(attempts.get('1/9'), 3, 'rollback redelivered twice');
  assert.ok(maxConcurrent <= 2 && maxConcurrent >= 1);
  for (let partition = 0; partition < 3; partition++) {
    const offsets = seen.filter((m) => m.partition === partition).map((m) => m.offset);
    assert.deepEqual(
      offsets,
      Array.from({ length: perPartition }, (_, i) => i),
      `partition ${partition} in order, once`,
    );
  }
  await consumer.commit();
  const committed = await admin.groupOffsets('push', 'pushed');
  assert.deepEqual(
    committed.map((entry) => entry.committed),
    [perPartition, perPartition, perPartition],
  );
  await consumer.close();
});

test('pause() stops a partition being handed out until resume()', async () => {
  await admin.createTopic('pausing', { partitions: 2 });
  for (let i = 0; i < 10; i++) await producer.send('pausing', `m${i}`, { partition: i % 2 });
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'pause',
    topics: ['pausing'],
    partitions: { pausing: [0, 1] },
    start: 'earliest',
  });
  await consumer.start();
  consumer.pause([{ topic: 'pausing', partition: 1 }]);
  assert.deepEqual(consumer.paused(), [{ topic: 'pausing', partition: 1 }]);
  const first = await pollUntil(consumer, 5);
  assert.ok(first.every((m) => m.partition === 0));
  assert.equal((await consumer.poll({ timeoutMs: 400 })).length, 0, 'nothing of the paused partition');
  consumer.resume([{ topic: 'pausing', partition: 1 }]);
  assert.deepEqual(consumer.paused(), []);
  const rest = await pollUntil(consumer, 5);
  assert.ok(rest.every((m) => m.partition === 1));
  await consumer.close();
});

test('start {timestampMs} begins at the first message stored at or after that time', async () => {
  await admin.createTopic('timed', { partitions: 1 });
  for (let i = 0; i < 5; i++) await producer.send('timed', `old${i}`, { partition: 0 });
  await new Promise((r) => setTimeout(r, 20));
  const cut = Date.now();
  await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < 5; i++) await producer.send('timed', `new${i}`, { partition: 0 });
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'timed',
    topics: ['timed'],
    partitions: { timed: [0] },
    start: { timestampMs: cut },
  });
  const got = await pollUntil(consumer, 5);
  assert.deepEqual(
    got.map((m) => m.value.toString()),
    ['new0', 'new1', 'new2', 'new3', 'new4'],
  );
  await consumer.close();
});
