// The property test for bad input (issue 4 §1): thousands of random byte strings and
// mutated valid frames go to a LIVE server over real loopback sockets, one connection per case.
// Each case checks what a hostile client can observe (whatever comes back is well-framed, answers
// only requests that were sent, is never INTERNAL, and the server closes its side when the client
// hangs up, whatever state it left the stream in); after all of them a
// normal client must still get correct answers, the server must hold no leftover connections, and
// nothing may have escaped as an uncaught exception, an unhandled rejection or an error log line.
//
// Seeded, so a failure reproduces: fast-check prints the seed and path; rerun with
// TUBEMQ_FUZZ_SEED=<seed>. TUBEMQ_FUZZ_RUNS scales the number of cases.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TubeError, isTubeError } from '../../src/common/index.js';
import { writeRecord, recordBytes } from '../../src/common/record-format.js';
import {
  type Connection,
  type Frame,
  FrameDecoder,
  type RequestHandler,
  callJson,
  decodeError,
  decodeFetchRequest,
  decodeFetchResponse,
  decodeProduceRequest,
  decodeProduceResponse,
  dial,
  encodeFetchRequest,
  encodeFetchResponse,
  encodeFrame,
  encodeHelloRequest,
  encodeProduceRequest,
  encodeProduceResponse,
  frameFlags,
  isKnownOpcode,
  metadataMessage,
  opcodes,
  protocolVersion,
} from '../../src/protocol/index.js';
import { type ControlName, controlNames, controlSamples } from './control-samples.js';
import { type TestServer, rawConnect, startServer } from './server-helpers.js';

const seed = Number(process.env.TUBEMQ_FUZZ_SEED ?? 20_264);
const runsScale = Number(process.env.TUBEMQ_FUZZ_RUNS ?? 1);
const runs = (count: number): number => Math.max(1, Math.round(count * runsScale));
// Small enough that a length "over the limit" is cheap to send in full, big enough for every case.
const frameBytesMax = 64 * 1024;

// ---- what the process must never do --------------------------------------------------------------

