// PRODUCE_BATCHES codec: golden bytes pin the layout (the example in docs/protocol.md); round trips,
// truncations, every malformed rule and buffer identity prove decoding; the response carries ok
// and error outcomes per batch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isTubeError, TubeError } from '../../src/common/index.js';
import {
  type ProduceBatchOutcome,
  type ProduceBatchesRequest,
  type DecodedProduceBatchesRequest,
  type ProducedMessage,
  decodeProduceBatchesRequest,
  decodeProduceBatchesResponse,
  decodeProduceRequest,
  encodeError,
  encodeProduceBatchesRequest,
  encodeProduceBatchesResponse,
  encodeProduceRequest,
  isKnownOpcode,
  opcodeLabel,
  opcodes,
  produceBatchesLimits,
} from '../../src/protocol/index.js';

function assertBadRequest(action: () => unknown, message: RegExp): void {
  assert.throws(
    action,
    (error) => isTubeError(error, 'BAD_REQUEST') && message.test(error.message),
    `expected BAD_REQUEST matching ${String(message)}`,
  );
}

const bytes = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));
const noSeparators = (text: string): boolean => !/[,=]/.test(text);

/**
 * Messages already in the shape the decoder returns (buffers; absent, never empty, stream ids and
 * attributes), so a decoded request must deep-equal the one encoded.
 */
const arbitraryMessage: fc.Arbitrary<ProducedMessage> = fc
  .tuple(
    bytes(48),
    fc.option(bytes(12), { nil: undefined }),
    fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
    fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }),
    fc.option(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 6 }).filter(noSeparators),
        fc.string({ maxLength: 6 }).filter(noSeparators),
        { minKeys: 1, maxKeys: 3 },
      ),
      { nil: undefined },
    ),
  )
  .map(([value, key, timestamp, streamId, attributes]) => {
    const message: ProducedMessage = { value };
    if (key !== undefined) message.key = key;
    if (timestamp !== undefined) message.timestamp = timestamp;
    if (streamId !== undefined) message.streamId = streamId;
    if (attributes !== undefined) message.attributes = { ...attributes };
    return message;
  });

const arbitraryRequest: fc.Arbitrary<DecodedProduceBatchesRequest> = fc
  .record({
    acks: fc.constantFrom('memory' as const, 'written' as const, 'fsync' as const),
    batches: fc.array(
      fc
        .record({
          topic: fc.string({ minLength: 1, maxLength: 40 }),
          partition: fc.nat({ max: 0xffff_ffff }),
          messages: fc.array(arbitraryMessage, { maxLength: 6 }),
        })
        .map((batch) => ({ ...batch })),
      { minLength: 1, maxLength: 6 },
    ),
  })
  .map((request) => ({ ...request }));

const golden: ProduceBatchesRequest = {
  acks: 'written',
  batches: [
    { topic: 't', partition: 1, messages: [{ value: 'hi', key: 'k' }] },
    { topic: 'u', partition: 0, messages: [{ value: '' }] },
  ],
};
const goldenHex =
  // acks 1 | reserved 0 | batchCount 2
  '01' +
  '00' +
  '0200' +
  // batch 0: topicBytes 1 "t" | partition 1 | messageCount 1
  '0100' +
  '74' +
  '01000000' +
  '01000000' +
  // flags 2 (key) | keyBytes 1 "k" | streamIdBytes 0 | attributesBytes 0 | valueBytes 2 "hi"
  '02' +
  '01000000' +
  '6b' +
  '0000' +
  '00000000' +
  '02000000' +
  '6869' +
  // batch 1: topicBytes 1 "u" | partition 0 | messageCount 1
  '0100' +
  '75' +
  '00000000' +
  '01000000' +
  // flags 0 | streamIdBytes 0 | attributesBytes 0 | valueBytes 0
  '00' +
  '0000' +
  '00000000' +
  '00000000';

const goldenOutcomes: ProduceBatchOutcome[] = [
  { baseOffset: 5, count: 1 },
  { error: new TubeError('NOT_FOUND', 'no topic') },
];
const goldenResponseHex =
  // batchCount 2
  '0200' +
  // status 0 | baseOffset 5 | count 1
  '00' +
  '0500000000000000' +
  '01000000' +
  // status 1 | errorBytes 16 | code 404 | messageBytes 8 "no topic" | detailsBytes 0
  '01' +
  '10000000' +
  '9401' +
  '0800' +
  '6e6f20746f706963' +
  '00000000';

