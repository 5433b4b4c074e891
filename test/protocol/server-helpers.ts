// Shared by the server tests: a ProtocolServer on a free loopback port whose log lines are kept,
// and a raw socket client that sends any bytes and collects the frames that come back.
import * as net from 'node:net';
import { type Logger, createLogger } from '../../src/common/index.js';
import {
  type Frame,
  FrameDecoder,
  ProtocolServer,
  type ProtocolServerOptions,
  type RequestHandler,
  encodeFrame,
  encodeHelloRequest,
  opcodes,
  protocolVersion,
} from '../../src/protocol/index.js';

/** One pino line as an object: `level` is pino's number (30 info, 40 warn, 50 error). */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

export interface TestServer {
  server: ProtocolServer;
  port: number;
  logs: LogLine[];
}

/** A logger at info level whose lines are kept, parsed, in `logs`. */
export function capturingLogger(name = 'test-server'): { logger: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const logger = createLogger({
    name,
    level: 'info',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  });
  return { logger, logs };
}

/** Starts a ProtocolServer on 127.0.0.1, any free port, logging at info into `logs`. */
export async function startServer(
  handlers: ReadonlyMap<number, RequestHandler>,
  options: Partial<Omit<ProtocolServerOptions, 'handlers' | 'logger'>> = {},
): Promise<TestServer> {
  const { logger, logs } = capturingLogger();
  const server = new ProtocolServer({ role: 'broker', serverId: 'broker-1', ...options, handlers, logger });
  const port = await server.listen('127.0.0.1', 0);
  return { server, port, logs };
}

/** The bytes of one request frame. */
export function requestBytes(opcode: number, correlationId: number, body: Buffer): Buffer {
  return Buffer.concat(encodeFrame({ opcode, flags: 0, correlationId }, body));
}

/** A valid HELLO request frame with correlation id 1. */
export function helloBytes(clientId = 'raw'): Buffer {
  return requestBytes(opcodes.HELLO, 1, encodeHelloRequest({ protocolVersion, clientId }));
}

/** A socket that sends raw bytes; frames the server sends back are decoded into `frames`. */
export interface RawClient {
  socket: net.Socket;
  frames: Frame[];
  /** Every byte received, for when the reply is not a valid frame stream. */
  received: Buffer[];
  /** Resolves once the socket has closed (by either side). */
  closed: Promise<void>;
  /** Resolves once `count` frames have arrived, or rejects when the socket closes first. */
  waitForFrames(count: number): Promise<Frame[]>;
}

export async function rawConnect(port: number): Promise<RawClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  // A server that hangs up while we write may reset the socket; that is an outcome, not a failure.
  socket.on('error', () => undefined);
  const frames: Frame[] = [];
  const received: Buffer[] = [];
  const waiters: (() => void)[] = [];
  let decoderFailed = false;
  const decoder = new FrameDecoder({
    onFrame: (frame) => frames.push({ ...frame, body: Buffer.from(frame.body) }),
  });
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    if (!decoderFailed) {
      try {
        decoder.push(chunk);
      } catch {
        decoderFailed = true;
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      for (const wake of waiters.splice(0)) wake();
      resolve();
    }),
  );
  async function waitForFrames(count: number): Promise<Frame[]> {
    while (frames.length < count) {
      if (isClosed) throw new Error(`socket closed after ${frames.length} of ${count} frames`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return frames;
  }
  return { socket, frames, received, closed, waitForFrames };
}
