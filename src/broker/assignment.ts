// Applies the master's BROKER_ASSIGNMENT to local storage: creates missing topics with all their
// partitions, grows partitions and changes retention / ack floor, then switches what is served.
// Applications run one at a time (a push can arrive while a heartbeat answer is being applied),
// and the last applied one is kept on disk so a restarted broker serves while the master is gone.
import * as path from 'node:path';
import type { Logger } from '../common/index.js';
import { nodeFileIO, writeFileAtomic } from '../common/file-io.js';
import { brokerAssignmentSchema, decodeJson, type BrokerAssignment } from '../protocol/index.js';
import type { StorageEngine, TopicConfig, TopicInfo } from '../storage/index.js';
import type { Hosting } from './hosting.js';
import { readFile } from 'node:fs/promises';

type AssignedTopic = BrokerAssignment['topics'][number];

const fileName = 'broker-assignment.json';

/** Serialised application of assignments; tracks the version applied for heartbeats. */
export class AssignmentApplier {
  readonly #storage: StorageEngine;
  readonly #hosting: Hosting;
  readonly #logger: Logger;
  readonly #file: string;
  #queue: Promise<void> = Promise.resolve();
  #appliedVersion = 0;
  /** The newest version queued, so a stale heartbeat answer behind a push is skipped. */
  #queuedVersion = -1;

  constructor(storage: StorageEngine, hosting: Hosting, dataDir: string, logger: Logger) {
    this.#storage = storage;
    this.#hosting = hosting;
    this.#logger = logger;
    this.#file = path.join(dataDir, fileName);
  }

  /** The metadata version whose assignment is fully applied (0 before any). */
  get appliedVersion(): number {
    return this.#appliedVersion;
  }

  /**
   * Serves the assignment saved by the last run, if any, so a broker restarted while the master is
   * away keeps serving what it served. Runs at start, before the port opens.
   */
  async restore(): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(this.#file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const saved = decodeJson(brokerAssignmentSchema, text, fileName);
      const stored = new Set(this.#storage.listTopics().map((topic) => topic.name));
      this.#hosting.set(saved, stored);
      // Not marked applied: the master still gets appliedVersion 0 and sends the current one.
    } catch (error) {
      this.#logger.warn({ err: error, file: this.#file }, 'saved assignment unreadable; ignored');
    }
  }

  /**
   * Queues `assignment` behind any application running. Unless `force` (a fresh REGISTER answer,
   * authoritative even if its version did not move), one older than what is queued is skipped.
   * Resolves once applied; a topic that fails is logged and leaves appliedVersion behind, so the
   * master resends the assignment with the next heartbeat answer and the application is retried.
   */
  apply(assignment: BrokerAssignment, force = false): Promise<void> {
    if (!force && assignment.version <= this.#queuedVersion) return this.#queue;
    this.#queuedVersion = Math.max(this.#queuedVersion, assignment.version);
    const run = this.#queue.then(() => this.#applyNow(assignment));
    this.#queue = run.catch((error: unknown) =>
      this.#logger.error({ err: error, version: assignment.version }, 'applying an assignment failed'),
    );
    return this.#queue;
  }

  /** Resolves when no application is running or queued. */
  idle(): Promise<void> {
    return this.#queue;
  }

  async #applyNow(assignment: BrokerAssignment): Promise<void> {
    const applied = new Set<string>();
    let failed = 0;
    // One lookup table per application: a thousand-topic assignment must not list the topics a
    // thousand times (every topic created anywhere re-sends the whole assignment).
    const stored = new Map(this.#storage.listTopics().map((info) => [info.name, info]));
    for (const topic of assignment.topics) {
      try {
        await this.#applyTopic(topic, stored.get(topic.name));
        applied.add(topic.name);
      } catch (error) {
        failed++;
        this.#logger.error({ err: error, topic: topic.name }, 'cannot apply topic of the assignment');
      }
    }
    this.#hosting.set(assignment, applied);
    if (failed > 0) {
      // Let the version through again next heartbeat: the retry may succeed (disk freed, …).
      this.#queuedVersion = Math.min(this.#queuedVersion, this.#appliedVersion);
      return;
    }
    this.#appliedVersion = assignment.version;
    this.#logger.info({ version: assignment.version, topics: applied.size }, 'assignment applied');
    try {
      await writeFileAtomic(nodeFileIO, this.#file, Buffer.from(JSON.stringify(assignment), 'utf8'));
    } catch (error) {
      this.#logger.warn({ err: error, file: this.#file }, 'cannot save the assignment; served anyway');
    }
  }

  async #applyTopic(topic: AssignedTopic, existing: TopicInfo | undefined): Promise<void> {
    const storage = this.#storage;
    const wanted: TopicConfig = {
      partitions: topic.partitions,
      stores: topic.stores,
      retentionMs: topic.retentionMs,
      retentionBytes: topic.retentionBytes,
      ackFloor: topic.ackFloor,
    };
    if (existing === undefined) {
      await storage.createTopic(topic.name, wanted, { ifNotExists: true });
      return;
    }
    const changes: Partial<Omit<TopicConfig, 'stores'>> = {};
    if (wanted.partitions > existing.partitions) changes.partitions = wanted.partitions;
    if (wanted.partitions < existing.partitions) {
      this.#logger.warn(
        { topic: topic.name, local: existing.partitions, assigned: wanted.partitions },
        'assignment has fewer partitions than stored; partitions only grow, keeping them',
      );
    }
    if (wanted.stores !== existing.stores) {
      this.#logger.warn(
        { topic: topic.name, local: existing.stores, assigned: wanted.stores },
        'assignment has another store count; stores cannot change, keeping the local one',
      );
    }
    if (wanted.retentionMs !== existing.retentionMs) changes.retentionMs = wanted.retentionMs;
    if (wanted.retentionBytes !== existing.retentionBytes) changes.retentionBytes = wanted.retentionBytes;
    if (wanted.ackFloor !== existing.ackFloor) changes.ackFloor = wanted.ackFloor;
    if (Object.keys(changes).length > 0) await storage.alterTopic(topic.name, changes);
  }
}
