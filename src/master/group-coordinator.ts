// The master's consumer-group coordinator (DESIGN.md §6, contract §1-§9): members join, heartbeat
// and leave; a member whose connection closes is gone at once and one that stops heartbeating is
// swept within 250 ms of its session timeout; every change is balanced and pushed at once (not on
// a 60 s timer like upstream). Bound sessions and offset resets pause the group: every partition
// is revoked, the offsets are committed on the brokers once nobody owns anything, then the group
// is assigned again.
import { randomBytes } from 'node:crypto';
import { TubeError, isTubeError, type Logger } from '../common/index.js';
import {
  type DescribeGroupResponse,
  type GroupHeartbeatRequest,
  type GroupHeartbeatResponse,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type ListGroupsResponse,
  type PartitionOffsetEntry,
  type Session,
  sessionTimeoutMsLimits,
} from '../protocol/index.js';
import type { BrokerCaller } from './broker-caller.js';
import { ConsumerGroup, type GroupMember } from './consumer-group.js';
import {
  describeShapeDifference,
  keyToPartition,
  normalizeShape,
  partitionKey,
  requirePartition,
  shapePartitions,
} from './group-shape.js';
import type { MetaStore } from './meta-store.js';
import { pastSessionKeysMax } from './meta-state.js';

/** How often members are checked for a missed session timeout, in ms. */
export const groupSweepIntervalMs = 250;
/** Members remembered as evicted (for STALE_SESSION answers) across all groups. */
const evictedRememberedMax = 10_000;
/** Delay before a failed bound-session apply is tried again, in ms. */
const applyRetryDelayMs = 1000;

/** What the coordinator needs. */
export interface GroupCoordinatorOptions {
  store: MetaStore;
  brokers: BrokerCaller;
  logger: Logger;
  /** Heartbeat interval told to members (capped at a third of their session timeout). */
  heartbeatIntervalMs: number;
  /** How long a pause waits for members to release everything before giving up. */
  pauseTimeoutMs: number;
}

/** Consumer groups: membership, balancing, bound sessions and offset resets. */
export class GroupCoordinator {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly evicted = new Map<string, string>();
  private readonly pending = new Set<ConsumerGroup>();
  private readonly sweeper: NodeJS.Timeout;
  private reconcileScheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(private readonly options: GroupCoordinatorOptions) {
    this.sweeper = setInterval(() => this.sweep(), groupSweepIntervalMs);
    this.sweeper.unref();
  }

