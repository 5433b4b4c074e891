// The protocol engine for one connection, either side: correlation ids, pipelining with a cap,
// timeouts, pushes and write coalescing. It sees frames and bodies as bytes only; the codecs in
// messages/ give them meaning, so no JSON is touched here.
import { TubeError, KiB } from '../common/index.js';
import { type Frame, type FrameHeader, encodeFrame, frameFlags } from './frame.js';
import { FrameDecoder } from './frame-decoder.js';
import { decodeError, encodeError } from './messages/error.js';
import { isKnownOpcode, opcodeLabel } from './opcodes.js';
import type { Transport } from './transport.js';

/**
 * Requests a connection keeps in flight unless configured otherwise.
 * @default 256
 */
export const inflightRequestsMaxDefault = 256;

/**
 * How long a request waits for its response unless the call says otherwise, in milliseconds.
 * @default 30000
 */
export const requestTimeoutMsDefault = 30_000;

// Past this many queued bytes a flush happens at once instead of at the end of the tick, so a
// burst of large frames does not pile up in memory.
const flushBytesThreshold = 32 * KiB;

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  /**
   * Most requests awaiting a response at once. One more rejects at once with BUSY (retriable)
   * rather than waiting in a queue: a caller outrunning its peer should learn so, not grow memory.
   * @default 256
   */
  inflightRequestsMax?: number;
  /**
   * Default per-request timeout, in milliseconds.
   * @default 30000
   */
  requestTimeoutMs?: number;
  /** Largest incoming frame accepted, in bytes; see {@link FrameDecoder}. */
  frameBytesMax?: number;
  /**
   * Serves incoming requests (frames with neither RESPONSE nor PUSH) of known opcodes; answer each
   * exactly once with {@link Connection.respond} or {@link Connection.respondError}. Without a
   * handler every request is answered BAD_REQUEST. A throw is answered as the error, or INTERNAL.
   */
  onRequest?: (frame: Frame, connection: Connection) => void;
  /**
   * Receives frames the peer pushed unasked (PUSH flag); without a handler they are dropped. Must not
   * throw: a throw loses the rest of the stream, so the connection closes with INTERNAL.
   */
  onPush?: (frame: Frame) => void;
  /** Runs once when the connection closes, with the reason if it was not a clean close. */
  onClose?: (error?: Error) => void;
}

/** Options of one {@link Connection.request} call. */
export interface RequestOptions {
  /** Milliseconds to wait for the response before rejecting with UNAVAILABLE. */
  timeoutMs?: number;
}

interface Pending {
  opcode: number;
  resolve: (frame: Frame) => void;
  reject: (error: TubeError) => void;
  timer: NodeJS.Timeout;
}

const u32Max = 0xffff_ffff;

/** One protocol connection over a {@link Transport}, usable as client, server, or both. */
export class Connection {
  readonly #transport: Transport;
  readonly #decoder: FrameDecoder;
  readonly #inflightRequestsMax: number;
  readonly #requestTimeoutMs: number;
  readonly #onRequest: ConnectionOptions['onRequest'];
  readonly #onPush: ConnectionOptions['onPush'];
  readonly #onClose: ConnectionOptions['onClose'];
  readonly #pending = new Map<number, Pending>();
  // Callers of waitForRequestSlot(), first come first served, woken one per freed slot.
  #slotWaiters: (() => void)[] = [];
  // 0 is never used by a request: it marks pushes and connection-level errors.
  #lastCorrelationId = 0;
  #outgoing: Buffer[] = [];
  #outgoingBytes = 0;
  #flushScheduled = false;
  #closed = false;

  constructor(transport: Transport, options: ConnectionOptions = {}) {
    this.#transport = transport;
    this.#inflightRequestsMax = options.inflightRequestsMax ?? inflightRequestsMaxDefault;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? requestTimeoutMsDefault;
    if (!Number.isInteger(this.#inflightRequestsMax) || this.#inflightRequestsMax < 1) {
      throw new RangeError(
        `inflightRequestsMax must be a positive integer, got ${this.#inflightRequestsMax}`,
      );
    }
    this.#onRequest = options.onRequest;
    this.#onPush = options.onPush;
    this.#onClose = options.onClose;
    this.#decoder = new FrameDecoder({
      onFrame: (frame) => this.#dispatch(frame),
      frameBytesMax: options.frameBytesMax,
    });
    transport.onData((chunk) => this.#receive(chunk));
    transport.onClose((error) => this.#shutDown(error));
  }

  /** Whether the connection has closed; requests then reject at once with UNAVAILABLE. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Requests currently awaiting a response. */
  get inflightRequests(): number {
    return this.#pending.size;
  }

  /**
   * Undefined when a request can go now without BUSY; otherwise a promise that resolves (first come,
   * first served) once an answer, a timeout or the close frees a slot. For senders that would
   * rather queue than be refused, such as a producer with more partitions than slots; another
   * caller may take the freed slot first, so check again after it resolves.
   */
  waitForRequestSlot(): Promise<void> | undefined {
    if (this.#closed || this.#pending.size < this.#inflightRequestsMax) return undefined;
    return new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  /**
   * Sends a request and resolves with its response frame. Rejects with the peer's TubeError when
   * the response is flagged ERROR, with UNAVAILABLE on timeout or close, and with BUSY when
   * `inflightRequestsMax` requests are already in flight.
   */
  request(opcode: number, body: Buffer | readonly Buffer[], options: RequestOptions = {}): Promise<Frame> {
    if (this.#closed) {
      return Promise.reject(
        new TubeError('UNAVAILABLE', `connection is closed; ${opcodeLabel(opcode)} not sent`),
      );
    }
    if (this.#pending.size >= this.#inflightRequestsMax) {
      return Promise.reject(
        new TubeError('BUSY', `${this.#pending.size} requests already in flight on this connection`, {
          details: { inflightRequestsMax: this.#inflightRequestsMax },
        }),
      );
    }
    const correlationId = this.#nextCorrelationId();
    let frames: Buffer[];
    try {
      frames = encodeFrame({ opcode, flags: 0, correlationId }, body);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationId);
        this.#wakeSlotWaiter();
        reject(
          new TubeError('UNAVAILABLE', `request timed out after ${timeoutMs} ms (${opcodeLabel(opcode)})`, {
            details: { opcode, correlationId, timeoutMs },
          }),
        );
      }, timeoutMs);
      this.#pending.set(correlationId, { opcode, resolve, reject, timer });
      this.#enqueue(frames);
    });
  }

