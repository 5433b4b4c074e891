// Goal: GroupMembership against a scripted master — a push that arrives before the JOIN answer is
// applied once the member id is known; a push of an older generation is ignored; a revocation is
// finished before anything new is claimed, and heartbeats report the new set; NOT_REGISTERED (411) gives
// everything up (committing) and joins again; STALE_SESSION (427) stops for good; close() gives
// everything up, then leaves.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TubeError, createLogger } from '../../src/common/index.js';
import {
  ProtocolServer,
  groupAssignmentPush,
  groupHeartbeatMessage,
  joinGroupMessage,
  leaveGroupMessage,
  opcodes,
  type GroupHeartbeatRequest,
  type RequestHandler,
  type Session,
  type TopicPartition,
} from '../../src/protocol/index.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { GroupMembership, type MembershipHandlers } from '../../src/client/group-membership.js';
import { resolveClientOptions } from '../../src/client/options.js';

const group = 'g';
const tp = (partition: number): TopicPartition => ({ topic: 't', partition });

/** A master that answers JOIN/HEARTBEAT/LEAVE as the test scripts it. */
class ScriptedMaster {
  readonly server: ProtocolServer;
  port = 0;
  joins = 0;
  readonly heartbeats: GroupHeartbeatRequest[] = [];
  readonly leaves: string[] = [];
  session: Session | undefined;
  /** Pushed just before each JOIN answer (so it arrives first). */
  onJoin: (memberId: string, session: Session) => void = () => undefined;
  /** The next heartbeat's answer (once). */
  heartbeatError: TubeError | undefined;

  constructor() {
    const join: RequestHandler = (frame, session) => {
      joinGroupMessage.decodeRequest(frame.body);
      this.session = session;
      const memberId = `m${++this.joins}`;
      this.onJoin(memberId, session);
      return joinGroupMessage.encodeResponse({
        memberId,
        generation: 0,
        heartbeatIntervalMs: 50,
        sessionTimeoutMs: 5000,
      });
    };
    const heartbeat: RequestHandler = (frame) => {
      this.heartbeats.push(groupHeartbeatMessage.decodeRequest(frame.body));
      const error = this.heartbeatError;
      this.heartbeatError = undefined;
      if (error !== undefined) throw error;
      return groupHeartbeatMessage.encodeResponse({ generation: 0 });
    };
    const leave: RequestHandler = (frame) => {
      this.leaves.push(leaveGroupMessage.decodeRequest(frame.body).memberId);
      return leaveGroupMessage.encodeResponse({});
    };
    this.server = new ProtocolServer({
      role: 'master',
      serverId: 'scripted-master',
      handlers: new Map([
        [opcodes.JOIN_GROUP, join],
        [opcodes.GROUP_HEARTBEAT, heartbeat],
        [opcodes.LEAVE_GROUP, leave],
      ]),
      logger: createLogger({ name: 'scripted', level: 'silent' }),
    });
  }

  push(session: Session, memberId: string, generation: number, partitions: TopicPartition[]): void {
    session.connection.push(
      opcodes.GROUP_ASSIGNMENT,
      groupAssignmentPush.encode({ group, memberId, generation, partitions }),
    );
  }
}

