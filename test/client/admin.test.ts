// Goal: Admin against a real master and broker — topics are created once (ALREADY_EXISTS or
// created:false after), listed and described, unknown ones are NOT_FOUND; brokers and cluster status
// are reported; listOffsets and groupOffsets report ranges, commits and lag per partition; consumer
// groups are listed (with members, or with offsets only), described in Kafka's columns, reset
// (planned without changing anything, refused while members live unless forced) and deleted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Admin, Consumer, Producer } from '../../src/client/index.js';
import type { OffsetResetTarget } from '../../src/client/admin.js';
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
    { partition: 0, brokerId: 1, earliest: 0, latest: 0, gapOffsets: 0, gaps: [] },
    { partition: 1, brokerId: 1, earliest: 0, latest: 5, gapOffsets: 0, gaps: [] },
    { partition: 2, brokerId: 1, earliest: 0, latest: 0, gapOffsets: 0, gaps: [] },
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

describe('consumer group admin', () => {
  const topic = 'grouped';
  const fill = async (): Promise<void> => {
    await admin.createTopic(topic, { partitions: 2, ifNotExists: true });
    const producer = new Producer({ masters: cluster.masters });
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => producer.send(topic, `p0-${i}`, { partition: 0 })),
      ...Array.from({ length: 4 }, (_, i) => producer.send(topic, `p1-${i}`, { partition: 1 })),
    ]);
    await producer.close();
  };

  test('an unknown group: describe is NOT_FOUND naming it, list leaves it out', async () => {
    await assert.rejects(admin.describeGroup('nobody'), (error: TubeError) => {
      assert.equal(error.errorName, 'NOT_FOUND');
      assert.match(error.message, /nobody/);
      assert.ok(error.hint !== undefined);
      return true;
    });
    assert.ok(!(await admin.listGroups()).some((group) => group.group === 'nobody'));
  });

  test('planOffsetReset: each target, clamped into [earliest, latest], changing nothing', async () => {
    await fill();
    const plan = (to: OffsetResetTarget, partitions?: number[]) =>
      admin.planOffsetReset('g-plan', { topics: [partitions ? { topic, partitions } : { topic }], to });
    assert.deepEqual(await plan({ earliest: true }), [
      { topic, partition: 0, currentOffset: null, newOffset: 0 },
      { topic, partition: 1, currentOffset: null, newOffset: 0 },
    ]);
    assert.deepEqual(
      (await plan({ latest: true })).map((row) => row.newOffset),
      [10, 4],
    );
    assert.deepEqual(
      (await plan({ offset: 7 })).map((row) => row.newOffset),
      [7, 4],
    );
    assert.deepEqual(await plan({ offset: 2 }, [1]), [
      { topic, partition: 1, currentOffset: null, newOffset: 2 },
    ]);
    const atTime = Date.now() - 60_000;
    const expected = (await admin.listOffsets(topic, { timestampMs: atTime })).map(
      (row) => row.offsetAtTimestamp,
    );
    assert.deepEqual(
      (await plan({ timestampMs: atTime })).map((row) => row.newOffset),
      expected,
    );
    assert.deepEqual(
      (await plan({ timestampMs: Date.now() + 60_000 })).map((row) => row.newOffset),
      [10, 4],
    );
    await assert.rejects(plan({ shiftBy: 1 }), (error: TubeError) => {
      assert.equal(error.errorName, 'BAD_REQUEST');
      assert.match(error.message, /no committed offset/);
      return true;
    });
    await assert.rejects(plan({ earliest: true }, [5]), (error: TubeError) => {
      assert.equal(error.errorName, 'NOT_FOUND');
      assert.match(error.message, /topic grouped has 2 partitions \(0\.\.1\)/);
      return true;
    });
    await assert.rejects(
      admin.planOffsetReset('g-plan', { topics: [{ topic: 'missing' }], to: { earliest: true } }),
      (error: TubeError) => error.errorName === 'NOT_FOUND',
    );
    // Planning changed nothing: the group is still unknown.
    await assert.rejects(
      admin.describeGroup('g-plan'),
      (error: TubeError) => error.errorName === 'NOT_FOUND',
    );
  });

  test('reset with no members commits at once; an offsets-only group is listed and described as empty; delete removes it', async () => {
    await fill();
    await admin.resetGroupOffsets('g-reset', [
      { topic, partition: 0, offset: 3 },
      { topic, partition: 1, offset: 1 },
    ]);
    const listed = (await admin.listGroups()).find((group) => group.group === 'g-reset');
    assert.deepEqual(listed, { group: 'g-reset', state: 'empty', members: 0, topics: [topic] });
    const described = await admin.describeGroup('g-reset');
    assert.equal(described.state, 'empty');
    assert.deepEqual(described.members, []);
    const [p0, p1] = (await admin.listOffsets(topic)).map((row) => row.latest);
    assert.deepEqual(described.partitions, [
      { topic, partition: 0, currentOffset: 3, logEndOffset: p0, lag: p0! - 3, consumerId: null, host: null },
      { topic, partition: 1, currentOffset: 1, logEndOffset: p1, lag: p1! - 1, consumerId: null, host: null },
    ]);
    const shifted = await admin.planOffsetReset('g-reset', { topics: [{ topic }], to: { shiftBy: -2 } });
    assert.deepEqual(
      shifted.map((row) => [row.currentOffset, row.newOffset]),
      [
        [3, 1],
        [1, 0],
      ],
    );
    assert.equal(await admin.deleteGroup('g-reset'), 2);
    await assert.rejects(
      admin.describeGroup('g-reset'),
      (error: TubeError) => error.errorName === 'NOT_FOUND',
    );
    await assert.rejects(admin.deleteGroup('g-reset'), (error: TubeError) => error.errorName === 'NOT_FOUND');
  });

  test('a live member: described with its partitions; reset and delete refused unless forced', async () => {
    await fill();
    const consumer = new Consumer({
      masters: cluster.masters,
      group: 'g-live',
      topics: [topic],
      start: 'earliest',
    });
    try {
      await consumer.start();
      const deadline = Date.now() + 10_000;
      let described = await admin.describeGroup('g-live');
      while (described.state !== 'stable' || described.partitions.some((row) => row.consumerId === null)) {
        assert.ok(Date.now() < deadline, `group never became stable: ${JSON.stringify(described)}`);
        await new Promise((done) => setTimeout(done, 50));
        described = await admin.describeGroup('g-live');
      }
      assert.equal(described.members.length, 1);
      assert.deepEqual(
        described.subscriptions.map((each) => each.topic),
        [topic],
      );
      assert.deepEqual(
        described.partitions.map((row) => [row.partition, row.consumerId]),
        [
          [0, consumer.memberId],
          [1, consumer.memberId],
        ],
      );
      assert.match(described.partitions[0]!.host!, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(
        (await admin.listGroups()).find((group) => group.group === 'g-live'),
        { group: 'g-live', state: 'stable', members: 1, topics: [topic] },
      );
      const offsets = [{ topic, partition: 0, offset: 1 }];
      await assert.rejects(admin.resetGroupOffsets('g-live', offsets), (error: TubeError) => {
        assert.equal(error.errorName, 'GROUP_NOT_EMPTY');
        return true;
      });
      await assert.rejects(
        admin.deleteGroup('g-live'),
        (error: TubeError) => error.errorName === 'GROUP_NOT_EMPTY',
      );
      await admin.resetGroupOffsets('g-live', offsets, { force: true });
    } finally {
      await consumer.close();
    }
    assert.equal((await admin.describeGroup('g-live')).state, 'empty');
  });
});

test('the admin keeps working across a master restart on the same port', async () => {
  await admin.listTopics();
  await cluster.restartMaster();
  const names = (await admin.listTopics()).map((topic) => topic.name);
  assert.ok(names.includes('orders'), 'the restarted master kept its topics and answered');
});