const escaped: unknown[] = [];
const onUncaught = (error: unknown): void => void escaped.push(error);
before(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
after(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

// ---- the server under test: the real codecs behind a tiny in-memory log ---------------------------

/** A ProtocolServer whose handlers decode every request with the real codecs, as the daemons do. */
async function startCodecServer(): Promise<TestServer> {
  const partitions = new Map<string, Buffer[]>();
  const log = (topic: string, partition: number): Buffer[] => {
    const key = `${topic}/${partition}`;
    let records = partitions.get(key);
    if (records === undefined) partitions.set(key, (records = []));
    return records;
  };
  const handlers = new Map<number, RequestHandler>();
  handlers.set(opcodes.PRODUCE, (frame) => {
    const request = decodeProduceRequest(frame.body);
    const records = log(request.topic, request.partition);
    const baseOffset = records.length;
    for (const message of request.messages) {
      const attributes =
        message.streamId === undefined ? undefined : Buffer.from(`$stream=${message.streamId}`, 'utf8');
      const encodable = {
        key: message.key,
        attributes,
        value: message.value,
        timestamp: message.timestamp ?? Date.now(),
        streamHash: 0,
      };
      const record = Buffer.alloc(recordBytes(encodable));
      writeRecord(record, 0, encodable, request.partition, records.length);
      records.push(record);
    }
    return encodeProduceResponse({ baseOffset, count: request.messages.length });
  });
  handlers.set(opcodes.FETCH, async (frame) => {
    const request = decodeFetchRequest(frame.body);
    const records = log(request.topic, request.partition);
    if (request.offset > records.length) {
      throw new TubeError('OFFSET_OUT_OF_RANGE', `offset ${request.offset} is past ${records.length}`, {
        details: { earliest: 0, latest: records.length },
      });
    }
    // Long-poll in miniature: a fetch at the end waits a little (never the client's full maxWaitMs).
    if (request.offset === records.length && request.maxWaitMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(request.maxWaitMs, 3)));
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for (let at = request.offset; at < records.length; at++) {
      const record = records[at]!;
      if (chunks.length > 0 && bytes + record.byteLength > request.maxBytes) break;
      chunks.push(record);
      bytes += record.byteLength;
    }
    return encodeFetchResponse({
      nextOffset: request.offset + chunks.length,
      latestOffset: records.length,
      count: chunks.length,
      damagedSkipped: 0,
      chunks,
    });
  });
  for (const name of controlNames) {
    const { message, response } = controlSamples[name];
    handlers.set(message.opcode, (frame) => {
      message.decodeRequest(frame.body);
      return message.encodeResponse(response);
    });
  }
  return startServer(handlers, { connectionOptions: { frameBytesMax } });
}

// ---- cases ------------------------------------------------------------------------------------

const validFlags = new Set([0, 1, 3, 4, 6]);

function frameBytes(opcode: number, flags: number, correlationId: number, body: Buffer): Buffer {
  return Buffer.concat(encodeFrame({ opcode, flags, correlationId }, body));
}

const hello = frameBytes(opcodes.HELLO, 0, 1, encodeHelloRequest({ protocolVersion, clientId: 'fuzz' }));

/** A valid request body for `opcode`, built from fast-check values where the codec is binary. */
const topicArb = fc.constantFrom('orders', 'other', 't');
const validRequest: fc.Arbitrary<{ opcode: number; body: Buffer }> = fc.oneof(
  fc
    .record({
      topic: topicArb,
      partition: fc.integer({ min: 0, max: 3 }),
      acks: fc.constantFrom('memory' as const, 'written' as const, 'fsync' as const),
      messages: fc.array(
        fc.record(
          {
            value: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
            key: fc.string({ maxLength: 8 }),
            timestamp: fc.integer({ min: 0, max: 2 ** 42 }),
            streamId: fc.constantFrom('s1', 's2'),
            attributes: fc.dictionary(
              fc.stringMatching(/^[a-z]{1,4}$/),
              fc.stringMatching(/^[a-z0-9]{0,4}$/),
              {
                maxKeys: 2,
              },
            ),
          },
          { requiredKeys: ['value'] },
        ),
        { minLength: 0, maxLength: 4 },
      ),
    })
    .map((request) => ({ opcode: opcodes.PRODUCE, body: Buffer.concat(encodeProduceRequest(request)) })),
  fc
    .record({
      topic: topicArb,
      partition: fc.integer({ min: 0, max: 3 }),
      offset: fc.integer({ min: 0, max: 5 }),
      maxBytes: fc.integer({ min: 0, max: 1 << 20 }),
      maxWaitMs: fc.constantFrom(0, 1, 50, 30_000),
      streamIds: fc.array(fc.constantFrom('s1', 's2'), { maxLength: 2 }),
    })
    .map((request) => ({ opcode: opcodes.FETCH, body: encodeFetchRequest(request) })),
  fc.constantFrom(...controlNames).map((name: ControlName) => {
    const { message, request } = controlSamples[name];
    return { opcode: message.opcode, body: message.encodeRequest(request) };
  }),
  fc.constant({ opcode: opcodes.HELLO, body: encodeHelloRequest({ protocolVersion, clientId: 'again' }) }),
);

const unknownOpcode = fc.integer({ min: 0, max: 0xffff }).filter((opcode) => !isKnownOpcode(opcode));
const anyOpcode = fc.oneof(fc.constantFrom(...Object.values(opcodes)), unknownOpcode);

/** How to spoil one valid request frame. */
type Mutation =
  | { kind: 'none' }
  | { kind: 'flip'; bits: number[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'lengthOver'; length: number }
  | { kind: 'badFlags'; flags: number }
  | { kind: 'opcode'; opcode: number }
  | { kind: 'garbageBody'; body: Uint8Array }
  | { kind: 'bodyCut'; keep: number }
  | { kind: 'bodyExtra'; extra: Uint8Array }
  | { kind: 'correlationZero' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant('lengthOver' as const),
    length: fc.oneof(
      fc.integer({ min: frameBytesMax + 1, max: 0xffff_ffff }),
      fc.integer({ min: 0, max: 6 }),
    ),
  }),
  fc.record({
    kind: fc.constant('badFlags' as const),
    flags: fc.integer({ min: 0, max: 255 }).filter((flags) => !validFlags.has(flags)),
  }),
  fc.record({ kind: fc.constant('opcode' as const), opcode: anyOpcode }),
  fc.record({ kind: fc.constant('garbageBody' as const), body: fc.uint8Array({ maxLength: 120 }) }),
  fc.record({ kind: fc.constant('bodyCut' as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant('bodyExtra' as const),
    extra: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.constant({ kind: 'correlationZero' as const }),
);

function mutate(opcode: number, body: Buffer, correlationId: number, how: Mutation): Buffer {
  switch (how.kind) {
    case 'none':
      return frameBytes(opcode, 0, correlationId, body);
    case 'flip': {
      const bytes = frameBytes(opcode, 0, correlationId, body);
      for (const bit of how.bits) bytes[(bit >> 3) % bytes.length]! ^= 1 << (bit & 7);
      return bytes;
    }
    case 'truncate': {
      const bytes = frameBytes(opcode, 0, correlationId, body);
      return bytes.subarray(0, how.keep % bytes.length);
    }
    case 'lengthOver': {
      const bytes = frameBytes(opcode, 0, correlationId, body);
      bytes.writeUInt32LE(how.length, 0);
      return bytes;
    }
    case 'badFlags':
      return frameBytes(opcode, how.flags, correlationId, body);
    case 'opcode':
      return frameBytes(how.opcode, 0, correlationId, body);
    case 'garbageBody':
      return frameBytes(opcode, 0, correlationId, Buffer.from(how.body));
    case 'bodyCut':
      return frameBytes(opcode, 0, correlationId, body.subarray(0, how.keep % (body.length + 1)));
    case 'bodyExtra':
      return frameBytes(opcode, 0, correlationId, Buffer.concat([body, Buffer.from(how.extra)]));
    case 'correlationZero':
      return frameBytes(opcode, 0, 0, body);
  }
}

/** One connection's worth of bytes, and how to deliver them. */
interface Case {
  bytes: Buffer;
  /** Chunk sizes to write the bytes in, with a pause between chunks; empty: one write. */
  splits: number[];
}

const randomBytesCase: fc.Arbitrary<Case> = fc
  .record({
    greet: fc.boolean(),
    garbage: fc.uint8Array({ minLength: 1, maxLength: 300 }),
    splits: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 3 }),
  })
  .map(({ greet, garbage, splits }) => ({
    bytes: Buffer.concat([greet ? hello : Buffer.alloc(0), Buffer.from(garbage)]),
    splits,
  }));

const mutatedFrameCase: fc.Arbitrary<Case> = fc
  .record({
    greet: fc.nat(9).map((n) => n > 0),
    requests: fc.array(fc.tuple(validRequest, mutation), { minLength: 1, maxLength: 3 }),
    // A valid request after the mutated ones: answered only if the stream is still in frame.
    tail: fc.option(validRequest, { nil: undefined }),
    splits: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 3 }),
  })
  .map(({ greet, requests, tail, splits }) => {
    const parts: Buffer[] = greet ? [hello] : [];
    let id = 2;
    for (const [request, how] of [...requests, ...(tail ? [[tail, { kind: 'none' }] as const] : [])]) {
      parts.push(mutate(request.opcode, request.body, id++, how));
    }
    return { bytes: Buffer.concat(parts), splits };
  });

