// The client side of a connection: connect, say HELLO, check the answer. Every client of a master
// or broker (brokers, the client library, tests) comes through here.
import * as net from 'node:net';
import { TubeError } from '../common/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { decodeHelloResponse, encodeHelloRequest, type HelloResponse } from './messages/hello.js';
import { opcodes } from './opcodes.js';
import { socketTransport } from './transport.js';
import { protocolVersion } from './version.js';

/** A `host:port` to connect to. */
export interface Address {
  host: string;
  port: number;
}

/** Options of {@link dial}. */
export interface DialOptions extends Omit<ConnectionOptions, 'onRequest'> {
  /** Sent in HELLO; shows up in the server's logs. */
  clientId: string;
  authToken?: string;
  /** Milliseconds for the TCP connect plus HELLO. @default 5000 */
  connectTimeoutMs?: number;
}

/** An open, greeted connection. */
export interface Dialed {
  connection: Connection;
  hello: HelloResponse;
}

/**
 * Connects to `address` and exchanges HELLO. Rejects with UNAVAILABLE, `details.unreachable` set,
 * when nothing answers (refused, timed out, reset), so callers can tell that from a refusal.
 */
export async function dial(address: Address, options: DialOptions): Promise<Dialed> {
  const { clientId, authToken, connectTimeoutMs = 5000, ...connectionOptions } = options;
  const label = formatAddress(address);
  const socket = await connectSocket(address, connectTimeoutMs);
  const connection = new Connection(socketTransport(socket), connectionOptions);
  try {
    const frame = await connection.request(
      opcodes.HELLO,
      encodeHelloRequest(
        authToken === undefined ? { protocolVersion, clientId } : { protocolVersion, clientId, authToken },
      ),
      { timeoutMs: connectTimeoutMs },
    );
    return { connection, hello: decodeHelloResponse(frame.body) };
  } catch (error) {
    connection.close();
    if (error instanceof TubeError && error.errorName === 'UNAVAILABLE')
      throw unreachable(label, error.message, error);
    throw error;
  }
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Parses `host:port` (or `[v6]:port`); `defaultPort` fills in a bare host. Throws BAD_REQUEST with
 * the rule when the text is not an address.
 */
export function parseAddress(text: string, defaultPort?: number): Address {
  const trimmed = text.trim();
  // No whitespace in a host: "my host:80" is a typo to report here, not a name to look up and fail on.
  const match = /^\[([^\]\s]+)\](?::(\d+))?$/.exec(trimmed) ?? /^([^\s:[\]]+)(?::(\d+))?$/.exec(trimmed);
  const host = match?.[1];
  const portText = match?.[2];
  const port = portText === undefined ? defaultPort : Number(portText);
  if (host === undefined || port === undefined || !Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new TubeError('BAD_REQUEST', `invalid address ${JSON.stringify(text)}`, {
      hint: 'write host:port, e.g. 127.0.0.1:8715',
    });
  }
  return { host, port };
}

/** Parses a comma-separated list of addresses (a master list). */
export function parseAddressList(text: string, defaultPort?: number): Address[] {
  const parts = text.split(',').filter((part) => part.trim() !== '');
  if (parts.length === 0) {
    throw new TubeError('BAD_REQUEST', 'empty address list', { hint: 'write host:port[,host:port...]' });
  }
  return parts.map((part) => parseAddress(part, defaultPort));
}

function connectSocket(address: Address, timeoutMs: number): Promise<net.Socket> {
  const label = formatAddress(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unreachable(label, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(label, error.code ?? error.message, error));
    });
  });
}

function unreachable(label: string, reason: string, cause?: unknown): TubeError {
  return new TubeError('UNAVAILABLE', `cannot reach ${label}: ${reason}`, {
    details: { address: label, unreachable: true },
    hint: `is a tubemq daemon running at ${label}? start one with \`tubemq start\``,
    cause,
  });
}
