// Goal: keys route like Kafka's default partitioner (murmur2 test vectors from Kafka's UtilsTest),
// every key always lands on one partition, and unkeyed messages spread evenly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioner, murmur2, partitionForKey } from '../../src/client/partitioner.js';

test('murmur2 matches Kafka on its published vectors', () => {
  const vectors: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [text, expected] of vectors) assert.equal(murmur2(Buffer.from(text)), expected, text);
});

test('a key maps to one partition in range, whatever the partition count', () => {
  for (let partitions = 1; partitions <= 17; partitions++) {
    for (let i = 0; i < 200; i++) {
      const key = Buffer.from(`key-${i}`);
      const partition = partitionForKey(key, partitions);
      assert.ok(partition >= 0 && partition < partitions);
      assert.equal(partitionForKey(Buffer.from(`key-${i}`), partitions), partition);
    }
  }
});

test('unkeyed messages rotate over every partition evenly, per topic', () => {
  const partitioner = new Partitioner();
  const counts = new Array<number>(5).fill(0);
  for (let i = 0; i < 500; i++) counts[partitioner.choose('t', 5, undefined)]!++;
  assert.deepEqual(counts, [100, 100, 100, 100, 100]);
  const keyed = partitioner.choose('t', 5, Buffer.from('k'));
  assert.equal(keyed, partitionForKey(Buffer.from('k'), 5));
});
