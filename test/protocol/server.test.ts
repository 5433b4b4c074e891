// ProtocolServer and dial over real loopback sockets: the HELLO handshake, handler results and
// errors as the client sees them, the connection rules that cut off one bad client while the others
// go on, the unreachable error of dial, address parsing, and close().
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, test } from 'node:test';
import { TubeError, createLogger, isTubeError, maxFrameBytes } from '../../src/common/index.js';
import {
  type Connection,
  type RequestHandler,
  type Session,
  callJson,
  decodeError,
  decodeHelloResponse,
  dial,
  encodeFrame,
  formatAddress,
  frameFlags,
  metadataMessage,
  opcodes,
  parseAddress,
  ProtocolServer,
  parseAddressList,
  protocolVersion,
} from '../../src/protocol/index.js';
import { controlSamples } from './control-samples.js';
import { type TestServer, helloBytes, rawConnect, requestBytes, startServer } from './server-helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serve(
  handlers: [number, RequestHandler][],
  options?: Parameters<typeof startServer>[1],
): Promise<TestServer> {
  const started = await startServer(new Map(handlers), options);
  cleanups.push(() => started.server.close());
  return started;
}

async function connect(port: number, clientId = 'test-client'): Promise<Connection> {
  const { connection } = await dial({ host: '127.0.0.1', port }, { clientId });
  cleanups.push(() => connection.close());
  return connection;
}

