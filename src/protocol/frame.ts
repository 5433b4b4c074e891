// The frame header lives here and nowhere else (DESIGN.md §5), so a change to the wire layout is
// a change to one file. Little-endian, like the storage format, so stored record bytes can be
// sent as they are.
import { TubeError, maxFrameBytes } from '../common/index.js';

/**
 * Bytes before the body: `u32 length | u16 opcode | u8 flags | u32 correlationId`.
 * @default 11
 */
export const frameHeaderBytes = 11;

/**
 * Smallest legal `length` field: it counts the bytes after itself, so an empty body gives 7.
 * @default 7
 */
export const frameLengthMin = frameHeaderBytes - 4;

/** Flag bits of a frame. Bits 3–7 are reserved and must be zero. */
export const frameFlags = {
  /** The frame answers the request with the same correlation id. */
  RESPONSE: 0b001,
  /** The body is an error body (see `messages/error.ts`); set with RESPONSE or PUSH. */
  ERROR: 0b010,
  /** The server sent the frame unasked; its correlation id is 0. */
  PUSH: 0b100,
} as const;

const knownFlagBits = frameFlags.RESPONSE | frameFlags.ERROR | frameFlags.PUSH;

/** The fixed fields of a frame, everything but the body. */
export interface FrameHeader {
  /** What the body is, from the opcode table (`opcodes.ts`); a response repeats its request's. */
  opcode: number;
  /** A combination of {@link frameFlags}. */
  flags: number;
  /** Pairs a response with its request; 0 for pushes and connection-level errors. */
  correlationId: number;
}

/** One whole frame as the decoder emits it. */
export interface Frame extends FrameHeader {
  /**
   * The body. Often a view into a received chunk, so it is only valid as long as nobody reuses
   * that chunk (sockets never do); copy it to keep it past a buffer pool's reuse.
   */
  body: Buffer;
}

/**
 * Encodes a frame as the buffers to write: a fresh 11-byte header, then the body buffers
 * themselves, uncopied, so large bodies (stored records) go to the socket as they are.
 * Throws RangeError when the frame would exceed {@link maxFrameBytes}: a caller bug, not a
 * peer's.
 */
export function encodeFrame(header: FrameHeader, body: Buffer | readonly Buffer[]): Buffer[] {
  const bodies = Buffer.isBuffer(body) ? [body] : body;
  let bodyBytes = 0;
  for (const part of bodies) bodyBytes += part.byteLength;
  const length = frameLengthMin + bodyBytes;
  if (length > maxFrameBytes) {
    throw new RangeError(`frame length ${length} exceeds the limit of ${maxFrameBytes} bytes`);
  }
  const head = Buffer.allocUnsafe(frameHeaderBytes);
  const view = new DataView(head.buffer, head.byteOffset, frameHeaderBytes);
  view.setUint32(0, length, true);
  view.setUint16(4, header.opcode, true);
  view.setUint8(6, header.flags);
  view.setUint32(7, header.correlationId, true);
  const out: Buffer[] = [head];
  for (const part of bodies) if (part.byteLength > 0) out.push(part);
  return out;
}

/**
 * Reads the `length` field at `at` and checks it lies in `[7, frameBytesMax]`. The decoder calls
 * this as soon as it holds four bytes, so a hostile length never causes an allocation.
 * @returns the body length in bytes
 */
export function readFrameBodyBytes(view: DataView, at: number, frameBytesMax: number): number {
  const length = view.getUint32(at, true);
  if (length < frameLengthMin || length > frameBytesMax) {
    throw new TubeError(
      'BAD_REQUEST',
      `frame length ${length} is outside [${frameLengthMin}, ${frameBytesMax}]`,
      {
        details: { length, min: frameLengthMin, max: frameBytesMax },
      },
    );
  }
  return length - frameLengthMin;
}

/**
 * Reads the fixed fields after the length at `at` (the start of the frame) and checks the flags:
 * reserved bits clear, RESPONSE and PUSH not both set, ERROR only on a RESPONSE or PUSH.
 */
export function readFrameHeader(view: DataView, at: number): FrameHeader {
  const flags = view.getUint8(at + 6);
  const header = { opcode: view.getUint16(at + 4, true), flags, correlationId: view.getUint32(at + 7, true) };
  const direction = flags & (frameFlags.RESPONSE | frameFlags.PUSH);
  if (
    (flags & ~knownFlagBits) !== 0 ||
    direction === (frameFlags.RESPONSE | frameFlags.PUSH) ||
    ((flags & frameFlags.ERROR) !== 0 && direction === 0)
  ) {
    throw new TubeError(
      'BAD_REQUEST',
      `frame flags 0x${flags.toString(16).padStart(2, '0')} are not a valid combination`,
      {
        details: { ...header },
      },
    );
  }
  return header;
}
