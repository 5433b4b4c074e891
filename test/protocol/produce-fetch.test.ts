// PRODUCE and FETCH codecs: golden bytes pin each layout; round trips, truncations, garbage,
// damaged records and buffer identity prove decoding.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isTubeError } from '../../src/common/index.js';
import { type EncodableMessage, recordBytes, writeRecord } from '../../src/common/record-format.js';
import {
  type FetchRequest,
  type ProduceMessage,
  type ProduceRequest,
  decodeFetchRequest,
  decodeFetchResponse,
  decodeProduceRequest,
  decodeProduceResponse,
  encodeFetchRequest,
  encodeFetchResponse,
  encodeProduceRequest,
  encodeProduceResponse,
  isKnownOpcode,
  opcodes,
  peekFetchNextOffset,
} from '../../src/protocol/index.js';

/** Runs `action` and requires it to succeed or throw BAD_REQUEST, nothing else. */
function decodesOrBadRequest(action: () => unknown): void {
  try {
    action();
  } catch (error) {
    assert.ok(isTubeError(error, 'BAD_REQUEST'), `expected BAD_REQUEST, got ${String(error)}`);
  }
}

function assertBadRequest(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error) => isTubeError(error, 'BAD_REQUEST') && message.test(error.message));
}

/** A fresh buffer holding `parts` back to back, like the receiver's frame body. */
function join(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(parts);
}

const attributeText = fc.string({ maxLength: 8 }).filter((text) => !/[,=]/.test(text));
const attributeKey = attributeText.filter((text) => text !== '');
const bytes = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

const arbitraryMessage: fc.Arbitrary<ProduceMessage> = fc.record(
  {
    value: fc.oneof(bytes(64), fc.string({ maxLength: 20 })),
    key: fc.oneof(bytes(16), fc.string({ maxLength: 8 })),
    timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    streamId: fc.string({ maxLength: 12 }),
    attributes: fc.dictionary(attributeKey, attributeText, { maxKeys: 4 }),
  },
  { requiredKeys: ['value'] },
);

const arbitraryProduceRequest: fc.Arbitrary<ProduceRequest> = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 40 }),
  partition: fc.integer({ min: 0, max: 0xffff_ffff }),
  acks: fc.constantFrom('memory' as const, 'written' as const, 'fsync' as const),
  messages: fc.array(arbitraryMessage, { maxLength: 8 }),
});

/** What the decoder should give back for `message`: buffers for text, absent fields omitted. */
function expectedMessage(message: ProduceMessage): Record<string, unknown> {
  const expected: Record<string, unknown> = { value: Buffer.from(message.value) };
  if (message.timestamp !== undefined) expected.timestamp = message.timestamp;
  if (message.key !== undefined) expected.key = Buffer.from(message.key);
  if (message.streamId !== undefined && message.streamId !== '') expected.streamId = message.streamId;
  if (message.attributes !== undefined && Object.keys(message.attributes).length > 0) {
    expected.attributes = { ...message.attributes };
  }
  return expected;
}

const arbitraryFetchRequest: fc.Arbitrary<FetchRequest> = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 40 }),
  partition: fc.integer({ min: 0, max: 0xffff_ffff }),
  offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  maxBytes: fc.integer({ min: 0, max: 0xffff_ffff }),
  maxWaitMs: fc.integer({ min: 0, max: 0xffff_ffff }),
  streamIds: fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 6 }),
});

interface StoredInput {
  key: Buffer | undefined;
  value: Buffer;
  timestamp: number;
  streamId: string | undefined;
  attributes: Record<string, string>;
}

const arbitraryStored: fc.Arbitrary<StoredInput> = fc.record({
  key: fc.option(bytes(16), { nil: undefined }).map((key) => (key?.length === 0 ? undefined : key)),
  value: bytes(64),
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  streamId: fc.option(attributeKey, { nil: undefined }),
  attributes: fc.dictionary(
    attributeKey.filter((key) => !key.startsWith('$')),
    attributeText,
    { maxKeys: 3 },
  ),
});