  /** JOIN_GROUP: validates, checks the group's shape and bound session, adds the member. */
  async join(request: JoinGroupRequest, session: Session): Promise<JoinGroupResponse> {
    const { store } = this.options;
    const lookup = (topic: string) => store.topic(topic);
    const clientId = checkedClientId(request.clientId);
    const shape = normalizeShape(request.subscriptions);
    shapePartitions(shape, lookup); // NOT_FOUND for an unknown topic
    const bound = request.bound;
    if (bound !== undefined) checkOffsets(bound.offsets, lookup, new Set(shape.map(({ topic }) => topic)));
    const sessionTimeoutMs = request.sessionTimeoutMs ?? sessionTimeoutMsLimits.default;

    return store.exclusive(async () => {
      this.checkShape(request.group, shape);
      let applyOffsets: PartitionOffsetEntry[] | undefined;
      if (bound !== undefined) {
        const record = store.groupSession(request.group);
        if (record?.sessionKey === bound.sessionKey) {
          const group = this.groups.get(request.group);
          if (!record.applied && group?.applyingSessionKey !== bound.sessionKey) applyOffsets = bound.offsets;
        } else if (record?.pastKeys.includes(bound.sessionKey) === true) {
          throw staleSession(request.group, record.sessionKey);
        } else {
          await store.saveGroupSession({
            group: request.group,
            sessionKey: bound.sessionKey,
            applied: false,
            pastKeys:
              record === undefined ? [] : [...record.pastKeys, record.sessionKey].slice(-pastSessionKeysMax),
          });
          this.evictOtherSessions(request.group, bound.sessionKey);
          applyOffsets = bound.offsets;
        }
      }
      // The group may have changed while the session was written.
      this.checkShape(request.group, shape);
      if (session.connection.closed) throw new TubeError('UNAVAILABLE', 'connection closed while joining');

      const group = this.groupFor(request.group);
      const now = Date.now();
      const member: GroupMember = {
        memberId: `${clientId}-${randomBytes(6).toString('hex')}`,
        clientId,
        session,
        sessionTimeoutMs,
        joinedAtMs: now,
        lastHeartbeatAtMs: now,
        sessionKey: bound?.sessionKey,
        evicted: false,
        owned: [],
        target: [],
        balanced: [],
        pushed: undefined,
      };
      group.members.set(member.memberId, member);
      group.shape ??= shape;
      group.markChange();
      session.onClose(() => this.removeMember(group, member.memberId, 'connection closed'));
      this.options.logger.info(
        {
          group: group.name,
          memberId: member.memberId,
          host: session.remoteAddress,
          members: group.members.size,
        },
        'group member joined',
      );
      if (applyOffsets !== undefined && bound !== undefined) {
        this.applySession(group, bound.sessionKey, applyOffsets);
      }
      // After the answer is on its way, so the member knows its id before its first push.
      this.scheduleReconcile(group);
      return {
        memberId: member.memberId,
        generation: group.generation,
        heartbeatIntervalMs: Math.max(
          1,
          Math.min(this.options.heartbeatIntervalMs, Math.floor(sessionTimeoutMs / 3)),
        ),
        sessionTimeoutMs,
      };
    });
  }

  /** GROUP_HEARTBEAT: the member is alive and owns `owned`. */
  heartbeat(request: GroupHeartbeatRequest): GroupHeartbeatResponse {
    const group = this.groups.get(request.group);
    const member = group?.members.get(request.memberId);
    if (group === undefined || member === undefined) {
      if (this.evicted.has(evictedKey(request.group, request.memberId))) {
        const record = this.options.store.groupSession(request.group);
        throw staleSession(request.group, record?.sessionKey);
      }
      throw new TubeError(
        'NOT_REGISTERED',
        `member ${JSON.stringify(request.memberId)} is not in group "${request.group}"`,
        {
          details: { group: request.group, memberId: request.memberId },
          hint: 'the member timed out or the master restarted; release its partitions and join again',
        },
      );
    }
    member.lastHeartbeatAtMs = Date.now();
    const owned = this.ownedKeys(group, request.owned);
    if (owned.join(',') !== member.owned.join(',')) {
      member.owned = owned;
      this.scheduleReconcile(group);
    }
    return { generation: group.generation };
  }

  /** LEAVE_GROUP: the member leaves at once; leaving twice is no error. */
  leave(groupName: string, memberId: string): void {
    const group = this.groups.get(groupName);
    if (group !== undefined) this.removeMember(group, memberId, 'left', true);
  }

  /** LIST_GROUPS: groups with members or a bound session, sorted by name. */
  listGroups(): ListGroupsResponse {
    const names = new Set<string>();
    for (const [name, group] of this.groups) if (group.members.size > 0) names.add(name);
    for (const { group } of this.options.store.groupSessions()) names.add(group);
    return {
      groups: [...names].sort().map((name) => {
        const group = this.groups.get(name);
        return {
          group: name,
          state: group?.state ?? 'empty',
          members: group?.members.size ?? 0,
          topics: (group?.shape ?? []).map(({ topic }) => topic),
        };
      }),
    };
  }

  /** DESCRIBE_GROUP: state, shape, session and members; `empty` for a group nobody is in. */
  describe(groupName: string): DescribeGroupResponse {
    const group = this.groups.get(groupName);
    const record = this.options.store.groupSession(groupName);
    const members = [...(group?.members.values() ?? [])].sort((a, b) =>
      a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
    );
    return {
      group: groupName,
      state: group?.state ?? 'empty',
      generation: group?.generation ?? 0,
      subscriptions: group?.shape ?? [],
      ...(record === undefined
        ? {}
        : { session: { sessionKey: record.sessionKey, applied: record.applied } }),
      members: members.map((member) => ({
        memberId: member.memberId,
        clientId: member.clientId,
        host: member.session.remoteAddress,
        joinedAtMs: member.joinedAtMs,
        lastHeartbeatAtMs: member.lastHeartbeatAtMs,
        assigned: member.target.map(keyToPartition),
        owned: member.owned.map(keyToPartition),
      })),
    };
  }

