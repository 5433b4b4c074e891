// Partition leases and group offsets on a real broker over real sockets: CLAIM/RELEASE_PARTITIONS,
// leases ending with their connection or after the lease time, owner-checked FETCH (410/411, a
// parked fetch answering when its lease goes), COMMIT_OFFSETS' lease rules and `force`,
// LIST/DELETE_GROUP_OFFSETS (durable across a restart), and bad input leaving the broker serving.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Broker } from '../../src/broker/index.js';
import {
  callJson,
  claimPartitionsMessage,
  commitOffsetsMessage,
  deleteGroupOffsetsMessage,
  fetchOffsetsMessage,
  listGroupOffsetsMessage,
  opcodes,
  releasePartitionsMessage,
  type ClaimPartitionsResponse,
  type CommitOffsetsRequest,
  type Connection,
  type TopicPartition,
} from '../../src/protocol/index.js';
import {
  assignedTopic,
  connect,
  dataDirWithTopics,
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

const group = 'g1';

function claim(
  connection: Connection,
  memberId: string,
  partitions: TopicPartition[],
  inGroup = group,
): Promise<ClaimPartitionsResponse> {
  return callJson(connection, claimPartitionsMessage, { group: inGroup, memberId, partitions });
}

function release(connection: Connection, memberId: string, partitions: TopicPartition[]): Promise<unknown> {
  return callJson(connection, releasePartitionsMessage, { group, memberId, partitions });
}

function commit(connection: Connection, request: Omit<CommitOffsetsRequest, 'group'>): Promise<unknown> {
  return callJson(connection, commitOffsetsMessage, { group, ...request });
}

async function committed(connection: Connection, topic: string, partition: number): Promise<number | null> {
  const answer = await callJson(connection, fetchOffsetsMessage, {
    group,
    partitions: [{ topic, partition }],
  });
  return answer.offsets[0]!.offset;
}

const p = (partition: number, topic = 'orders'): TopicPartition => ({ topic, partition });

describe('partition leases (standalone broker)', () => {
  let broker: Broker;
  let dataDir: string;
  const connections: Connection[] = [];
  const open = async (): Promise<Connection> => {
    const connection = await connect(broker.port);
    connections.push(connection);
    return connection;
  };

  test('setup', async () => {
    dataDir = await dataDirWithTopics({ orders: { partitions: 4 }, events: { partitions: 1 } });
    broker = await startBroker(dataDir);
  });

  after(async () => {
    for (const connection of connections) connection.close();
    await broker?.close();
  });

  // Goal: a free partition is granted; another member is refused with the holder named; the same
  // member claiming again on another connection is granted and the lease moves there (closing the
  // first connection no longer ends it). Answers keep the request's order.
  test('claim grants, refuses another member with the holder, and moves with the same member', async () => {
    const a1 = await open();
    const a2 = await open();
    const b = await open();
    assert.deepEqual(await claim(a1, 'member-a', [p(0), p(1)]), {
      claims: [
        { topic: 'orders', partition: 0, granted: true },
        { topic: 'orders', partition: 1, granted: true },
      ],
    });
    assert.deepEqual(await claim(b, 'member-b', [p(2), p(0)]), {
      claims: [
        { topic: 'orders', partition: 2, granted: true },
        { topic: 'orders', partition: 0, granted: false, holder: 'member-a' },
      ],
    });
    // Leases are per group: another group's member takes partition 0 freely.
    assert.equal((await claim(b, 'member-b', [p(0)], 'other-group')).claims[0]!.granted, true);
    assert.equal((await claim(a2, 'member-a', [p(0)])).claims[0]!.granted, true);
    a1.close();
    // a1's close ended partition 1 (still claimed there) but not partition 0 (moved to a2).
    let answer: ClaimPartitionsResponse | undefined;
    const deadline = Date.now() + 5000;
    do {
      answer = await claim(b, 'member-b', [p(1)]);
    } while (!answer.claims[0]!.granted && Date.now() < deadline);
    assert.equal(answer.claims[0]!.granted, true, 'partition 1 freed by closing its connection');
    assert.deepEqual((await claim(b, 'member-b', [p(0)])).claims[0], {
      topic: 'orders',
      partition: 0,
      granted: false,
      holder: 'member-a',
    });
    for (const connection of [a2, b]) connection.close();
  });

  // Goal: RELEASE frees only the caller's leases: another member's release of them changes nothing,
  // the holder's release lets the next member claim at once.
  test('release frees the holder lease only', async () => {
    const a = await open();
    const b = await open();
    assert.equal((await claim(a, 'rel-a', [p(0, 'events')])).claims[0]!.granted, true);
    await release(b, 'rel-b', [p(0, 'events')]);
    assert.equal((await claim(b, 'rel-b', [p(0, 'events')])).claims[0]!.holder, 'rel-a');
    await release(a, 'rel-a', [p(0, 'events')]);
    assert.equal((await claim(b, 'rel-b', [p(0, 'events')])).claims[0]!.granted, true);
    await release(b, 'rel-b', [p(0, 'events')]);
  });

  // Goal: every lease of a connection ends when it closes (a killed consumer frees its partitions).
  test('closing the connection frees all its leases', async () => {
    const a = await open();
    const b = await open();
    assert.ok((await claim(a, 'close-a', [p(0), p(1)], 'g-close')).claims.every((each) => each.granted));
    assert.equal((await claim(b, 'close-b', [p(0)], 'g-close')).claims[0]!.granted, false);
    a.close();
    const deadline = Date.now() + 5000;
    let answer: ClaimPartitionsResponse;
    do {
      answer = await claim(b, 'close-b', [p(0), p(1)], 'g-close');
    } while (!answer.claims.every((each) => each.granted) && Date.now() < deadline);
    assert.ok(
      answer.claims.every((each) => each.granted),
      'both partitions free after close',
    );
  });

  // Goal: a fetch naming an owner is checked: nobody holds the lease -> NOT_REGISTERED with the
  // claim hint; another member holds it -> PARTITION_OWNED_BY_OTHER naming the holder; the holder
  // is served. A fetch without an owner is never checked.
  test('fetch with an owner: 411, 410 with the holder, served for the holder; anonymous unchecked', async () => {
    const a = await open();
    const b = await open();
    await produce(a, 'orders', 3, [{ value: 'one' }, { value: 'two' }]);
    const owner = (memberId: string) => ({ group: 'g-fetch', memberId });
    const notYet = await rejectsWith(
      fetch(a, { topic: 'orders', partition: 3, offset: 0, owner: owner('fetch-a') }),
      'NOT_REGISTERED',
    );
    assert.equal(notYet.hint, 'claim the partition first (CLAIM_PARTITIONS)');
    assert.equal((await claim(a, 'fetch-a', [p(3)], 'g-fetch')).claims[0]!.granted, true);
    const got = await fetch(a, { topic: 'orders', partition: 3, offset: 0, owner: owner('fetch-a') });
    assert.deepEqual(
      got.messages.map((m) => m.value.toString()),
      ['one', 'two'],
    );
    const other = await rejectsWith(
      fetch(b, { topic: 'orders', partition: 3, offset: 0, owner: owner('fetch-b') }),
      'PARTITION_OWNED_BY_OTHER',
    );
    assert.equal(other.details['holder'], 'fetch-a');
    assert.match(other.message, /fetch-a/);
    assert.ok(other.hint !== undefined && other.hint.length > 0);
    const anonymous = await fetch(b, { topic: 'orders', partition: 3, offset: 0 });
    assert.equal(anonymous.messages.length, 2);
    await release(a, 'fetch-a', [p(3)]);
  });

  // Goal: a long-poll parked as the lease holder answers (empty) as soon as the lease is released,
  // rather than holding the partition for its whole maxWaitMs; the next member then reads.
  test('a parked owner fetch answers when its lease is released', async () => {
    const a = await open();
    const b = await open();
    assert.equal((await claim(a, 'park-a', [p(2)], 'g-park')).claims[0]!.granted, true);
    const start = (await fetch(a, { topic: 'orders', partition: 2, offset: 0 })).latestOffset;
    const began = Date.now();
    const parked = fetch(a, {
      topic: 'orders',
      partition: 2,
      offset: start,
      maxWaitMs: 60_000,
      owner: { group: 'g-park', memberId: 'park-a' },
    });
    // The release comes from another connection of the same member, so the parked one is untouched.
    await callJson(b, releasePartitionsMessage, { group: 'g-park', memberId: 'park-a', partitions: [p(2)] });
    const answer = await parked;
    assert.equal(answer.messages.length, 0);
    assert.equal(answer.nextOffset, start);
    assert.ok(Date.now() - began < 30_000, 'answered long before maxWaitMs');
    assert.equal((await claim(b, 'park-b', [p(2)], 'g-park')).claims[0]!.granted, true);
  });

  // Goal: COMMIT_OFFSETS obeys the lease rules: another member's lease -> 410 (with or without a
  // memberId), a memberId without a lease -> 411, no memberId and no lease -> accepted (offline),
  // force -> accepted whatever the leases; a refused commit stores nothing.
  test('commit rules: 410, 411, offline accepted, force', async () => {
    const a = await open();
    const b = await open();
    await produce(a, 'orders', 1, [{ value: 'x' }, { value: 'y' }, { value: 'z' }]);
    await commit(b, { offsets: [{ topic: 'orders', partition: 1, offset: 1 }] });
    assert.equal(await committed(b, 'orders', 1), 1, 'offline commit accepted');
    assert.equal((await claim(a, 'commit-a', [p(1)])).claims[0]!.granted, true);
    const byOther = await rejectsWith(
      commit(b, { memberId: 'commit-b', offsets: [{ topic: 'orders', partition: 1, offset: 2 }] }),
      'PARTITION_OWNED_BY_OTHER',
    );
    assert.equal(byOther.details['holder'], 'commit-a');
    const anonymous = await rejectsWith(
      commit(b, { offsets: [{ topic: 'orders', partition: 1, offset: 2 }] }),
      'PARTITION_OWNED_BY_OTHER',
    );
    assert.equal(anonymous.details['holder'], 'commit-a');
    const unclaimed = await rejectsWith(
      commit(a, {
        memberId: 'commit-a',
        offsets: [
          { topic: 'orders', partition: 1, offset: 2 },
          { topic: 'orders', partition: 0, offset: 0 },
        ],
      }),
      'NOT_REGISTERED',
    );
    assert.equal(unclaimed.hint, 'claim the partition first (CLAIM_PARTITIONS)');
    assert.equal(await committed(b, 'orders', 1), 1, 'a refused commit stores nothing');
    await commit(a, { memberId: 'commit-a', offsets: [{ topic: 'orders', partition: 1, offset: 2 }] });
    assert.equal(await committed(b, 'orders', 1), 2);
    await commit(b, { force: true, offsets: [{ topic: 'orders', partition: 1, offset: 3 }] });
    assert.equal(await committed(b, 'orders', 1), 3, 'force skips the lease checks');
    await release(a, 'commit-a', [p(1)]);
  });

  // Goal: LIST_GROUP_OFFSETS lists one group or all, sorted; DELETE_GROUP_OFFSETS removes one
  // group's offsets only, answers the count, and is durable across a broker restart.
  test('list and delete group offsets, durable across a restart', async () => {
    let a = await open();
    await produce(a, 'events', 0, [{ value: 'e1' }, { value: 'e2' }]);
    await callJson(a, commitOffsetsMessage, {
      group: 'g-list-b',
      offsets: [
        { topic: 'orders', partition: 0, offset: 0 },
        { topic: 'events', partition: 0, offset: 2 },
      ],
    });
    await callJson(a, commitOffsetsMessage, {
      group: 'g-list-a',
      offsets: [{ topic: 'events', partition: 0, offset: 1 }],
    });
    const one = await callJson(a, listGroupOffsetsMessage, { group: 'g-list-b' });
    assert.deepEqual(one.offsets, [
      { group: 'g-list-b', topic: 'events', partition: 0, offset: 2 },
      { group: 'g-list-b', topic: 'orders', partition: 0, offset: 0 },
    ]);
    const all = await callJson(a, listGroupOffsetsMessage, {});
    const listed = all.offsets.filter((each) => each.group.startsWith('g-list-'));
    assert.deepEqual(
      listed.map((each) => each.group),
      ['g-list-a', 'g-list-b', 'g-list-b'],
    );
    const groups = all.offsets.map((each) => each.group);
    assert.deepEqual(groups, [...groups].sort(), 'sorted by group');
    assert.deepEqual(await callJson(a, deleteGroupOffsetsMessage, { group: 'g-list-b' }), { deleted: 2 });
    assert.deepEqual(await callJson(a, deleteGroupOffsetsMessage, { group: 'g-list-b' }), { deleted: 0 });
    assert.deepEqual(await callJson(a, deleteGroupOffsetsMessage, { group: 'never-was' }), { deleted: 0 });
    a.close();
    await broker.close();
    broker = await startBroker(dataDir);
    a = await open();
    assert.deepEqual((await callJson(a, listGroupOffsetsMessage, { group: 'g-list-b' })).offsets, []);
    assert.deepEqual((await callJson(a, listGroupOffsetsMessage, { group: 'g-list-a' })).offsets, [
      { group: 'g-list-a', topic: 'events', partition: 0, offset: 1 },
    ]);
  });

  // Goal: bad input is refused with a clear error and the broker keeps serving: an unknown topic
  // or a partition the topic lacks is NOT_FOUND (and no lease is taken), a malformed body of each
  // new message is BAD_REQUEST.
  test('bad input: NOT_FOUND, BAD_REQUEST, and the broker keeps serving', async () => {
    const a = await open();
    await rejectsWith(claim(a, 'bad', [p(0), p(0, 'nope')]), 'NOT_FOUND');
    await rejectsWith(claim(a, 'bad', [p(9)]), 'NOT_FOUND');
    await rejectsWith(release(a, 'bad', [p(0, 'nope')]), 'NOT_FOUND');
    await rejectsWith(
      commit(a, { memberId: 'bad', offsets: [{ topic: 'nope', partition: 0, offset: 0 }] }),
      'NOT_FOUND',
    );
    await rejectsWith(
      fetch(a, { topic: 'nope', partition: 0, offset: 0, owner: { group, memberId: 'bad' } }),
      'NOT_FOUND',
    );
    for (const opcode of [
      opcodes.CLAIM_PARTITIONS,
      opcodes.RELEASE_PARTITIONS,
      opcodes.LIST_GROUP_OFFSETS,
      opcodes.DELETE_GROUP_OFFSETS,
    ]) {
      await rejectsWith(a.request(opcode, Buffer.from('{"group":')), 'BAD_REQUEST');
    }
    await rejectsWith(
      a.request(opcodes.CLAIM_PARTITIONS, Buffer.from('{"group":"g","memberId":"m","partitions":[]}')),
      'BAD_REQUEST',
    );
    // Nothing was claimed by the refused request, and the broker still answers.
    assert.equal((await claim(a, 'good', [p(0)], 'g-bad')).claims[0]!.granted, true);
    assert.equal((await claim(a, 'bad', [p(0)], 'g-bad')).claims[0]!.holder, 'good');
  });
});

describe('partition leases expire', () => {
  let broker: Broker;
  const connections: Connection[] = [];

  after(async () => {
    for (const connection of connections) connection.close();
    await broker?.close();
  });

  // Goal: a lease whose holder neither fetches, commits nor claims for consumerLeaseMs becomes free
  // (a hung consumer), while the holder's fetches keep it alive; the old holder is then refused.
  test('a lease nobody renews expires after consumerLeaseMs; fetches renew it', async () => {
    // Long enough that one fetch-then-claim round trip on a loaded machine stays well inside it.
    const leaseMs = 1000;
    broker = await startBroker(await dataDirWithTopics({ t: { partitions: 1 } }), {
      consumerLeaseMs: leaseMs,
    });
    const a = await connect(broker.port);
    const b = await connect(broker.port);
    connections.push(a, b);
    const owner = { group, memberId: 'hung-a' };
    assert.equal((await claim(a, 'hung-a', [p(0, 't')])).claims[0]!.granted, true);
    // Renewing by fetching for longer than one lease time keeps it.
    const renewUntil = Date.now() + 2 * leaseMs;
    while (Date.now() < renewUntil) {
      await fetch(a, { topic: 't', partition: 0, offset: 0, owner });
      assert.equal((await claim(b, 'hung-b', [p(0, 't')])).claims[0]!.holder, 'hung-a');
      await new Promise((resolve) => setTimeout(resolve, leaseMs / 6));
    }
    // Then a stops: b gets it once the lease time has passed.
    const stopped = Date.now();
    let granted = false;
    while (!granted && Date.now() - stopped < 10_000) {
      granted = (await claim(b, 'hung-b', [p(0, 't')])).claims[0]!.granted;
      if (!granted) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(granted, 'granted after the lease expired');
    assert.ok(Date.now() - stopped >= leaseMs / 2, 'not before the lease time');
    await rejectsWith(fetch(a, { topic: 't', partition: 0, offset: 0, owner }), 'PARTITION_OWNED_BY_OTHER');
  });
});

// Goal: a lease time that cannot work is refused before anything opens.
test('consumerLeaseMs must be a positive integer', async () => {
  for (const consumerLeaseMs of [0, -1, 1.5, 2 ** 31]) {
    await assert.rejects(startBroker(tempDir(), { consumerLeaseMs }), RangeError);
  }
});

describe('partition leases with a master', () => {
  let master: FakeMaster;
  let broker: Broker;
  let client: Connection;

  after(async () => {
    client?.close();
    await broker?.close();
    await master?.close();
  });

  // Goal: the hosting check applies to the new messages: claiming a partition served elsewhere is
  // UNAVAILABLE, and LIST_GROUP_OFFSETS lists only partitions this broker serves now.
  test('claim of a partition served elsewhere is UNAVAILABLE; list shows served partitions only', async () => {
    master = new FakeMaster({ version: 1, topics: [assignedTopic('alpha', 2, [0, 1])] }, 10_000);
    await master.listen();
    broker = await startBroker(tempDir(), { masters: [{ host: '127.0.0.1', port: master.port }] });
    await broker.whenRegistered();
    client = await connect(broker.port);
    await callJson(client, commitOffsetsMessage, {
      group,
      offsets: [
        { topic: 'alpha', partition: 0, offset: 0 },
        { topic: 'alpha', partition: 1, offset: 0 },
      ],
    });
    const before = master.heartbeats.length;
    master.push({ version: 2, topics: [assignedTopic('alpha', 2, [0])] });
    await eventually(() => master.heartbeats.slice(before).some((each) => each.appliedVersion === 2));
    await rejectsWith(claim(client, 'm', [p(1, 'alpha')]), 'UNAVAILABLE');
    assert.deepEqual((await callJson(client, listGroupOffsetsMessage, { group })).offsets, [
      { group, topic: 'alpha', partition: 0, offset: 0 },
    ]);
  });
});
