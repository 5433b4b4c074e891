// Shared by the group tests: a group member speaking the raw protocol (its own connection, the
// pushes it gets, the owned set it reports), and a recording logger to read 'group stable' lines.
import { TubeError, createLogger, type Logger } from '../../src/common/index.js';
import type { Master } from '../../src/master/index.js';
import {
  callJson,
  dial,
  groupAssignmentPush,
  groupHeartbeatMessage,
  joinGroupMessage,
  leaveGroupMessage,
  type Connection,
  type GroupAssignment,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type TopicPartition,
} from '../../src/protocol/index.js';

/** `topic:partition`, for readable sets in assertions. */
export const label = ({ topic, partition }: TopicPartition) => `${topic}:${partition}`;
export const labels = (partitions: readonly TopicPartition[]) => partitions.map(label).sort();

/** Every member of a test, to check that no two ever own one partition. */
export type MemberRegistry = Set<TestMember>;

/** Options of {@link TestMember.join}. */
export interface TestMemberOptions {
  /** Take each push as owned and heartbeat at once, like a quick consumer. @default true */
  follow?: boolean;
  /** Members to check against: a push must never grant what another still owns. */
  registry?: MemberRegistry;
}

/** A consumer as the master sees one, driven by hand or following its pushes. */
export class TestMember {
  readonly pushes: GroupAssignment[] = [];
  owned: TopicPartition[] = [];
  /** Pushes that granted a partition another member still owned (must stay empty). */
  readonly violations: string[] = [];
  private readonly waiters = new Set<() => void>();
  memberId = '';
  answer!: JoinGroupResponse;

  private constructor(
    readonly connection: Connection,
    readonly group: string,
    private readonly options: TestMemberOptions,
  ) {}

  /** Dials `master` on a new connection and joins with `request` (group and clientId defaulted). */
  static async join(
    master: Master,
    request: Partial<JoinGroupRequest> & Pick<JoinGroupRequest, 'subscriptions'>,
    options: TestMemberOptions = {},
  ): Promise<TestMember> {
    const holder: { member?: TestMember } = {};
    const early: Buffer[] = [];
    const { connection } = await dial(
      { host: master.host, port: master.port },
      {
        clientId: request.clientId ?? 'member',
        onPush: (frame) => (holder.member ? holder.member.onPush(frame.body) : early.push(frame.body)),
      },
    );
    const member = new TestMember(connection, request.group ?? 'g', options);
    try {
      member.answer = await callJson(connection, joinGroupMessage, {
        group: member.group,
        clientId: 'member',
        ...request,
      });
    } catch (error) {
      connection.close();
      throw error;
    }
    member.memberId = member.answer.memberId;
    holder.member = member;
    options.registry?.add(member);
    for (const body of early) member.onPush(body);
    return member;
  }

  /** The last pushed set, sorted labels; undefined before any push. */
  get assigned(): string[] | undefined {
    const last = this.pushes.at(-1);
    return last === undefined ? undefined : labels(last.partitions);
  }

  /** Reports `owned` (default: what it owns now). */
  async heartbeat(owned: TopicPartition[] = this.owned): Promise<number> {
    this.owned = owned;
    const { generation } = await callJson(this.connection, groupHeartbeatMessage, {
      group: this.group,
      memberId: this.memberId,
      owned,
    });
    return generation;
  }

  async leave(): Promise<void> {
    await callJson(this.connection, leaveGroupMessage, { group: this.group, memberId: this.memberId });
    this.options.registry?.delete(this);
  }

  close(): void {
    this.options.registry?.delete(this);
    this.connection.close();
  }

  /** Resolves once `check` holds (tested after each push), or rejects after `timeoutMs`. */
  async until(check: (member: TestMember) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (check(this)) return;
    await new Promise<void>((resolve, reject) => {
      const onPush = () => {
        if (!check(this)) return;
        clearTimeout(timer);
        this.waiters.delete(onPush);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(onPush);
        reject(
          new Error(`${this.memberId}: ${what} not met within ${timeoutMs} ms; pushes ${this.pushLog()}`),
        );
      }, timeoutMs);
      this.waiters.add(onPush);
    });
  }

  /** Resolves once the last push holds exactly `count` partitions. */
  untilAssigned(count: number, timeoutMs = 5000): Promise<void> {
    return this.until((member) => member.assigned?.length === count, timeoutMs, `${count} partitions`);
  }

  pushLog(): string {
    return JSON.stringify(this.pushes.map((push) => [push.generation, labels(push.partitions)]));
  }

  private onPush(body: Buffer): void {
    const push = groupAssignmentPush.decode(body);
    this.pushes.push(push);
    const mine = new Set(this.owned.map(label));
    for (const other of this.options.registry ?? []) {
      if (other === this) continue;
      const theirs = new Set(other.owned.map(label));
      for (const partition of push.partitions.map(label)) {
        if (!mine.has(partition) && theirs.has(partition)) {
          this.violations.push(`${partition} pushed to ${this.memberId} while ${other.memberId} owned it`);
        }
      }
    }
    if (this.options.follow !== false) {
      this.owned = push.partitions;
      void this.heartbeat().catch((error: unknown) => {
        if (!(error instanceof TubeError)) throw error;
      });
    }
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A logger (info and up) that keeps every line as parsed JSON, to read 'group stable' and the like. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name: 'master',
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}
