// The client's line to the master: one connection to the first master of the list that answers,
// moving on to the next when it stops answering, so a list of masters is followed through failures.
import { TubeError } from '../common/index.js';
import {
  callJson,
  dial,
  formatAddress,
  type Address,
  type Connection,
  type JsonMessage,
} from '../protocol/index.js';
import type { ResolvedClientOptions } from './options.js';
import { clientClosed } from './client-errors.js';

/** A connection to one master of a list, failing over to the next one. */
export class MasterLink {
  readonly #masters: readonly Address[];
  readonly #options: ResolvedClientOptions;
  #index = 0;
  #connection: Promise<Connection> | undefined;
  #closed = false;

  constructor(options: ResolvedClientOptions) {
    this.#options = options;
    this.#masters = options.masters;
  }

  /** The master currently talked to (or tried next), as `host:port`. */
  get current(): string {
    return formatAddress(this.#masters[this.#index]!);
  }

  /**
   * Sends a control request to the master. A master that cannot be reached, hangs up or says it is
   * not the leader is left for the next one of the list; each is tried once (a kept-open connection
   * found closed is dialled again first: the master may have restarted). A refusal (any other
   * error the master answers) is thrown as it is. When none answers, the last error is thrown: it
   * carries `details.unreachable` when nothing was reachable at all.
   */
  async call<Request, Response>(
    message: JsonMessage<Request, Response>,
    request: Request,
  ): Promise<Response> {
    let lastError: unknown;
    let redialled = false;
    for (let tried = 0; tried < this.#masters.length; tried++) {
      if (this.#closed) throw clientClosed();
      const reused = this.#connection !== undefined;
      let connection: Connection;
      try {
        connection = await this.#connect();
      } catch (error) {
        lastError = error;
        this.#next();
        continue;
      }
      try {
        return await callJson(connection, message, request, { timeoutMs: this.#options.requestTimeoutMs });
      } catch (error) {
        if (!isMasterFailure(error, connection)) throw error;
        lastError = error;
        connection.close();
        if (reused && !redialled && !isTimeout(error)) {
          redialled = true;
          this.#connection = undefined;
          tried--;
          continue;
        }
        this.#next();
      }
    }
    throw lastError instanceof Error ? lastError : new TubeError('UNAVAILABLE', 'no master answered');
  }

  /** Closes the connection; later calls reject with UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined) (await connection.catch(() => undefined))?.close();
  }

  #connect(): Promise<Connection> {
    if (this.#connection === undefined) {
      const address = this.#masters[this.#index]!;
      const pending = dial(address, {
        clientId: this.#options.clientId,
        connectTimeoutMs: this.#options.connectTimeoutMs,
        requestTimeoutMs: this.#options.requestTimeoutMs,
        onClose: () => {
          if (this.#connection === pending) this.#connection = undefined;
        },
      }).then(({ connection }) => connection);
      this.#connection = pending;
      pending.catch(() => {
        if (this.#connection === pending) this.#connection = undefined;
      });
    }
    return this.#connection;
  }

  #next(): void {
    this.#connection = undefined;
    this.#index = (this.#index + 1) % this.#masters.length;
  }
}

// A failure of this master rather than an answer from it: it hung up, timed out, or is a standby.
function isMasterFailure(error: unknown, connection: Connection): boolean {
  if (!(error instanceof TubeError)) return false;
  if (error.errorName === 'NOT_LEADER') return true;
  return error.errorName === 'UNAVAILABLE' && (connection.closed || 'timeoutMs' in error.details);
}

function isTimeout(error: unknown): boolean {
  return error instanceof TubeError && 'timeoutMs' in error.details;
}
