// The property test for bad input (issue 4 §1): thousands of random byte strings and
// mutated valid frames go to a LIVE daemon over real loopback sockets, one connection per case:
// the real broker (standalone, over a real storage engine) and the real master. Each case checks
// what a hostile client can observe (whatever comes back is well-framed, answers only requests that
// were sent, is never INTERNAL, and the server closes its side when the client hangs up, whatever
// state it left the stream in); after all of them a normal client must still get correct answers,
// and nothing may have escaped as an uncaught exception, an unhandled rejection or an error log line.
//
// Seeded, so a failure reproduces: fast-check prints the seed and path; rerun with
// TUBEMQ_FUZZ_SEED=<seed>. TUBEMQ_FUZZ_RUNS scales the number of cases (default 1).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Broker } from '../../src/broker/index.js';
import { type TubeError, isTubeError, maxFrameBytes } from '../../src/common/index.js';
import { Master } from '../../src/master/index.js';
import {
  type Frame,
  FrameDecoder,
  callJson,
  clusterStatusMessage,
  commitOffsetsMessage,
  decodeError,
  decodeFetchResponse,
  decodeProduceResponse,
  dial,
  encodeFetchRequest,
  encodeFrame,
  encodeHelloRequest,
  encodeProduceRequest,
  fetchOffsetsMessage,
  frameFlags,
  isKnownOpcode,
  listBrokersMessage,
  listOffsetsMessage,
  metadataMessage,
  opcodes,
  protocolVersion,
} from '../../src/protocol/index.js';
import { StorageEngine } from '../../src/storage/index.js';
import { removeTempDirs, tempDir } from '../helpers/storage-files.js';
import { type ControlName, controlNames, controlSamples } from './control-samples.js';
import { type LogLine, capturingLogger, rawConnect } from './server-helpers.js';

const seed = Number(process.env.TUBEMQ_FUZZ_SEED ?? 20_264);
const runsScale = Number(process.env.TUBEMQ_FUZZ_RUNS ?? 1);
const runs = (count: number): number => Math.max(1, Math.round(count * runsScale));
/** The daemons' frame limit: a `length` over it must be refused before anything is allocated. */
const frameBytesMax = maxFrameBytes;

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
  removeTempDirs();
});

// ---- the daemons under test -------------------------------------------------------------------

interface Target {
  port: number;
  logs: LogLine[];
  close(): Promise<void>;
}

/** A standalone broker (no master) whose storage holds topic `orders` with 4 partitions. */
async function startBrokerTarget(): Promise<Target> {
  const dataDir = tempDir();
  const { logger: quiet } = capturingLogger('setup');
  const storage = await StorageEngine.open({ dataDir, retentionCheckIntervalMs: 0, logger: quiet });
  await storage.createTopic('orders', { partitions: 4 });
  await storage.close();
  const { logger, logs } = capturingLogger('broker');
  const broker = await Broker.start({
    brokerId: 1,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    masters: [],
    logger,
    storage: { retentionCheckIntervalMs: 0 },
  });
  return { port: broker.port, logs, close: () => broker.close() };
}

