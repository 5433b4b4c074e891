// Pure parts of the data commands: where consume starts, how produce splits keyed lines, topic --config.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkFilter, checkStartFlags, startPlan } from '../../src/cli/commands/consume.js';
import { resetTarget } from '../../src/cli/commands/group.js';
import { parseKeyedLine } from '../../src/cli/commands/produce.js';
import { topicConfig } from '../../src/cli/commands/topic.js';
import { UsageError } from '../../src/cli/exit.js';

describe('consume start plan', () => {
  test('a throwaway group reads every partition from latest; a named group is a balanced member', () => {
    assert.deepEqual(startPlan('t', {}, 2), { start: 'latest', partitions: [0, 1] });
    assert.deepEqual(startPlan('t', { group: 'g' }, undefined), { start: 'committed' });
    assert.deepEqual(startPlan('t', { group: 'g', offset: 'earliest' }, undefined), { start: 'earliest' });
  });

  test('--from-beginning is --offset earliest; --partition restricts', () => {
    assert.deepEqual(startPlan('t', { fromBeginning: true }, 1), { start: 'earliest', partitions: [0] });
    assert.deepEqual(startPlan('t', { offset: 'latest', partition: 1 }, 3), {
      start: 'latest',
      partitions: [1],
    });
  });

  test('--offset N needs --partition unless the topic has one partition', () => {
    assert.deepEqual(startPlan('t', { offset: 5, partition: 2 }, 3), {
      start: { t: { 2: 5 } },
      partitions: [2],
    });
    assert.deepEqual(startPlan('t', { offset: 5 }, 1), { start: { t: { 0: 5 } }, partitions: [0] });
    assert.throws(
      () => startPlan('t', { offset: 5 }, 3),
      (error: unknown) => {
        return (
          error instanceof UsageError && /needs --partition P: topic t has 3 partitions/.test(error.message)
        );
      },
    );
  });

  test('--offsets P:N binds partitions and offsets; a partition beyond the topic is a usage error', () => {
    const plan = startPlan(
      't',
      {
        offsets: new Map([
          [2, 9],
          [0, 1],
        ]),
      },
      3,
    );
    assert.deepEqual(plan, { start: { t: { 0: 1, 2: 9 } }, partitions: [0, 2] });
    assert.throws(() => startPlan('t', { offsets: new Map([[3, 0]]) }, 3), /partition 3 does not exist/);
    assert.throws(() => startPlan('t', { partition: 7 }, 3), /topic t has 3 partitions \(0-2\)/);
  });

  test('--to-datetime starts every (or the named) partition at a time, assigned on the client', () => {
    assert.deepEqual(startPlan('t', { group: 'g', toDatetime: 1000 }, 2), {
      start: { timestampMs: 1000 },
      partitions: [0, 1],
    });
    assert.deepEqual(startPlan('t', { toDatetime: 1000, partition: 1 }, 2), {
      start: { timestampMs: 1000 },
      partitions: [1],
    });
  });

  test('--session-key with --offsets and --group: a balanced member with a bound start', () => {
    const offsets = new Map([
      [1, 50],
      [0, 7],
    ]);
    assert.deepEqual(startPlan('t', { group: 'g', offsets, sessionKey: 'k1' }, 2), {
      start: 'committed',
      bound: { sessionKey: 'k1', offsets: { t: { 0: 7, 1: 50 } } },
    });
    for (const flags of [
      { group: 'g', sessionKey: 'k' },
      { offsets, sessionKey: 'k' },
    ]) {
      assert.throws(
        () => checkStartFlags(flags),
        (error: unknown) =>
          error instanceof UsageError && /--session-key needs --group and --offsets/.test(error.message),
      );
    }
    assert.throws(
      () => startPlan('t', { group: 'g', offsets: new Map([[5, 0]]), sessionKey: 'k' }, 2),
      UsageError,
    );
  });
});

describe('consume --filter limits', () => {
  test('500 ids of 256 bytes pass; one more id, or one more byte, is a usage error naming the limit', () => {
    checkFilter(Array.from({ length: 500 }, (_, i) => `${i}`.padEnd(256, 'x')));
    assert.throws(
      () => checkFilter(Array.from({ length: 501 }, (_, i) => `s${i}`)),
      (error: unknown) =>
        error instanceof UsageError && /501 stream ids: at most 500 per topic/.test(error.message),
    );
    assert.throws(
      () => checkFilter(['é'.repeat(129)]),
      (error: unknown) =>
        error instanceof UsageError && /is 258 bytes: at most 256 bytes each/.test(error.message),
    );
  });
});

describe('group reset-offsets target', () => {
  test('exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by', () => {
    assert.deepEqual(resetTarget({ toEarliest: true }), { earliest: true });
    assert.deepEqual(resetTarget({ toLatest: true }), { latest: true });
    assert.deepEqual(resetTarget({ toOffset: 0 }), { offset: 0 });
    assert.deepEqual(resetTarget({ toDatetime: 1000 }), { timestampMs: 1000 });
    assert.deepEqual(resetTarget({ shiftBy: -3 }), { shiftBy: -3 });
    assert.throws(() => resetTarget({}), UsageError);
    assert.throws(() => resetTarget({ toEarliest: true, shiftBy: 1 }), UsageError);
  });
});

describe('produce --parse-key', () => {
  test('splits at the first separator', () => {
    assert.deepEqual(parseKeyedLine('k:v:w', ':', 'line 1'), { key: 'k', value: 'v:w' });
    assert.deepEqual(parseKeyedLine('k\tv', '\t', 'line 1'), { key: 'k', value: 'v' });
    assert.deepEqual(parseKeyedLine(':v', ':', 'line 1'), { key: '', value: 'v' });
  });

  test('a line without the separator is rejected with its line number (exit 2)', () => {
    assert.throws(
      () => parseKeyedLine('novalue', ':', 'line 7'),
      (error: unknown) =>
        error instanceof UsageError && /^line 7 has no key separator ":"/.test(error.message),
    );
  });
});

describe('topic create --config', () => {
  test('known settings', () => {
    assert.deepEqual(
      topicConfig({ 'retention.ms': '60000', 'retention.bytes': '-1', 'ack.floor': 'fsync' }),
      {
        retentionMs: 60000,
        retentionBytes: -1,
        ackFloor: 'fsync',
      },
    );
    assert.deepEqual(topicConfig(undefined), {});
  });

  test('unknown keys and bad values are usage errors', () => {
    assert.throws(() => topicConfig({ 'cleanup.policy': 'compact' }), UsageError);
    assert.throws(() => topicConfig({ 'retention.ms': 'soon' }), UsageError);
    assert.throws(() => topicConfig({ 'ack.floor': 'all' }), UsageError);
  });
});