  /** Answers a request received through `onRequest`. Dropped if the connection has closed. */
  respond(request: FrameHeader, body: Buffer | readonly Buffer[]): void {
    this.#send(
      { opcode: request.opcode, flags: frameFlags.RESPONSE, correlationId: request.correlationId },
      body,
    );
  }

  /** Answers a request received through `onRequest` with an error. Dropped if the connection has closed. */
  respondError(request: FrameHeader, error: TubeError): void {
    const flags = frameFlags.RESPONSE | frameFlags.ERROR;
    this.#send({ opcode: request.opcode, flags, correlationId: request.correlationId }, encodeError(error));
  }

  /** Sends a frame the peer did not ask for (server side), delivered to the peer's `onPush`. */
  push(opcode: number, body: Buffer | readonly Buffer[]): void {
    this.#send({ opcode, flags: frameFlags.PUSH, correlationId: 0 }, body);
  }

  /**
   * Sends what is queued, closes the transport and rejects every pending request with UNAVAILABLE.
   * `error` is the reason, passed on to `onClose`.
   */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#flush();
    this.#shutDown(error);
    this.#transport.close(error);
  }

  #nextCorrelationId(): number {
    do {
      this.#lastCorrelationId = this.#lastCorrelationId === u32Max ? 1 : this.#lastCorrelationId + 1;
    } while (this.#pending.has(this.#lastCorrelationId));
    return this.#lastCorrelationId;
  }

  #send(header: FrameHeader, body: Buffer | readonly Buffer[]): void {
    if (this.#closed) return;
    this.#enqueue(encodeFrame(header, body));
  }

  #enqueue(frames: Buffer[]): void {
    for (const buffer of frames) {
      this.#outgoing.push(buffer);
      this.#outgoingBytes += buffer.byteLength;
    }
    if (this.#outgoingBytes >= flushBytesThreshold) {
      this.#flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    if (this.#outgoing.length === 0) return;
    const buffers = this.#outgoing;
    this.#outgoing = [];
    this.#outgoingBytes = 0;
    this.#transport.write(buffers);
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      const failure = error as TubeError;
      // Correlation id 0: the bad bytes belong to no request we could name.
      this.#send(
        { opcode: 0, flags: frameFlags.RESPONSE | frameFlags.ERROR, correlationId: 0 },
        encodeError(failure),
      );
      this.close(failure);
    }
  }

  #dispatch(frame: Frame): void {
    if ((frame.flags & frameFlags.RESPONSE) !== 0) {
      this.#settle(frame);
    } else if ((frame.flags & frameFlags.PUSH) !== 0) {
      this.#onPush?.(frame);
    } else {
      this.#serve(frame);
    }
  }

  #settle(frame: Frame): void {
    const isError = (frame.flags & frameFlags.ERROR) !== 0;
    if (frame.correlationId === 0 && isError) {
      // The peer found our stream unreadable and is about to hang up.
      this.close(decodeError(frame.body));
      return;
    }
    const pending = this.#pending.get(frame.correlationId);
    // Unknown ids are answers to requests that already timed out.
    if (pending === undefined) return;
    this.#pending.delete(frame.correlationId);
    clearTimeout(pending.timer);
    if (this.#slotWaiters.length > 0) this.#wakeSlotWaiter();
    if (isError) pending.reject(decodeError(frame.body));
    else pending.resolve(frame);
  }

  #serve(frame: Frame): void {
    if (this.#onRequest === undefined) {
      this.respondError(frame, new TubeError('BAD_REQUEST', 'this endpoint serves no requests'));
      return;
    }
    // Both mean the peer does not speak this protocol (or sends garbage that happens to frame):
    // answer once so it learns why, then hang up rather than guess at what follows.
    if (!isKnownOpcode(frame.opcode)) {
      this.#refuse(frame, new TubeError('BAD_REQUEST', `unknown opcode ${frame.opcode}`));
      return;
    }
    if (frame.correlationId === 0) {
      this.#refuse(
        frame,
        new TubeError('BAD_REQUEST', 'correlation id 0 is reserved for pushes and connection errors'),
      );
      return;
    }
    try {
      this.#onRequest(frame, this);
    } catch (error) {
      this.respondError(
        frame,
        error instanceof TubeError
          ? error
          : new TubeError('INTERNAL', 'request handler failed', { cause: error }),
      );
    }
  }

  #refuse(frame: Frame, error: TubeError): void {
    this.respondError(frame, error);
    this.close(error);
  }

  #shutDown(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = error === undefined ? 'connection closed' : `connection closed: ${error.message}`;
    for (const [correlationId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(
        new TubeError('UNAVAILABLE', `${reason} before ${opcodeLabel(pending.opcode)} was answered`, {
          details: { correlationId },
          cause: error,
        }),
      );
    }
    this.#pending.clear();
    for (const wake of this.#slotWaiters.splice(0)) wake();
    this.#onClose?.(error);
  }

  #wakeSlotWaiter(): void {
    this.#slotWaiters.shift()?.();
  }
}