/** Valid frames with garbage bodies, for every opcode the table has (PRODUCE and FETCH included). */
const garbageBodyCase: fc.Arbitrary<Case> = fc
  .record({
    opcode: fc.constantFrom(...Object.values(opcodes)),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
      fc.jsonValue({ maxDepth: 3 }).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')),
    ),
  })
  .map(({ opcode, body }) => ({
    bytes: Buffer.concat([hello, frameBytes(opcode, 0, 2, body)]),
    splits: [],
  }));

// ---- running a case ---------------------------------------------------------------------------

interface Observed {
  frames: Frame[];
  /** The server's bytes did not decode as frames (must never happen). */
  badStream: boolean;
}

async function deliver(port: number, fuzzCase: Case): Promise<Observed> {
  const client = await rawConnect(port);
  let at = 0;
  for (const size of fuzzCase.splits) {
    if (at >= fuzzCase.bytes.length) break;
    client.socket.write(fuzzCase.bytes.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (at < fuzzCase.bytes.length) client.socket.write(fuzzCase.bytes.subarray(at));
  // Give the server a moment to answer, then hang up; it must close its side in response.
  await new Promise((resolve) => setTimeout(resolve, 1));
  client.socket.end();
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 3000).unref());
  assert.notEqual(await Promise.race([client.closed, timeout]), 'timeout', 'the server kept the socket open');
  const all = Buffer.concat(client.received);
  const total = client.frames.reduce((sum, frame) => sum + 11 + frame.body.length, 0);
  return { frames: client.frames, badStream: total !== all.length };
}