  /**
   * RESET_GROUP_OFFSETS: commits at once without members; with members only when `force`, after
   * every partition was released (then the group is assigned again).
   */
  async resetOffsets(
    groupName: string,
    offsets: readonly PartitionOffsetEntry[],
    force: boolean,
  ): Promise<number> {
    const lookup = (topic: string) => this.options.store.topic(topic);
    for (const { topic, partition } of offsets) requirePartition(lookup, topic, partition);
    const group = this.groups.get(groupName);
    if (group === undefined || group.members.size === 0) {
      await this.options.brokers.commitOffsets(groupName, offsets);
      this.options.logger.info({ group: groupName, partitions: offsets.length }, 'group offsets reset');
      return offsets.length;
    }
    if (!force) {
      throw new TubeError('GROUP_NOT_EMPTY', `group "${groupName}" has ${group.members.size} live members`, {
        details: { group: groupName, members: group.members.size },
        hint: 'stop the consumers first, or pass --force to pause them while the offsets change',
      });
    }
    await this.paused(group, async () => {
      await this.waitUnowned(group);
      await this.options.brokers.commitOffsets(groupName, offsets);
    });
    this.options.logger.info(
      { group: groupName, partitions: offsets.length, members: group.members.size },
      'group offsets reset with members paused',
    );
    return offsets.length;
  }

  /** DELETE_GROUP: offsets on every online broker and the bound session; refused with members. */
  async deleteGroup(groupName: string): Promise<number> {
    const { store, brokers, logger } = this.options;
    const group = this.groups.get(groupName);
    if (group !== undefined && group.members.size > 0) {
      throw new TubeError('GROUP_NOT_EMPTY', `group "${groupName}" has ${group.members.size} live members`, {
        details: { group: groupName, members: group.members.size },
        hint: 'stop its consumers first',
      });
    }
    const deleted = await brokers.deleteGroupOffsets(groupName);
    const hadSession = await store.exclusive(async () => {
      if (store.groupSession(groupName) === undefined) return false;
      await store.deleteGroupSession(groupName);
      return true;
    });
    if (!hadSession && deleted === 0) {
      throw new TubeError('NOT_FOUND', `group "${groupName}" does not exist`, {
        details: { group: groupName },
        hint: 'see the groups with `tubemq group list`',
      });
    }
    logger.info({ group: groupName, deletedOffsets: deleted, hadSession }, 'group deleted');
    return deleted;
  }

