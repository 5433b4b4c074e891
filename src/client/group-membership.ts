// A balanced consumer's membership of its group at the master: its own master connection (which
// carries the GROUP_ASSIGNMENT pushes, and whose close leaves the group), JOIN_GROUP, heartbeats
// reporting the partitions owned, and turning each pushed assignment into steps the consumer
// carries out in order: first give up what was revoked (stop, commit, release — then heartbeat at
// once, so the master can hand those partitions on), then take what was added (claim, start —
// heartbeating as they start). Everything runs one step at a time on one queue, so a rejoin or
// close never overlaps a rebalance step.
import { backoffMs, TubeError } from '../common/index.js';
import {
  callJson,
  dial,
  formatAddress,
  groupAssignmentPush,
  groupHeartbeatMessage,
  joinGroupMessage,
  leaveGroupMessage,
  opcodes,
  type Connection,
  type Frame,
  type GroupAssignment,
  type JoinGroupRequest,
  type TopicPartition,
} from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { partitionKey } from './partition-offsets.js';
import { delay } from './retry.js';

/** What the consumer does when its partitions change. */
export interface MembershipHandlers {
  /** Stops the partitions, commits what the application finished and releases their leases. */
  revoke(partitions: TopicPartition[], memberId: string): Promise<void>;
  /** Stops the partitions without committing (this member may be a zombie) and releases quietly. */
  drop(partitions: TopicPartition[], memberId: string): Promise<void>;
  /**
   * Claims the partitions (retrying while another member's lease lingers) and starts them, calling
   * `started` with each batch as it starts; returns when all started or `signal` aborted.
   */
  assign(
    partitions: TopicPartition[],
    memberId: string,
    signal: AbortSignal,
    started: (partitions: TopicPartition[]) => void,
  ): Promise<void>;
  /** The membership ended for good (STALE_SESSION, or a rejoin refused). */
  fail(error: TubeError): void;
}

/** What a member joins with. */
export interface MembershipOptions {
  group: string;
  subscriptions: JoinGroupRequest['subscriptions'];
  sessionTimeoutMs: number;
  bound?: JoinGroupRequest['bound'];
}

// First join: tries over the master list before start() gives up.
const firstJoinRounds = 5;

/** One consumer's membership of a balanced group. */
export class GroupMembership {
  readonly #cluster: ClusterClient;
  readonly #options: MembershipOptions;
  readonly #handlers: MembershipHandlers;
  readonly #owned = new Map<string, TopicPartition>();
  #masterIndex = 0;
  #connection: Connection | undefined;
  #memberId: string | undefined;
  #generation = -1;
  #heartbeatIntervalMs = 1000;
  #sessionTimeoutMs: number;
  #lastAnswerAt = 0;
  // Pushes for the current connection, newest kept; applied by the queue.
  #pendingPush: GroupAssignment | undefined;
  #earlyPushes: GroupAssignment[] = [];
  #pushGeneration = -1;
  #queue: Promise<void> = Promise.resolve();
  #stepScheduled = false;
  #assignAbort: AbortController | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatRunning = false;
  #heartbeatAgain = false;
  #watchdog: NodeJS.Timeout | undefined;
  #rejoining = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #failed = false;
  #firstApplied!: () => void;
  readonly #firstAssignment = new Promise<void>((resolve) => (this.#firstApplied = resolve));

  constructor(cluster: ClusterClient, options: MembershipOptions, handlers: MembershipHandlers) {
    this.#cluster = cluster;
    this.#options = options;
    this.#handlers = handlers;
    this.#sessionTimeoutMs = options.sessionTimeoutMs;
  }

  /** The member id the master gave at the last join; undefined before. */
  get memberId(): string | undefined {
    return this.#memberId;
  }

  /** The generation of the last assignment applied (-1 before any). */
  get generation(): number {
    return this.#generation;
  }

