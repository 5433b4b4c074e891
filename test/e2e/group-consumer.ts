// One balanced consumer process for test/e2e/groups.test.ts (run with tsx through execa): it joins a
// group with the library's Consumer in push mode (run()) and appends one JSON line per event to a
// file, written synchronously so a kill -9 loses nothing already written:
//   {t, ev:'joining'}                                       just before the consumer starts
//   {t, ev:'assigned'|'revoked', member, partitions, lastSeen?} changes of consumer.assignment()
//   {t, ev:'held', partitions}                              what it owns, every heldEveryMs
//   {t, ev:'msg', member, topic, partition, offset, key, value, owned}   one per delivered message
//   {t, ev:'commit', offsets:{partition: offset}}           a commit() that resolved; each offset a
//                                                           lower bound of what the broker stored
//   {t, ev:'closing'|'closed'|'error', ...}
// `t` is wall-clock milliseconds with sub-ms precision (shared by every process of the machine).
// The assignment is sampled every `assignmentPollMs`: an 'assigned' line comes at most that late, and
// a 'revoked' line carries `lastSeen`, the last sample that still held it, so the windows the test
// builds from these lines are never longer than the real ownership.
// SIGTERM closes the consumer cleanly (commit, release, leave) and exits 0.
import { openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type ConsumedMessage, type ConsumerOptions } from '../../src/client/index.js';

/** What the parent test asks of one consumer process (argv[2], JSON). */
export interface GroupConsumerJob {
  masters: string;
  group: string;
  topics: string[];
  /** Where the event lines go (appended). */
  out: string;
  clientId: string;
  sessionTimeoutMs: number;
  /** Milliseconds between commit() calls (the consumer's own auto-commit is off, so commits are known). */
  commitIntervalMs: number;
  /** Sleep `delayMs` after every `delayEvery` messages of a partition, to pace consumption. */
  delayEvery: number;
  delayMs: number;
  assignmentPollMs: number;
  heldEveryMs: number;
}

interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * The balanced-group surface of the Consumer this script uses (the issue 5 contract), declared here
 * so the script compiles against the Consumer whether or not those members have landed yet.
 */
interface GroupMember {
  run(
    handler: (message: ConsumedMessage) => Promise<void> | void,
    options?: { partitionsConcurrently?: number; retryDelayMs?: number },
  ): Promise<void>;
  assignment(): TopicPartition[];
  readonly memberId: string | undefined;
  commit(): Promise<void>;
  close(): Promise<void>;
}

const job = JSON.parse(process.argv[2] ?? '{}') as GroupConsumerJob;
const fd = openSync(job.out, 'a');
const now = (): number => performance.timeOrigin + performance.now();
const line = (event: Record<string, unknown>): void => {
  writeSync(fd, JSON.stringify({ t: now(), ...event }) + '\n');
};

const key = (each: TopicPartition): string => `${each.topic}:${each.partition}`;
const options = {
  masters: job.masters,
  clientId: job.clientId,
  group: job.group,
  topics: job.topics,
  start: 'earliest',
  sessionTimeoutMs: job.sessionTimeoutMs,
  autoCommit: false,
} as ConsumerOptions;
const consumer = new Consumer(options) as unknown as GroupMember;

// Processed positions (next offset) per partition, for the commit lines' lower bounds.
const processed = new Map<string, number>();
const counts = new Map<string, number>();
let held = new Set<string>();
let lastSample = now();
let closing = false;

function sampleAssignment(): void {
  const sampledAt = now();
  const current = new Set(consumer.assignment().map(key));
  const added = [...current].filter((each) => !held.has(each));
  const removed = [...held].filter((each) => !current.has(each));
  if (removed.length > 0)
    line({ ev: 'revoked', member: consumer.memberId, partitions: removed, lastSeen: lastSample });
  if (added.length > 0) line({ ev: 'assigned', member: consumer.memberId, partitions: added });
  held = current;
  lastSample = sampledAt;
}

const sampler = setInterval(sampleAssignment, job.assignmentPollMs);
const heldTimer = setInterval(() => line({ ev: 'held', partitions: [...held] }), job.heldEveryMs);

async function commitNow(): Promise<void> {
  // Only partitions owned before and after the commit: commit() covers what the consumer owns, and
  // a partition given up meanwhile was committed (or, by a zombie, not) by the revocation instead.
  const ownedNow = (): Set<string> => new Set(consumer.assignment().map(key));
  const before = ownedNow();
  const snapshot = [...processed].filter(([partition]) => before.has(partition));
  try {
    await consumer.commit();
    const after = ownedNow();
    line({
      ev: 'commit',
      offsets: Object.fromEntries(snapshot.filter(([partition]) => after.has(partition))),
    });
  } catch (error) {
    line({ ev: 'commit-failed', error: String(error) });
  }
}
const committer = setInterval(() => void commitNow(), job.commitIntervalMs);

async function handle(message: ConsumedMessage): Promise<void> {
  const partitionKey = key(message);
  const owned = consumer.assignment().some((each) => key(each) === partitionKey);
  line({
    ev: 'msg',
    member: consumer.memberId,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key?.toString('utf8'),
    value: message.value.toString('utf8'),
    owned,
  });
  const count = (counts.get(partitionKey) ?? 0) + 1;
  counts.set(partitionKey, count);
  if (job.delayMs > 0 && count % job.delayEvery === 0) await sleep(job.delayMs);
  // Only now is it processed (the handler returns): commits from here on cover it.
  processed.set(partitionKey, message.offset + 1);
}

async function shutDown(): Promise<void> {
  if (closing) return;
  closing = true;
  sampleAssignment();
  clearInterval(sampler);
  clearInterval(heldTimer);
  clearInterval(committer);
  line({ ev: 'closing', lastSeen: lastSample, partitions: [...held] });
  try {
    await consumer.close();
    line({ ev: 'closed' });
    process.exit(0);
  } catch (error) {
    line({ ev: 'error', error: String(error) });
    process.exit(1);
  }
}

process.on('SIGTERM', () => void shutDown());
line({ ev: 'joining', pid: process.pid, clientId: job.clientId });
consumer.run(handle, { partitionsConcurrently: 64 }).then(
  () => {
    if (!closing) line({ ev: 'error', error: 'run() resolved without close()' });
  },
  (error: unknown) => {
    line({ ev: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  },
);
