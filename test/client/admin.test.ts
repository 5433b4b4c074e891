// Goal: Admin against a real master and broker — topics are created once (ALREADY_EXISTS or
// created:false after), listed and described, unknown ones are NOT_FOUND; brokers and cluster status
// are reported; listOffsets and groupOffsets report ranges, commits and lag per partition.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Admin, Consumer, Producer } from '../../src/client/index.js';
import type { TubeError } from '../../src/common/index.js';
import { ClusterFixture } from './cluster-fixture.js';

let cluster: ClusterFixture;
let admin: Admin;

before(async () => {
  cluster = await ClusterFixture.start();
  admin = new Admin({ masters: cluster.masters });
});
after(async () => {
  await admin.close();
  await cluster.close();
});

test('createTopic creates once; ifNotExists answers created:false; otherwise ALREADY_EXISTS', async () => {
  const first = await admin.createTopic('orders', { partitions: 3 });
  assert.equal(first.created, true);
  assert.equal(first.topic.name, 'orders');
  assert.equal(first.topic.partitions, 3);
  assert.deepEqual(first.topic.placement, [1, 1, 1]);
  const again = await admin.createTopic('orders', { partitions: 5, ifNotExists: true });
  assert.equal(again.created, false);
  assert.equal(again.topic.partitions, 3);
  await assert.rejects(admin.createTopic('orders', { partitions: 3 }), (error: TubeError) => {
    assert.equal(error.errorName, 'ALREADY_EXISTS');
    assert.match(error.message, /orders/);
    return true;
  });
});

test('listTopics and describeTopic see the topic; an unknown one is NOT_FOUND', async () => {
  await admin.createTopic('listed', { partitions: 2, ifNotExists: true });
  const names = (await admin.listTopics()).map((topic) => topic.name);
  assert.ok(names.includes('listed'), names.join(','));
  const described = await admin.describeTopic('listed');
  assert.equal(described.partitions, 2);
  await assert.rejects(admin.describeTopic('missing'), (error: TubeError) => {
    assert.equal(error.errorName, 'NOT_FOUND');
    assert.match(error.message, /missing/);
    return true;
  });
  await assert.rejects(admin.listOffsets('missing'), (error: TubeError) => error.errorName === 'NOT_FOUND');
});

test('listBrokers and clusterStatus report the online broker', async () => {
  const brokers = await admin.listBrokers();
  assert.equal(brokers.length, 1);
  assert.equal(brokers[0]!.brokerId, 1);
  assert.equal(brokers[0]!.state, 'online');
  assert.equal(brokers[0]!.port, cluster.brokerPort);
  const status = await admin.clusterStatus();
  assert.equal(status.master.port, cluster.master.port);
  assert.ok(status.topicCount >= 1);
  assert.equal(status.brokers.length, 1);
});

test('listOffsets gives each partition its range, sorted; offsetAtTimestamp when asked', async () => {
  await admin.createTopic('ranges', { partitions: 3 });
  const producer = new Producer({ masters: cluster.masters });
  const beforeMs = Date.now();
  await Promise.all(Array.from({ length: 5 }, (_, i) => producer.send('ranges', `m${i}`, { partition: 1 })));
  await producer.close();
  const offsets = await admin.listOffsets('ranges');
  assert.deepEqual(offsets, [
    { partition: 0, brokerId: 1, earliest: 0, latest: 0 },
    { partition: 1, brokerId: 1, earliest: 0, latest: 5 },
    { partition: 2, brokerId: 1, earliest: 0, latest: 0 },
  ]);
  const atTime = await admin.listOffsets('ranges', { timestampMs: beforeMs - 1000 });
  assert.equal(atTime[1]!.offsetAtTimestamp, 0);
  const future = await admin.listOffsets('ranges', { timestampMs: Date.now() + 60_000 });
  assert.equal(future[1]!.offsetAtTimestamp, 5);
});

test('groupOffsets: null and full lag before a commit, the commit and remaining lag after', async () => {
  await admin.createTopic('lagging', { partitions: 2 });
  const producer = new Producer({ masters: cluster.masters });
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => producer.send('lagging', `m${i}`, { partition: 0 })),
  );
  await producer.close();
  assert.deepEqual(await admin.groupOffsets('g-lag', 'lagging'), [
    { partition: 0, committed: null, earliest: 0, latest: 10, lag: 10 },
    { partition: 1, committed: null, earliest: 0, latest: 0, lag: 0 },
  ]);
  const consumer = new Consumer({
    masters: cluster.masters,
    group: 'g-lag',
    topics: ['lagging'],
    start: 'earliest',
    autoCommit: false,
  });
  let got = 0;
  while (got < 4) got += (await consumer.poll({ maxMessages: 4 - got, timeoutMs: 5000 })).length;
  await consumer.commit();
  await consumer.close();
  assert.deepEqual(await admin.groupOffsets('g-lag', 'lagging'), [
    { partition: 0, committed: 4, earliest: 0, latest: 10, lag: 6 },
    { partition: 1, committed: 0, earliest: 0, latest: 0, lag: 0 },
  ]);
});

test('the admin keeps working across a master restart on the same port', async () => {
  await admin.listTopics();
  await cluster.restartMaster();
  const names = (await admin.listTopics()).map((topic) => topic.name);
  assert.ok(names.includes('orders'), 'the restarted master kept its topics and answered');
});
