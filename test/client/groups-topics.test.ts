// Goal: groups over several topics, and several groups on one topic, each with its own offsets —
// one of them filtered by stream id, the others not. Method: a real master and broker; a group of
// two members reads two topics (3 + 2 partitions), a second group reads one of them whole and a
// third reads it filtered to one stream; each must get exactly its messages (checked by content),
// and after close() each group's committed offsets must cover what it read, independently.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, Producer, type ConsumedMessage } from '../../src/client/index.js';
import { closeClusterClients, startClusterClients, type ClusterFixture, until } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;
let producer: Producer;

before(async () => {
  ({ cluster, admin, producer } = await startClusterClients(
    { master: { groupHeartbeatIntervalMs: 200 } },
    { lingerMs: 1 },
  ));
});
after(() => closeClusterClients({ cluster, admin, producer }));

function consume(consumer: Consumer, into: string[]): Promise<void> {
  const running = consumer.run((message: ConsumedMessage) => {
    into.push(`${message.topic}|${message.value.toString()}`);
  });
  running.catch(() => undefined);
  return running;
}

test('a group reads two topics split over its members; other groups, one filtered, read one of them with their own offsets', async () => {
  await admin.createTopic('multi-a', { partitions: 3 });
  await admin.createTopic('multi-b', { partitions: 2 });
  const perTopic = 300;
  const expectedA: string[] = [];
  const expectedB: string[] = [];
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < perTopic; i++) {
    const streamId = `s${i % 3}`;
    sends.push(producer.send('multi-a', `a-${i}`, { streamId }));
    sends.push(producer.send('multi-b', `b-${i}`, { streamId }));
    expectedA.push(`multi-a|a-${i}`);
    expectedB.push(`multi-b|b-${i}`);
  }
  await Promise.all(sends);

  const both = { group: 'multi-both', topics: ['multi-a', 'multi-b'], start: 'earliest' as const };
  const first = new Consumer({ masters: cluster.masters, ...both });
  const second = new Consumer({ masters: cluster.masters, ...both });
  const whole = new Consumer({
    masters: cluster.masters,
    group: 'multi-whole',
    topics: ['multi-a'],
    start: 'earliest',
  });
  const filtered = new Consumer({
    masters: cluster.masters,
    group: 'multi-filtered',
    topics: ['multi-a'],
    filters: { 'multi-a': ['s1'] },
    start: 'earliest',
  });
  const byFirst: string[] = [];
  const bySecond: string[] = [];
  const byWhole: string[] = [];
  const byFiltered: string[] = [];
  const running = [
    consume(first, byFirst),
    consume(second, bySecond),
    consume(whole, byWhole),
    consume(filtered, byFiltered),
  ];
  await Promise.all([first.start(), second.start(), whole.start(), filtered.start()]);

  const expectedFiltered = expectedA.filter((_, i) => i % 3 === 1);
  await until(
    'every group to read its messages',
    () =>
      byFirst.length + bySecond.length >= 2 * perTopic &&
      byWhole.length >= perTopic &&
      byFiltered.length >= expectedFiltered.length,
  );
  // Settle: nothing more (no duplicates) should arrive.
  await sleep(300);

  // The two-topic group: its 5 partitions split 3/2 (or 2/3), every message once.
  const owned = [first.assignment().length, second.assignment().length].sort();
  assert.deepEqual(owned, [2, 3]);
  assert.deepEqual([...byFirst, ...bySecond].sort(), [...expectedA, ...expectedB].sort());
  assert.ok(byFirst.length > 0 && bySecond.length > 0, 'both members read');
  // The whole-topic group and the filtered group on the same topic, independently.
  assert.deepEqual([...byWhole].sort(), [...expectedA].sort());
  assert.deepEqual([...byFiltered].sort(), [...expectedFiltered].sort());

  await Promise.all([first.close(), second.close(), whole.close(), filtered.close()]);
  await Promise.all(running);

  // Each group's commits cover what it read: the two-topic group both topics to their ends, the
  // filtered group past the messages it skipped too.
  for (const [group, topics] of [
    ['multi-both', ['multi-a', 'multi-b']],
    ['multi-whole', ['multi-a']],
    ['multi-filtered', ['multi-a']],
  ] as const) {
    for (const topic of topics) {
      for (const { partition, committed, latest } of await admin.groupOffsets(group, topic)) {
        assert.equal(committed, latest, `${group} ${topic}/${partition}`);
      }
    }
  }
  const groups = (await admin.listGroups()).map(({ group }) => group);
  for (const group of ['multi-both', 'multi-whole', 'multi-filtered'])
    assert.ok(groups.includes(group), group);
});
