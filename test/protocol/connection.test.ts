// The connection engine: over a real loopback socket for the wire behaviour, over a fake
// transport for the write coalescing that a socket hides.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, test } from 'node:test';
import { type ErrorName, TubeError, isTubeError } from '../../src/common/index.js';
import {
  Connection,
  type ConnectionOptions,
  type Frame,
  FrameDecoder,
  type Transport,
  decodeError,
  encodeFrame,
  frameFlags,
  opcodes,
  socketTransport,
} from '../../src/protocol/index.js';

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

/** A server on a free loopback port that wraps each accepted socket in a Connection. */
async function listen(options: ConnectionOptions): Promise<{ port: number; accepted: Connection[] }> {
  const accepted: Connection[] = [];
  const server = net.createServer((socket) =>
    accepted.push(new Connection(socketTransport(socket), options)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const connection of accepted) connection.close();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, accepted };
}

async function connect(port: number, options: ConnectionOptions = {}): Promise<Connection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const connection = new Connection(socketTransport(socket), options);
  cleanups.push(() => connection.close());
  return connection;
}

function rejectsWith(promise: Promise<unknown>, name: ErrorName, message?: RegExp): Promise<void> {
  return assert.rejects(
    promise,
    (error) => isTubeError(error, name) && (message?.test(error.message) ?? true),
  );
}

const echo: ConnectionOptions['onRequest'] = (frame, connection) => connection.respond(frame, frame.body);

