// Consumer groups end to end (issue 5 §6): a real master and broker (bin/tubemq as child processes on
// --port 0), several consumer processes (test/e2e/group-consumer.ts, the library's Consumer in push
// mode) joining, leaving cleanly, being killed with SIGKILL or frozen with SIGSTOP, producers in
// this process. Every consumer writes what it owned and delivered, with timestamps, to its own
// file; the checks below read those files:
//   - ownership: every partition owned by exactly one live member once the group is stable;
//   - history: no partition was ever being fetched by two members at once (windows between
//     'assigned' and 'revoked', plus every delivery, compared across members);
//   - at-least-once: every produced message delivered, checked by content; duplicates only from a
//     killed or frozen member, at or after its last commit;
//   - hand-over times after a join, a clean leave, a kill -9 and a hang (printed; asserted
//     generously);
//   - per-key order across joins and clean leaves, with no duplicates.
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options, type ResultPromise } from 'execa';
import { Admin, Producer } from '../../src/client/index.js';
import type { GroupConsumerJob } from './group-consumer.js';
import { cliEnv, removeDir, startBroker, startMaster, tempDir, waitFor, type Daemon } from './helpers.js';

const consumerScript = resolve(import.meta.dirname, 'group-consumer.ts');
const sessionTimeoutMs = 3000;
const partitionCount = 6;
const now = (): number => performance.timeOrigin + performance.now();

/** One line a consumer process wrote (see group-consumer.ts). */
interface EventLine {
  t: number;
  ev: string;
  member?: string;
  partitions?: string[];
  lastSeen?: number;
  topic?: string;
  partition?: number;
  offset?: number;
  key?: string;
  value?: string;
  owned?: boolean;
  offsets?: Record<string, number>;
  error?: string;
}

/** A time interval (ms) during which `label` owned a partition; a delivery is a zero-length one. */
interface Window {
  label: string;
  start: number;
  end: number;
  what: string;
}

/** One consumer process and what it has written so far. */
class Member {
  readonly events: EventLine[] = [];
  readonly messages: EventLine[] = [];
  killedAt: number | undefined;
  /** Set while (and after) it was stopped with SIGSTOP: its ownership windows end there. */
  frozenAt: number | undefined;
  frozen = false;
  exitCode: number | undefined;
  exited = false;
  readonly #fd: number;
  #position = 0;
  #rest = '';
  #stderr = '';

