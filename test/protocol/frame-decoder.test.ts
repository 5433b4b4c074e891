// The incremental decoder: any chunking works, and bad lengths fail before any allocation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TubeError, isTubeError, maxFrameBytes } from '../../src/common/index.js';
import { FrameDecoder, encodeFrame, frameFlags } from '../../src/protocol/index.js';
import { arbitraryFrame, collectingDecoder, plain } from './helpers.js';

const encodeAll = (frames: { opcode: number; flags: number; correlationId: number; body: Buffer }[]) =>
  Buffer.concat(frames.flatMap((frame) => encodeFrame(frame, frame.body)));

const lengthBytes = (length: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(length);
  return bytes;
};

function assertBadRequest(action: () => void, length?: number): TubeError {
  let caught: unknown;
  assert.throws(action, (error) => {
    caught = error;
    return isTubeError(error, 'BAD_REQUEST');
  });
  const error = caught as TubeError;
  if (length !== undefined) assert.equal(error.details.length, length);
  return error;
}

describe('FrameDecoder', () => {
  test('any sequence of frames survives any chunking', () => {
    // Goal: TCP may split the stream anywhere. Method: fast-check frames and cut points, compare output.
    fc.assert(
      fc.property(
        fc.array(arbitraryFrame(), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (input, cuts) => {
          const bytes = encodeAll(input);
          const points = [...new Set(cuts.map((cut) => cut % (bytes.byteLength + 1)))].sort((a, b) => a - b);
          const { decoder, frames } = collectingDecoder();
          let from = 0;
          for (const point of [...points, bytes.byteLength]) {
            decoder.push(bytes.subarray(from, point));
            from = point;
          }
          assert.deepEqual(frames.map(plain), input.map(plain));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('frames fed one byte at a time', () => {
    // Goal: the worst split works. Method: push every byte of several frames as its own chunk.
    fc.assert(
      fc.property(fc.array(arbitraryFrame(40), { minLength: 1, maxLength: 5 }), (input) => {
        const bytes = encodeAll(input);
        const { decoder, frames } = collectingDecoder();
        for (let i = 0; i < bytes.byteLength; i++) decoder.push(bytes.subarray(i, i + 1));
        assert.deepEqual(frames.map(plain), input.map(plain));
      }),
      { numRuns: 50 },
    );
  });

  test('a body within one chunk is a view, not a copy', () => {
    // Goal: no copy on the common path. Method: compare the body's backing memory with the chunk's.
    const chunk = encodeAll([{ opcode: 1, flags: 0, correlationId: 9, body: Buffer.from('payload') }]);
    const { decoder, frames } = collectingDecoder();
    decoder.push(chunk);
    assert.equal(frames[0]!.body.buffer, chunk.buffer);
    assert.equal(frames[0]!.body.byteOffset, chunk.byteOffset + 11);
  });

  test('rejects an oversize length on its four bytes alone, allocating nothing for it', (t) => {
    // Goal: a hostile length never reserves memory. Method: spy on Buffer allocation, push only the length.
    const oversize = lengthBytes(maxFrameBytes + 1);
    const huge = lengthBytes(0xffff_ffff);
    const allocUnsafe = t.mock.method(Buffer, 'allocUnsafe');
    const alloc = t.mock.method(Buffer, 'alloc');
    for (const [bytes, length] of [
      [oversize, maxFrameBytes + 1],
      [huge, 0xffff_ffff],
    ] as const) {
      const { decoder, frames } = collectingDecoder();
      assertBadRequest(() => decoder.push(bytes), length);
      assert.equal(frames.length, 0);
    }
    // The only allocations are each decoder's own 11-byte header scratch, made at construction.
    const sizes = [...allocUnsafe.mock.calls, ...alloc.mock.calls].map((call) => call.arguments[0]);
    assert.deepEqual(sizes, [11, 11]);
  });

  test('rejects a length split across chunks as soon as its fourth byte arrives', () => {
    // Goal: the check does not wait for the rest of the header. Method: two 2-byte chunks.
    const { decoder } = collectingDecoder();
    const bytes = lengthBytes(maxFrameBytes + 1);
    decoder.push(bytes.subarray(0, 2));
    assertBadRequest(() => decoder.push(bytes.subarray(2, 4)), maxFrameBytes + 1);
  });

  test('honours a configured frameBytesMax exactly', () => {
    // Goal: the limit is inclusive and configurable. Method: frames of length 100 and 101 against 100.
    const fits = { opcode: 1, flags: 0, correlationId: 1, body: Buffer.alloc(93) };
    const { decoder, frames } = collectingDecoder(100);
    decoder.push(encodeAll([fits]));
    assert.equal(frames.length, 1);
    const error = assertBadRequest(() => decoder.push(lengthBytes(101)), 101);
    assert.equal(error.details.max, 100);
    assert.throws(
      () => new FrameDecoder({ onFrame: () => {}, frameBytesMax: maxFrameBytes + 1 }),
      RangeError,
    );
  });

  test('rejects lengths below 7', () => {
    // Goal: a length too short for the header is an error, not a negative body. Method: every such length.
    for (let length = 0; length < 7; length++) {
      assertBadRequest(() => collectingDecoder().decoder.push(lengthBytes(length)), length);
    }
  });

  test('rejects garbage', () => {
    // Goal: a stray HTTP request or random bytes never decode into frames. Method: push text and bad flags.
    assertBadRequest(() =>
      collectingDecoder().decoder.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
    );
    const header = (flags: number) => Buffer.from([7, 0, 0, 0, 1, 0, flags, 1, 0, 0, 0]);
    for (const flags of [0x08, 0x80, frameFlags.RESPONSE | frameFlags.PUSH, frameFlags.ERROR]) {
      assertBadRequest(() => collectingDecoder().decoder.push(header(flags)));
    }
  });

  test('random bytes either decode to frames or fail with BAD_REQUEST', () => {
    // Goal: no input makes the decoder throw anything else. Method: fast-check arbitrary bytes.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const { decoder } = collectingDecoder(1024);
        try {
          decoder.push(Buffer.from(bytes));
        } catch (error) {
          assert.ok(isTubeError(error, 'BAD_REQUEST'));
        }
      }),
    );
  });

  test('emits the good frames before the bad bytes, then stays failed', () => {
    // Goal: an error is final, the connection is to be closed. Method: good frame + garbage, then a good frame.
    const good = { opcode: 1, flags: 0, correlationId: 1, body: Buffer.from('ok') };
    const { decoder, frames } = collectingDecoder();
    const first = assertBadRequest(() => decoder.push(Buffer.concat([encodeAll([good]), lengthBytes(3)])), 3);
    assert.equal(frames.length, 1);
    assert.equal(decoder.failure, first);
    assert.throws(
      () => decoder.push(encodeAll([good])),
      (error) => error === first,
    );
    assert.equal(frames.length, 1);
  });
});