describe('Connection over a loopback socket', () => {
  test('pipelined requests answered out of order reach their callers', async () => {
    // Goal: correlation ids match answers to callers. Method: 50 requests, server answers in reverse.
    const held: Frame[] = [];
    const { port } = await listen({
      onRequest: (frame, connection) => {
        held.push({ ...frame, body: Buffer.from(frame.body) });
        if (held.length === 50)
          for (const request of held.reverse())
            connection.respond(request, [Buffer.from('re:'), request.body]);
      },
    });
    const client = await connect(port);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.request(opcodes.HELLO, Buffer.from(String(i)))),
    );
    assert.deepEqual(
      answers.map((frame) => frame.body.toString()),
      Array.from({ length: 50 }, (_, i) => `re:${i}`),
    );
    for (const frame of answers) assert.equal(frame.flags, frameFlags.RESPONSE);
    assert.equal(client.inflightRequests, 0);
  });

  test('a request times out with UNAVAILABLE and a late answer is ignored', async () => {
    // Goal: a silent peer cannot hang a caller. Method: server answers the first request after 150 ms.
    let first = true;
    const { port } = await listen({
      onRequest: (frame, connection) => {
        if (!first) return connection.respond(frame, Buffer.from('now'));
        first = false;
        setTimeout(() => connection.respond(frame, Buffer.from('late')), 150);
      },
    });
    const client = await connect(port);
    await rejectsWith(
      client.request(opcodes.HELLO, Buffer.alloc(0), { timeoutMs: 50 }),
      'UNAVAILABLE',
      /timed out after 50 ms \(HELLO\)/,
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal((await client.request(opcodes.HELLO, Buffer.alloc(0))).body.toString(), 'now');
  });

  test('error responses become TubeErrors with the right code', async () => {
    // Goal: the peer's error reaches the caller intact. Method: a handler error, a throw, an unknown opcode.
    const { port } = await listen({
      onRequest: (frame, connection) => {
        const kind = frame.body.toString();
        if (kind === 'not-found')
          connection.respondError(
            frame,
            new TubeError('NOT_FOUND', 'no such topic', { details: { topic: 't' } }),
          );
        else if (kind === 'throw-tube') throw new TubeError('FORBIDDEN', 'read only');
        else throw new Error('boom');
      },
    });
    const client = await connect(port);
    await assert.rejects(client.request(opcodes.HELLO, Buffer.from('not-found')), (error) => {
      assert.ok(isTubeError(error, 'NOT_FOUND'));
      assert.equal(error.code, 404);
      assert.equal(error.message, 'no such topic');
      assert.deepEqual(error.details, { topic: 't' });
      return true;
    });
    await rejectsWith(client.request(opcodes.HELLO, Buffer.from('throw-tube')), 'FORBIDDEN', /read only/);
    await rejectsWith(
      client.request(opcodes.HELLO, Buffer.from('throw')),
      'INTERNAL',
      /request handler failed/,
    );
    await rejectsWith(client.request(99, Buffer.alloc(0)), 'BAD_REQUEST', /unknown opcode 99/);
    // An unknown opcode means the peer does not speak this protocol: the server hangs up after answering.
    while (!client.closed) await new Promise((resolve) => setImmediate(resolve));
  });

  test('a connection without a request handler answers BAD_REQUEST', async () => {
    // Goal: a client-only endpoint never leaves a peer hanging. Method: request from server to client.
    const { port, accepted } = await listen({ onRequest: echo });
    await connect(port);
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await rejectsWith(
      accepted[0]!.request(opcodes.HELLO, Buffer.alloc(0)),
      'BAD_REQUEST',
      /serves no requests/,
    );
  });

  test('pushed frames go to onPush, in stream order', async () => {
    // Goal: server-initiated frames are told apart from responses. Method: push twice, then answer.
    const { port } = await listen({
      onRequest: (frame, connection) => {
        connection.push(opcodes.HELLO, Buffer.from('p1'));
        connection.push(opcodes.HELLO, [Buffer.from('p'), Buffer.from('2')]);
        connection.respond(frame, Buffer.from('answer'));
      },
    });
    const pushed: Frame[] = [];
    const client = await connect(port, { onPush: (frame) => pushed.push(frame) });
    const answer = await client.request(opcodes.HELLO, Buffer.alloc(0));
    assert.equal(answer.body.toString(), 'answer');
    assert.deepEqual(
      pushed.map((frame) => [frame.flags, frame.correlationId, frame.body.toString()]),
      [
        [frameFlags.PUSH, 0, 'p1'],
        [frameFlags.PUSH, 0, 'p2'],
      ],
    );
  });

  test('more than inflightRequestsMax requests reject with BUSY', async () => {
    // Goal: the in-flight cap holds. Method: cap 2, never answer, send 3.
    const { port } = await listen({ onRequest: () => {} });
    const client = await connect(port, { inflightRequestsMax: 2 });
    const held = [
      client.request(opcodes.HELLO, Buffer.alloc(0)),
      client.request(opcodes.HELLO, Buffer.alloc(0)),
    ];
    await rejectsWith(client.request(opcodes.HELLO, Buffer.alloc(0)), 'BUSY');
    client.close();
    for (const request of held) await rejectsWith(request, 'UNAVAILABLE');
  });

  test('waitForRequestSlot queues callers for slots that answers, timeouts and close free', async () => {
    // Goal: a sender can wait for a slot instead of taking BUSY. Method: cap 2, answer requests by hand.
    const held: Frame[] = [];
    const { port, accepted } = await listen({ onRequest: (frame) => held.push(frame) });
    const client = await connect(port, { inflightRequestsMax: 2 });
    assert.equal(client.waitForRequestSlot(), undefined);
    const first = client.request(opcodes.HELLO, Buffer.from('1'));
    const second = client.request(opcodes.HELLO, Buffer.from('2'), { timeoutMs: 300 });
    const woken: string[] = [];
    const waits = ['a', 'b', 'c'].map((name) => client.waitForRequestSlot()!.then(() => woken.push(name)));
    while (held.length < 2) await new Promise((resolve) => setImmediate(resolve));
    accepted[0]!.respond(held[0]!, Buffer.from('ok'));
    await first;
    await waits[0];
    assert.deepEqual(woken, ['a'], 'one answer frees one slot, for the first waiter');
    await rejectsWith(second, 'UNAVAILABLE', /timed out/);
    await waits[1];
    assert.deepEqual(woken, ['a', 'b']);
    client.close();
    await waits[2];
    assert.deepEqual(woken, ['a', 'b', 'c'], 'a close wakes every waiter (their requests then fail fast)');
    assert.equal(client.waitForRequestSlot(), undefined);
  });

  test('close rejects every pending request, and later requests, with UNAVAILABLE', async () => {
    // Goal: no caller waits forever. Method: close on either side with requests outstanding.
    const { port, accepted } = await listen({ onRequest: () => {} });
    const client = await connect(port);
    const pending = [1, 2, 3].map(() => client.request(opcodes.HELLO, Buffer.alloc(0)));
    client.close();
    for (const request of pending)
      await rejectsWith(request, 'UNAVAILABLE', /connection closed before HELLO/);
    await rejectsWith(client.request(opcodes.HELLO, Buffer.alloc(0)), 'UNAVAILABLE', /connection is closed/);

    const other = await connect(port);
    const waiting = other.request(opcodes.HELLO, Buffer.alloc(0));
    while (accepted.length < 2 || accepted[1]!.closed) await new Promise((resolve) => setImmediate(resolve));
    accepted[1]!.close();
    await rejectsWith(waiting, 'UNAVAILABLE');
    assert.equal(other.closed, true);
  });

  test('a peer sending garbage gets one BAD_REQUEST frame and is cut off; others keep working', async () => {
    // Goal: bad input costs only the bad connection. Method: raw socket sends HTTP, a good client carries on.
    const closes: (Error | undefined)[] = [];
    const { port } = await listen({ onRequest: echo, onClose: (error) => closes.push(error) });
    const good = await connect(port);
    assert.equal((await good.request(opcodes.HELLO, Buffer.from('a'))).body.toString(), 'a');

    const raw = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => received.push(chunk));
    raw.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await new Promise((resolve) => raw.on('close', resolve));

    const frames: Frame[] = [];
    new FrameDecoder({ onFrame: (frame) => frames.push(frame) }).push(Buffer.concat(received));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.flags, frameFlags.RESPONSE | frameFlags.ERROR);
    assert.equal(frames[0]!.correlationId, 0);
    const error = decodeError(frames[0]!.body);
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.equal(error.details.length, Buffer.from('GET ').readUInt32LE(0));
    assert.ok(closes.some((reason) => isTubeError(reason, 'BAD_REQUEST')));

    assert.equal((await good.request(opcodes.HELLO, Buffer.from('b'))).body.toString(), 'b');
  });

  test('a client told its stream is bad closes and fails its requests', async () => {
    // Goal: a connection-level error frame (correlation id 0) ends the connection. Method: a fake server sends one.
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        const body = Buffer.from('9001' + '0300' + '626164' + '00000000', 'hex');
        socket.write(
          Buffer.concat(
            encodeFrame({ opcode: 0, flags: frameFlags.RESPONSE | frameFlags.ERROR, correlationId: 0 }, body),
          ),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    let reason: Error | undefined;
    const client = await connect((server.address() as net.AddressInfo).port, {
      onClose: (error) => (reason = error),
    });
    await rejectsWith(
      client.request(opcodes.HELLO, Buffer.alloc(0)),
      'UNAVAILABLE',
      /connection closed: bad before HELLO/,
    );
    assert.ok(isTubeError(reason, 'BAD_REQUEST'));
  });
});

