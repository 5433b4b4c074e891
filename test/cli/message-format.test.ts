// How consume prints: value lines, Kafka prefixes, kcat formats, JSON envelopes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileFormat,
  jsonEnvelope,
  messageFormatter,
  type PrintableMessage,
} from '../../src/cli/message-format.js';

const message: PrintableMessage = {
  topic: 'orders',
  partition: 2,
  offset: 41,
  timestamp: 1700000000000,
  key: Buffer.from('k1'),
  value: Buffer.from('hello'),
  attributes: { region: 'eu', tier: 'gold' },
};
const none = {
  printKey: false,
  printPartition: false,
  printOffset: false,
  printTimestamp: false,
  json: false,
};

describe('message formats', () => {
  test('the value alone by default', () => {
    assert.equal(messageFormatter(none)(message), 'hello\n');
  });

  test("--print-* prefixes in Kafka's order, tab-separated", () => {
    const all = messageFormatter({
      ...none,
      printKey: true,
      printPartition: true,
      printOffset: true,
      printTimestamp: true,
    });
    assert.equal(all(message), 'Time:1700000000000\tPartition:2\tOffset:41\tk1\thello\n');
    const keyOnly = messageFormatter({ ...none, printKey: true });
    assert.equal(keyOnly({ ...message, key: undefined }), 'null\thello\n');
  });

  test('--format with kcat tokens and escapes', () => {
    const format = compileFormat('Topic %t [%p] at offset %o: key %k: %s (%S bytes) %T {%h} 100%%\\n');
    assert.equal(
      format(message),
      'Topic orders [2] at offset 41: key k1: hello (5 bytes) 1700000000000 {region=eu,tier=gold} 100%\n',
    );
    assert.equal(compileFormat('%s\\t%x')(message), 'hello\t%x');
  });

  test('--json: one envelope per line; non-UTF-8 as base64', () => {
    const line = messageFormatter({ ...none, json: true })(message);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(JSON.parse(line), {
      topic: 'orders',
      partition: 2,
      offset: 41,
      timestamp: 1700000000000,
      key: 'k1',
      value: 'hello',
      attributes: { region: 'eu', tier: 'gold' },
    });
    const binary = jsonEnvelope({ ...message, key: undefined, value: Buffer.from([0xff, 0xfe, 0x00]) });
    assert.equal(binary.key, null);
    assert.equal(binary.value, undefined);
    assert.equal(binary.valueBase64, '//4A');
  });
});