  /** The partitions this member owns now (started and reported), in no particular order. */
  owned(): TopicPartition[] {
    return [...this.#owned.values()];
  }

  /**
   * Joins the group. Rejects with the master's refusal (GROUP_MISMATCH, STALE_SESSION, BAD_REQUEST,
   * NOT_FOUND) or UNAVAILABLE when no master answered after several rounds.
   */
  async join(): Promise<void> {
    let lastError: unknown;
    for (let round = 1; round <= firstJoinRounds; round++) {
      if (this.#closed) throw new TubeError('UNAVAILABLE', 'the consumer is closed');
      try {
        await this.#joinOnce();
        this.#startTimers();
        return;
      } catch (error) {
        if (!(error instanceof TubeError) || !error.retriable) throw error;
        lastError = error;
        await delay(backoffMs(round));
      }
    }
    throw lastError instanceof Error ? lastError : new TubeError('UNAVAILABLE', 'no master answered');
  }

  /**
   * Whether the master has confirmed this member within the session timeout. False means the master
   * may have given its partitions to others already: nothing may be handed out, committed or
   * claimed, and the partitions are dropped at once.
   */
  sessionFresh(): boolean {
    if (this.#memberId === undefined || this.#closed) return true;
    if (Date.now() - this.#lastAnswerAt <= this.#sessionTimeoutMs) return true;
    this.#checkSession();
    return false;
  }

  /**
   * Resolves once the first pushed assignment has been carried out (its partitions claimed and
   * started), or after `capMs`, or when the membership ends.
   */
  async firstAssignment(capMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#firstAssignment,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, capMs))),
    ]);
    clearTimeout(timer);
  }

  /** Gives every partition up (commit, release), leaves the group and closes the master connection. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#firstApplied();
    this.#assignAbort?.abort();
    clearTimeout(this.#heartbeatTimer);
    clearInterval(this.#watchdog);
    await this.#enqueue(async () => {
      const memberId = this.#memberId;
      if (memberId !== undefined && this.#owned.size > 0) {
        const began = Date.now();
        const owned = this.owned();
        this.#owned.clear();
        await this.#handlers.revoke(owned, memberId);
        this.#logRevoked(memberId, owned, Date.now() - began);
      }
      const connection = this.#connection;
      this.#connection = undefined;
      if (connection !== undefined && memberId !== undefined && !this.#failed) {
        await callJson(
          connection,
          leaveGroupMessage,
          { group: this.#options.group, memberId },
          {
            timeoutMs: this.#cluster.options.requestTimeoutMs,
          },
        ).catch((error: unknown) => this.#cluster.logger.debug({ err: error }, 'leave failed'));
      }
      connection?.close();
    });
  }

  // One JOIN on the first master of the list that answers as the leader; sets the connection.
  async #joinOnce(): Promise<void> {
    const masters = this.#cluster.options.masters;
    let lastError: unknown;
    for (let tried = 0; tried < masters.length; tried++) {
      if (this.#closed) throw new TubeError('UNAVAILABLE', 'the consumer is closed');
      const address = masters[this.#masterIndex]!;
      let connection: Connection | undefined;
      const link: Link = { connection: undefined };
      try {
        ({ connection } = await dial(address, {
          clientId: this.#cluster.options.clientId,
          connectTimeoutMs: this.#cluster.options.connectTimeoutMs,
          requestTimeoutMs: this.#cluster.options.requestTimeoutMs,
          onPush: (frame) => this.#onPush(frame, link),
          onClose: () => this.#onConnectionClosed(link),
        }));
        link.connection = connection;
        this.#memberId = undefined;
        this.#earlyPushes = [];
        this.#pushGeneration = -1;
        this.#connection = connection;
        const request: JoinGroupRequest = {
          group: this.#options.group,
          clientId: this.#cluster.options.clientId,
          subscriptions: this.#options.subscriptions,
          sessionTimeoutMs: this.#options.sessionTimeoutMs,
        };
        if (this.#options.bound !== undefined) request.bound = this.#options.bound;
        const answer = await callJson(connection, joinGroupMessage, request);
        this.#memberId = answer.memberId;
        this.#heartbeatIntervalMs = answer.heartbeatIntervalMs;
        this.#sessionTimeoutMs = answer.sessionTimeoutMs;
        this.#lastAnswerAt = Date.now();
        this.#cluster.logger.info(
          {
            group: this.#options.group,
            memberId: answer.memberId,
            generation: answer.generation,
            master: formatAddress(address),
          },
          'joined the group',
        );
        for (const push of this.#earlyPushes) this.#acceptPush(push);
        this.#earlyPushes = [];
        return;
      } catch (error) {
        if (this.#connection === connection) this.#connection = undefined;
        connection?.close();
        lastError = error;
        if (!(error instanceof TubeError) || !error.retriable) throw error;
        this.#masterIndex = (this.#masterIndex + 1) % masters.length;
      }
    }
    throw lastError instanceof Error ? lastError : new TubeError('UNAVAILABLE', 'no master answered');
  }

  #onPush(frame: Frame, link: Link): void {
    if (frame.opcode !== opcodes.GROUP_ASSIGNMENT) return;
    let push: GroupAssignment;
    try {
      push = groupAssignmentPush.decode(frame.body);
    } catch (error) {
      this.#cluster.logger.warn({ err: error }, 'ignored a malformed GROUP_ASSIGNMENT push');
      return;
    }
    if (link.connection === undefined || link.connection !== this.#connection) return;
    // A push can arrive before the JOIN answer is read: kept until the member id is known.
    if (this.#memberId === undefined) {
      this.#earlyPushes.push(push);
      return;
    }
    this.#acceptPush(push);
  }

  #acceptPush(push: GroupAssignment): void {
    if (push.memberId !== this.#memberId || push.group !== this.#options.group) return;
    if (push.generation < this.#pushGeneration) return;
    this.#pushGeneration = push.generation;
    this.#pendingPush = push;
    // A step still claiming partitions gives way to the newer assignment.
    this.#assignAbort?.abort();
    this.#scheduleStep();
  }

  #scheduleStep(): void {
    if (this.#stepScheduled) return;
    this.#stepScheduled = true;
    void this.#enqueue(async () => {
      this.#stepScheduled = false;
      await this.#applyPending();
    });
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task).catch((error: unknown) => {
      this.#cluster.logger.warn({ err: error, group: this.#options.group }, 'group step failed');
    });
    this.#queue = run;
    return run;
  }

  async #applyPending(): Promise<void> {
    const push = this.#pendingPush;
    this.#pendingPush = undefined;
    const memberId = this.#memberId;
    if (push === undefined || memberId === undefined || this.#closed || this.#failed) return;
    if (push.memberId !== memberId) return;
    const began = Date.now();
    const target = new Map(push.partitions.map((p) => [partitionKey(p.topic, p.partition), p] as const));
    const revoked = [...this.#owned].filter(([key]) => !target.has(key)).map(([, p]) => p);
    const added = [...target].filter(([key]) => !this.#owned.has(key)).map(([, p]) => p);
    const logged = { group: this.#options.group, memberId, generation: push.generation };
    if (revoked.length > 0) {
      await this.#handlers.revoke(revoked, memberId);
      for (const { topic, partition } of revoked) this.#owned.delete(partitionKey(topic, partition));
      this.#heartbeatNow();
      this.#cluster.logger.info(
        { ...logged, assigned: [], revoked: names(revoked), ms: Date.now() - began },
        'partitions revoked',
      );
    }
    this.#generation = push.generation;
    if (added.length === 0 || this.#closed) {
      this.#firstApplied();
      return;
    }
    const abort = new AbortController();
    this.#assignAbort = abort;
    const started: TopicPartition[] = [];
    await this.#handlers.assign(added, memberId, abort.signal, (partitions) => {
      for (const p of partitions) {
        this.#owned.set(partitionKey(p.topic, p.partition), p);
        started.push(p);
      }
      this.#heartbeatNow();
    });
    if (this.#assignAbort === abort) this.#assignAbort = undefined;
    this.#firstApplied();
    if (started.length > 0) {
      this.#cluster.logger.info(
        { ...logged, assigned: names(started), revoked: [], ms: Date.now() - began },
        'partitions assigned',
      );
    }
  }

  #logRevoked(memberId: string, revoked: readonly TopicPartition[], ms: number): void {
    this.#cluster.logger.info(
      {
        group: this.#options.group,
        memberId,
        generation: this.#generation,
        assigned: [],
        revoked: names(revoked),
        ms,
      },
      'partitions revoked',
    );
  }

  #startTimers(): void {
    this.#scheduleHeartbeat();
    clearInterval(this.#watchdog);
    // Checked often: until this member drops its partitions its leases keep the next owner waiting.
    this.#watchdog = setInterval(
      () => this.#checkSession(),
      Math.min(250, Math.max(50, this.#sessionTimeoutMs / 8)),
    );
    this.#watchdog.unref();
  }

  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    if (this.#closed || this.#failed || this.#connection === undefined) return;
    this.#heartbeatTimer = setTimeout(() => this.#heartbeatNow(), this.#heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
  }

  /** Sends a heartbeat now, or right after the one in flight; never two at once. */
  #heartbeatNow(): void {
    if (this.#closed || this.#failed || this.#rejoining || this.#connection === undefined) return;
    if (this.#heartbeatRunning) {
      this.#heartbeatAgain = true;
      return;
    }
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatRunning = true;
    void this.#heartbeat().finally(() => {
      this.#heartbeatRunning = false;
      if (this.#heartbeatAgain) {
        this.#heartbeatAgain = false;
        this.#heartbeatNow();
      } else {
        this.#scheduleHeartbeat();
      }
    });
  }

