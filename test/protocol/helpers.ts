// Shared by the protocol tests: frame generators and a decoder that collects what it emits.
import fc from 'fast-check';
import { type Frame, FrameDecoder, frameFlags } from '../../src/protocol/index.js';

/** Every flag combination the decoder accepts. */
export const validFlags = [
  0,
  frameFlags.RESPONSE,
  frameFlags.RESPONSE | frameFlags.ERROR,
  frameFlags.PUSH,
  frameFlags.PUSH | frameFlags.ERROR,
];

/** Any valid frame, with a body of up to `bodyBytesMax` bytes. */
export function arbitraryFrame(bodyBytesMax = 300): fc.Arbitrary<Frame> {
  return fc.record({
    opcode: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.constantFrom(...validFlags),
    correlationId: fc.integer({ min: 0, max: 0xffff_ffff }),
    body: fc.uint8Array({ maxLength: bodyBytesMax }).map((bytes) => Buffer.from(bytes)),
  });
}

/** A decoder plus the frames it has emitted so far. */
export function collectingDecoder(frameBytesMax?: number): { decoder: FrameDecoder; frames: Frame[] } {
  const frames: Frame[] = [];
  return { decoder: new FrameDecoder({ onFrame: (frame) => frames.push(frame), frameBytesMax }), frames };
}

/** A frame as plain data, so deepEqual compares bodies by content whatever buffer they view. */
export function plain(frame: Frame): { opcode: number; flags: number; correlationId: number; body: string } {
  return {
    opcode: frame.opcode,
    flags: frame.flags,
    correlationId: frame.correlationId,
    body: frame.body.toString('hex'),
  };
}
