// Pure parts of the data commands: where consume starts, how produce splits keyed lines, topic --config.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startPlan } from '../../src/cli/commands/consume.js';
import { parseKeyedLine } from '../../src/cli/commands/produce.js';
import { topicConfig } from '../../src/cli/commands/topic.js';
import { UsageError } from '../../src/cli/exit.js';

describe('consume start plan', () => {
  test('a new throwaway group starts at latest; a named group resumes from its commit', () => {
    assert.deepEqual(startPlan('t', {}, undefined), { start: 'latest' });
    assert.deepEqual(startPlan('t', { group: 'g' }, undefined), { start: 'committed' });
  });

  test('--from-beginning is --offset earliest; --partition restricts', () => {
    assert.deepEqual(startPlan('t', { fromBeginning: true }, undefined), { start: 'earliest' });
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
