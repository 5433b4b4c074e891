// One consumer group on the master: its members, their targets and what they report owning, and
// the hand-over rule that keeps a partition from ever having two owners (contract §2): a member is
// pushed its target minus every partition another member still reports owning, so a moving
// partition reaches its new owner only after the old one has said it let go.
import type { Logger } from '../common/index.js';
import { groupAssignmentPush, type GroupState, type Session } from '../protocol/index.js';
import { balanceGroup } from './group-balancer.js';
import { keyToPartition, type GroupShape } from './group-shape.js';

/** A member of a group as the master tracks it. */
export interface GroupMember {
  readonly memberId: string;
  readonly clientId: string;
  /** The connection it joined on: pushes go there, and its close removes the member. */
  readonly session: Session;
  readonly sessionTimeoutMs: number;
  readonly joinedAtMs: number;
  lastHeartbeatAtMs: number;
  /** The bound session key it joined with, if any. */
  readonly sessionKey: string | undefined;
  /** Evicted by a newer bound session: it gets nothing and is removed once it owns nothing. */
  evicted: boolean;
  /** What it last reported owning (partition keys in the group's order). */
  owned: string[];
  /** Its share of the target now (empty while the group is paused or it is evicted). */
  target: string[];
  /** Its last balanced share, kept through pauses so the same partitions come back afterwards. */
  balanced: string[];
  /** The set last pushed to it; undefined before the first push. */
  pushed: string[] | undefined;
}

/** A group's members and targets. The coordinator decides when; this class works out what. */
export class ConsumerGroup {
  readonly members = new Map<string, GroupMember>();
  /** Set by the first member, forgotten when the last one leaves. */
  shape: GroupShape | undefined;
  /** Grows with every change of any member's target. */
  generation = 0;
  /** Operations that need every partition released (bound session, forced reset) in progress. */
  pauses = 0;
  /** The bound session key whose offsets are being applied now, if any. */
  applyingSessionKey: string | undefined;
  /** When the change being worked out started (a join, leave, expiry or pause); for 'group stable'. */
  private changeStartedAtMs: number | undefined;
  private readonly unownedWaiters = new Set<() => void>();

  constructor(
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  /** Notes that membership (or a pause) changed now, unless a change is already being worked out. */
  markChange(): void {
    this.changeStartedAtMs ??= Date.now();
  }

  /** Whether no member reports owning anything. */
  get unowned(): boolean {
    for (const member of this.members.values()) if (member.owned.length > 0) return false;
    return true;
  }

  /** Resolves once {@link unowned}; `reconcile` (which runs after every report) checks. */
  whenUnowned(): { promise: Promise<void>; cancel: () => void } {
    let finish!: () => void;
    const promise = new Promise<void>((resolve) => {
      finish = () => {
        this.unownedWaiters.delete(finish);
        resolve();
      };
    });
    this.unownedWaiters.add(finish);
    if (this.unowned) finish();
    return { promise, cancel: () => this.unownedWaiters.delete(finish) };
  }

  /** `stable` when every member owns exactly its target, `empty` without members. */
  get state(): GroupState {
    if (this.members.size === 0) return 'empty';
    if (this.pauses > 0) return 'rebalancing';
    for (const member of this.members.values()) {
      if (member.evicted || !sameKeys(member.owned, member.target)) return 'rebalancing';
    }
    return 'stable';
  }

  /**
   * Recomputes every target over `partitions` (sorted keys), bumps the generation if any target
   * changed, removes evicted members that own nothing (returned, so the coordinator can remember
   * them for STALE_SESSION), pushes each member whose allowed set changed, and logs 'group stable'
   * when a change has settled.
   */
  reconcile(partitions: readonly string[]): GroupMember[] {
    const removed: GroupMember[] = [];
    for (const member of [...this.members.values()]) {
      if (member.evicted && member.owned.length === 0) {
        this.members.delete(member.memberId);
        removed.push(member);
      }
    }
    const active = [...this.members.values()]
      .filter((member) => !member.evicted)
      .sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
    if (this.pauses === 0) {
      const balanced = balanceGroup({
        partitions,
        members: active.map((member) => member.memberId),
        previous: new Map(active.map((member) => [member.memberId, member.balanced])),
        owned: new Map(active.map((member) => [member.memberId, member.owned])),
      });
      for (const member of active) member.balanced = balanced.get(member.memberId) ?? [];
    }
    let changed = false;
    for (const member of this.members.values()) {
      const target = this.pauses > 0 || member.evicted ? [] : member.balanced;
      if (!sameKeys(target, member.target)) changed = true;
      member.target = target;
    }
    if (changed) this.generation++;
    this.push();
    this.noteSettled();
    if (this.unowned) for (const finish of [...this.unownedWaiters]) finish();
    return removed;
  }

  // Each member may own its target minus what others still report: revoke before grant.
  private push(): void {
    const ownerCount = new Map<string, number>();
    for (const member of this.members.values()) {
      for (const key of member.owned) ownerCount.set(key, (ownerCount.get(key) ?? 0) + 1);
    }
    for (const member of this.members.values()) {
      const mine = new Set(member.owned);
      const allowed = member.target.filter(
        (key) => (ownerCount.get(key) ?? 0) - (mine.has(key) ? 1 : 0) === 0,
      );
      if (member.pushed !== undefined && sameKeys(allowed, member.pushed)) continue;
      if (member.session.connection.closed) continue;
      member.pushed = allowed;
      member.session.connection.push(
        groupAssignmentPush.opcode,
        groupAssignmentPush.encode({
          group: this.name,
          memberId: member.memberId,
          generation: this.generation,
          partitions: allowed.map(keyToPartition),
        }),
      );
    }
  }

  private noteSettled(): void {
    if (this.members.size === 0) {
      this.changeStartedAtMs = undefined;
      return;
    }
    if (this.changeStartedAtMs === undefined || this.state !== 'stable') return;
    const rebalanceMs = Date.now() - this.changeStartedAtMs;
    this.changeStartedAtMs = undefined;
    this.logger.info(
      { group: this.name, generation: this.generation, members: this.members.size, rebalanceMs },
      'group stable',
    );
  }
}

/** Whether two key lists hold the same keys (both are in the group's order, without duplicates). */
export function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, index) => key === b[index]);
}