/** Storage records for `inputs` at offsets from `baseOffset`, as chunks split after each index in `cuts`. */
function recordChunks(
  inputs: readonly StoredInput[],
  partition: number,
  baseOffset: number,
  cuts = new Set<number>(),
): Buffer[] {
  const chunks: Buffer[] = [];
  let current: Buffer[] = [];
  inputs.forEach((input, i) => {
    const pairs = input.streamId === undefined ? [] : [`$stream=${input.streamId}`];
    for (const [key, value] of Object.entries(input.attributes)) pairs.push(`${key}=${value}`);
    const message: EncodableMessage = {
      key: input.key,
      attributes: pairs.length > 0 ? Buffer.from(pairs.join(',')) : undefined,
      value: input.value,
      timestamp: input.timestamp,
      streamHash: input.streamId === undefined ? 0 : 1,
    };
    const record = Buffer.alloc(recordBytes(message));
    writeRecord(record, 0, message, partition, baseOffset + i);
    current.push(record);
    if (cuts.has(i)) {
      chunks.push(Buffer.concat(current));
      current = [];
    }
  });
  if (current.length > 0) chunks.push(Buffer.concat(current));
  return chunks;
}

describe('opcodes', () => {
  test('numbers are pinned and unique', () => {
    // Goal: a published number never moves. Method: check the data-path numbers and uniqueness.
    assert.equal(opcodes.PRODUCE, 10);
    assert.equal(opcodes.FETCH, 11);
    assert.ok(isKnownOpcode(10) && isKnownOpcode(11) && !isKnownOpcode(99));
    const numbers = Object.values(opcodes);
    assert.equal(new Set(numbers).size, numbers.length);
  });
});