  /** Stops the sweeper and pending work; members are dropped with their connections. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.reconcileScheduled !== undefined) clearImmediate(this.reconcileScheduled);
  }

  private groupFor(name: string): ConsumerGroup {
    let group = this.groups.get(name);
    if (group === undefined) {
      group = new ConsumerGroup(name, this.options.logger);
      this.groups.set(name, group);
    }
    return group;
  }

  private checkShape(groupName: string, shape: ReturnType<typeof normalizeShape>): void {
    const group = this.groups.get(groupName);
    if (group?.shape === undefined || group.members.size === 0) return;
    const difference = describeShapeDifference(group.shape, shape);
    if (difference !== undefined) {
      throw new TubeError('GROUP_MISMATCH', `group "${groupName}" differs: ${difference}`, {
        details: { group: groupName },
        hint: 'every member of a group must read the same topics with the same filters; use another group name',
      });
    }
  }

  // Members of another session key give everything up and are then removed (STALE_SESSION on
  // their next heartbeat). Members that joined without a key stay: the pause revokes them too.
  private evictOtherSessions(groupName: string, sessionKey: string): void {
    const group = this.groups.get(groupName);
    if (group === undefined) return;
    for (const member of group.members.values()) {
      if (member.sessionKey !== undefined && member.sessionKey !== sessionKey && !member.evicted) {
        member.evicted = true;
        group.markChange();
        this.options.logger.info(
          { group: groupName, memberId: member.memberId, sessionKey: member.sessionKey },
          'group member evicted by a newer session',
        );
      }
    }
    this.scheduleReconcile(group);
  }

  // Bound session: revoke all, wait until nothing is owned, commit, record applied, assign again.
  // A passing failure (a broker down, a member slow to let go) is retried while the key is current
  // and the group has members; a later join with the same key starts over if everyone left.
  private applySession(
    group: ConsumerGroup,
    sessionKey: string,
    offsets: readonly PartitionOffsetEntry[],
  ): void {
    const { store, brokers, logger } = this.options;
    const isCurrent = () => store.groupSession(group.name)?.sessionKey === sessionKey;
    group.applyingSessionKey = sessionKey;
    void this.paused(group, async () => {
      for (;;) {
        try {
          await this.waitUnowned(group);
          if (!isCurrent()) return;
          await brokers.commitOffsets(group.name, offsets);
          await store.exclusive(async () => {
            const record = store.groupSession(group.name);
            if (record?.sessionKey === sessionKey) await store.saveGroupSession({ ...record, applied: true });
          });
          logger.info({ group: group.name, sessionKey, partitions: offsets.length }, 'bound session applied');
          return;
        } catch (error) {
          // A refusal (an offset past a partition's end, a topic gone) will not pass on a retry:
          // the group goes on from its committed offsets, and the next join with this key tries again.
          if (isTubeError(error) && !error.retriable) {
            logger.error(
              { group: group.name, sessionKey, err: error },
              'a broker refused the bound session offsets; the group continues from its committed offsets',
            );
            return;
          }
          logger.warn(
            { group: group.name, sessionKey, err: error },
            'applying a bound session failed; retrying',
          );
          if (this.closed || !isCurrent() || group.members.size === 0) return;
          await new Promise((resolve) => setTimeout(resolve, applyRetryDelayMs));
        }
      }
    }).finally(() => {
      // A newer key may be applying by now; that one is not this one's to clear.
      if (group.applyingSessionKey === sessionKey) group.applyingSessionKey = undefined;
    });
  }

  private async paused<T>(group: ConsumerGroup, work: () => Promise<T>): Promise<T> {
    group.pauses++;
    group.markChange();
    this.scheduleReconcile(group);
    try {
      return await work();
    } finally {
      group.pauses--;
      group.markChange();
      this.scheduleReconcile(group);
    }
  }

  private async waitUnowned(group: ConsumerGroup): Promise<void> {
    const { pauseTimeoutMs } = this.options;
    const waiting = group.whenUnowned();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        waiting.cancel();
        reject(
          new TubeError(
            'UNAVAILABLE',
            `members of group "${group.name}" did not release their partitions within ${pauseTimeoutMs} ms`,
            {
              details: { group: group.name, timeoutMs: pauseTimeoutMs },
              hint: 'try again, or stop the consumers',
            },
          ),
        );
      }, pauseTimeoutMs);
    });
    try {
      await Promise.race([waiting.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Removes a member. Unless it left by itself (having released its leases), the leases it may
   * still hold on the brokers are ended too, so a hung process does not hold its partitions' next
   * owners back for the brokers' lease time.
   */
  private removeMember(group: ConsumerGroup, memberId: string, reason: string, leftCleanly = false): void {
    const member = group.members.get(memberId);
    if (member === undefined) return;
    group.members.delete(memberId);
    if (!leftCleanly && member.owned.length > 0) {
      this.options.brokers
        .releaseLeases(group.name, memberId, member.owned.map(keyToPartition))
        .catch((error: unknown) =>
          this.options.logger.warn(
            { group: group.name, memberId, err: error },
            "could not end a removed member's leases; they expire on the brokers",
          ),
        );
    }
    if (member.evicted) this.rememberEvicted(group.name, memberId);
    group.markChange();
    this.options.logger.info(
      { group: group.name, memberId, reason, members: group.members.size },
      'group member removed',
    );
    this.scheduleReconcile(group);
  }

