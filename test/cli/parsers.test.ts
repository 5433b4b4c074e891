// Option-value parsers: good values parse, bad ones are commander usage errors naming the rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import {
  collectKeyValue,
  collectTopicScope,
  parseAcks,
  parseAddressList,
  parseBindPort,
  parseBrokerList,
  parseGroupName,
  parseOffset,
  parsePartitionOffsets,
  parsePositiveInt,
  parseSeparator,
  parseSignedInt,
  parseStreamIds,
  parseTime,
  parseTopicName,
} from '../../src/cli/parsers.js';

describe('parsers', () => {
  test('offsets: earliest, latest or a non-negative integer', () => {
    assert.equal(parseOffset('earliest'), 'earliest');
    assert.equal(parseOffset('latest'), 'latest');
    assert.equal(parseOffset('42'), 42);
    for (const bad of ['-5', 'end', '1.5', '', '99999999999999999999']) {
      assert.throws(() => parseOffset(bad), InvalidArgumentError, bad);
    }
  });

  test('P:N lists', () => {
    assert.deepEqual(
      [...parsePartitionOffsets('0:100, 2:7')],
      [
        [0, 100],
        [2, 7],
      ],
    );
    for (const bad of ['', '0', '0:', 'a:1', '0:1,0:2', '0:-1']) {
      assert.throws(() => parsePartitionOffsets(bad), InvalidArgumentError, bad);
    }
  });

  test('numbers, ports, broker lists, acks, separators', () => {
    assert.equal(parsePositiveInt('3'), 3);
    assert.throws(() => parsePositiveInt('0'), InvalidArgumentError);
    assert.throws(() => parsePositiveInt('x'), InvalidArgumentError);
    assert.equal(parseBindPort('0'), 0);
    assert.equal(parseBindPort('65535'), 65535);
    assert.throws(() => parseBindPort('65536'), InvalidArgumentError);
    assert.deepEqual(parseBrokerList('1,2'), [1, 2]);
    assert.throws(() => parseBrokerList('0'), InvalidArgumentError);
    assert.equal(parseAcks('fsync'), 'fsync');
    assert.throws(() => parseAcks('all'), InvalidArgumentError);
    assert.equal(parseSeparator('\\t'), '\t');
    assert.throws(() => parseSeparator(''), InvalidArgumentError);
    assert.deepEqual(collectKeyValue('a=1', { b: '2' }), { a: '1', b: '2' });
    assert.throws(() => collectKeyValue('=1'), InvalidArgumentError);
  });

  test('master lists and topic names', () => {
    assert.equal(parseAddressList('127.0.0.1:8715, h2:1'), '127.0.0.1:8715,h2:1');
    assert.equal(parseAddressList('[::1]:8715'), '[::1]:8715');
    for (const bad of ['', 'nonsense', 'h:0', 'h:70000', 'h:1,x']) {
      assert.throws(() => parseAddressList(bad), InvalidArgumentError, bad);
    }
    assert.equal(parseTopicName('orders.v1'), 'orders.v1');
    assert.throws(() => parseTopicName('bad/name'), InvalidArgumentError);
    assert.throws(() => parseTopicName('x'.repeat(65)), InvalidArgumentError);
  });

  test('times: epoch ms or ISO', () => {
    assert.equal(parseTime('1000'), 1000);
    assert.equal(parseTime('1970-01-01T00:00:01Z'), 1000);
    assert.throws(() => parseTime('yesterday'), InvalidArgumentError);
  });

  test('reset-offsets --topic: T or T:P,P, collected when repeated', () => {
    assert.deepEqual(collectTopicScope('orders'), [{ topic: 'orders' }]);
    assert.deepEqual(collectTopicScope('orders:2, 0,2', [{ topic: 'a' }]), [
      { topic: 'a' },
      { topic: 'orders', partitions: [0, 2] },
    ]);
    for (const bad of ['orders:', 'orders:x', 'orders:1,', 'orders:-1', 'orders:1024', 'bad/name', ':1']) {
      assert.throws(() => collectTopicScope(bad), InvalidArgumentError, bad);
    }
  });

  test('--shift-by: a signed whole number', () => {
    assert.equal(parseSignedInt('-5'), -5);
    assert.equal(parseSignedInt('+10'), 10);
    assert.equal(parseSignedInt('7'), 7);
    for (const bad of ['', '1.5', '--1', 'x', '99999999999999999999']) {
      assert.throws(() => parseSignedInt(bad), InvalidArgumentError, bad);
    }
  });

  test('--filter: comma-separated stream ids, repeats dropped, no empty ones', () => {
    assert.deepEqual(parseStreamIds('clicks, views,clicks'), ['clicks', 'views']);
    for (const bad of ['', 'a,,b', 'a,']) {
      assert.throws(() => parseStreamIds(bad), InvalidArgumentError, bad);
    }
  });

  test('group names: 1-255 bytes without control characters', () => {
    assert.equal(parseGroupName('billing-v2'), 'billing-v2');
    for (const bad of ['', 'x'.repeat(256), 'a\nb', '\u007f']) {
      assert.throws(() => parseGroupName(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});
