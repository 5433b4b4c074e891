// The TCP side every daemon shares: accept, demand HELLO first, route requests by opcode, answer
// errors, and cut off a client that sends garbage without disturbing the others (DESIGN.md §10).
import * as net from 'node:net';
import { TubeError, isTubeError, type Logger } from '../common/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import type { Frame } from './frame.js';
import { decodeHelloRequest, encodeHelloResponse, type HelloRequest } from './messages/hello.js';
import { opcodeLabel, opcodes } from './opcodes.js';
import { socketTransport } from './transport.js';
import { protocolVersion } from './version.js';

/** One accepted client connection after its HELLO. */
export interface Session {
  readonly connection: Connection;
  /** What the client said in HELLO. */
  readonly hello: HelloRequest;
  /** `host:port` of the peer, for logs. */
  readonly remoteAddress: string;
  /**
   * Runs `listener` once when the connection closes, e.g. to drop what the session held (parked
   * fetches, partition leases, group membership). Listeners run in the order added.
   */
  onClose(listener: () => void): void;
}

/**
 * Serves one request. The result is the response body; a thrown or rejected TubeError is answered
 * as that error, anything else as INTERNAL (and logged).
 */
export type RequestHandler = (
  frame: Frame,
  session: Session,
) => Buffer | readonly Buffer[] | Promise<Buffer | readonly Buffer[]>;

/** Options of {@link ProtocolServer}. */
export interface ProtocolServerOptions {
  role: 'master' | 'broker';
  /** Sent in the HELLO answer, e.g. `broker-1`. */
  serverId: string;
  /** Handlers by opcode; HELLO is handled by the server itself. */
  handlers: ReadonlyMap<number, RequestHandler>;
  logger: Logger;
  /** Options of each connection (limits, timeouts). */
  connectionOptions?: Pick<ConnectionOptions, 'frameBytesMax' | 'inflightRequestsMax' | 'requestTimeoutMs'>;
}

/** A listening protocol server. */
export class ProtocolServer {
  readonly #options: ProtocolServerOptions;
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();

  constructor(options: ProtocolServerOptions) {
    this.#options = options;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  /** Binds `host:port` (port 0: any free port) and resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        reject(
          new TubeError('UNAVAILABLE', `cannot listen on ${host}:${port}: ${error.message}`, {
            details: { host, port, code: error.code },
            hint:
              error.code === 'EADDRINUSE'
                ? `another process uses port ${port}; pick another with --port`
                : undefined,
            cause: error,
          }),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        // A failed accept (EMFILE, out of file handles) arrives as an 'error' event; unheard, it
        // would end the daemon. The listener stays open and serves the clients it has.
        this.#server.on('error', (error) => {
          this.#options.logger.error({ err: error }, 'accepting a connection failed');
        });
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Clients connected now. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops accepting, closes every connection (queued answers are sent first) and resolves when done. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) connection.close();
    await closed;
  }

  #accept(socket: net.Socket): void {
    const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const { logger } = this.#options;
    let session: Session | undefined;
    const connection = new Connection(socketTransport(socket), {
      ...this.#options.connectionOptions,
      onRequest: (frame, conn) => {
        if (session === undefined) {
          session = this.#greet(frame, conn, remoteAddress);
          return;
        }
        this.#serve(frame, session);
      },
      onClose: (error) => {
        this.#connections.delete(connection);
        // One line per bad client; a clean hang-up or a reset is ordinary and not worth a warning.
        if (isTubeError(error, 'BAD_REQUEST')) {
          logger.warn({ remoteAddress, error: error.message }, 'closed a connection that sent bad bytes');
        }
        if (session !== undefined) runCloseListeners(session);
      },
    });
    this.#connections.add(connection);
  }

  #greet(frame: Frame, connection: Connection, remoteAddress: string): Session | undefined {
    if (frame.opcode !== opcodes.HELLO) {
      this.#refuse(frame, connection, `expected HELLO first, got ${opcodeLabel(frame.opcode)}`);
      return undefined;
    }
    let hello: HelloRequest;
    try {
      hello = decodeHelloRequest(frame.body);
    } catch (error) {
      this.#refuse(frame, connection, (error as Error).message);
      return undefined;
    }
    const { role, serverId } = this.#options;
    connection.respond(frame, encodeHelloResponse({ protocolVersion, serverId, role }));
    const listeners: (() => void)[] = [];
    const session: Session = {
      connection,
      hello,
      remoteAddress,
      onClose: (listener) => void listeners.push(listener),
    };
    closeListeners.set(session, listeners);
    return session;
  }

  #refuse(frame: Frame, connection: Connection, message: string): void {
    const error = new TubeError('BAD_REQUEST', message);
    connection.respondError(frame, error);
    connection.close(error);
  }

  #serve(frame: Frame, session: Session): void {
    const handler = this.#options.handlers.get(frame.opcode);
    if (handler === undefined) {
      this.#refuse(
        frame,
        session.connection,
        `${this.#options.role} does not serve ${opcodeLabel(frame.opcode)}`,
      );
      return;
    }
    let result: ReturnType<RequestHandler>;
    try {
      result = handler(frame, session);
    } catch (error) {
      this.#fail(frame, session, error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (body) => this.#answer(frame, session, body),
        (error: unknown) => this.#fail(frame, session, error),
      );
    } else {
      this.#answer(frame, session, result);
    }
  }

  // Answering can throw too (a body over the frame limit); inside a promise callback that throw
  // would be an unhandled rejection, which ends the process, so it is answered INTERNAL instead.
  #answer(frame: Frame, session: Session, body: Buffer | readonly Buffer[]): void {
    try {
      session.connection.respond(frame, body);
    } catch (error) {
      this.#fail(frame, session, error);
    }
  }

  #fail(frame: Frame, session: Session, error: unknown): void {
    if (isTubeError(error)) {
      session.connection.respondError(frame, error);
      return;
    }
    this.#options.logger.error(
      { err: error, opcode: opcodeLabel(frame.opcode), remoteAddress: session.remoteAddress },
      'request handler failed',
    );
    session.connection.respondError(
      frame,
      new TubeError('INTERNAL', `${opcodeLabel(frame.opcode)} failed on the server`),
    );
  }
}

const closeListeners = new WeakMap<Session, (() => void)[]>();

function runCloseListeners(session: Session): void {
  const listeners = closeListeners.get(session) ?? [];
  closeListeners.delete(session);
  for (const listener of listeners) listener();
}