/**
 * The requests in what we sent, as the server can see them: correlation id to opcodes. Read with the
 * same decoder and limit as the server, up to where the framing breaks (mutations may have changed
 * any id or opcode, so they are read back rather than remembered).
 */
function requestsIn(bytes: Buffer): Map<number, Set<number>> {
  const requests = new Map<number, Set<number>>();
  const decoder = new FrameDecoder({
    frameBytesMax,
    onFrame: (frame) => {
      if (frame.flags !== 0) return;
      const seen = requests.get(frame.correlationId) ?? new Set<number>();
      requests.set(frame.correlationId, seen.add(frame.opcode));
    },
  });
  try {
    decoder.push(bytes);
  } catch {
    // The rest is garbage the server never reads either.
  }
  return requests;
}

/** What any client may rely on, whatever it sent. */
function checkAnswers(fuzzCase: Case, observed: Observed, allowed: (error: TubeError) => boolean): void {
  assert.equal(observed.badStream, false, 'the server sent bytes that are not whole frames');
  const requests = requestsIn(fuzzCase.bytes);
  for (const frame of observed.frames) {
    assert.ok(
      frame.flags === frameFlags.RESPONSE || frame.flags === (frameFlags.RESPONSE | frameFlags.ERROR),
      `flags 0x${frame.flags.toString(16)}`,
    );
    const connectionLevel = frame.opcode === 0 && frame.correlationId === 0;
    assert.ok(
      connectionLevel || requests.get(frame.correlationId)?.has(frame.opcode),
      `an answer (opcode ${frame.opcode}, id ${frame.correlationId}) to no request sent`,
    );
    if (frame.flags & frameFlags.ERROR) {
      const error = decodeError(frame.body);
      assert.doesNotMatch(error.message, /^malformed error body/);
      assert.ok(allowed(error), `unexpected ${error.errorName}: ${error.message}`);
      // A connection-level error (opcode 0, id 0) is only ever sent for bytes that lost their framing.
      if (frame.opcode === 0 && frame.correlationId === 0) assert.equal(error.errorName, 'BAD_REQUEST');
    }
  }
}

// ---- a normal client, before and after --------------------------------------------------------

async function normalClientWorks(port: number): Promise<void> {
  const { connection, hello: greeting } = await dial({ host: '127.0.0.1', port }, { clientId: 'normal' });
  try {
    assert.equal(greeting.protocolVersion, protocolVersion);
    await produceAndFetch(connection, 'normal-check', 0);
    const metadata = await callJson(connection, metadataMessage, { topics: ['orders'] });
    assert.deepEqual(metadata, controlSamples.METADATA.response);
  } finally {
    connection.close();
  }
}

