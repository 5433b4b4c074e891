// PRODUCE_BATCHES through a real broker: batches of several partitions and topics land at the
// right offsets in request order, each batch is answered on its own (a bad one never spoils the
// others), long-polls wake, and a malformed request is one BAD_REQUEST on a connection that stays up.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isTubeError } from '../../src/common/index.js';
import type { Broker } from '../../src/broker/index.js';
import {
  decodeProduceBatchesResponse,
  encodeProduceBatchesRequest,
  opcodes,
  type Connection,
  type ProduceBatchOutcome,
  type ProduceBatchesRequest,
} from '../../src/protocol/index.js';
import {
  assignedTopic,
  connect,
  dataDirWithTopics,
  FakeMaster,
  fetch,
  removeTempDirs,
  startBroker,
  tempDir,
} from './helpers.js';

after(removeTempDirs);

async function produceBatches(
  connection: Connection,
  batches: ProduceBatchesRequest['batches'],
  acks: ProduceBatchesRequest['acks'] = 'written',
): Promise<ProduceBatchOutcome[]> {
  const frame = await connection.request(
    opcodes.PRODUCE_BATCHES,
    encodeProduceBatchesRequest({ acks, batches }),
  );
  return decodeProduceBatchesResponse(frame.body);
}

/** The values stored in topic/partition from `offset` on, as strings. */
async function storedValues(
  connection: Connection,
  topic: string,
  partition: number,
  offset = 0,
): Promise<string[]> {
  const got = await fetch(connection, { topic, partition, offset });
  return got.messages.map((message) => message.value.toString());
}

