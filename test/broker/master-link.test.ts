// The broker with a (fake) master over real sockets: registration applies the assignment to
// storage, a pushed assignment is applied and reported by an immediate heartbeat, the hosting check
// refuses partitions served elsewhere, NOT_REGISTERED leads to registering again, and data keeps
// flowing when the master goes away.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Broker } from '../../src/broker/index.js';
import type { Connection } from '../../src/protocol/index.js';
import {
  assignedTopic,
  connect,
  eventually,
  FakeMaster,
  fetch,
  produce,
  rejectsWith,
  removeTempDirs,
  startBroker,
  tempDir,
} from './helpers.js';

after(removeTempDirs);

describe('broker with a master', () => {
  // A long interval, so any heartbeat seen soon after a push can only be the immediate one.
  const heartbeatIntervalMs = 10_000;
  let master: FakeMaster;
  let broker: Broker;
  let client: Connection;
  const dataDir = tempDir();

  after(async () => {
    client?.close();
    await broker?.close();
    await master?.close();
  });

  // Goal: REGISTER_BROKER's assignment creates the topic locally and only hosted partitions are served.
  test('registration applies the assignment; hosted partitions are served', async () => {
    master = new FakeMaster({ version: 3, topics: [assignedTopic('alpha', 4, [0, 2])] }, heartbeatIntervalMs);
    await master.listen();
    broker = await startBroker(dataDir, {
      brokerId: 7,
      masters: [
        { host: '127.0.0.1', port: 1 }, // nothing listens there: the link must move on to the next
        { host: '127.0.0.1', port: master.port },
      ],
    });
    await broker.whenRegistered();
    assert.deepEqual(master.registrations, [{ brokerId: 7, host: '127.0.0.1', port: broker.port }]);
    client = await connect(broker.port);
    const answer = await produce(client, 'alpha', 2, [{ value: 'hello' }]);
    assert.deepEqual(answer, { baseOffset: 0, count: 1 });
    const got = await fetch(client, { topic: 'alpha', partition: 2, offset: 0 });
    assert.equal(got.messages[0]!.value.toString(), 'hello');
  });

  // Goal: a partition of an assigned topic that this broker does not host is UNAVAILABLE with the
  // contract's message; an unknown topic is NOT_FOUND.
  test('partition not hosted is UNAVAILABLE; unknown topic NOT_FOUND', async () => {
    const error = await rejectsWith(produce(client, 'alpha', 1, [{ value: 'x' }]), 'UNAVAILABLE');
    assert.equal(error.message, 'partition alpha/1 is not served by broker 7');
    const fetchError = await rejectsWith(
      fetch(client, { topic: 'alpha', partition: 3, offset: 0 }),
      'UNAVAILABLE',
    );
    assert.equal(fetchError.message, 'partition alpha/3 is not served by broker 7');
    const missing = await rejectsWith(produce(client, 'ghost', 0, [{ value: 'x' }]), 'NOT_FOUND');
    assert.equal(missing.message, 'topic "ghost" does not exist');
  });

  // Goal: a pushed BROKER_ASSIGNMENT (new topic, grown partitions, moved hosting) is applied and
  // reported by a heartbeat right away, long before the 10 s heartbeat interval.
  test('a pushed assignment is applied and followed by an immediate heartbeat', async () => {
    const seenBefore = master.heartbeats.length;
    const pushedAt = Date.now();
    master.push({
      version: 4,
      topics: [assignedTopic('alpha', 6, [1, 5]), assignedTopic('beta', 2, [0, 1])],
    });
    await eventually(
      () => master.heartbeats.slice(seenBefore).some((each) => each.appliedVersion === 4),
      3000,
      'a heartbeat reporting version 4',
    );
    const reported = master.heartbeats.slice(seenBefore).find((each) => each.appliedVersion === 4)!;
    assert.ok(
      reported.atMs - pushedAt < 2000,
      `heartbeat came ${reported.atMs - pushedAt} ms after the push`,
    );
    assert.equal(reported.brokerId, 7);
    // The new topic exists and its partitions are served; alpha grew and moved.
    assert.equal((await produce(client, 'beta', 1, [{ value: 'b' }])).baseOffset, 0);
    assert.equal((await produce(client, 'alpha', 5, [{ value: 'a5' }])).baseOffset, 0);
    const moved = await rejectsWith(produce(client, 'alpha', 2, [{ value: 'x' }]), 'UNAVAILABLE');
    assert.equal(moved.message, 'partition alpha/2 is not served by broker 7');
  });

  // Goal: a heartbeat answered NOT_REGISTERED makes the broker register again.
  test('NOT_REGISTERED leads to a new registration', async () => {
    const registrationsBefore = master.registrations.length;
    master.forgetBroker = 1;
    // A push triggers a heartbeat at once, which the master answers NOT_REGISTERED.
    master.push({ ...master.assignment, version: 5 });
    await eventually(() => master.registrations.length > registrationsBefore, 3000, 'a new REGISTER_BROKER');
    await eventually(
      () => master.heartbeats.some((each) => each.appliedVersion === 5),
      3000,
      'a heartbeat reporting version 5',
    );
  });

  // Goal: with the master gone, produce and fetch still work, and the broker re-registers when a
  // master comes back on the same address.
  test('keeps serving data when the master is gone, and comes back', async () => {
    const port = master.port;
    const registrationsBefore = master.registrations.length;
    await master.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answer = await produce(client, 'beta', 0, [{ value: 'still here' }]);
    const got = await fetch(client, { topic: 'beta', partition: 0, offset: answer.baseOffset });
    assert.equal(got.messages[0]!.value.toString(), 'still here');
    const revived = new FakeMaster(master.assignment, heartbeatIntervalMs);
    await revived.listen(port);
    master = revived;
    await eventually(() => revived.registrations.length > 0, 5000, 'registration with the new master');
    assert.ok(registrationsBefore > 0);
  });

  // Goal: after a restart with no master reachable, the broker serves its last applied assignment
  // (kept on disk) instead of refusing everything.
  test('a restarted broker serves its saved assignment while no master answers', async () => {
    client.close();
    await broker.close();
    await master.close();
    broker = await startBroker(dataDir, { brokerId: 7, masters: [{ host: '127.0.0.1', port: master.port }] });
    client = await connect(broker.port);
    const answer = await produce(client, 'beta', 1, [{ value: 'offline' }]);
    assert.equal(answer.count, 1);
    await rejectsWith(produce(client, 'alpha', 0, [{ value: 'x' }]), 'UNAVAILABLE');
  });
});