  async #heartbeat(): Promise<void> {
    const connection = this.#connection;
    const memberId = this.#memberId;
    if (connection === undefined || memberId === undefined) return;
    // The master saw this member alive when the heartbeat left, not when its answer was read: after
    // a process pause the answer may have waited in the socket for longer than the session.
    const sentAt = Date.now();
    try {
      await callJson(
        connection,
        groupHeartbeatMessage,
        {
          group: this.#options.group,
          memberId,
          owned: this.owned().map(({ topic, partition }) => ({ topic, partition })),
        },
        { timeoutMs: this.#sessionTimeoutMs },
      );
      if (connection === this.#connection) this.#lastAnswerAt = Math.max(this.#lastAnswerAt, sentAt);
    } catch (error) {
      if (connection !== this.#connection || this.#closed) return;
      if (error instanceof TubeError && error.errorName === 'STALE_SESSION') {
        this.#fail(error);
      } else if (error instanceof TubeError && error.errorName === 'NOT_REGISTERED') {
        this.#cluster.logger.warn(
          { group: this.#options.group, memberId },
          'the master does not know this member; joining again',
        );
        this.#rejoin(true);
      } else {
        this.#cluster.logger.debug({ err: error, group: this.#options.group }, 'heartbeat failed');
      }
    }
  }

  // No heartbeat answer for a session timeout: the master has dropped this member, so whatever it
  // owns may be another's already. Stop at once without committing, then join again.
  #checkSession(): void {
    if (this.#closed || this.#failed || this.#rejoining || this.#memberId === undefined) return;
    if (Date.now() - this.#lastAnswerAt <= this.#sessionTimeoutMs) return;
    this.#cluster.logger.warn(
      { group: this.#options.group, memberId: this.#memberId, sessionTimeoutMs: this.#sessionTimeoutMs },
      'no heartbeat answer within the session timeout; dropping every partition and joining again',
    );
    this.#rejoin(false);
  }

  #onConnectionClosed(link: Link): void {
    if (link.connection === undefined || link.connection !== this.#connection || this.#closed || this.#failed)
      return;
    this.#cluster.logger.warn(
      { group: this.#options.group, memberId: this.#memberId },
      'master connection closed; joining again',
    );
    this.#rejoin(true);
  }

  // Gives everything up (committing when `commit`, the leases still being ours), then joins again
  // until it works, the consumer closes, or the master refuses for good.
  #rejoin(commit: boolean): void {
    if (this.#rejoining || this.#closed || this.#failed) return;
    this.#rejoining = true;
    this.#assignAbort?.abort();
    clearTimeout(this.#heartbeatTimer);
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.close();
    void this.#enqueue(async () => {
      try {
        const memberId = this.#memberId;
        const owned = this.owned();
        this.#owned.clear();
        this.#pendingPush = undefined;
        if (memberId !== undefined && owned.length > 0) {
          if (commit) await this.#handlers.revoke(owned, memberId);
          else await this.#handlers.drop(owned, memberId);
          this.#logRevoked(memberId, owned, 0);
        }
        for (let attempt = 1; !this.#closed; attempt++) {
          try {
            await this.#joinOnce();
            break;
          } catch (error) {
            if (error instanceof TubeError && !error.retriable) {
              this.#fail(error);
              return;
            }
            await delay(backoffMs(attempt));
          }
        }
      } finally {
        this.#rejoining = false;
      }
      if (!this.#closed && !this.#failed) this.#startTimers();
    });
  }

  #fail(error: TubeError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#firstApplied();
    clearTimeout(this.#heartbeatTimer);
    clearInterval(this.#watchdog);
    this.#cluster.logger.warn(
      { err: error, group: this.#options.group, memberId: this.#memberId },
      'left the group for good',
    );
    const connection = this.#connection;
    this.#connection = undefined;
    void this.#enqueue(async () => {
      const memberId = this.#memberId;
      const owned = this.owned();
      this.#owned.clear();
      if (memberId !== undefined && owned.length > 0) await this.#handlers.drop(owned, memberId);
      connection?.close();
    });
    this.#handlers.fail(error);
  }
}

// The connection a dial produced, filled in once it resolves (its callbacks are made before).
interface Link {
  connection: Connection | undefined;
}

function names(partitions: readonly TopicPartition[]): string[] {
  return partitions.map(({ topic, partition }) => partitionKey(topic, partition));
}