describe('Connection write coalescing', () => {
  function fakeTransport(): { transport: Transport; writes: Buffer[][] } {
    const writes: Buffer[][] = [];
    const transport: Transport = {
      write: (buffers) => writes.push([...buffers]),
      onData: () => {},
      onClose: () => {},
      close: () => {},
    };
    return { transport, writes };
  }

  test('frames queued in one tick go out in one write', async () => {
    // Goal: one write per tick, not per frame. Method: three requests in a tick over a fake transport.
    const { transport, writes } = fakeTransport();
    const connection = new Connection(transport);
    const requests = [1, 2, 3].map(() =>
      connection.request(opcodes.HELLO, Buffer.from('x'), { timeoutMs: 1000 }),
    );
    assert.equal(writes.length, 0);
    await Promise.resolve();
    assert.equal(writes.length, 1);
    assert.equal(writes[0]!.length, 6);
    connection.close();
    for (const request of requests) await rejectsWith(request, 'UNAVAILABLE');
  });

  test('past 32 KiB the queue flushes at once', async () => {
    // Goal: a burst of big frames does not pile up until the tick ends. Method: one 40 KiB request.
    const { transport, writes } = fakeTransport();
    const connection = new Connection(transport);
    const request = connection.request(opcodes.HELLO, Buffer.alloc(40 * 1024), { timeoutMs: 1000 });
    assert.equal(writes.length, 1);
    connection.close();
    await rejectsWith(request, 'UNAVAILABLE');
  });
});
