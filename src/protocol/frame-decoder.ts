// Incremental so that a frame may arrive in any split of TCP chunks, down to one byte at a time.
// The length is checked the moment its four bytes are known, before anything is buffered or
// allocated for the body: a peer cannot make us reserve memory by claiming a huge frame.
import { TubeError, maxFrameBytes } from '../common/index.js';
import {
  type Frame,
  type FrameHeader,
  frameHeaderBytes,
  frameLengthMin,
  readFrameBodyBytes,
  readFrameHeader,
} from './frame.js';

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Receives each whole frame, synchronously and in stream order. Must not throw. */
  onFrame: (frame: Frame) => void;
  /**
   * Largest `length` field accepted, in bytes; at most {@link maxFrameBytes}.
   * @default maxFrameBytes
   */
  frameBytesMax?: number;
}

/**
 * Turns a byte stream into frames. After the first error it stays failed: a stream with one bad
 * frame has lost its framing, so the only safe move is to close the connection.
 */
export class FrameDecoder {
  readonly #onFrame: (frame: Frame) => void;
  readonly #frameBytesMax: number;
  // A header split across chunks is gathered here; whole headers are read from the chunk itself.
  readonly #head = Buffer.alloc(frameHeaderBytes);
  readonly #headView = new DataView(this.#head.buffer, this.#head.byteOffset, frameHeaderBytes);
  #headFilled = 0;
  #header: FrameHeader | undefined;
  #body: Buffer | undefined;
  #bodyFilled = 0;
  #failure: TubeError | undefined;

  constructor(options: FrameDecoderOptions) {
    const frameBytesMax = options.frameBytesMax ?? maxFrameBytes;
    if (!Number.isInteger(frameBytesMax) || frameBytesMax < frameLengthMin || frameBytesMax > maxFrameBytes) {
      throw new RangeError(`frameBytesMax must be an integer in [7, ${maxFrameBytes}], got ${frameBytesMax}`);
    }
    this.#onFrame = options.onFrame;
    this.#frameBytesMax = frameBytesMax;
  }

  /** The error that failed the decoder, if any. */
  get failure(): TubeError | undefined {
    return this.#failure;
  }

  /**
   * Feeds the next chunk of the stream. Emits every frame it completes, then throws a
   * `TubeError('BAD_REQUEST')` if the stream turned bad; once failed, every later call throws
   * that same error.
   */
  push(chunk: Buffer): void {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      this.#consume(chunk);
    } catch (error) {
      // Only the header readers throw TubeErrors of their own; anything else came out of onFrame,
      // which must not throw, and the bytes after that frame are lost either way.
      this.#failure =
        error instanceof TubeError
          ? error
          : new TubeError('INTERNAL', 'frame handler threw', { cause: error });
      this.#body = undefined;
      throw this.#failure;
    }
  }

  #consume(chunk: Buffer): void {
    const end = chunk.byteLength;
    let at = 0;
    while (at < end) {
      if (this.#body !== undefined) {
        at = this.#fillBody(chunk, at);
        continue;
      }
      let bodyBytes: number;
      let header: FrameHeader;
      if (this.#headFilled === 0 && end - at >= frameHeaderBytes) {
        const view = new DataView(chunk.buffer, chunk.byteOffset, end);
        bodyBytes = readFrameBodyBytes(view, at, this.#frameBytesMax);
        header = readFrameHeader(view, at);
        at += frameHeaderBytes;
      } else {
        // Stop at the length field first so it is judged before the rest arrives.
        const want = (this.#headFilled < 4 ? 4 : frameHeaderBytes) - this.#headFilled;
        const take = Math.min(want, end - at);
        chunk.copy(this.#head, this.#headFilled, at, at + take);
        this.#headFilled += take;
        at += take;
        if (this.#headFilled === 4) readFrameBodyBytes(this.#headView, 0, this.#frameBytesMax);
        if (this.#headFilled < frameHeaderBytes) continue;
        bodyBytes = readFrameBodyBytes(this.#headView, 0, this.#frameBytesMax);
        header = readFrameHeader(this.#headView, 0);
        this.#headFilled = 0;
      }
      if (end - at >= bodyBytes) {
        this.#onFrame({ ...header, body: chunk.subarray(at, at + bodyBytes) });
        at += bodyBytes;
      } else {
        this.#header = header;
        this.#body = Buffer.allocUnsafe(bodyBytes);
        this.#bodyFilled = 0;
      }
    }
  }

  #fillBody(chunk: Buffer, at: number): number {
    const body = this.#body!;
    const take = Math.min(body.byteLength - this.#bodyFilled, chunk.byteLength - at);
    chunk.copy(body, this.#bodyFilled, at, at + take);
    this.#bodyFilled += take;
    if (this.#bodyFilled === body.byteLength) {
      const header = this.#header!;
      this.#body = undefined;
      this.#header = undefined;
      this.#onFrame({ ...header, body });
    }
    return at + take;
  }
}