describe('PRODUCE', () => {
  const golden: ProduceRequest = {
    topic: 't',
    partition: 1,
    acks: 'written',
    messages: [{ value: 'hi', key: 'k', timestamp: 1, streamId: 's', attributes: { a: 'b' } }, { value: '' }],
  };
  const goldenHex =
    '01' +
    '00' +
    '0100' +
    '74' +
    '01000000' +
    '02000000' +
    // flags 3 | timestamp 1 | keyBytes 1 "k" | streamIdBytes 1 "s" | attributesBytes 3 "a=b" | valueBytes 2 "hi"
    '03' +
    '0100000000000000' +
    '01000000' +
    '6b' +
    '0100' +
    '73' +
    '03000000' +
    '613d62' +
    '02000000' +
    '6869' +
    // flags 0 | streamIdBytes 0 | attributesBytes 0 | valueBytes 0
    '00' +
    '0000' +
    '00000000' +
    '00000000';

  test('encodes the documented golden request bytes', () => {
    // Goal: the request layout never drifts. Method: compare a two-message batch with a hex literal.
    assert.equal(join(encodeProduceRequest(golden)).toString('hex'), goldenHex);
  });

  test('decodes the golden request', () => {
    // Goal: the hex literal means what the docs say. Method: decode it and compare fields.
    const decoded = decodeProduceRequest(Buffer.from(goldenHex, 'hex'));
    assert.deepEqual(decoded, {
      topic: 't',
      partition: 1,
      acks: 'written',
      messages: [
        {
          value: Buffer.from('hi'),
          key: Buffer.from('k'),
          timestamp: 1,
          streamId: 's',
          attributes: { a: 'b' },
        },
        { value: Buffer.alloc(0) },
      ],
    });
  });

  test('encodes and decodes the golden response bytes', () => {
    // Goal: the response layout never drifts. Method: baseOffset 2^32 + 258, count 2 against a hex literal.
    const body = encodeProduceResponse({ baseOffset: 0x1_0000_0102, count: 2 });
    assert.equal(body.toString('hex'), '0201000001000000' + '02000000');
    assert.deepEqual(decodeProduceResponse(body), { baseOffset: 0x1_0000_0102, count: 2 });
  });

  test('round trips any request', () => {
    // Goal: decode inverts encode. Method: fast-check topics, acks and messages with every optional field.
    fc.assert(
      fc.property(arbitraryProduceRequest, (request) => {
        const decoded = decodeProduceRequest(join(encodeProduceRequest(request)));
        assert.equal(decoded.topic, request.topic);
        assert.equal(decoded.partition, request.partition);
        assert.equal(decoded.acks, request.acks);
        assert.deepEqual(decoded.messages, request.messages.map(expectedMessage));
      }),
    );
  });

  test('round trips any response', () => {
    // Goal: the response carries any offset and count. Method: fast-check both fields.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (baseOffset, count) => {
          assert.deepEqual(decodeProduceResponse(encodeProduceResponse({ baseOffset, count })), {
            baseOffset,
            count,
          });
        },
      ),
    );
  });

  test('passes values over 16 KiB through uncopied, copies small ones', () => {
    // Goal: big values are not copied, small ones share one allocation. Method: check the encoder's parts.
    const big = Buffer.alloc(20_000, 7);
    const small = Buffer.alloc(1024, 1);
    const parts = encodeProduceRequest({
      topic: 't',
      partition: 0,
      acks: 'memory',
      messages: [{ value: small }, { value: big }, { value: small }],
    });
    assert.equal(parts.length, 3);
    assert.equal(parts[1], big);
    const decoded = decodeProduceRequest(join(parts));
    assert.deepEqual(
      decoded.messages.map((message) => message.value),
      [small, big, small],
    );
  });

  test('decoded keys and values are views into the body', () => {
    // Goal: zero copy on the broker's hot path. Method: compare underlying ArrayBuffers.
    const body = join(encodeProduceRequest(golden));
    const [first, second] = decodeProduceRequest(body).messages;
    assert.equal(first!.value.buffer, body.buffer);
    assert.equal(first!.key!.buffer, body.buffer);
    assert.equal(second!.value.buffer, body.buffer);
  });

  test('every truncation of a valid request is BAD_REQUEST', () => {
    // Goal: a short body never decodes or throws anything else. Method: decode every proper prefix.
    fc.assert(
      fc.property(arbitraryProduceRequest, (request) => {
        const body = join(encodeProduceRequest(request));
        for (let length = 0; length < body.length; length++) {
          assertBadRequest(() => decodeProduceRequest(body.subarray(0, length)), /malformed PRODUCE request/);
        }
      }),
      { numRuns: 50 },
    );
    for (let length = 0; length < 12; length++) {
      assertBadRequest(() => decodeProduceResponse(Buffer.alloc(length)), /malformed PRODUCE response/);
    }
  });

  test('random garbage decodes or is BAD_REQUEST, never another error', () => {
    // Goal: hostile bytes cannot crash the broker. Method: fast-check arbitrary bodies, some with a plausible start.
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(200),
          bytes(200).map((tail) => Buffer.concat([Buffer.from('0000010074', 'hex'), tail])),
        ),
        (body) => {
          decodesOrBadRequest(() => decodeProduceRequest(body));
          decodesOrBadRequest(() => decodeProduceResponse(body));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('rejects each rule with a precise message', () => {
    // Goal: errors say what is wrong. Method: break one field of the golden body at a time.
    const body = (): Buffer => Buffer.from(goldenHex, 'hex');
    const patched = (at: number, byte: number): Buffer => {
      const copy = body();
      copy[at] = byte;
      return copy;
    };
    assertBadRequest(() => decodeProduceRequest(patched(0, 3)), /acks 3 is not 0, 1 or 2/);
    assertBadRequest(() => decodeProduceRequest(patched(1, 1)), /reserved byte is 1/);
    assertBadRequest(() => decodeProduceRequest(patched(2, 0)), /topicBytes 0 is not in \[1, 255\]/);
    assertBadRequest(() => decodeProduceRequest(patched(13, 0x07)), /message 0 has unknown flags 0x07/);
    assertBadRequest(() => decodeProduceRequest(patched(4, 0xff)), /topic is not UTF-8/);
    assertBadRequest(() => decodeProduceRequest(patched(9, 0x40)), /messageCount 64 cannot fit/);
    assertBadRequest(() => decodeProduceRequest(Buffer.concat([body(), Buffer.from([0])])), /1 bytes follow/);
    const tooMany = body();
    tooMany.writeUInt32LE(1_000_001, 9);
    assertBadRequest(() => decodeProduceRequest(tooMany), /messageCount 1000001 is over the 1000000 allowed/);
    const notPair = Buffer.from(goldenHex.replace('613d62', '61622c'), 'hex');
    assertBadRequest(() => decodeProduceRequest(notPair), /attribute "ab" is not k=v/);
    assertBadRequest(
      () => encodeProduceRequest({ ...golden, topic: 'x'.repeat(256) }),
      /topic must be 1 to 255 UTF-8 bytes/,
    );
    assertBadRequest(
      () => encodeProduceRequest({ ...golden, messages: [{ value: 'v', attributes: { a: 'b,c' } }] }),
      /may contain ',' or '='/,
    );
  });
});