const body = (): Buffer => Buffer.from(goldenHex, 'hex');
const join = (parts: readonly Buffer[]): Buffer => Buffer.concat(parts);

describe('PRODUCE_BATCHES', () => {
  test('opcode 19 is pinned and known', () => {
    // Goal: the published number never moves and the table knows it. Method: check number, label, known.
    assert.equal(opcodes.PRODUCE_BATCHES, 19);
    assert.ok(isKnownOpcode(19));
    assert.equal(opcodeLabel(19), 'PRODUCE_BATCHES');
    assert.equal(produceBatchesLimits.batchCountMax, 4096);
  });

  test('encodes the documented golden request bytes, in one buffer', () => {
    // Goal: the request layout never drifts and all sections share one allocation. Method: compare
    // the two-batch example of docs/protocol.md with a hex literal.
    const parts = encodeProduceBatchesRequest(golden);
    assert.equal(parts.length, 1);
    assert.equal(join(parts).toString('hex'), goldenHex);
  });

  test('decodes the golden request', () => {
    // Goal: the hex literal means what the docs say. Method: decode it and compare fields.
    assert.deepEqual(decodeProduceBatchesRequest(body()), {
      acks: 'written',
      batches: [
        { topic: 't', partition: 1, messages: [{ value: Buffer.from('hi'), key: Buffer.from('k') }] },
        { topic: 'u', partition: 0, messages: [{ value: Buffer.alloc(0) }] },
      ],
    });
  });

  test('a batch is byte for byte the section PRODUCE carries', () => {
    // Goal: one section format for both requests. Method: a PRODUCE body minus its 2 header bytes
    // equals the batch bytes after the 4-byte PRODUCE_BATCHES header.
    const batch = { topic: 'orders', partition: 7, messages: [{ value: 'v', timestamp: 3, streamId: 's' }] };
    const single = join(encodeProduceRequest({ acks: 'fsync', ...batch }));
    const batches = join(encodeProduceBatchesRequest({ acks: 'fsync', batches: [batch] }));
    assert.deepEqual(batches.subarray(4), single.subarray(2));
    assert.deepEqual(
      decodeProduceRequest(single).messages,
      decodeProduceBatchesRequest(batches).batches[0]!.messages,
    );
  });

  test('round trips every field, an empty value and a large value passed through uncopied', () => {
    // Goal: keys, timestamps, stream ids, attributes, empty and >16 KiB values all survive, and the
    // big value is its own buffer. Method: encode three batches, check the parts, decode.
    const big = Buffer.alloc(20_000, 7);
    const request: ProduceBatchesRequest = {
      acks: 'fsync',
      batches: [
        {
          topic: 'orders',
          partition: 3,
          messages: [
            {
              value: 'a',
              key: Buffer.from([1, 2]),
              timestamp: 1_700_000_000_000,
              streamId: 'red',
              attributes: { x: '1', y: '' },
            },
            { value: '' },
          ],
        },
        {
          topic: 'événements',
          partition: 0xffff_ffff,
          messages: [{ value: big, key: '' }, { value: 'after' }],
        },
        { topic: 'orders', partition: 0, messages: [] },
      ],
    };
    const parts = encodeProduceBatchesRequest(request);
    assert.equal(parts.length, 3);
    assert.equal(parts[1], big);
    assert.deepEqual(decodeProduceBatchesRequest(join(parts)), {
      acks: 'fsync',
      batches: [
        {
          topic: 'orders',
          partition: 3,
          messages: [
            {
              value: Buffer.from('a'),
              key: Buffer.from([1, 2]),
              timestamp: 1_700_000_000_000,
              streamId: 'red',
              attributes: { x: '1', y: '' },
            },
            { value: Buffer.alloc(0) },
          ],
        },
        {
          topic: 'événements',
          partition: 0xffff_ffff,
          messages: [{ value: big, key: Buffer.alloc(0) }, { value: Buffer.from('after') }],
        },
        { topic: 'orders', partition: 0, messages: [] },
      ],
    });
  });

  test('decoded keys and values are views into the body', () => {
    // Goal: zero copy on the broker's hot path. Method: compare underlying ArrayBuffers.
    const received = body();
    const { batches } = decodeProduceBatchesRequest(received);
    assert.equal(batches[0]!.messages[0]!.key!.buffer, received.buffer);
    assert.equal(batches[0]!.messages[0]!.value.buffer, received.buffer);
    assert.equal(batches[1]!.messages[0]!.value.buffer, received.buffer);
  });

  test('round trips any request', () => {
    // Goal: decode inverts encode. Method: fast-check acks and batches of random topics, partitions
    // and messages with every optional field.
    fc.assert(
      fc.property(arbitraryRequest, (request) => {
        assert.deepEqual(decodeProduceBatchesRequest(join(encodeProduceBatchesRequest(request))), request);
      }),
    );
  });

  test('every truncation of a valid request is BAD_REQUEST', () => {
    // Goal: a short body never decodes or throws anything else. Method: decode every proper prefix
    // of the golden body and of random ones.
    for (let length = 0; length < body().length; length++) {
      assertBadRequest(
        () => decodeProduceBatchesRequest(body().subarray(0, length)),
        /^malformed PRODUCE_BATCHES request: /,
      );
    }
    fc.assert(
      fc.property(arbitraryRequest, (request) => {
        const encoded = join(encodeProduceBatchesRequest(request));
        for (let length = 0; length < encoded.length; length++) {
          assertBadRequest(
            () => decodeProduceBatchesRequest(encoded.subarray(0, length)),
            /^malformed PRODUCE_BATCHES request: /,
          );
        }
      }),
      { numRuns: 30 },
    );
  });

  test('random garbage decodes or is BAD_REQUEST, never another error', () => {
    // Goal: hostile bytes cannot crash the broker or the client. Method: fast-check arbitrary
    // bodies, half of them behind a plausible request header (acks 0, one batch, topicBytes 1).
    const plausibleStart = Buffer.from('000001000100', 'hex');
    const garbage = fc
      .tuple(fc.boolean(), bytes(200))
      .map(([plausible, tail]) => (plausible ? Buffer.concat([plausibleStart, tail]) : tail));
    fc.assert(
      fc.property(garbage, (received) => {
        for (const decode of [decodeProduceBatchesRequest, decodeProduceBatchesResponse]) {
          assert.throws(
            () => {
              decode(received);
              throw new TubeError('BAD_REQUEST', 'decoded');
            },
            (error) => isTubeError(error, 'BAD_REQUEST'),
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('rejects each malformed rule with a message naming batch and message', () => {
    // Goal: errors say what is wrong and where. Method: break one field of the golden body at a time.
    const patched = (at: number, byte: number): Buffer => {
      const copy = body();
      copy[at] = byte;
      return copy;
    };
    const batch1 = 4 + 2 + 1 + 8 + 1 + 4 + 1 + 2 + 4 + 4 + 2; // where batch 1 starts: 33
    const decode = (bytes: Buffer) => () => decodeProduceBatchesRequest(bytes);
    assertBadRequest(decode(Buffer.alloc(3)), /request: 3 bytes, fewer than the 4 fixed/);
    assertBadRequest(decode(patched(0, 3)), /request: acks 3 is not 0, 1 or 2/);
    assertBadRequest(decode(patched(1, 1)), /request: reserved byte is 1, not 0/);
    assertBadRequest(decode(patched(2, 0)), /request: batchCount 0 is not in \[1, 4096\]/);
    const tooManyBatches = body();
    tooManyBatches.writeUInt16LE(4097, 2);
    assertBadRequest(decode(tooManyBatches), /request: batchCount 4097 is not in \[1, 4096\]/);
    assertBadRequest(decode(patched(2, 9)), /request: batchCount 9 cannot fit in the \d+ bytes left/);
    assertBadRequest(decode(patched(batch1, 0)), /request: batch 1 topicBytes 0 is not in \[1, 255\]/);
    assertBadRequest(decode(patched(batch1 + 2, 0xff)), /request: batch 1 topic is not UTF-8/);
    assertBadRequest(decode(patched(15, 0x07)), /request: batch 0 message 0 has unknown flags 0x07/);
    assertBadRequest(decode(patched(batch1 + 11, 0x04)), /request: batch 1 message 0 has unknown flags 0x04/);
    assertBadRequest(decode(patched(batch1 + 7, 0x40)), /request: batch 1 messageCount 64 cannot fit/);
    const tooManyMessages = body();
    tooManyMessages.writeUInt32LE(1_000_001, 11);
    assertBadRequest(
      decode(tooManyMessages),
      /request: batch 0 messageCount 1000001 is over the 1000000 allowed/,
    );
    assertBadRequest(
      decode(patched(19, 0xff)),
      /request: batch 0 message 0 keyBytes 4278190081 overruns the body/,
    );
    assertBadRequest(
      decode(Buffer.concat([body(), Buffer.from([0])])),
      /request: 1 bytes follow the last batch/,
    );
    // A batchCount of 1 leaves batch 1 as trailing bytes.
    assertBadRequest(decode(patched(2, 1)), /request: 22 bytes follow the last batch/);
    const timestamped = join(
      encodeProduceBatchesRequest({
        acks: 'memory',
        batches: [golden.batches[0]!, { topic: 'u', partition: 0, messages: [{ value: '', timestamp: 0 }] }],
      }),
    );
    timestamped.writeUInt32LE(0x20_0000, batch1 + 12 + 4); // high half of the timestamp: 2^53
    assertBadRequest(decode(timestamped), /request: batch 1 message 0 timestamp is over 2\^53 - 1/);
    const attributed = join(
      encodeProduceBatchesRequest({
        acks: 'memory',
        batches: [{ topic: 't', partition: 0, messages: [{ value: 'v', attributes: { a: 'b' } }] }],
      }),
    );
    assertBadRequest(
      decode(Buffer.from(attributed.toString('hex').replace('613d62', '61622c'), 'hex')),
      /request: batch 0 message 0 attribute "ab" is not k=v/,
    );
  });

  test('refuses to encode what the wire cannot carry, naming the batch', () => {
    // Goal: the encoder holds the same limits as the decoder. Method: one bad field at a time.
    assertBadRequest(
      () => encodeProduceBatchesRequest({ acks: 'memory', batches: [] }),
      /^PRODUCE_BATCHES request cannot be encoded: 0 batches, not 1 to 4096/,
    );
    const many = Array.from({ length: 4097 }, () => golden.batches[1]!);
    assertBadRequest(
      () => encodeProduceBatchesRequest({ acks: 'memory', batches: many }),
      /4097 batches, not 1 to 4096/,
    );
    assertBadRequest(
      () => encodeProduceBatchesRequest({ ...golden, acks: 'never' as 'memory' }),
      /acks must be one of memory, written, fsync/,
    );
    assertBadRequest(
      () =>
        encodeProduceBatchesRequest({
          acks: 'memory',
          batches: [golden.batches[0]!, { topic: 'x'.repeat(256), partition: 0, messages: [] }],
        }),
      /cannot be encoded: batch 1 topic must be 1 to 255 UTF-8 bytes/,
    );
    assertBadRequest(
      () =>
        encodeProduceBatchesRequest({
          acks: 'memory',
          batches: [{ topic: 't', partition: -1, messages: [] }],
        }),
      /batch 0 partition must be an integer/,
    );
    assertBadRequest(
      () =>
        encodeProduceBatchesRequest({
          acks: 'memory',
          batches: [
            golden.batches[1]!,
            {
              topic: 't',
              partition: 0,
              messages: [{ value: 'v' }, { value: 'v', attributes: { a: 'b,c' } }],
            },
          ],
        }),
      /batch 1 message 1 attribute "a": .* may contain ',' or '='/,
    );
  });
});

describe('PRODUCE_BATCHES response', () => {
  test('encodes and decodes the golden response bytes', () => {
    // Goal: the response layout never drifts; an error outcome carries an ERROR frame's body.
    // Method: one ok and one error outcome against a hex literal, both ways.
    const encoded = encodeProduceBatchesResponse(goldenOutcomes);
    assert.equal(encoded.toString('hex'), goldenResponseHex);
    assert.equal(
      encoded.subarray(20).toString('hex'),
      encodeError(goldenOutcomes[1]!.error!).toString('hex'),
    );
    const decoded = decodeProduceBatchesResponse(encoded);
    assert.deepEqual(decoded[0], { baseOffset: 5, count: 1 });
    assert.ok(isTubeError(decoded[1]!.error, 'NOT_FOUND'));
    assert.equal(decoded[1]!.error.message, 'no topic');
  });

  test('round trips mixed outcomes; errors keep name, message, details and hint', () => {
    // Goal: the client gets each batch's fate exactly. Method: fast-check outcome lists mixing
    // offsets with errors of several names, messages and details.
    const arbitraryOutcome: fc.Arbitrary<ProduceBatchOutcome> = fc.oneof(
      fc.record({
        baseOffset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        count: fc.integer({ min: 0, max: 0xffff_ffff }),
      }),
      fc
        .record({
          name: fc.constantFrom(
            'NOT_FOUND' as const,
            'UNAVAILABLE' as const,
            'MESSAGE_TOO_LARGE' as const,
            'BUSY' as const,
            'INTERNAL' as const,
          ),
          message: fc.string({ maxLength: 40 }),
          details: fc.dictionary(
            fc.string({ minLength: 1, maxLength: 6 }).filter((key) => key !== 'hint' && key !== '__proto__'),
            fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
          ),
          hint: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
        })
        .map(({ name, message, details, hint }) => ({
          error: new TubeError(name, message, { details: { ...details }, hint }),
        })),
    );
    fc.assert(
      fc.property(fc.array(arbitraryOutcome, { minLength: 1, maxLength: 8 }), (outcomes) => {
        const decoded = decodeProduceBatchesResponse(encodeProduceBatchesResponse(outcomes));
        assert.equal(decoded.length, outcomes.length);
        outcomes.forEach((outcome, i) => {
          const got = decoded[i]!;
          if (outcome.error === undefined) {
            assert.deepEqual(got, { baseOffset: outcome.baseOffset, count: outcome.count });
          } else {
            assert.ok(got.error instanceof TubeError);
            assert.equal(got.error.errorName, outcome.error.errorName);
            assert.equal(got.error.message, outcome.error.message);
            assert.deepEqual(got.error.details, outcome.error.details);
            assert.equal(got.error.hint, outcome.error.hint);
          }
        });
      }),
    );
  });

  test('a malformed response is BAD_REQUEST, every truncation included', () => {
    // Goal: the client never trusts a broken answer. Method: every prefix of the golden response,
    // a bad status, a zero count, an overrunning errorBytes and trailing bytes.
    const response = Buffer.from(goldenResponseHex, 'hex');
    for (let length = 0; length < response.length; length++) {
      assertBadRequest(
        () => decodeProduceBatchesResponse(response.subarray(0, length)),
        /^malformed PRODUCE_BATCHES response: /,
      );
    }
    const patched = (at: number, byte: number): Buffer => {
      const copy = Buffer.from(response);
      copy[at] = byte;
      return copy;
    };
    assertBadRequest(
      () => decodeProduceBatchesResponse(patched(0, 0)),
      /response: batchCount 0 is not in \[1, 4096\]/,
    );
    assertBadRequest(
      () => decodeProduceBatchesResponse(patched(15, 2)),
      /response: batch 1 status 2 is not 0 or 1/,
    );
    assertBadRequest(
      () => decodeProduceBatchesResponse(patched(16, 0x11)),
      /response: batch 1 errorBytes 17 overruns the body/,
    );
    assertBadRequest(
      () => decodeProduceBatchesResponse(Buffer.concat([response, Buffer.from([0])])),
      /response: 1 bytes follow the last batch/,
    );
    assertBadRequest(
      () => decodeProduceBatchesResponse(patched(9, 0x20)),
      /response: batch 0 baseOffset is over 2\^53 - 1/,
    );
    assertBadRequest(
      () => encodeProduceBatchesResponse([]),
      /^PRODUCE_BATCHES response cannot be encoded: 0 batches/,
    );
    assertBadRequest(
      () => encodeProduceBatchesResponse([{ baseOffset: -1, count: 0 }]),
      /response cannot be encoded: batch 0 baseOffset must be/,
    );
  });
});