async function produceAndFetch(connection: Connection, topic: string, partition: number): Promise<void> {
  const values = ['a', 'bb', 'ccc'];
  const produced = decodeProduceResponse(
    (
      await connection.request(
        opcodes.PRODUCE,
        encodeProduceRequest({
          topic,
          partition,
          acks: 'written',
          messages: values.map((value) => ({ value })),
        }),
      )
    ).body,
  );
  assert.equal(produced.count, 3);
  const fetched = decodeFetchResponse(
    (
      await connection.request(
        opcodes.FETCH,
        encodeFetchRequest({
          topic,
          partition,
          offset: produced.baseOffset,
          maxBytes: 1 << 20,
          maxWaitMs: 0,
          streamIds: [],
        }),
      )
    ).body,
    { verifyCrc: true },
  );
  assert.deepEqual(
    fetched.messages.map((message) => [message.offset, message.value.toString()]),
    values.map((value, i) => [produced.baseOffset + i, value]),
  );
  assert.equal(fetched.nextOffset, produced.baseOffset + 3);
  assert.equal(fetched.damagedSkipped, 0);
}

// ---- the property ----------------------------------------------------------------------------

describe('a live server under random and mutated frames', () => {
  let target: TestServer;
  before(async () => {
    target = await startCodecServer();
  });
  after(() => target.server.close());

  // Codec errors are BAD_REQUEST; this handler server also answers OFFSET_OUT_OF_RANGE. Never INTERNAL.
  const allowed = (error: TubeError): boolean =>
    isTubeError(error, 'BAD_REQUEST') || isTubeError(error, 'OFFSET_OUT_OF_RANGE');

  test('serves a normal client before the fuzzing starts', async () => {
    // Goal: the check at the end can fail only because of what the fuzzing did.
    await normalClientWorks(target.port);
  });

  const properties: [string, fc.Arbitrary<Case>, number][] = [
    ['random bytes, with and without a HELLO first', randomBytesCase, 1200],
    [
      'mutated valid frames: bit flips, truncation, bad lengths and flags, unknown opcodes',
      mutatedFrameCase,
      1500,
    ],
    ['well-framed requests with garbage bodies for every opcode', garbageBodyCase, 800],
  ];
  for (const [title, arbitrary, numRuns] of properties) {
    test(title, async () => {
      // Goal: no input from one client breaks the protocol for it or anyone. Method: one connection
      // per case over a real socket; every answer must be a well-formed, permitted response.
      await fc.assert(
        fc.asyncProperty(arbitrary, async (fuzzCase) => {
          checkAnswers(fuzzCase, await deliver(target.port, fuzzCase), allowed);
        }),
        { seed, numRuns: runs(numRuns) },
      );
    });
  }

  test('the fuzzed cases really reached the handlers and the error paths', async () => {
    // Goal: the property above is not vacuous. Method: replay a few known cases and look at the answers.
    const produce = Buffer.concat(
      encodeProduceRequest({ topic: 'orders', partition: 0, acks: 'memory', messages: [{ value: 'x' }] }),
    );
    const answered = await deliver(target.port, {
      bytes: Buffer.concat([hello, frameBytes(opcodes.PRODUCE, 0, 2, produce)]),
      splits: [],
    });
    assert.equal(answered.frames[1]?.flags, frameFlags.RESPONSE);
    const refused = await deliver(target.port, {
      bytes: Buffer.concat([hello, frameBytes(opcodes.PRODUCE, 0, 2, produce.subarray(0, 5))]),
      splits: [],
    });
    assert.match(decodeError(refused.frames[1]!.body).message, /^malformed PRODUCE request: /);
  });

  test('afterwards: a normal client gets correct answers, no connection is left, nothing escaped', async () => {
    // Goal: the server survived every case above. Method: produce and fetch back, ask METADATA, then
    // check the connection count, the log and the process-level error hooks.
    await normalClientWorks(target.port);
    const deadline = Date.now() + 3000;
    while (target.server.connectionCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(target.server.connectionCount, 0);
    assert.deepEqual(
      target.logs.filter((line) => line.level >= 50),
      [],
      'a handler failed with something other than a TubeError',
    );
    const warnings = target.logs.filter((line) => line.level === 40);
    assert.ok(warnings.length > 0, 'bad clients were logged');
    for (const line of warnings) assert.equal(line.msg, 'closed a connection that sent bad bytes');
    assert.deepEqual(escaped, []);
  });
});