/** Handlers that record every call in order. */
function recordingHandlers(): {
  handlers: MembershipHandlers;
  events: string[];
  failures: TubeError[];
} {
  const events: string[] = [];
  const failures: TubeError[] = [];
  const names = (partitions: TopicPartition[]): string =>
    partitions
      .map((p) => p.partition)
      .sort()
      .join(',');
  const handlers: MembershipHandlers = {
    revoke: (partitions, memberId) => {
      events.push(`revoke ${memberId} ${names(partitions)}`);
      return Promise.resolve();
    },
    drop: (partitions, memberId) => {
      events.push(`drop ${memberId} ${names(partitions)}`);
      return Promise.resolve();
    },
    assign: (partitions, memberId, _signal, started) => {
      events.push(`assign ${memberId} ${names(partitions)}`);
      started(partitions);
      return Promise.resolve();
    },
    fail: (error) => void failures.push(error),
  };
  return { handlers, events, failures };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function setUp(): Promise<{ master: ScriptedMaster; cluster: ClusterClient }> {
  const master = new ScriptedMaster();
  master.port = await master.server.listen('127.0.0.1', 0);
  const cluster = new ClusterClient(
    resolveClientOptions({ masters: `127.0.0.1:${master.port}` }),
    'consumer',
  );
  cleanup.push(async () => {
    await cluster.close();
    await master.server.close();
  });
  return { master, cluster };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const subscriptions = [{ topic: 't', streamIds: [] }];

test('an early push is applied; an older generation is ignored; revocations are reported before claims', async () => {
  const { master, cluster } = await setUp();
  master.onJoin = (memberId, session) => master.push(session, memberId, 1, [tp(0), tp(1), tp(2)]);
  const { handlers, events } = recordingHandlers();
  const membership = new GroupMembership(cluster, { group, subscriptions, sessionTimeoutMs: 5000 }, handlers);
  await membership.join();
  await membership.firstAssignment(2000);
  assert.equal(membership.memberId, 'm1');
  assert.deepEqual(events, ['assign m1 0,1,2']);
  // Generation 3 moves partition 2 away and brings 3; a late generation-2 push must not undo it.
  master.push(master.session!, 'm1', 3, [tp(0), tp(1), tp(3)]);
  await until('generation 3 applied', () => membership.generation === 3);
  master.push(master.session!, 'm1', 2, [tp(5)]);
  await sleep(100);
  assert.deepEqual(events.slice(1, 2), ['revoke m1 2']);
  assert.equal(events[2], 'assign m1 3');
  assert.equal(events.length, 3, 'the older push changed nothing');
  assert.deepEqual(
    membership
      .owned()
      .map((p) => p.partition)
      .sort(),
    [0, 1, 3],
  );
  await until('a heartbeat reports the new set', () =>
    master.heartbeats.some(
      (beat) =>
        beat.owned
          .map((p) => p.partition)
          .sort()
          .join(',') === '0,1,3',
    ),
  );
  await membership.close();
  assert.deepEqual(events.at(-1), 'revoke m1 0,1,3');
  assert.deepEqual(master.leaves, ['m1']);
});

test('NOT_REGISTERED gives everything up and joins again; STALE_SESSION stops for good', async () => {
  const { master, cluster } = await setUp();
  master.onJoin = (memberId, session) =>
    setImmediate(() => master.push(session, memberId, 1, [tp(0), tp(1)]));
  const { handlers, events, failures } = recordingHandlers();
  const membership = new GroupMembership(cluster, { group, subscriptions, sessionTimeoutMs: 5000 }, handlers);
  await membership.join();
  await until('owning 2', () => membership.owned().length === 2);
  master.heartbeatError = new TubeError('NOT_REGISTERED', 'unknown member');
  await until('joined again', () => master.joins === 2);
  await until('owning 2 as m2', () => membership.memberId === 'm2' && membership.owned().length === 2);
  assert.deepEqual(events, ['assign m1 0,1', 'revoke m1 0,1', 'assign m2 0,1']);
  master.heartbeatError = new TubeError('STALE_SESSION', 'moved on');
  await until('failed', () => failures.length === 1);
  assert.equal(failures[0]!.errorName, 'STALE_SESSION');
  await until(`dropped (${events.join(' | ')})`, () => events.length === 4);
  assert.equal(events[3], 'drop m2 0,1');
  await sleep(200);
  assert.equal(master.joins, 2, 'no rejoin after STALE_SESSION');
  await membership.close();
  assert.deepEqual(master.leaves, [], 'a member stopped for good does not leave again');
});