  constructor(
    readonly label: string,
    readonly out: string,
    readonly child: ResultPromise<Options>,
  ) {
    this.#fd = openSync(out, 'a+');
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString('utf8');
    });
    void child.then((result) => {
      this.exited = true;
      this.exitCode = result.exitCode;
    });
  }

  get live(): boolean {
    return !this.exited && this.killedAt === undefined && !this.frozen;
  }

  /** Reads the lines appended since the last call (a torn last line waits for the next). */
  refresh(): void {
    const size = fstatSync(this.#fd).size;
    if (size > this.#position) {
      const buffer = Buffer.alloc(size - this.#position);
      readSync(this.#fd, buffer, 0, buffer.length, this.#position);
      this.#position = size;
      const lines = (this.#rest + buffer.toString('utf8')).split('\n');
      this.#rest = lines.pop() ?? '';
      for (const text of lines) {
        if (text === '') continue;
        const event = JSON.parse(text) as EventLine;
        this.events.push(event);
        if (event.ev === 'msg') this.messages.push(event);
        else if (event.ev === 'error')
          throw new Error(`consumer ${this.label} failed: ${event.error}\n${this.stderr()}`);
      }
    }
  }

  /** Partitions (`topic:partition`) it owns by its last assignment line; none once it is gone. */
  holdings(): Set<string> {
    const held = new Set<string>();
    if (!this.live) return held;
    for (const event of this.events) {
      if (event.ev === 'assigned') for (const each of event.partitions ?? []) held.add(each);
      if (event.ev === 'revoked') for (const each of event.partitions ?? []) held.delete(each);
    }
    return held;
  }

  /** The time of its last 'assigned' line. */
  lastAssignedAt(): number {
    return this.events.findLast((event) => event.ev === 'assigned')?.t ?? 0;
  }

  eventTime(ev: string): number {
    const found = this.events.find((event) => event.ev === ev);
    assert.ok(found, `${this.label} wrote no '${ev}' line`);
    return found.t;
  }

  /** Per partition, the offset its last resolved commit covered at least (0 without one). */
  lastCommits(): Map<string, number> {
    const commits = new Map<string, number>();
    for (const event of this.events)
      if (event.ev === 'commit')
        for (const [partition, offset] of Object.entries(event.offsets ?? {})) commits.set(partition, offset);
    return commits;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** The client library's log lines (info and up), parsed. */
  clientLog(): Record<string, unknown>[] {
    // The client logs JSON lines on stderr.
    return this.#stderr
      .split('\n')
      .filter((text) => text.startsWith('{'))
      .map((text) => JSON.parse(text) as Record<string, unknown>);
  }

  kill(): Promise<unknown> {
    this.killedAt = now();
    this.child.kill('SIGKILL');
    return this.child;
  }

  /** SIGSTOP: the process hangs with its connections open (no heartbeats, no fetches). */
  freeze(): void {
    this.frozenAt = now();
    this.frozen = true;
    this.child.kill('SIGSTOP');
  }

  thaw(): void {
    this.child.kill('SIGCONT');
    this.frozen = false;
  }

  /** SIGTERM: the consumer closes cleanly (commit, release, leave); resolves to its exit code. */
  async stop(): Promise<number | undefined> {
    if (!this.exited) this.child.kill('SIGTERM');
    const result = await this.child;
    this.refresh();
    return result.exitCode;
  }

  close(): void {
    closeSync(this.#fd);
  }

  /**
   * The intervals during which it owned each partition: from an 'assigned' line to the `lastSeen`
   * of the 'revoked' (or 'closing') line, or to the last 'held' line that still listed it. Each
   * delivery adds a zero-length interval. All are within its real ownership, never beyond it.
   */
  windows(): Map<string, Window[]> {
    const windows = new Map<string, Window[]>();
    const add = (partition: string, window: Window): void => {
      const list = windows.get(partition);
      if (list === undefined) windows.set(partition, [window]);
      else list.push(window);
    };
    const open = new Map<string, { start: number; lastSeen: number }>();
    const closeWindow = (partition: string, end: number, why: string): void => {
      const window = open.get(partition);
      if (window === undefined) return;
      open.delete(partition);
      // A window open when the process was frozen ends there: it did nothing while stopped, and
      // what it delivers after SIGCONT is checked message by message.
      const frozenAt = this.frozenAt;
      const clipped = frozenAt !== undefined && window.start < frozenAt && end > frozenAt ? frozenAt : end;
      add(partition, {
        label: this.label,
        start: window.start,
        end: Math.max(window.start, clipped),
        what: `owned (${why})`,
      });
    };
    for (const event of this.events) {
      switch (event.ev) {
        case 'assigned':
          for (const each of event.partitions ?? []) open.set(each, { start: event.t, lastSeen: event.t });
          break;
        case 'held':
          for (const each of event.partitions ?? []) {
            const window = open.get(each);
            if (window !== undefined) window.lastSeen = event.t;
          }
          break;
        case 'revoked':
          for (const each of event.partitions ?? []) closeWindow(each, event.lastSeen ?? event.t, 'revoked');
          break;
        case 'closing':
          for (const each of [...open.keys()]) closeWindow(each, event.lastSeen ?? event.t, 'closing');
          break;
        case 'msg':
          add(`${event.topic}:${event.partition}`, {
            label: this.label,
            start: event.t,
            end: event.t,
            what: `delivered offset ${event.offset}`,
          });
          break;
      }
    }
    for (const [each, window] of [...open]) closeWindow(each, window.lastSeen, 'last seen held');
    return windows;
  }
}

/** {@link waitFor} with a synchronous check. */
function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return waitFor(() => Promise.resolve(check()), timeoutMs, what);
}

/**
 * The history check: across members, no two ownership intervals (deliveries included) of one
 * partition overlap. Returns the violations found, described.
 */
function doubleOwnership(members: readonly Member[]): string[] {
  const byPartition = new Map<string, Window[]>();
  for (const member of members) {
    member.refresh();
    for (const [partition, windows] of member.windows()) {
      const list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, [...windows]);
      else list.push(...windows);
    }
  }
  const violations: string[] = [];
  for (const [partition, windows] of byPartition) {
    const spans = windows.filter((each) => each.end > each.start);
    const points = windows.filter((each) => each.end === each.start);
    for (const span of spans) {
      for (const other of spans) {
        if (other.label <= span.label) continue;
        if (Math.max(span.start, other.start) < Math.min(span.end, other.end))
          violations.push(
            `${partition}: ${span.label} ${describeWindow(span)} overlaps ${other.label} ${describeWindow(other)}`,
          );
      }
      for (const point of points) {
        if (point.label !== span.label && span.start < point.start && point.start < span.end)
          violations.push(
            `${partition}: ${point.label} ${describeWindow(point)} while ${span.label} ${describeWindow(span)}`,
          );
      }
    }
  }
  return violations;
}

function describeWindow(window: Window): string {
  return window.start === window.end
    ? `${window.what} at ${window.start.toFixed(1)}`
    : `${window.what} ${window.start.toFixed(1)}..${window.end.toFixed(1)}`;
}

/** Every delivery a member made while its own assignment did not list the partition. */
function unownedDeliveries(members: readonly Member[]): string[] {
  return members.flatMap((member) =>
    member.messages
      .filter((message) => message.owned === false)
      .map(
        (message) =>
          `${member.label} delivered ${message.topic}:${message.partition}@${message.offset} unowned`,
      ),
  );
}

describe('consumer groups across processes', () => {
  let root: string;
  let master: Daemon;
  let broker: Daemon;
  let masters: string;
  let admin: Admin;
  const masterLog: Record<string, unknown>[] = [];
  const members: Member[] = [];
  const stoppers: (() => Promise<unknown>)[] = [];
  let memberCount = 0;

  before(async () => {
    root = await tempDir('tubemq-e2e-groups-');
    // The master logs at info so its 'group stable' lines (rebalanceMs) can be read.
    const level = process.env.TUBEMQ_LOG_LEVEL;
    process.env.TUBEMQ_LOG_LEVEL = 'info';
    try {
      master = await startMaster(join(root, 'master'));
    } finally {
      if (level === undefined) delete process.env.TUBEMQ_LOG_LEVEL;
      else process.env.TUBEMQ_LOG_LEVEL = level;
    }
    let partial = '';
    master.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        try {
          masterLog.push(JSON.parse(text) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    masters = `127.0.0.1:${master.port}`;
    broker = await startBroker(join(root, 'broker'), master.port);
    admin = new Admin({ masters });
    await waitFor(
      async () => (await admin.listBrokers()).some((each) => each.state === 'online'),
      15_000,
      'the broker to come online',
    );
  });

  after(async () => {
    // A failed test may leave its producers running: stop them, or the loops keep the run alive.
    for (const stop of stoppers) await stop().catch(() => undefined);
    for (const member of members) {
      if (!member.exited) member.child.kill('SIGKILL');
      await member.child;
      member.close();
    }
    await admin?.close();
    await broker?.stop();
    await master?.stop();
    if (root !== undefined) await removeDir(root);
  });

  function startMember(group: string, topic: string, pace: { delayEvery: number; delayMs: number }): Member {
    const label = `m${++memberCount}`;
    const out = join(root, `${label}.jsonl`);
    const job: GroupConsumerJob = {
      masters,
      group,
      topics: [topic],
      out,
      clientId: `${group}-${label}`,
      sessionTimeoutMs,
      commitIntervalMs: 300,
      ...pace,
      assignmentPollMs: 5,
      heldEveryMs: 50,
    };
    const child = execa(process.execPath, ['--import', 'tsx', consumerScript, JSON.stringify(job)], {
      reject: false,
      // The client's info lines (assignments, revocations, rejoins) explain a failure.
      env: { ...cliEnv, TUBEMQ_LOG_LEVEL: 'info' },
      extendEnv: true,
      stdin: 'ignore',
      timeout: 120_000,
    });
    const member = new Member(label, out, child);
    members.push(member);
    return member;
  }

  const partitionsOf = (topic: string): string[] =>
    Array.from({ length: partitionCount }, (_, partition) => `${topic}:${partition}`);

  /**
   * Waits until every partition of `topic` is owned by exactly one live member of `group` and each
   * owns ⌊P/M⌋ or ⌈P/M⌉ of them; resolves the time of the last 'assigned' line that got there.
   */
  async function waitBalanced(
    group: Member[],
    topic: string,
    what: string,
    timeoutMs = 20_000,
  ): Promise<number> {
    const partitions = partitionsOf(topic);
    let balancedAt = 0;
    await waitUntil(
      () => {
        for (const member of group) member.refresh();
        const live = group.filter((member) => member.live);
        if (live.length === 0) return false;
        const owners = new Map<string, string[]>();
        for (const member of live)
          for (const partition of member.holdings())
            owners.set(partition, [...(owners.get(partition) ?? []), member.label]);
        const low = Math.floor(partitions.length / live.length);
        const balanced =
          owners.size === partitions.length &&
          partitions.every((partition) => owners.get(partition)?.length === 1) &&
          live.every((member) =>
            [low, Math.ceil(partitions.length / live.length)].includes(member.holdings().size),
          );
        if (balanced) balancedAt = Math.max(...live.map((member) => member.lastAssignedAt()));
        return balanced;
      },
      timeoutMs,
      what,
    );
    return balancedAt;
  }

  async function waitDelivered(group: Member[], values: Iterable<string>, what: string, timeoutMs = 60_000) {
    const wanted = new Set(values);
    const seen = new Set<string>();
    const scanned = new Map<Member, number>();
    await waitUntil(
      () => {
        for (const member of group) {
          member.refresh();
          for (let i = scanned.get(member) ?? 0; i < member.messages.length; i++) {
            const value = member.messages[i]!.value;
            if (value !== undefined && wanted.has(value)) seen.add(value);
          }
          scanned.set(member, member.messages.length);
        }
        return seen.size === wanted.size;
      },
      timeoutMs,
      what,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${seen.size} of ${wanted.size} delivered`);
    });
  }

  /** Sends `count` keyed messages now; resolves value -> `topic:partition@offset`. */
  async function produceBacklog(topic: string, count: number, prefix: string): Promise<Map<string, string>> {
    const producer = new Producer({ masters, lingerMs: 1 });
    try {
      const values = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      const sent = await Promise.all(
        values.map((value, i) => producer.send(topic, value, { key: `k${i % 600}` })),
      );
      return new Map(values.map((value, i) => [value, `${topic}:${sent[i]!.partition}@${sent[i]!.offset}`]));
    } finally {
      await producer.close();
    }
  }

  /** Sends `perTick` keyed messages every `tickMs` until stopped; resolves value -> position. */
  function produceSteadily(topic: string, prefix: string, perTick: number, tickMs: number) {
    const producer = new Producer({ masters, lingerMs: 0 });
    const sent = new Map<string, Promise<string>>();
    let stopped = false;
    let n = 0;
    const loop = (async () => {
      while (!stopped) {
        for (let i = 0; i < perTick; i++, n++) {
          const value = `${prefix}-${n}`;
          sent.set(
            value,
            producer
              .send(topic, value, { key: `k${n % 97}` })
              .then((result) => `${topic}:${result.partition}@${result.offset}`),
          );
        }
        await sleep(tickMs);
      }
    })();
    const stop = async (): Promise<Map<string, string>> => {
      stopped = true;
      await loop;
      const positions = await Promise.all(sent.values());
      await producer.close();
      return new Map([...sent.keys()].map((value, i) => [value, positions[i]!]));
    };
    stoppers.push(stop);
    return { stop };
  }

  /** Each delivery carries the value produced at its position; every produced value is delivered. */
  function checkContent(group: Member[], produced: Map<string, string>): Map<string, EventLine[]> {
    const byPosition = new Map<string, EventLine[]>();
    const expected = new Map([...produced].map(([value, position]) => [position, value]));
    for (const member of group) {
      member.refresh();
      for (const message of member.messages) {
        const position = `${message.topic}:${message.partition}@${message.offset}`;
        assert.equal(
          message.value,
          expected.get(position),
          `${member.label} got the value stored at ${position}`,
        );
        byPosition.set(position, [...(byPosition.get(position) ?? []), { ...message, member: member.label }]);
      }
    }
    for (const position of expected.keys()) assert.ok(byPosition.has(position), `${position} was delivered`);
    return byPosition;
  }

  /** Duplicates only from a killed member, at or after its last commit of that partition. */
  function checkDuplicates(byPosition: Map<string, EventLine[]>, group: Member[]): number {
    const byLabel = new Map(group.map((member) => [member.label, member]));
    let duplicates = 0;
    for (const [position, deliveries] of byPosition) {
      if (deliveries.length === 1) continue;
      duplicates += deliveries.length - 1;
      const killed = deliveries
        .map((each) => byLabel.get(each.member!)!)
        .filter((each) => each.killedAt !== undefined || each.frozenAt !== undefined);
      assert.ok(
        killed.length > 0,
        `${position} delivered ${deliveries.length} times (${deliveries.map((each) => each.member).join(', ')}), none of them killed or frozen`,
      );
      const partition = position.slice(0, position.lastIndexOf('@'));
      const offset = Number(position.slice(position.lastIndexOf('@') + 1));
      for (const member of killed) {
        const committed = member.lastCommits().get(partition) ?? 0;
        assert.ok(
          offset >= committed,
          `${position} delivered again though ${member.label} had committed ${partition} up to ${committed}; ` +
            `deliveries: ${deliveries.map((each) => `${each.member} at ${each.t.toFixed(1)}`).join(', ')}; ` +
            `commits of ${partition}: ${commitTimeline(group, partition)}`,
        );
      }
    }
    return duplicates;
  }

  /** Who committed what of `partition` when, and who held it when, for failure messages. */
  function commitTimeline(group: Member[], partition: string): string {
    return group
      .flatMap((member) =>
        member.events
          .filter(
            (event) =>
              (event.ev === 'commit' && event.offsets?.[partition] !== undefined) ||
              ((event.ev === 'assigned' || event.ev === 'revoked') && event.partitions?.includes(partition)),
          )
          .map((event) => ({
            t: event.t,
            text: `${member.label} ${event.ev}${event.ev === 'commit' ? ` ${event.offsets![partition]}` : ''} at ${event.t.toFixed(1)}`,
          })),
      )
      .sort((a, b) => a.t - b.t)
      .map((each) => each.text)
      .join(', ');
  }

  function assertHistoryClean(group: Member[]): void {
    const violations = [...doubleOwnership(group), ...unownedDeliveries(group)];
    assert.deepEqual(violations.slice(0, 10), [], `${violations.length} ownership violations`);
  }

  async function stopAll(group: Member[]): Promise<void> {
    const codes = await Promise.all(group.filter((member) => member.live).map((member) => member.stop()));
    for (const code of codes) assert.equal(code, 0, 'a consumer closes cleanly on SIGTERM');
  }

  test('three members over 6 partitions: each partition owned once, 30,000 messages delivered, a kill -9 taken over', async () => {
    const topic = 'groups-three';
    const group = 'g-three';
    await admin.createTopic(topic, { partitions: partitionCount });
    const pace = { delayEvery: 4, delayMs: 5 };
    const trio = [
      startMember(group, topic, pace),
      startMember(group, topic, pace),
      startMember(group, topic, pace),
    ];
    await waitBalanced(trio, topic, 'three members to own two partitions each');

    const produced = await produceBacklog(topic, 30_000, 'three');
    const total = (): number => trio.reduce((sum, member) => sum + member.messages.length, 0);
    await waitUntil(
      () => {
        for (const member of trio) member.refresh();
        return total() >= 9000;
      },
      30_000,
      'a third of the run to be delivered',
    );
    const victim = trio[0]!;
    const survivors = trio.slice(1);
    const orphaned = [...victim.holdings()];
    await victim.kill();
    assert.ok(total() < 30_000, 'the kill came mid-run');
    const takenOverAt = await waitBalanced(
      survivors,
      topic,
      'the survivors to take over',
      sessionTimeoutMs + 15_000,
    );
    // Fetching again: a survivor delivered from each orphaned partition after the kill.
    await waitUntil(
      () => {
        for (const member of survivors) member.refresh();
        return orphaned.every((partition) =>
          survivors.some((member) =>
            member.messages.some((m) => `${m.topic}:${m.partition}` === partition && m.t > victim.killedAt!),
          ),
        );
      },
      sessionTimeoutMs + 15_000,
      'the orphaned partitions to be fetched again',
    );
    const fetchingAt = Math.max(
      ...orphaned.map((partition) =>
        Math.min(
          ...survivors.flatMap((member) =>
            member.messages
              .filter((m) => `${m.topic}:${m.partition}` === partition && m.t > victim.killedAt!)
              .map((m) => m.t),
          ),
        ),
      ),
    );
    const takeoverMs = takenOverAt - victim.killedAt!;
    const refetchMs = fetchingAt - victim.killedAt!;
    console.log(
      `kill -9 takeover: partitions reassigned ${takeoverMs.toFixed(0)} ms, fetched again ${refetchMs.toFixed(0)} ms after the kill (session timeout ${sessionTimeoutMs} ms)`,
    );
    // Issue: within session timeout + 1 s; generous here for a loaded 2-core machine.
    assert.ok(refetchMs < sessionTimeoutMs + 5000, `takeover took ${refetchMs.toFixed(0)} ms`);

    await waitDelivered(survivors.concat(victim), produced.keys(), 'all 30,000 messages');
    const byPosition = checkContent(trio, produced);
    const duplicates = checkDuplicates(byPosition, trio);
    console.log(`three members: 30,000 messages, ${duplicates} redelivered after the kill`);
    assertHistoryClean(trio);
    await stopAll(survivors);
  });

  test('a join during steady consumption rebalances quickly', async () => {
    const topic = 'groups-join';
    const group = 'g-join';
    await admin.createTopic(topic, { partitions: partitionCount });
    const producing = produceSteadily(topic, 'join', 6, 10);
    const pace = { delayEvery: 1000, delayMs: 0 };
    const pair = [startMember(group, topic, pace), startMember(group, topic, pace)];
    await waitBalanced(pair, topic, 'two members to own three partitions each');
    await waitUntil(
      () => {
        for (const member of pair) member.refresh();
        return pair.every((member) => member.messages.length > 50);
      },
      15_000,
      'steady consumption',
    );
    const stableLinesBefore = masterLog.length;
    const joiner = startMember(group, topic, pace);
    const trio = [...pair, joiner];
    await waitUntil(
      () => {
        joiner.refresh();
        return joiner.events.some((event) => event.ev === 'joining');
      },
      15_000,
      'the new member to start',
    );
    const joinedAt = joiner.eventTime('joining');
    const ownedAt = await waitBalanced(trio, topic, 'the join to rebalance');
    // Being fetched again: every partition delivered by its current owner after it was assigned.
    let fetchingAt = 0;
    await waitUntil(
      () => {
        fetchingAt = 0;
        for (const member of trio) {
          member.refresh();
          for (const partition of member.holdings()) {
            const assignedAt = member.events.findLast(
              (event) => event.ev === 'assigned' && event.partitions?.includes(partition),
            )!.t;
            const first = member.messages.find(
              (m) => `${m.topic}:${m.partition}` === partition && m.t >= Math.max(assignedAt, joinedAt),
            );
            const since = member.messages.find((m) => `${m.topic}:${m.partition}` === partition);
            if (first === undefined && since === undefined) return false;
            fetchingAt = Math.max(fetchingAt, (first ?? since)!.t);
          }
        }
        return true;
      },
      15_000,
      'every partition to be fetched again',
    );
    const stable = masterLog
      .slice(stableLinesBefore)
      .filter((line) => line.msg === 'group stable' && line.group === group);
    console.log(
      `join rebalance: every partition owned ${(ownedAt - joinedAt).toFixed(0)} ms and fetched again ` +
        `${(fetchingAt - joinedAt).toFixed(0)} ms after the new member started joining; master: ` +
        (stable
          .map((line) => `rebalanceMs ${String(line.rebalanceMs)} (generation ${String(line.generation)})`)
          .join(', ') || 'no group stable line seen'),
    );
    assert.ok(fetchingAt - joinedAt < 5000, `the join took ${(fetchingAt - joinedAt).toFixed(0)} ms`);
    const produced = await producing.stop();
    await waitDelivered(trio, produced.keys(), 'every message');
    const byPosition = checkContent(trio, produced);
    assert.equal(checkDuplicates(byPosition, trio), 0, 'a clean rebalance delivers nothing twice');
    assertHistoryClean(trio);
    await stopAll(trio);
  });

  test('history: through joins, clean leaves and kills no partition is fetched by two members at once', async () => {
    const topic = 'groups-history';
    const group = 'g-history';
    await admin.createTopic(topic, { partitions: partitionCount });
    const producing = produceSteadily(topic, 'history', 6, 10);
    const pace = { delayEvery: 1000, delayMs: 0 };
    const all: Member[] = [startMember(group, topic, pace), startMember(group, topic, pace)];
    await waitBalanced(all, topic, 'two members');
    all.push(startMember(group, topic, pace));
    await waitBalanced(all, topic, 'a third joining');
    const leaver = all[0]!;
    assert.equal(await leaver.stop(), 0);
    const leftAt = await waitBalanced(all, topic, 'a clean leave');
    const leaveMs = leftAt - leaver.eventTime('closing');
    console.log(
      `clean leave: its partitions owned by the others ${leaveMs.toFixed(0)} ms after it began closing`,
    );
    assert.ok(leaveMs < 5000, `the leave took ${leaveMs.toFixed(0)} ms`);
    all.push(startMember(group, topic, pace));
    await waitBalanced(all, topic, 'a fourth joining');
    await all[1]!.kill();
    await waitBalanced(all, topic, 'a kill -9 taken over', sessionTimeoutMs + 15_000);
    all.push(startMember(group, topic, pace));
    await waitBalanced(all, topic, 'a fifth joining');
    const produced = await producing.stop();
    await waitDelivered(all, produced.keys(), 'every message');
    const byPosition = checkContent(all, produced);
    checkDuplicates(byPosition, all);
    assertHistoryClean(all);
    const windows = all.reduce((sum, member) => sum + [...member.windows().values()].flat().length, 0);
    console.log(
      `history: ${all.length} members, ${produced.size} messages, ${windows} ownership intervals checked`,
    );
    await stopAll(all);
  });

  test('a member frozen with SIGSTOP is expired, its partitions move within a second of that, and after SIGCONT it delivers nothing it lost', async () => {
    // A hung member keeps its connections open: the master notices only by missed heartbeats
    // (session timeout); it then ends the member's leases on the broker itself, so the takeover
    // does not wait for the broker's lease time (consumerLeaseMs, 10 s).
    const topic = 'groups-frozen';
    const group = 'g-frozen';
    await admin.createTopic(topic, { partitions: partitionCount });
    const producing = produceSteadily(topic, 'frozen', 6, 10);
    const pace = { delayEvery: 1000, delayMs: 0 };
    const trio = [
      startMember(group, topic, pace),
      startMember(group, topic, pace),
      startMember(group, topic, pace),
    ];
    await waitBalanced(trio, topic, 'three members');
    await waitUntil(
      () => {
        for (const member of trio) member.refresh();
        return trio.every((member) => member.messages.length > 50);
      },
      15_000,
      'steady consumption',
    );
    const [frozen, ...others] = trio as [Member, Member, Member];
    const orphaned = [...frozen.holdings()];
    frozen.freeze();
    const frozenAt = frozen.frozenAt!;
    const ownedAt = await waitBalanced(others, topic, 'the others to take over', sessionTimeoutMs + 10_000);
    let fetchingAt = 0;
    await waitUntil(
      () => {
        for (const member of others) member.refresh();
        fetchingAt = 0;
        for (const partition of orphaned) {
          const first = others
            .flatMap((member) => member.messages)
            .find((m) => `${m.topic}:${m.partition}` === partition && m.t > frozenAt);
          if (first === undefined) return false;
          fetchingAt = Math.max(fetchingAt, first.t);
        }
        return true;
      },
      sessionTimeoutMs + 10_000,
      'the orphaned partitions to be fetched again',
    );
    console.log(
      `SIGSTOP takeover: partitions reassigned ${(ownedAt - frozenAt).toFixed(0)} ms, fetched again ` +
        `${(fetchingAt - frozenAt).toFixed(0)} ms after the freeze (session timeout ${sessionTimeoutMs} ms)`,
    );
    assert.ok(ownedAt - frozenAt > sessionTimeoutMs - 500, 'not before the session timeout');
    // The issue's bound is session timeout + 1 s; the slack is for a loaded 2-core machine.
    assert.ok(
      fetchingAt - frozenAt < sessionTimeoutMs + 2500,
      'within about a second of the session timeout',
    );

    const thawedAt = now();
    frozen.thaw();
    // It finds itself expired, drops what it had, and rejoins: the group is balanced over three again.
    await waitBalanced(trio, topic, 'the thawed member to rejoin', 20_000);
    frozen.refresh();
    // Deliveries after SIGCONT of a partition it had lost, before an 'assigned' line gave it back.
    // It may be given them again on rejoining: the client's own 'partitions assigned' log line
    // says when it began taking them (its time minus its `ms`), before any read; the sampled
    // 'assigned' line may come a few ms after the first delivery.
    const regainedAt = (partition: string): number => {
      const sampled = frozen.events.find(
        (event) => event.ev === 'assigned' && event.t > thawedAt && event.partitions?.includes(partition),
      );
      const logged = frozen
        .clientLog()
        .find(
          (line) =>
            line.msg === 'partitions assigned' &&
            Number(line.time) >= Math.floor(thawedAt) &&
            Array.isArray(line.assigned) &&
            line.assigned.includes(partition.replace(':', '/')),
        );
      const loggedAt =
        logged === undefined ? Number.POSITIVE_INFINITY : Number(logged.time) - Number(logged.ms);
      return Math.min(sampled?.t ?? Number.POSITIVE_INFINITY, loggedAt);
    };
    const zombie = frozen.messages.filter((m) => {
      const partition = `${m.topic}:${m.partition}`;
      return m.t >= thawedAt && orphaned.includes(partition) && m.t < regainedAt(partition);
    });
    console.log(
      `after SIGCONT: ${zombie.length} deliveries from partitions it had lost before it was given them again` +
        (zombie.length > 0 ? `: ${JSON.stringify(zombie.slice(0, 3))}` : ''),
    );
    if (zombie.length > 0) {
      const dropped = frozen.events.find((event) => event.ev === 'revoked' && event.t > thawedAt);
      console.log(
        `  first such delivery ${(zombie[0]!.t - thawedAt).toFixed(1)} ms after SIGCONT, last ` +
          `${(zombie.at(-1)!.t - thawedAt).toFixed(1)} ms; its first 'revoked' line ${dropped === undefined ? 'never' : `${(dropped.t - thawedAt).toFixed(1)} ms`} after`,
      );
      const thawedAtMs = thawedAt;
      console.log(
        `  its client log after SIGCONT:\n` +
          frozen
            .clientLog()
            .filter((line) => Number(line.time) >= thawedAtMs - 20)
            .slice(0, 12)
            .map(
              (line) =>
                `    ${(Number(line.time) - thawedAtMs).toFixed(0)} ms ${String(line.msg)} ${JSON.stringify({ ...line, time: undefined, msg: undefined, pid: undefined, hostname: undefined, level: undefined })}`,
            )
            .join('\n'),
      );
      const overlaps = doubleOwnership(trio);
      console.log(
        `  history check: ${overlaps.length} overlaps${overlaps.length > 0 ? `, e.g. ${overlaps[0]}` : ''}`,
      );
    }
    assert.equal(
      zombie.length,
      0,
      'a member that lost its partitions while hung delivers none of them after',
    );
    const produced = await producing.stop();
    await waitDelivered(trio, produced.keys(), 'every message');
    const byPosition = checkContent(trio, produced);
    checkDuplicates(byPosition, trio);
    assertHistoryClean(trio);
    await stopAll(trio);
  });

  test('per-key order end to end: several keyed producers, members joining and leaving cleanly', async () => {
    const topic = 'groups-order';
    const group = 'g-order';
    await admin.createTopic(topic, { partitions: partitionCount });
    const pace = { delayEvery: 20, delayMs: 1 };
    const all: Member[] = [startMember(group, topic, pace), startMember(group, topic, pace)];
    await waitBalanced(all, topic, 'two members');

    // Three producers, each with 20 keys of its own, sending sequence numbers in order.
    const rounds = 250;
    const keysPerProducer = 20;
    const producers = Array.from({ length: 3 }, () => new Producer({ masters, lingerMs: 0 }));
    const producing = producers.map(async (producer, p) => {
      const sends: Promise<unknown>[] = [];
      for (let seq = 0; seq < rounds; seq++) {
        for (let k = 0; k < keysPerProducer; k++) {
          const key = `p${p}-k${k}`;
          sends.push(producer.send(topic, `${key}:${seq}`, { key }));
        }
        await sleep(25);
      }
      await Promise.all(sends);
      await producer.close();
    });

    const producingSince = now();
    let producingUntil = Number.POSITIVE_INFINITY;
    void Promise.all(producing).then(() => (producingUntil = now()));
    await waitUntil(
      () => {
        for (const member of all) member.refresh();
        return all.every((member) => member.messages.length >= 100);
      },
      15_000,
      'both members to be consuming',
    );
    all.push(startMember(group, topic, pace));
    await waitBalanced(all, topic, 'a third joining');
    assert.equal(await all[0]!.stop(), 0);
    await waitBalanced(all, topic, 'a clean leave');
    all.push(startMember(group, topic, pace));
    await waitBalanced(all, topic, 'a fourth joining');
    assert.equal(await all[1]!.stop(), 0);
    await waitBalanced(all, topic, 'another clean leave');
    await Promise.all(producing);
    // The hand-overs must happen while keys are being produced, or order across them is not tested.
    const handOvers = all.flatMap((member) =>
      member.events.filter(
        (event) => event.ev === 'assigned' && event.t > producingSince && event.t < producingUntil,
      ),
    ).length;
    console.log(`per-key order: ${handOvers} assignment changes while the producers were sending`);
    assert.ok(handOvers >= 2, 'members joined and left while the producers were sending');

    const expected = producers.flatMap((_, p) =>
      Array.from({ length: keysPerProducer }, (_, k) => `p${p}-k${k}`).flatMap((key) =>
        Array.from({ length: rounds }, (_, seq) => `${key}:${seq}`),
      ),
    );
    await waitDelivered(all, expected, 'every keyed message');
    const deliveries = all
      .flatMap((member) => member.messages.map((message) => ({ ...message, member: member.label })))
      .sort((a, b) => a.t - b.t);
    const byKey = new Map<string, { seq: number; member: string; t: number }[]>();
    for (const delivery of deliveries) {
      const [key, seq] = delivery.value!.split(':');
      assert.equal(delivery.key, key, 'the message carries its key');
      byKey.set(key!, [
        ...(byKey.get(key!) ?? []),
        { seq: Number(seq), member: delivery.member, t: delivery.t },
      ]);
    }
    assert.equal(byKey.size, producers.length * keysPerProducer);
    for (const [key, seen] of byKey) {
      const seqs = seen.map((each) => each.seq);
      const firstOff = seqs.findIndex((seq, i) => seq !== i);
      assert.equal(
        firstOff,
        -1,
        `key ${key}: sequence numbers delivered in order, each once; at #${firstOff}: ` +
          JSON.stringify(seen.slice(Math.max(0, firstOff - 2), firstOff + 3)),
      );
      assert.equal(seqs.length, rounds, `key ${key}: every sequence number`);
    }
    assertHistoryClean(all);
    await stopAll(all);
  });
});