describe('FETCH', () => {
  const goldenRequest: FetchRequest = {
    topic: 't',
    partition: 2,
    offset: 5,
    maxBytes: 1024,
    maxWaitMs: 100,
    streamIds: ['s', 'ab'],
  };
  const goldenRequestHex =
    '0100' +
    '74' +
    '02000000' +
    '0500000000000000' +
    '00040000' +
    '64000000' +
    '0200' +
    '0100' +
    '73' +
    '0200' +
    '6162';
  // One storage record: partition 3, offset 7, timestamp 1, key "k", attributes "$stream=s", value "v".
  const goldenRecordHex =
    '54554231' +
    '3b000000' +
    'fc3a93a3' +
    '01' +
    '00' +
    '0000' +
    '03000000' +
    '0700000000000000' +
    '0100000000000000' +
    '82450cf6' +
    '01000000' +
    '09000000' +
    '6b' +
    '2473747265616d3d73' +
    '76';
  // nextOffset 8 | latestOffset 9 | count 1 | damagedSkipped 0 | gapSkipped 2 | recordBytes 59
  const goldenResponseHeaderHex =
    '0800000000000000' + '0900000000000000' + '01000000' + '00000000' + '02000000' + '3b000000';

  test('encodes and decodes the golden request bytes', () => {
    // Goal: the request layout never drifts. Method: compare with a hex literal both ways.
    const body = encodeFetchRequest(goldenRequest);
    assert.equal(body.toString('hex'), goldenRequestHex);
    assert.deepEqual(decodeFetchRequest(body), goldenRequest);
  });

  test('peekFetchNextOffset reads nextOffset alone and refuses a body shorter than the header', () => {
    // Goal: a consumer may ask for the next answer before decoding this one. Method: the golden
    // response, then truncated bodies.
    const body = join(
      encodeFetchResponse({
        nextOffset: 8,
        latestOffset: 9,
        count: 1,
        damagedSkipped: 0,
        gapSkipped: 0,
        chunks: [Buffer.from(goldenRecordHex, 'hex')],
      }),
    );
    assert.equal(peekFetchNextOffset(body), 8);
    assert.throws(
      () => peekFetchNextOffset(body.subarray(0, 31)),
      (error) => isTubeError(error, 'BAD_REQUEST'),
    );
    const huge = Buffer.from(body);
    huge.writeUInt32LE(0xffffffff, 4);
    assert.throws(() => peekFetchNextOffset(huge), /nextOffset is over 2\^53 - 1/);
  });

  test('encodes and decodes the golden response bytes', () => {
    // Goal: the response layout never drifts and records pass uncopied. Method: one real record against hex literals.
    const record = Buffer.from(goldenRecordHex, 'hex');
    const parts = encodeFetchResponse({
      nextOffset: 8,
      latestOffset: 9,
      count: 1,
      damagedSkipped: 0,
      gapSkipped: 2,
      chunks: [record],
    });
    assert.equal(parts.length, 2);
    assert.equal(parts[0]!.toString('hex'), goldenResponseHeaderHex);
    assert.equal(parts[1], record);
    const decoded = decodeFetchResponse(join(parts), { verifyCrc: true });
    assert.deepEqual(decoded, {
      nextOffset: 8,
      latestOffset: 9,
      damagedSkipped: 0,
      gapSkipped: 2,
      messages: [
        {
          partition: 3,
          offset: 7,
          timestamp: 1,
          key: Buffer.from('k'),
          value: Buffer.from('v'),
          streamId: 's',
          attributes: {},
        },
      ],
    });
  });

  test('round trips any request', () => {
    // Goal: decode inverts encode. Method: fast-check every field and stream id lists.
    fc.assert(
      fc.property(arbitraryFetchRequest, (request) => {
        assert.deepEqual(decodeFetchRequest(encodeFetchRequest(request)), { ...request });
      }),
    );
  });

  test('round trips any response, however the records are chunked', () => {
    // Goal: records written by storage come back as messages. Method: fast-check records and chunk cuts.
    fc.assert(
      fc.property(
        fc.array(arbitraryStored, { maxLength: 8 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.uniqueArray(fc.nat(8)),
        fc.nat(100),
        (inputs, partition, baseOffset, cuts, damagedSkipped) => {
          const chunks = recordChunks(inputs, partition, baseOffset, new Set(cuts));
          const latestOffset = baseOffset + inputs.length;
          const body = join(
            encodeFetchResponse({
              nextOffset: latestOffset,
              latestOffset,
              count: inputs.length,
              damagedSkipped,
              gapSkipped: 0,
              chunks,
            }),
          );
          for (const verifyCrc of [true, false]) {
            const decoded = decodeFetchResponse(body, { verifyCrc });
            assert.equal(decoded.nextOffset, latestOffset);
            assert.equal(decoded.latestOffset, latestOffset);
            assert.equal(decoded.damagedSkipped, damagedSkipped);
            assert.deepEqual(
              decoded.messages,
              inputs.map((input, i) => ({
                partition,
                offset: baseOffset + i,
                ...input,
                attributes: { ...input.attributes },
              })),
            );
          }
        },
      ),
    );
  });

  test('a record with a flipped bit is dropped and counted, the others survive', () => {
    // Goal: the client's end-to-end CRC check. Method: flip any bit outside the length field of one record.
    fc.assert(
      fc.property(
        fc.array(arbitraryStored, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        fc.nat(7),
        (inputs, pick, position, bit) => {
          const records = recordChunks(inputs, 0, 100, new Set(inputs.keys()));
          const victim = pick % records.length;
          const record = records[victim]!;
          // Bytes 4-7 are the length: damage there breaks framing and is BAD_REQUEST, tested below.
          const candidates = record.length - 4;
          const at = position % candidates < 4 ? position % candidates : (position % candidates) + 4;
          record[at]! ^= 1 << bit;
          const body = join(
            encodeFetchResponse({
              nextOffset: 0,
              latestOffset: 0,
              count: records.length,
              damagedSkipped: 2,
              gapSkipped: 0,
              chunks: records,
            }),
          );
          const decoded = decodeFetchResponse(body, { verifyCrc: true });
          assert.equal(decoded.damagedSkipped, 3);
          assert.deepEqual(
            decoded.messages.map((message) => message.offset),
            inputs.map((_, i) => 100 + i).filter((_, i) => i !== victim),
          );
        },
      ),
    );
  });

  test('a count or lengths that disagree with the bytes are BAD_REQUEST', () => {
    // Goal: framing errors are not mistaken for damage. Method: wrong count, recordBytes and record length.
    const record = Buffer.from(goldenRecordHex, 'hex');
    const body = (): Buffer =>
      join(
        encodeFetchResponse({
          nextOffset: 8,
          latestOffset: 9,
          count: 1,
          damagedSkipped: 0,
          gapSkipped: 0,
          chunks: [record, record],
        }),
      );
    assertBadRequest(() => decodeFetchResponse(body(), { verifyCrc: true }), /59 bytes follow record 0 of 1/);
    const overCount = body();
    overCount.writeUInt32LE(3, 16);
    assertBadRequest(
      () => decodeFetchResponse(overCount, { verifyCrc: true }),
      /count 3 cannot fit in 118 record bytes/,
    );
    const badRecordBytes = body();
    badRecordBytes.writeUInt32LE(60, 28);
    assertBadRequest(
      () => decodeFetchResponse(badRecordBytes, { verifyCrc: true }),
      /recordBytes 60 does not match the 118 bytes left/,
    );
    const badLength = body();
    badLength.writeUInt32LE(200, 32 + 4);
    assertBadRequest(
      () => decodeFetchResponse(badLength, { verifyCrc: true }),
      /record 0 length 200 does not fit the 118 bytes left/,
    );
    const badMagic = body();
    badMagic[32] = 0;
    assertBadRequest(() => decodeFetchResponse(badMagic, { verifyCrc: false }), /record 0 has a bad magic/);
  });

  test('decoded keys and values are views into the body', () => {
    // Goal: zero copy on the consumer's hot path. Method: compare underlying ArrayBuffers.
    const record = Buffer.from(goldenRecordHex, 'hex');
    const body = join(
      encodeFetchResponse({
        nextOffset: 8,
        latestOffset: 9,
        count: 1,
        damagedSkipped: 0,
        gapSkipped: 0,
        chunks: [record],
      }),
    );
    const [message] = decodeFetchResponse(body, { verifyCrc: true }).messages;
    assert.equal(message!.value.buffer, body.buffer);
    assert.equal(message!.key!.buffer, body.buffer);
  });

  test('every truncation of a valid request or response is BAD_REQUEST', () => {
    // Goal: a short body never decodes or throws anything else. Method: decode every proper prefix.
    fc.assert(
      fc.property(arbitraryFetchRequest, fc.array(arbitraryStored, { maxLength: 3 }), (request, inputs) => {
        const requestBody = encodeFetchRequest(request);
        for (let length = 0; length < requestBody.length; length++) {
          assertBadRequest(
            () => decodeFetchRequest(requestBody.subarray(0, length)),
            /malformed FETCH request/,
          );
        }
        const responseBody = join(
          encodeFetchResponse({
            nextOffset: 1,
            latestOffset: 2,
            count: inputs.length,
            damagedSkipped: 0,
            gapSkipped: 0,
            chunks: recordChunks(inputs, 0, 0),
          }),
        );
        for (let length = 0; length < responseBody.length; length++) {
          assertBadRequest(
            () => decodeFetchResponse(responseBody.subarray(0, length), { verifyCrc: true }),
            /malformed FETCH response/,
          );
        }
      }),
      { numRuns: 50 },
    );
  });

  test('random garbage decodes or is BAD_REQUEST, never another error', () => {
    // Goal: hostile bytes cannot crash broker or client. Method: fast-check arbitrary bodies, some with valid headers.
    const record = Buffer.from(goldenRecordHex, 'hex');
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(200),
          fc.tuple(fc.nat(3), bytes(120)).map(([count, tail]) =>
            join(
              encodeFetchResponse({
                nextOffset: 0,
                latestOffset: 0,
                count,
                damagedSkipped: 0,
                gapSkipped: 0,
                chunks: [record, tail],
              }),
            ),
          ),
        ),
        fc.boolean(),
        (body, verifyCrc) => {
          decodesOrBadRequest(() => decodeFetchRequest(body));
          decodesOrBadRequest(() => decodeFetchResponse(body, { verifyCrc }));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('enforces the stream id limits on both ends', () => {
    // Goal: TubeMQ's 500 × 256-byte filter limit holds. Method: encode and decode one over each limit.
    const over = Array.from({ length: 501 }, (_, i) => `s${i}`);
    assertBadRequest(
      () => encodeFetchRequest({ ...goldenRequest, streamIds: over }),
      /501 stream ids, more than 500/,
    );
    assertBadRequest(
      () => encodeFetchRequest({ ...goldenRequest, streamIds: ['x'.repeat(257)] }),
      /is not 1 to 256 UTF-8 bytes/,
    );
    const countOver = Buffer.from(goldenRequestHex, 'hex');
    countOver.writeUInt16LE(501, 23);
    assertBadRequest(() => decodeFetchRequest(countOver), /streamIdCount 501 is over the 500 allowed/);
    const idOver = Buffer.from(goldenRequestHex, 'hex');
    idOver.writeUInt16LE(257, 25);
    assertBadRequest(() => decodeFetchRequest(idOver), /stream id 0 has 257 bytes, not 1 to 256/);
  });

  test('the owner section: golden bytes, round trips, truncations and limits', () => {
    // Goal: a fetch naming its group member (lease-checked by the broker) has a fixed layout after
    // the stream ids, and leaving it out is the anonymous read. Method: a hex literal both ways,
    // fast-check round trips, every cut inside the section, trailing bytes, and the 255-byte limit.
    const withOwner: FetchRequest = { ...goldenRequest, owner: { group: 'g', memberId: 'm1' } };
    const ownerHex = '0100' + '67' + '0200' + '6d31';
    const body = encodeFetchRequest(withOwner);
    assert.equal(body.toString('hex'), goldenRequestHex + ownerHex);
    assert.deepEqual(decodeFetchRequest(body), withOwner);
    assert.equal(decodeFetchRequest(Buffer.from(goldenRequestHex, 'hex')).owner, undefined);
    const ownerPart = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
      .filter((text) => Buffer.byteLength(text) <= 255);
    fc.assert(
      fc.property(arbitraryFetchRequest, ownerPart, ownerPart, (request, group, memberId) => {
        const owned = { ...request, owner: { group, memberId } };
        const encoded = encodeFetchRequest(owned);
        assert.deepEqual(decodeFetchRequest(encoded), owned);
        const anonymousBytes = encodeFetchRequest(request).length;
        for (let length = anonymousBytes + 1; length < encoded.length; length++) {
          assertBadRequest(() => decodeFetchRequest(encoded.subarray(0, length)), /malformed FETCH request/);
        }
      }),
      { numRuns: 100 },
    );
    assertBadRequest(
      () => decodeFetchRequest(Buffer.concat([body, Buffer.from([0])])),
      /1 bytes follow the owner/,
    );
    assertBadRequest(
      () => encodeFetchRequest({ ...goldenRequest, owner: { group: 'g'.repeat(256), memberId: 'm' } }),
      /owner group must be 1 to 255 UTF-8 bytes/,
    );
    assertBadRequest(
      () => encodeFetchRequest({ ...goldenRequest, owner: { group: 'g', memberId: '' } }),
      /owner memberId must be 1 to 255 UTF-8 bytes/,
    );
    const emptyGroup = Buffer.from(goldenRequestHex + '0000' + '0200' + '6d31', 'hex');
    assertBadRequest(() => decodeFetchRequest(emptyGroup), /owner group has 0 bytes, not 1 to 255/);
  });
});