function rejectsWith(
  promise: Promise<unknown>,
  name: TubeError['errorName'],
  message?: RegExp,
): Promise<void> {
  return assert.rejects(promise, (error) => {
    assert.ok(isTubeError(error, name), `expected ${name}, got ${String(error)}`);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** Answers METADATA with the sample response, whatever was asked (after checking the request decodes). */
const metadataHandler: RequestHandler = (frame) => {
  metadataMessage.decodeRequest(frame.body);
  return metadataMessage.encodeResponse(controlSamples.METADATA.response as never);
};

const metadataRequest = { topics: ['orders'] };

async function until(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('ProtocolServer: HELLO', () => {
  test('the HELLO answer carries the role, the server id and the protocol version', async () => {
    // Goal: a client learns who it talks to. Method: dial servers of both roles and read hello.
    for (const role of ['broker', 'master'] as const) {
      const { port } = await serve([], { role, serverId: `${role}-7` });
      const { connection, hello } = await dial({ host: '127.0.0.1', port }, { clientId: 'c' });
      cleanups.push(() => connection.close());
      assert.deepEqual(hello, { protocolVersion, serverId: `${role}-7`, role });
    }
  });

  test('the session sees what the client said in HELLO', async () => {
    // Goal: handlers can tell clients apart. Method: a handler echoes session.hello and remoteAddress.
    let seen: Session | undefined;
    const { port } = await serve([
      [
        opcodes.LIST_TOPICS,
        (_frame, session) => {
          seen = session;
          return Buffer.from('{"topics":[]}');
        },
      ],
    ]);
    const { connection } = await dial(
      { host: '127.0.0.1', port },
      { clientId: 'who-am-i', authToken: 'tok' },
    );
    cleanups.push(() => connection.close());
    await connection.request(opcodes.LIST_TOPICS, Buffer.from('{}'));
    assert.deepEqual(seen?.hello, { protocolVersion, clientId: 'who-am-i', authToken: 'tok' });
    assert.match(seen?.remoteAddress ?? '', /^127\.0\.0\.1:\d+$/);
  });

  test('a first frame other than HELLO is answered BAD_REQUEST and the connection closes', async () => {
    // Goal: nothing is served before the handshake. Method: a raw socket sends METADATA first; the
    // handler must not run, the answer is an error for that correlation id, then the server hangs up.
    let served = 0;
    const { port, logs } = await serve([
      [
        opcodes.METADATA,
        (frame) => {
          served++;
          return metadataHandler(frame, undefined as never);
        },
      ],
    ]);
    const client = await rawConnect(port);
    client.socket.write(requestBytes(opcodes.METADATA, 42, metadataMessage.encodeRequest(metadataRequest)));
    const [answer] = await client.waitForFrames(1);
    assert.equal(answer!.opcode, opcodes.METADATA);
    assert.equal(answer!.flags, frameFlags.RESPONSE | frameFlags.ERROR);
    assert.equal(answer!.correlationId, 42);
    const error = decodeError(answer!.body);
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.equal(error.message, 'expected HELLO first, got METADATA');
    await client.closed;
    assert.equal(served, 0);
    await until(() => logs.some((line) => line.level === 40), 'the warning');
    assert.deepEqual(
      logs.map((line) => [line.level, line.msg]),
      [[40, 'closed a connection that sent bad bytes']],
    );
  });

  test('a HELLO that does not decode is answered BAD_REQUEST naming the field, then the connection closes', async () => {
    // Goal: a bad handshake says what is wrong. Method: HELLO with protocolVersion 0.
    const { port } = await serve([]);
    const client = await rawConnect(port);
    client.socket.write(requestBytes(opcodes.HELLO, 1, Buffer.from('{"protocolVersion":0,"clientId":"c"}')));
    const [answer] = await client.waitForFrames(1);
    const error = decodeError(answer!.body);
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.match(error.message, /^HELLO request is invalid: protocolVersion: /);
    await client.closed;
  });

  test('a second HELLO after the handshake goes to the handlers like any request', async () => {
    // Goal: HELLO is special only as the first frame. Method: no HELLO handler, so the second HELLO
    // is an opcode this server does not serve: BAD_REQUEST, then close.
    const { port } = await serve([]);
    const client = await rawConnect(port);
    client.socket.write(Buffer.concat([helloBytes(), helloBytes()]));
    const [first, second] = await client.waitForFrames(2);
    assert.equal(first!.flags, frameFlags.RESPONSE);
    assert.equal(decodeHelloResponse(first!.body).role, 'broker');
    assert.equal(decodeError(second!.body).message, 'broker does not serve HELLO');
    await client.closed;
  });
});

describe('ProtocolServer: handlers', () => {
  test('a handler result reaches the client, sync or async, pipelined', async () => {
    // Goal: bodies go back to the right caller. Method: one sync and one slow async opcode, 20
    // requests in flight at once, answered out of order.
    const { port } = await serve([
      [opcodes.METADATA, metadataHandler],
      [
        opcodes.DESCRIBE_TOPIC,
        async (frame) => {
          const { name } = controlSamples.DESCRIBE_TOPIC.message.decodeRequest(frame.body) as {
            name: string;
          };
          await new Promise((resolve) => setTimeout(resolve, 20 - Number(name.slice(1))));
          return Buffer.from(JSON.stringify({ echo: name }));
        },
      ],
    ]);
    const connection = await connect(port);
    const asked = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? callJson(connection, metadataMessage, metadataRequest).then((answer) => answer.topics[0]!.name)
        : connection
            .request(opcodes.DESCRIBE_TOPIC, Buffer.from(JSON.stringify({ name: `t${i}` })))
            .then((frame) => (JSON.parse(frame.body.toString()) as { echo: string }).echo),
    );
    assert.deepEqual(
      await Promise.all(asked),
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'orders' : `t${i}`)),
    );
  });

  test('a thrown or rejected TubeError reaches the client with its code, message and details', async () => {
    // Goal: a refusal travels as itself, and the connection stays usable. Method: a sync throw and a
    // rejection, then a normal request on the same connection.
    const { port, logs } = await serve([
      [
        opcodes.DESCRIBE_TOPIC,
        () => {
          throw new TubeError('NOT_FOUND', 'topic "x" does not exist', {
            details: { topic: 'x' },
            hint: 'create it',
          });
        },
      ],
      [
        opcodes.FETCH,
        () => Promise.reject(new TubeError('OFFSET_OUT_OF_RANGE', 'no', { details: { earliest: 1 } })),
      ],
      [opcodes.METADATA, metadataHandler],
    ]);
    const connection = await connect(port);
    await assert.rejects(connection.request(opcodes.DESCRIBE_TOPIC, Buffer.from('{"name":"x"}')), (error) => {
      assert.ok(isTubeError(error, 'NOT_FOUND'));
      assert.equal(error.code, 404);
      assert.equal(error.message, 'topic "x" does not exist');
      assert.deepEqual(error.details, { topic: 'x' });
      // The hint travels as details.hint and comes back out as the error's hint.
      assert.equal(error.hint, 'create it');
      return true;
    });
    await assert.rejects(connection.request(opcodes.FETCH, Buffer.alloc(0)), (error) => {
      assert.ok(isTubeError(error, 'OFFSET_OUT_OF_RANGE'));
      assert.deepEqual(error.details, { earliest: 1 });
      return true;
    });
    assert.equal((await callJson(connection, metadataMessage, metadataRequest)).topics.length, 1);
    assert.equal(connection.closed, false);
    assert.deepEqual(logs, [], 'a TubeError is an answer, not something to log');
  });

  test('a non-TubeError throw or rejection becomes INTERNAL without its text, and is logged', async () => {
    // Goal: a bug neither leaks internals nor kills the connection, and someone gets to see it.
    // Method: a handler throwing a TypeError and one rejecting with a RangeError.
    const { port, logs } = await serve([
      [
        opcodes.LIST_TOPICS,
        () => {
          throw new TypeError('secret internals');
        },
      ],
      [opcodes.LIST_BROKERS, () => Promise.reject(new RangeError('more internals'))],
      [opcodes.METADATA, metadataHandler],
    ]);
    const connection = await connect(port, 'buggy-path');
    await rejectsWith(
      connection.request(opcodes.LIST_TOPICS, Buffer.from('{}')),
      'INTERNAL',
      /^LIST_TOPICS failed on the server$/,
    );
    await rejectsWith(
      connection.request(opcodes.LIST_BROKERS, Buffer.from('{}')),
      'INTERNAL',
      /^LIST_BROKERS failed on the server$/,
    );
    assert.equal((await callJson(connection, metadataMessage, metadataRequest)).brokers.length, 1);
    const errors = logs.filter((line) => line.level === 50);
    assert.equal(errors.length, 2);
    assert.deepEqual(
      errors.map((line) => [line.msg, line.opcode, (line.err as { message: string }).message]),
      [
        ['request handler failed', 'LIST_TOPICS', 'secret internals'],
        ['request handler failed', 'LIST_BROKERS', 'more internals'],
      ],
    );
    assert.match(String(errors[0]!.remoteAddress), /^127\.0\.0\.1:\d+$/);
  });

  test('an answer over the frame limit becomes INTERNAL and is logged, sync or async, and the process survives', async () => {
    // Goal: a handler bug that builds an oversize body cannot take the daemon down. Before the fix,
    // the async case threw inside a promise callback: an unhandled rejection, which ends the process.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const huge = Buffer.alloc(maxFrameBytes);
      const { port, logs } = await serve([
        [opcodes.LIST_TOPICS, () => huge],
        [opcodes.LIST_BROKERS, () => Promise.resolve(huge)],
        [opcodes.METADATA, metadataHandler],
      ]);
      const connection = await connect(port);
      await rejectsWith(connection.request(opcodes.LIST_TOPICS, Buffer.from('{}')), 'INTERNAL');
      await rejectsWith(
        connection.request(opcodes.LIST_BROKERS, Buffer.from('{}')),
        'INTERNAL',
        /^LIST_BROKERS failed on the server$/,
      );
      assert.equal((await callJson(connection, metadataMessage, metadataRequest)).topics.length, 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
      const errors = logs.filter((line) => line.level === 50);
      assert.equal(errors.length, 2);
      for (const line of errors) assert.match((line.err as { message: string }).message, /exceeds the limit/);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('an opcode this server has no handler for: BAD_REQUEST, that connection closes, another keeps working', async () => {
    // Goal: a client speaking to the wrong daemon is cut off cleanly and alone. Method: a broker
    // with only METADATA gets CREATE_TOPIC from one client while a second client keeps asking.
    const { port, server, logs } = await serve([[opcodes.METADATA, metadataHandler]]);
    const good = await connect(port, 'good');
    const bad = await connect(port, 'bad');
    assert.equal(server.connectionCount, 2);
    await rejectsWith(
      bad.request(opcodes.CREATE_TOPIC, Buffer.from('{"name":"t","partitions":1}')),
      'BAD_REQUEST',
      /^broker does not serve CREATE_TOPIC$/,
    );
    await until(() => bad.closed, 'the bad connection to close');
    await rejectsWith(callJson(bad, metadataMessage, metadataRequest), 'UNAVAILABLE', /connection is closed/);
    assert.equal((await callJson(good, metadataMessage, metadataRequest)).topics[0]!.name, 'orders');
    await until(() => server.connectionCount === 1, 'the server to drop the bad connection');
    assert.equal(logs.filter((line) => line.msg === 'closed a connection that sent bad bytes').length, 1);
  });

  test('an opcode no version knows is answered BAD_REQUEST naming it, then closed; other clients are unaffected', async () => {
    // Goal: a frame from the future or from garbage gets a precise answer and a hang-up. Method:
    // opcode 999 after HELLO from a raw socket; the answer, the close, and the other client.
    const { port } = await serve([[opcodes.METADATA, metadataHandler]]);
    const good = await connect(port);
    const client = await rawConnect(port);
    client.socket.write(Buffer.concat([helloBytes(), requestBytes(999, 2, Buffer.from('x'))]));
    const [, answer] = await client.waitForFrames(2);
    assert.equal(answer!.correlationId, 2);
    assert.equal(answer!.flags, frameFlags.RESPONSE | frameFlags.ERROR);
    const error = decodeError(answer!.body);
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.equal(error.message, 'unknown opcode 999');
    await client.closed;
    assert.equal((await callJson(good, metadataMessage, metadataRequest)).topics.length, 1);
  });

  test('garbage after HELLO: one connection-level BAD_REQUEST frame, close, one log line', async () => {
    // Goal: a stream that lost its framing is cut off with a reason. Method: a length field over
    // the server's frame limit; the answer is opcode 0, correlation id 0, details {length, min, max}.
    const { port, server, logs } = await serve([[opcodes.METADATA, metadataHandler]], {
      connectionOptions: { frameBytesMax: 1024 },
    });
    const good = await connect(port);
    const client = await rawConnect(port);
    const header = Buffer.alloc(11);
    header.writeUInt32LE(1025 + 7, 0);
    client.socket.write(Buffer.concat([helloBytes(), header]));
    const [, answer] = await client.waitForFrames(2);
    assert.deepEqual(
      { opcode: answer!.opcode, flags: answer!.flags, correlationId: answer!.correlationId },
      { opcode: 0, flags: frameFlags.RESPONSE | frameFlags.ERROR, correlationId: 0 },
    );
    const error = decodeError(answer!.body);
    assert.equal(error.errorName, 'BAD_REQUEST');
    assert.deepEqual(error.details, { length: 1032, min: 7, max: 1024 });
    await client.closed;
    assert.equal((await callJson(good, metadataMessage, metadataRequest)).topics.length, 1);
    await until(() => server.connectionCount === 1, 'the server to drop the bad connection');
    const warnings = logs.filter((line) => line.level >= 40);
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!.error), /^frame length 1032 is outside \[7, 1024\]$/);
  });

  test('bad flags on a request close the connection the same way', async () => {
    // Goal: reserved flag bits are refused, not ignored. Method: flags 0x08 on a METADATA frame.
    const { port } = await serve([[opcodes.METADATA, metadataHandler]]);
    const client = await rawConnect(port);
    const frame = requestBytes(opcodes.METADATA, 2, metadataMessage.encodeRequest(metadataRequest));
    frame[6] = 0x08;
    client.socket.write(Buffer.concat([helloBytes(), frame]));
    const [, answer] = await client.waitForFrames(2);
    assert.match(decodeError(answer!.body).message, /^frame flags 0x08 are not a valid combination$/);
    await client.closed;
  });

  test('a request the handler cannot decode is BAD_REQUEST and the connection stays open', async () => {
    // Goal: a well-framed but invalid body is the caller's mistake, answered, not a reason to hang up.
    const { port } = await serve([[opcodes.METADATA, metadataHandler]]);
    const connection = await connect(port);
    await rejectsWith(
      connection.request(opcodes.METADATA, Buffer.from('{"topics":["no good"]}')),
      'BAD_REQUEST',
      /^METADATA request is invalid: topics\.0: /,
    );
    assert.equal((await callJson(connection, metadataMessage, metadataRequest)).topics.length, 1);
  });

  test('session.onClose runs when the client goes away', async () => {
    // Goal: handlers can drop what a session held (e.g. a broker's registration). Method: set it in a
    // handler, close the client, wait for the call.
    let closedSessions = 0;
    const { port } = await serve([
      [
        opcodes.LIST_TOPICS,
        (_frame, session) => {
          session.onClose(() => closedSessions++);
          return Buffer.from('{"topics":[]}');
        },
      ],
    ]);
    const connection = await connect(port);
    await connection.request(opcodes.LIST_TOPICS, Buffer.from('{}'));
    connection.close();
    await until(() => closedSessions === 1, 'session.onClose');
  });
});

describe('ProtocolServer: listen and close', () => {
  test('close() closes every client: pending requests fail UNAVAILABLE, new ones too', async () => {
    // Goal: shutting a daemon down releases its clients at once. Method: one request held by the
    // handler forever, two clients, then server.close().
    const started = await startServer(new Map([[opcodes.FETCH, () => new Promise<Buffer>(() => undefined)]]));
    const first = await connect(started.port);
    const second = await connect(started.port);
    const held = first.request(opcodes.FETCH, Buffer.alloc(0));
    await until(() => first.inflightRequests === 1, 'the request to be in flight');
    await started.server.close();
    await rejectsWith(held, 'UNAVAILABLE', /before FETCH was answered/);
    await until(() => first.closed && second.closed, 'both clients to see the close');
    assert.equal(started.server.connectionCount, 0);
    await rejectsWith(dial({ host: '127.0.0.1', port: started.port }, { clientId: 'late' }), 'UNAVAILABLE');
  });

  test('listening on a port in use is UNAVAILABLE with a hint naming the port', async () => {
    // Goal: a second daemon on the same port gets an error a person can act on.
    const { port } = await serve([]);
    const other = new ProtocolServer({
      role: 'broker',
      serverId: 'broker-2',
      handlers: new Map(),
      logger: createLogger({ name: 'test', level: 'silent' }),
    });
    const clash = await other.listen('127.0.0.1', port).then(
      () => other.close(),
      (error: unknown) => error,
    );
    assert.ok(isTubeError(clash, 'UNAVAILABLE'), `expected UNAVAILABLE, got ${String(clash)}`);
    assert.match(clash.message, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: `));
    assert.equal(clash.details.code, 'EADDRINUSE');
    assert.equal(clash.hint, `another process uses port ${port}; pick another with --port`);
  });
});

describe('dial', () => {
  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  test('a closed port is UNAVAILABLE, unreachable, with the address in message and hint', async () => {
    // Goal: callers (the CLI's exit code 3) can tell "nothing there" from a refusal, and a person
    // sees which address was tried. Method: dial a port nothing listens on.
    const port = await closedPort();
    await assert.rejects(dial({ host: '127.0.0.1', port }, { clientId: 'c' }), (error) => {
      assert.ok(isTubeError(error, 'UNAVAILABLE'));
      assert.equal(error.retriable, true);
      assert.deepEqual(error.details, { address: `127.0.0.1:${port}`, unreachable: true });
      assert.equal(error.message, `cannot reach 127.0.0.1:${port}: ECONNREFUSED`);
      assert.match(error.hint ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  });

  test('a peer that accepts but never answers HELLO is unreachable after connectTimeoutMs', async () => {
    // Goal: a wedged or foreign server does not hang the caller. Method: a bare TCP server.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const started = Date.now();
    await assert.rejects(
      dial({ host: '127.0.0.1', port }, { clientId: 'c', connectTimeoutMs: 150 }),
      (error) => {
        assert.ok(isTubeError(error, 'UNAVAILABLE'));
        assert.equal(error.details.unreachable, true);
        assert.match(
          error.message,
          new RegExp(`^cannot reach 127\\.0\\.0\\.1:${port}: request timed out after 150 ms`),
        );
        return true;
      },
    );
    assert.ok(Date.now() - started < 2000);
  });

  test('a server that refuses the HELLO is a refusal, not unreachable', async () => {
    // Goal: "wrong protocol" is not reported as "nothing listening". Method: a raw server answering
    // the HELLO with BAD_REQUEST.
    const silent = net.createServer((socket) => {
      socket.once('data', () => {
        const body = Buffer.from('9001' + '0200' + '6e6f' + '00000000', 'hex'); // 400 "no"
        socket.end(Buffer.concat(encodeFrame({ opcode: 1, flags: 3, correlationId: 1 }, body)));
      });
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    cleanups.push(() => void silent.close());
    await assert.rejects(dial({ host: '127.0.0.1', port }, { clientId: 'c' }), (error) => {
      assert.ok(isTubeError(error, 'BAD_REQUEST'));
      assert.equal(error.message, 'no');
      assert.equal(error.details.unreachable, undefined);
      return true;
    });
  });
});

describe('addresses', () => {
  test('parseAddress reads host:port, [v6]:port and a bare host with a default port', () => {
    // Goal: every spelling a user or config file uses. Method: a table of inputs and results.
    assert.deepEqual(parseAddress('127.0.0.1:8715'), { host: '127.0.0.1', port: 8715 });
    assert.deepEqual(parseAddress('  broker-1.example.com:1 '), { host: 'broker-1.example.com', port: 1 });
    assert.deepEqual(parseAddress('[::1]:65535'), { host: '::1', port: 65535 });
    assert.deepEqual(parseAddress('[fe80::1%eth0]:80'), { host: 'fe80::1%eth0', port: 80 });
    assert.deepEqual(parseAddress('localhost', 8123), { host: 'localhost', port: 8123 });
    assert.deepEqual(parseAddress('[::1]', 8123), { host: '::1', port: 8123 });
    assert.deepEqual(parseAddress('h:9', 8123), { host: 'h', port: 9 }, 'an explicit port wins');
  });

  test('parseAddress refuses what is not an address with BAD_REQUEST and a hint', () => {
    // Goal: a typo is reported, quoted, rather than dialled. Method: one bad input per rule.
    const bad = [
      '',
      '   ',
      'localhost',
      ':8715',
      'h:',
      'h:0',
      'h:65536',
      'h:x',
      'h:1.5',
      'h:-1',
      '::1',
      '::1:80',
      '[::1',
      'my host:80',
      '[::1 ]:80',
      'h\t:80',
      '[::1]:',
      '[]:80',
      'a:1:2',
      'h:80 x',
      '[::1]x',
    ];
    for (const text of bad) {
      assert.throws(
        () => parseAddress(text),
        (error) => {
          assert.ok(isTubeError(error, 'BAD_REQUEST'), text);
          assert.equal(error.message, `invalid address ${JSON.stringify(text)}`);
          assert.equal(error.hint, 'write host:port, e.g. 127.0.0.1:8715');
          return true;
        },
      );
    }
    assert.throws(
      () => parseAddress('h', 0),
      (error) => isTubeError(error, 'BAD_REQUEST'),
      'default port 0',
    );
  });

  test('parseAddressList splits on commas, trims, skips empty parts and refuses an empty list', () => {
    // Goal: master lists like TUBEMQ_MASTER="a:1, b:2," work. Method: parse several spellings.
    assert.deepEqual(parseAddressList('a:1, [::1]:2 ,b', 8715), [
      { host: 'a', port: 1 },
      { host: '::1', port: 2 },
      { host: 'b', port: 8715 },
    ]);
    assert.deepEqual(parseAddressList('a:1,,'), [{ host: 'a', port: 1 }]);
    for (const text of ['', ',', ' , ']) {
      assert.throws(
        () => parseAddressList(text),
        (error) => isTubeError(error, 'BAD_REQUEST') && error.message === 'empty address list',
      );
    }
    assert.throws(
      () => parseAddressList('a:1,b'),
      (error) => isTubeError(error, 'BAD_REQUEST') && /"b"/.test(error.message),
    );
  });

  test('formatAddress brackets IPv6 so parseAddress reads it back', () => {
    // Goal: what we print in hints can be pasted back. Method: round trip both kinds.
    for (const address of [
      { host: '10.0.0.1', port: 8715 },
      { host: '::1', port: 8123 },
      { host: 'h', port: 1 },
    ]) {
      assert.deepEqual(parseAddress(formatAddress(address)), address);
    }
    assert.equal(formatAddress({ host: '::1', port: 8123 }), '[::1]:8123');
  });
});