describe('PRODUCE_BATCHES (standalone broker)', () => {
  let broker: Broker;
  let client: Connection;

  test('setup', async () => {
    const dataDir = await dataDirWithTopics({ orders: { partitions: 2 }, events: { partitions: 1 } });
    broker = await startBroker(dataDir, { storage: { maxMessageBytes: 4096 } });
    client = await connect(broker.port);
  });

  after(async () => {
    client?.close();
    await broker?.close();
  });

  // Goal: one request carrying batches for 3 partitions of 2 topics stores every message, each
  // batch at the offsets its outcome names, and two batches for one partition land in request
  // order. Method: produce one request, then FETCH each partition and compare values and offsets.
  test('batches for 3 partitions of 2 topics land at the right offsets', async () => {
    await produceBatches(client, [{ topic: 'orders', partition: 1, messages: [{ value: 'earlier' }] }]);
    const outcomes = await produceBatches(client, [
      { topic: 'orders', partition: 0, messages: [{ value: 'o0-a', key: 'k' }, { value: 'o0-b' }] },
      { topic: 'events', partition: 0, messages: [{ value: 'e0-a', streamId: 's', attributes: { x: '1' } }] },
      { topic: 'orders', partition: 1, messages: [{ value: 'o1-a' }, { value: 'o1-b' }, { value: 'o1-c' }] },
      { topic: 'orders', partition: 0, messages: [{ value: 'o0-c', timestamp: 1_700_000_000_000 }] },
    ]);
    assert.deepEqual(outcomes, [
      { baseOffset: 0, count: 2 },
      { baseOffset: 0, count: 1 },
      { baseOffset: 1, count: 3 },
      { baseOffset: 2, count: 1 },
    ]);
    assert.deepEqual(await storedValues(client, 'orders', 0), ['o0-a', 'o0-b', 'o0-c']);
    assert.deepEqual(await storedValues(client, 'orders', 1), ['earlier', 'o1-a', 'o1-b', 'o1-c']);
    assert.deepEqual(await storedValues(client, 'events', 0), ['e0-a']);
    const orders0 = await fetch(client, { topic: 'orders', partition: 0, offset: 0 });
    assert.deepEqual(
      orders0.messages.map((message) => message.offset),
      [0, 1, 2],
    );
    assert.equal(orders0.messages[0]!.key?.toString(), 'k');
    assert.equal(orders0.messages[2]!.timestamp, 1_700_000_000_000);
    const events0 = await fetch(client, { topic: 'events', partition: 0, offset: 0 });
    assert.equal(events0.messages[0]!.streamId, 's');
    assert.deepEqual(events0.messages[0]!.attributes, { x: '1' });
  });

  // Goal: a batch is acknowledged to long-polls like a PRODUCE: a fetch parked at the log end is
  // answered as soon as the request lands. Method: park a 5 s fetch, send PRODUCE_BATCHES, time it.
  test('wakes a long-poll parked on one of its partitions', async () => {
    const start = (await fetch(client, { topic: 'events', partition: 0, offset: 0 })).latestOffset;
    const startedAt = Date.now();
    const parked = fetch(client, { topic: 'events', partition: 0, offset: start, maxWaitMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await produceBatches(client, [
      { topic: 'orders', partition: 1, messages: [{ value: 'other' }] },
      { topic: 'events', partition: 0, messages: [{ value: 'wake' }] },
    ]);
    const got = await parked;
    assert.ok(Date.now() - startedAt < 4000, 'answered long before maxWaitMs');
    assert.deepEqual(
      got.messages.map((message) => message.value.toString()),
      ['wake'],
    );
  });

  // Goal: a malformed request is one BAD_REQUEST naming the batch and message, and the connection
  // keeps serving. Method: send a body whose batch 1 is cut short, then a batch with a bad flags
  // byte, then produce normally on the same connection.
  test('a malformed request is BAD_REQUEST and the connection keeps serving', async () => {
    const badRequest = (requestBody: Buffer, message: RegExp): Promise<void> =>
      assert.rejects(
        client.request(opcodes.PRODUCE_BATCHES, requestBody),
        (error) => isTubeError(error, 'BAD_REQUEST') && message.test(error.message),
      );
    const valid = Buffer.concat(
      encodeProduceBatchesRequest({
        acks: 'memory',
        batches: [
          { topic: 'orders', partition: 0, messages: [{ value: 'x' }] },
          { topic: 'orders', partition: 1, messages: [{ value: 'y' }] },
        ],
      }),
    );
    await badRequest(
      valid.subarray(0, valid.length - 1),
      /^malformed PRODUCE_BATCHES request: batch 1 message 0 valueBytes 1 overruns the body/,
    );
    const badFlags = Buffer.from(valid);
    badFlags[4 + 2 + 6 + 8] = 0x80; // batch 0's first message flags
    await badRequest(badFlags, /batch 0 message 0 has unknown flags 0x80/);
    const before = (await fetch(client, { topic: 'orders', partition: 0, offset: 0 })).latestOffset;
    assert.deepEqual(
      await produceBatches(client, [{ topic: 'orders', partition: 0, messages: [{ value: 'fine' }] }]),
      [{ baseOffset: before, count: 1 }],
    );
  });
});

describe('PRODUCE_BATCHES (broker with a master)', () => {
  // Goal: one bad batch never spoils the others: good batches are stored and answered ok, and each
  // bad one gets its own error (unknown topic NOT_FOUND, a partition past the topic's count
  // NOT_FOUND, a partition another broker serves UNAVAILABLE, an oversize message
  // MESSAGE_TOO_LARGE). Method: one request mixing them against a broker hosting alpha/0 only.
  test('good batches land, each bad batch gets its own error', async () => {
    const master = new FakeMaster(
      { version: 1, topics: [assignedTopic('alpha', 2, [0]), assignedTopic('beta', 1, [0])] },
      10_000,
    );
    await master.listen();
    const broker = await startBroker(tempDir(), {
      brokerId: 7,
      masters: [{ host: '127.0.0.1', port: master.port }],
      storage: { maxMessageBytes: 1024 },
    });
    const client = await connect(broker.port);
    after(async () => {
      client.close();
      await broker.close();
      await master.close();
    });
    await broker.whenRegistered();

    const outcomes = await produceBatches(client, [
      { topic: 'alpha', partition: 0, messages: [{ value: 'a0-1' }, { value: 'a0-2' }] },
      { topic: 'ghost', partition: 0, messages: [{ value: 'lost' }] },
      { topic: 'alpha', partition: 1, messages: [{ value: 'elsewhere' }] },
      { topic: 'beta', partition: 0, messages: [{ value: 'ok' }, { value: Buffer.alloc(2048) }] },
      { topic: 'alpha', partition: 9, messages: [{ value: 'nowhere' }] },
      { topic: 'beta', partition: 0, messages: [{ value: 'b0' }] },
      { topic: 'alpha', partition: 0, messages: [{ value: 'a0-3' }] },
    ]);
    assert.equal(outcomes.length, 7);
    assert.deepEqual(outcomes[0], { baseOffset: 0, count: 2 });
    const errorOf = (index: number, name: Parameters<typeof isTubeError>[1]): string => {
      const { error } = outcomes[index]!;
      assert.ok(isTubeError(error, name), `batch ${index}: expected ${name}, got ${String(error)}`);
      return error.message;
    };
    assert.equal(errorOf(1, 'NOT_FOUND'), 'topic "ghost" does not exist');
    assert.equal(errorOf(2, 'UNAVAILABLE'), 'partition alpha/1 is not served by broker 7');
    assert.match(errorOf(3, 'MESSAGE_TOO_LARGE'), /over maxMessageBytes \(1024\)/);
    assert.equal(outcomes[3]!.error!.details.maxMessageBytes, 1024);
    assert.match(errorOf(4, 'NOT_FOUND'), /topic alpha has no partition 9/);
    assert.deepEqual(outcomes[5], { baseOffset: 0, count: 1 });
    assert.deepEqual(outcomes[6], { baseOffset: 2, count: 1 });

    assert.deepEqual(await storedValues(client, 'alpha', 0), ['a0-1', 'a0-2', 'a0-3']);
    // The oversize batch is refused whole, so beta/0 holds only the later good batch.
    assert.deepEqual(await storedValues(client, 'beta', 0), ['b0']);
  });
});
