// Error → exit code and the `error:`/`hint:` lines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exitCodeFor, formatError, isUnreachable, UsageError } from '../../src/cli/exit.js';
import { TubeError } from '../../src/common/errors.js';

describe('exit codes', () => {
  test('refusals exit 1, usage 2, nothing answering 3', () => {
    assert.equal(exitCodeFor(new TubeError('NOT_FOUND', 'topic "x" does not exist')), 1);
    assert.equal(exitCodeFor(new TubeError('ALREADY_EXISTS')), 1);
    assert.equal(exitCodeFor(new TubeError('MESSAGE_TOO_LARGE')), 1);
    // A server answering UNAVAILABLE ("no broker is online") did answer: 1.
    assert.equal(exitCodeFor(new TubeError('UNAVAILABLE', 'no broker is online')), 1);
    assert.equal(exitCodeFor(new Error('boom')), 1);
    assert.equal(exitCodeFor(new UsageError('bad')), 2);
    const refused = new TubeError('UNAVAILABLE', 'cannot reach 127.0.0.1:1: ECONNREFUSED', {
      details: { address: '127.0.0.1:1', unreachable: true },
    });
    assert.equal(exitCodeFor(refused), 3);
    assert.equal(exitCodeFor(new TubeError('UNAVAILABLE', 'timed out', { details: { timeoutMs: 5 } })), 3);
    // Wrapped by a caller: the cause still tells.
    assert.equal(exitCodeFor(new TubeError('UNAVAILABLE', 'no master answered', { cause: refused })), 3);
    assert.equal(isUnreachable(new Error('x', { cause: refused })), true);
  });

  test('error and hint lines', () => {
    const text = formatError(
      new TubeError('NOT_FOUND', 'topic "x" does not exist', {
        hint: 'create it with `tubemq topic create x`',
      }),
    );
    assert.equal(text, 'error: topic "x" does not exist\nhint: create it with `tubemq topic create x`\n');
    assert.equal(formatError(new Error('plain')), 'error: plain\n');
  });

  test('hints made from details: the address tried, the valid offset range', () => {
    const unreachable = new TubeError('UNAVAILABLE', 'cannot reach h:1', {
      details: { address: 'h:1', unreachable: true },
    });
    assert.match(formatError(unreachable), /^hint: .*h:1/m);
    const range = new TubeError('OFFSET_OUT_OF_RANGE', 'offset 9 is outside the stored range', {
      details: { topic: 't', partition: 0, earliest: 3, latest: 5 },
    });
    assert.match(formatError(range), /^hint: valid offsets of t\/0 are 3 to 5/m);
  });

  test('--debug adds the code, details and stack', () => {
    const text = formatError(new TubeError('MESSAGE_TOO_LARGE', 'too big', { details: { bytes: 9 } }), true);
    assert.match(text, /^code: 413 MESSAGE_TOO_LARGE$/m);
    assert.match(text, /^details: \{"bytes":9\}$/m);
    assert.match(text, /at /);
  });
});
