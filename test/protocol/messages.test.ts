// Message codecs: golden bytes pin each layout; round trips and malformed inputs prove decoding.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type ErrorName, TubeError, errorTable, isTubeError } from '../../src/common/index.js';
import {
  decodeError,
  decodeHelloRequest,
  decodeHelloResponse,
  encodeError,
  encodeHelloRequest,
  encodeHelloResponse,
  protocolVersion,
} from '../../src/protocol/index.js';

const errorNames = Object.keys(errorTable) as ErrorName[];

function assertBadRequest(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error) => isTubeError(error, 'BAD_REQUEST') && message.test(error.message));
}

describe('error body', () => {
  test('encodes the documented golden bytes', () => {
    // Goal: the error layout never drifts. Method: compare one error with a hand-written hex literal.
    const body = encodeError(new TubeError('NOT_FOUND', 'no topic', { details: { topic: 'a' } }));
    // code 404 | messageBytes 8 | "no topic" | detailsBytes 13 | {"topic":"a"}
    assert.equal(
      body.toString('hex'),
      '9401' + '0800' + '6e6f20746f706963' + '0d000000' + '7b22746f706963223a2261227d',
    );
  });

  test('carries the hint for people as details.hint', () => {
    // Goal: a CLI far from the server can still print the server's hint. Method: round trip one.
    const sent = new TubeError('NOT_FOUND', 'no topic', { details: { topic: 'a' }, hint: 'create it' });
    const received = decodeError(encodeError(sent));
    assert.equal(received.hint, 'create it');
    assert.deepEqual(received.details, { topic: 'a' });
    assert.equal(decodeError(encodeError(new TubeError('BUSY', 'x'))).hint, undefined);
  });

  test('encodes empty details as zero bytes', () => {
    // Goal: the common case carries no "{}". Method: golden bytes of an error without details.
    assert.equal(
      encodeError(new TubeError('BUSY', 'x')).toString('hex'),
      'a301' + '0100' + '78' + '00000000',
    );
    assert.deepEqual(decodeError(Buffer.from('a301010078' + '00000000', 'hex')).details, {});
  });

  test('round trips any error', () => {
    // Goal: decode inverts encode for every code. Method: fast-check names, messages and details.
    fc.assert(
      fc.property(
        fc.constantFrom(...errorNames),
        fc.string({ unit: 'grapheme', maxLength: 50 }),
        fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.boolean())),
        (name, message, details) => {
          const decoded = decodeError(encodeError(new TubeError(name, message, { details })));
          assert.equal(decoded.errorName, name);
          assert.equal(decoded.code, errorTable[name].code);
          assert.equal(decoded.message, message);
          assert.deepEqual(decoded.details, JSON.parse(JSON.stringify(details)));
        },
      ),
    );
  });

  test('an unknown code becomes INTERNAL and keeps the code in details', () => {
    // Goal: a newer peer's code does not break an older one. Method: decode code 999.
    const decoded = decodeError(Buffer.from('e703' + '0100' + '78' + '00000000', 'hex'));
    assert.equal(decoded.errorName, 'INTERNAL');
    assert.deepEqual(decoded.details, { unknownCode: 999 });
  });

  test('cuts an over-long message at a character boundary', () => {
    // Goal: a huge message still fits its u16 length without breaking UTF-8. Method: 40000 two-byte chars.
    const decoded = decodeError(encodeError(new TubeError('INTERNAL', 'é'.repeat(40_000))));
    assert.equal(decoded.errorName, 'INTERNAL');
    assert.equal(decoded.message, 'é'.repeat(32_767));
  });

  test('details that cannot be JSON are dropped, the error still goes', () => {
    // Goal: a BigInt in details cannot break error reporting. Method: encode one and decode.
    const decoded = decodeError(encodeError(new TubeError('NOT_FOUND', 'x', { details: { big: 1n } })));
    assert.equal(decoded.errorName, 'NOT_FOUND');
    assert.deepEqual(decoded.details, {});
  });

  test('every truncation and malformation decodes as BAD_REQUEST', () => {
    // Goal: a malformed body never throws and never passes. Method: all prefixes plus hand-made bad bodies.
    const good = encodeError(new TubeError('NOT_FOUND', 'no topic', { details: { topic: 'a' } }));
    const bad = [
      ...Array.from({ length: good.byteLength }, (_, n) => good.subarray(0, n)),
      Buffer.concat([good, Buffer.from([0])]),
      Buffer.from('9401' + 'ffff' + '00000000', 'hex'),
      Buffer.from('9401' + '0100' + 'ff' + '00000000', 'hex'),
      Buffer.from('9401' + '0000' + '02000000' + '5b5d', 'hex'),
      Buffer.from('9401' + '0000' + '01000000' + '7b', 'hex'),
      Buffer.from('9401' + '0000' + 'ffffffff' + '7b7d', 'hex'),
    ];
    for (const body of bad) {
      const decoded = decodeError(body);
      assert.equal(decoded.errorName, 'BAD_REQUEST', body.toString('hex'));
      assert.match(decoded.message, /^malformed error body: /);
    }
  });

  test('random bytes always decode to a TubeError', () => {
    // Goal: no input escapes as another exception. Method: fast-check arbitrary bodies.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.ok(decodeError(Buffer.from(bytes)) instanceof TubeError);
      }),
    );
  });
});