  private rememberEvicted(groupName: string, memberId: string): void {
    this.evicted.set(evictedKey(groupName, memberId), groupName);
    if (this.evicted.size > evictedRememberedMax) {
      const oldest = this.evicted.keys().next().value;
      if (oldest !== undefined) this.evicted.delete(oldest);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const group of this.groups.values()) {
      for (const member of [...group.members.values()]) {
        if (now - member.lastHeartbeatAtMs > member.sessionTimeoutMs) {
          this.removeMember(group, member.memberId, `no heartbeat for ${member.sessionTimeoutMs} ms`);
        }
      }
    }
  }

  private scheduleReconcile(group: ConsumerGroup): void {
    if (this.closed) return;
    this.pending.add(group);
    this.reconcileScheduled ??= setImmediate(() => {
      this.reconcileScheduled = undefined;
      const groups = [...this.pending];
      this.pending.clear();
      for (const each of groups) this.reconcile(each);
    });
  }

  private reconcile(group: ConsumerGroup): void {
    let partitions: string[];
    try {
      partitions = shapePartitions(group.shape ?? [], (topic) => this.options.store.topic(topic));
    } catch (error) {
      this.options.logger.error({ group: group.name, err: error }, 'a topic of the group is gone');
      partitions = [];
    }
    for (const removed of group.reconcile(partitions)) {
      this.rememberEvicted(group.name, removed.memberId);
      this.options.logger.info(
        { group: group.name, memberId: removed.memberId },
        'evicted member released all',
      );
    }
    if (group.members.size === 0) {
      group.shape = undefined;
      if (group.pauses === 0 && this.groups.get(group.name) === group) this.groups.delete(group.name);
    }
  }

  /** `owned` as keys in the group's order, keeping only partitions of the group. */
  private ownedKeys(group: ConsumerGroup, owned: GroupHeartbeatRequest['owned']): string[] {
    let partitions: string[];
    try {
      partitions = shapePartitions(group.shape ?? [], (topic) => this.options.store.topic(topic));
    } catch {
      partitions = [];
    }
    const reported = new Set(owned.map(({ topic, partition }) => partitionKey(topic, partition)));
    return partitions.filter((key) => reported.has(key));
  }
}

function evictedKey(group: string, memberId: string): string {
  return `${group}\u0000${memberId}`;
}

function staleSession(group: string, currentKey: string | undefined): TubeError {
  return new TubeError('STALE_SESSION', `group "${group}" has moved on to a newer session key`, {
    details: { group, ...(currentKey === undefined ? {} : { sessionKey: currentKey }) },
    hint:
      currentKey === undefined
        ? 'start the consumer with a new session key'
        : `the current session key is ${JSON.stringify(currentKey)}; start with it or a new one`,
  });
}

function checkedClientId(clientId: string): string {
  if ([...clientId].some((character) => character < ' ' || character === '\x7f')) {
    throw new TubeError('BAD_REQUEST', 'clientId must not contain control characters');
  }
  // The member id adds `-` and 12 hex digits and must stay within 255 UTF-8 bytes.
  const characters = [...clientId];
  while (Buffer.byteLength(characters.join(''), 'utf8') > 240) characters.pop();
  return characters.join('');
}

function checkOffsets(
  offsets: readonly PartitionOffsetEntry[],
  lookup: Parameters<typeof requirePartition>[0],
  subscribed: ReadonlySet<string>,
): void {
  for (const { topic, partition } of offsets) {
    if (!subscribed.has(topic)) {
      throw new TubeError(
        'BAD_REQUEST',
        `the bound offsets name topic "${topic}", which this member does not read`,
        {
          details: { topic },
          hint: 'give offsets only for the subscribed topics',
        },
      );
    }
    requirePartition(lookup, topic, partition);
  }
}
