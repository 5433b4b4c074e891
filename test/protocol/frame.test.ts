// The frame header: golden bytes pin the wire layout; a property proves encode/decode round trips.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { maxFrameBytes } from '../../src/common/index.js';
import { encodeFrame, frameFlags, frameHeaderBytes, frameLengthMin } from '../../src/protocol/index.js';
import { arbitraryFrame, collectingDecoder, plain } from './helpers.js';

describe('frame', () => {
  test('encodes the documented golden bytes', () => {
    // Goal: the header layout never drifts. Method: compare one frame with a hand-written hex literal.
    const buffers = encodeFrame(
      { opcode: 1, flags: frameFlags.RESPONSE, correlationId: 0x01020304 },
      Buffer.from('hi'),
    );
    // length 9 (7 + 2 body bytes) | opcode 1 | flags RESPONSE | correlationId 0x01020304 | "hi"
    assert.equal(Buffer.concat(buffers).toString('hex'), '09000000' + '0100' + '01' + '04030201' + '6869');
  });

  test('header constants match the layout', () => {
    // Goal: the exported sizes agree with docs/protocol.md. Method: check them directly.
    assert.equal(frameHeaderBytes, 11);
    assert.equal(frameLengthMin, 7);
  });

  test('passes body buffers through uncopied and skips empty ones', () => {
    // Goal: bodies go to the socket without a copy. Method: check buffer identity in the output.
    const a = Buffer.from('abc');
    const b = Buffer.from('de');
    const out = encodeFrame({ opcode: 2, flags: 0, correlationId: 7 }, [a, Buffer.alloc(0), b]);
    assert.equal(out.length, 3);
    assert.equal(out[1], a);
    assert.equal(out[2], b);
    assert.equal(out[0]!.readUInt32LE(0), 7 + 5);
  });

  test('an empty body gives length 7 and no body buffer', () => {
    // Goal: the smallest frame is legal. Method: encode it and decode it back.
    const out = encodeFrame({ opcode: 1, flags: 0, correlationId: 1 }, []);
    assert.deepEqual(
      out.map((b) => b.toString('hex')),
      ['07000000010000' + '01000000'],
    );
    const { decoder, frames } = collectingDecoder();
    decoder.push(Buffer.concat(out));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.body.byteLength, 0);
  });

  test('refuses to encode a frame over the limit', () => {
    // Goal: a caller cannot send what every peer must reject. Method: one byte over the limit.
    const body = Buffer.alloc(maxFrameBytes - frameLengthMin + 1);
    assert.throws(() => encodeFrame({ opcode: 1, flags: 0, correlationId: 1 }, body), RangeError);
  });

  test('round trips any frame', () => {
    // Goal: decode inverts encode. Method: fast-check frames through encodeFrame and FrameDecoder.
    fc.assert(
      fc.property(arbitraryFrame(), (frame) => {
        const { decoder, frames } = collectingDecoder();
        decoder.push(Buffer.concat(encodeFrame(frame, frame.body)));
        assert.deepEqual(frames.map(plain), [plain(frame)]);
      }),
    );
  });
});