describe('HELLO', () => {
  test('encodes the documented golden bytes', () => {
    // Goal: the HELLO bodies never drift. Method: compare with hex literals of their compact JSON.
    assert.equal(protocolVersion, 1);
    // {"protocolVersion":1,"clientId":"c1"}
    assert.equal(
      encodeHelloRequest({ protocolVersion, clientId: 'c1' }).toString('hex'),
      '7b2270726f746f636f6c56657273696f6e223a312c22636c69656e744964223a226331227d',
    );
    // {"protocolVersion":1,"serverId":"b1","role":"broker"}
    assert.equal(
      encodeHelloResponse({ protocolVersion, serverId: 'b1', role: 'broker' }).toString('hex'),
      '7b2270726f746f636f6c56657273696f6e223a312c227365727665724964223a226231222c22726f6c65223a2262726f6b6572227d',
    );
  });

  test('round trips requests and responses', () => {
    // Goal: decode inverts encode. Method: fast-check valid requests and responses.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff }),
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.option(fc.string(), { nil: undefined }),
        fc.constantFrom('master' as const, 'broker' as const),
        (version, id, authToken, role) => {
          const request =
            authToken === undefined
              ? { protocolVersion: version, clientId: id }
              : { protocolVersion: version, clientId: id, authToken };
          assert.deepEqual(decodeHelloRequest(encodeHelloRequest(request)), request);
          const response = { protocolVersion: version, serverId: id, role };
          assert.deepEqual(decodeHelloResponse(encodeHelloResponse(response)), response);
        },
      ),
    );
  });

  test('ignores unknown fields so later versions can add some', () => {
    // Goal: forward compatibility. Method: decode a request with an extra field.
    const body = Buffer.from('{"protocolVersion":2,"clientId":"c","features":["x"]}');
    assert.deepEqual(decodeHelloRequest(body), { protocolVersion: 2, clientId: 'c' });
  });

  test('rejects malformed bodies with a precise BAD_REQUEST', () => {
    // Goal: a bad HELLO says what is wrong. Method: one body per rule, matching the message.
    const request = (text: string) => () => decodeHelloRequest(Buffer.from(text));
    assertBadRequest(request('{"protocolVersion":1,'), /^HELLO request is not UTF-8 JSON: /);
    assertBadRequest(
      () => decodeHelloRequest(Buffer.from([0xff, 0xfe])),
      /^HELLO request is not UTF-8 JSON: /,
    );
    assertBadRequest(request('[]'), /^HELLO request is invalid: \(body\): /);
    assertBadRequest(request('{"clientId":"c"}'), /protocolVersion: /);
    assertBadRequest(request('{"protocolVersion":1.5,"clientId":"c"}'), /protocolVersion: /);
    assertBadRequest(request('{"protocolVersion":0,"clientId":"c"}'), /protocolVersion: /);
    assertBadRequest(request('{"protocolVersion":1,"clientId":""}'), /clientId: /);
    assertBadRequest(
      request(`{"protocolVersion":1,"clientId":"${'é'.repeat(128)}"}`),
      /clientId: must be at most 255 UTF-8 bytes/,
    );
    assertBadRequest(request('{"protocolVersion":1,"clientId":"c","authToken":5}'), /authToken: /);
    const response = (text: string) => () => decodeHelloResponse(Buffer.from(text));
    assertBadRequest(
      response('{"protocolVersion":1,"serverId":"s","role":"client"}'),
      /^HELLO response is invalid: role: /,
    );
    assertBadRequest(response('{"protocolVersion":1,"role":"master"}'), /serverId: /);
  });

  test('accepts a 255-byte clientId', () => {
    // Goal: the limit is inclusive and counted in UTF-8 bytes. Method: 'é' * 127 + 'a' is 255 bytes.
    const clientId = 'é'.repeat(127) + 'a';
    assert.equal(decodeHelloRequest(encodeHelloRequest({ protocolVersion: 1, clientId })).clientId, clientId);
  });
});