async function startMasterTarget(): Promise<Target> {
  const { logger, logs } = capturingLogger('master');
  const master = await Master.start({
    host: '127.0.0.1',
    port: 0,
    dataDir: tempDir(),
    logger,
    // A fuzzed CREATE_TOPIC that lands on a fuzzed, vanished broker should not hold its case long.
    topicApplyTimeoutMs: 200,
  });
  return { port: master.port, logs, close: () => master.close() };
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

async function greeted(
  port: number,
  role: 'broker' | 'master',
): Promise<Awaited<ReturnType<typeof dial>>['connection']> {
  const { connection, hello: greeting } = await dial({ host: '127.0.0.1', port }, { clientId: 'normal' });
  assert.equal(greeting.protocolVersion, protocolVersion);
  assert.equal(greeting.role, role);
  return connection;
}

/** Produce three messages, fetch exactly them back, check the offsets, commit and read the commit. */
async function brokerServesNormally(port: number): Promise<void> {
  const connection = await greeted(port, 'broker');
  try {
    const values = ['a', 'bb', 'ccc'];
    const produced = decodeProduceResponse(
      (
        await connection.request(
          opcodes.PRODUCE,
          encodeProduceRequest({
            topic: 'orders',
            partition: 0,
            acks: 'written',
            messages: values.map((value) => ({ value, key: 'k' })),
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
            topic: 'orders',
            partition: 0,
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
      fetched.messages.map((message) => [message.offset, message.key?.toString(), message.value.toString()]),
      values.map((value, i) => [produced.baseOffset + i, 'k', value]),
    );
    assert.equal(fetched.nextOffset, produced.baseOffset + 3);
    assert.equal(fetched.latestOffset, produced.baseOffset + 3);
    assert.equal(fetched.damagedSkipped, 0);
    const [range] = (
      await callJson(connection, listOffsetsMessage, { partitions: [{ topic: 'orders', partition: 0 }] })
    ).offsets;
    assert.equal(range?.latest, produced.baseOffset + 3);
    const commit = { topic: 'orders', partition: 0, offset: produced.baseOffset + 3 };
    await callJson(connection, commitOffsetsMessage, { group: 'normal', offsets: [commit] });
    assert.deepEqual(
      await callJson(connection, fetchOffsetsMessage, {
        group: 'normal',
        partitions: [{ topic: 'orders', partition: 0 }],
      }),
      { offsets: [commit] },
    );
  } finally {
    connection.close();
  }
}

/** Cluster status and the broker list decode; an unknown topic is a precise NOT_FOUND. */
async function masterServesNormally(port: number): Promise<void> {
  const connection = await greeted(port, 'master');
  try {
    const status = await callJson(connection, clusterStatusMessage, {});
    assert.equal(status.master.role, 'leader');
    assert.equal(status.master.port, port);
    const { brokers } = await callJson(connection, listBrokersMessage, {});
    assert.deepEqual(brokers, status.brokers);
    await assert.rejects(callJson(connection, metadataMessage, { topics: ['never-created'] }), (error) => {
      assert.ok(isTubeError(error, 'NOT_FOUND'));
      assert.deepEqual(error.details, { topic: 'never-created' });
      return true;
    });
  } finally {
    connection.close();
  }
}

// ---- the property ----------------------------------------------------------------------------

interface Suite {
  role: 'broker' | 'master';
  start: () => Promise<Target>;
  servesNormally: (port: number) => Promise<void>;
  /** Refusals a hostile client may get from this daemon; INTERNAL is never among them. */
  allowed: readonly TubeError['errorName'][];
  /** Cases per property: random bytes, mutated frames, garbage bodies. */
  numRuns: [number, number, number];
}

const suites: Suite[] = [
  {
    role: 'broker',
    start: startBrokerTarget,
    servesNormally: brokerServesNormally,
    allowed: ['BAD_REQUEST', 'NOT_FOUND', 'OFFSET_OUT_OF_RANGE', 'MESSAGE_TOO_LARGE'],
    numRuns: [1500, 1800, 800],
  },
  {
    role: 'master',
    start: startMasterTarget,
    servesNormally: masterServesNormally,
    // UNAVAILABLE: a fuzzed CREATE_TOPIC naming a broker a fuzzed REGISTER_BROKER left offline.
    allowed: ['BAD_REQUEST', 'NOT_FOUND', 'ALREADY_EXISTS', 'NOT_REGISTERED', 'UNAVAILABLE'],
    numRuns: [400, 600, 400],
  },
];

for (const suite of suites) {
  describe(`a live ${suite.role} under random and mutated frames`, () => {
    let target: Target;
    before(async () => {
      target = await suite.start();
    });
    after(() => target.close());
    const allowed = (error: TubeError): boolean => suite.allowed.includes(error.errorName);

    test('serves a normal client before the fuzzing starts', async () => {
      // Goal: the check at the end can fail only because of what the fuzzing did.
      await suite.servesNormally(target.port);
    });

    const properties: [string, fc.Arbitrary<Case>, number][] = [
      ['random bytes, with and without a HELLO first', randomBytesCase, suite.numRuns[0]],
      [
        'mutated valid frames: bit flips, truncation, bad lengths and flags, unknown opcodes',
        mutatedFrameCase,
        suite.numRuns[1],
      ],
      ['well-framed requests with garbage bodies for every opcode', garbageBodyCase, suite.numRuns[2]],
    ];
    for (const [title, arbitrary, numRuns] of properties) {
      test(title, async () => {
        // Goal: no input from one client breaks the protocol for it or anyone. Method: one
        // connection per case over a real socket; every answer must be well-formed and permitted.
        await fc.assert(
          fc.asyncProperty(arbitrary, async (fuzzCase) => {
            checkAnswers(fuzzCase, await deliver(target.port, fuzzCase), allowed);
          }),
          { seed, numRuns: runs(numRuns) },
        );
      });
    }

    test('the cases reach the handlers and the error paths', async () => {
      // Goal: the properties above are not vacuous. Method: replay a valid request and a cut one.
      const { opcode, body } = suite.role === 'broker' ? sampleProduce() : sampleMetadata();
      const answered = await deliver(target.port, {
        bytes: Buffer.concat([hello, frameBytes(opcode, 0, 2, body)]),
        splits: [],
      });
      assert.equal(answered.frames[1]?.flags, frameFlags.RESPONSE);
      const refused = await deliver(target.port, {
        bytes: Buffer.concat([hello, frameBytes(opcode, 0, 2, body.subarray(0, 5))]),
        splits: [],
      });
      assert.match(
        decodeError(refused.frames[1]!.body).message,
        /^malformed PRODUCE request: |^METADATA request is not UTF-8 JSON/,
      );
    });

    test('afterwards: a normal client gets correct answers and nothing escaped', async () => {
      // Goal: the daemon survived every case above. Method: the normal client's checks again, then
      // the log (no error lines: every failure was a TubeError; bad clients were logged) and the
      // process-level hooks.
      await suite.servesNormally(target.port);
      assert.deepEqual(
        target.logs.filter((line) => line.level >= 50),
        [],
        'something failed with other than a TubeError',
      );
      assert.ok(
        target.logs.some((line) => line.msg === 'closed a connection that sent bad bytes'),
        'bad clients were logged',
      );
      assert.deepEqual(escaped, []);
    });
  });
}

function sampleProduce(): { opcode: number; body: Buffer } {
  const request = { topic: 'orders', partition: 1, acks: 'memory' as const, messages: [{ value: 'x' }] };
  return { opcode: opcodes.PRODUCE, body: Buffer.concat(encodeProduceRequest(request)) };
}

function sampleMetadata(): { opcode: number; body: Buffer } {
  return { opcode: opcodes.METADATA, body: metadataMessage.encodeRequest({ topics: [] }) };
}
