// Broker lifecycle over real sockets: the data-dir lock, close() answering parked long-polls, the
// per-connection cap on parked fetches, and a closed connection dropping its parked fetches.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
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

// Goal: a second Broker on a data dir in use is refused ALREADY_EXISTS; once the first closes the
// dir can be used again (the lock was released).
test('the data-dir lock refuses a second broker on the same dir', async () => {
  const dataDir = await dataDirWithTopics({ t: { partitions: 1 } });
  const first = await startBroker(dataDir);
  try {
    const error = await rejectsWith(startBroker(dataDir, { brokerId: 2 }), 'ALREADY_EXISTS');
    assert.match(error.message, /is in use by process/);
  } finally {
    await first.close();
  }
  const again = await startBroker(dataDir);
  await again.close();
});

// Goal: close() answers a parked long-poll at once with an empty answer instead of leaving it to
// its 10 s maxWaitMs, and the data acknowledged before is durable across the restart.
test('close answers parked long-polls empty and promptly', async () => {
  const dataDir = await dataDirWithTopics({ t: { partitions: 1 } });
  const broker = await startBroker(dataDir);
  const client = await connect(broker.port);
  await produce(client, 't', 0, [{ value: 'one' }], 'memory');
  const waiting = fetch(client, { topic: 't', partition: 0, offset: 1, maxWaitMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const startedAt = Date.now();
  await broker.close();
  const got = await waiting;
  assert.ok(Date.now() - startedAt < 3000);
  assert.deepEqual(got.messages, []);
  assert.equal(got.nextOffset, 1);
  client.close();
  const reopened = await startBroker(dataDir);
  const reader = await connect(reopened.port);
  const back = await fetch(reader, { topic: 't', partition: 0, offset: 0 });
  assert.equal(back.messages[0]!.value.toString(), 'one');
  reader.close();
  await reopened.close();
});

// Goal: one connection may park only so many fetches (BUSY past the cap); after it closes, the
// broker keeps waking other connections' fetches normally (the registry itself: fetch-waiters.test.ts).
test('parked fetches are capped per connection', async () => {
  const dataDir = await dataDirWithTopics({ t: { partitions: 1 } });
  const broker = await startBroker(dataDir, { fetchWaitersPerConnectionMax: 2 });
  try {
    const greedy = await connect(broker.port);
    const parked = [
      fetch(greedy, { topic: 't', partition: 0, offset: 0, maxWaitMs: 10_000 }),
      fetch(greedy, { topic: 't', partition: 0, offset: 0, maxWaitMs: 10_000 }),
    ];
    for (const each of parked) each.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await rejectsWith(fetch(greedy, { topic: 't', partition: 0, offset: 0, maxWaitMs: 10_000 }), 'BUSY');
    greedy.close();
    const other = await connect(broker.port);
    const waiting = fetch(other, { topic: 't', partition: 0, offset: 0, maxWaitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await produce(other, 't', 0, [{ value: 'x' }]);
    assert.equal((await waiting).messages.length, 1);
    other.close();
  } finally {
    await broker.close();
  }
});
