// The consumer's options and the shapes its methods take and give: the public vocabulary of
// consumer.ts, kept apart so the class reads as behaviour.
import type { ClientOptions } from './options.js';
import type { ConsumerStart } from './consumed-message.js';

/** A bound start of a balanced group (TubeMQ's precise offset reset). */
export interface BoundStart {
  /**
   * Names this start: the offsets are applied once per key, however many members join with it; a
   * member with a key the group has moved past is refused STALE_SESSION.
   */
  sessionKey: string;
  /** `{topic: {partition: offset}}`, each the next offset to consume. */
  offsets: Record<string, Record<number, number>>;
}

/** Options of a {@link Consumer}. */
export interface ConsumerOptions extends ClientOptions {
  /** The consumer group (1 to 255 UTF-8 bytes, no control characters): members share its partitions and commits. */
  group: string;
  /** Topics to read. Every member of a balanced group must read the same topics with the same filters. */
  topics: string[];
  /**
   * Stream ids to read per topic (TubeMQ's msgType filters): at most 500 per topic, each 1 to 256
   * UTF-8 bytes. The broker skips other streams by a hash of the id without reading them; the
   * consumer checks each message's real id again. Positions still move past skipped messages.
   */
  filters?: Record<string, string[]>;
  /**
   * Read these partitions per topic (every partition of a topic not named) instead of joining the
   * balanced group: client-side assignment. The partitions' leases are still taken, so two
   * consumers of a group never read one partition; start() rejects PARTITION_OWNED_BY_OTHER when
   * another holds one.
   */
  partitions?: Record<string, number[]>;
  /**
   * Where to start in a partition the group has no commit for: `'earliest'`, or `'latest'` (so is
   * `'committed'`). A partition with a commit starts at the commit (moved into the stored range).
   * An explicit `{topic: {partition: offset}}` map or `{timestampMs}` wins over commits with
   * client-side assignment (an offset outside the stored range rejects OFFSET_OUT_OF_RANGE naming
   * the range); in a balanced group it only applies where there is no commit. Default `'committed'`.
   */
  start?: ConsumerStart;
  /** Start a balanced group at exact offsets, applied once per session key (see {@link BoundStart}). */
  bound?: BoundStart;
  /**
   * Milliseconds the master waits for this member's heartbeat before giving its partitions to
   * others (1000 to 300000). Default 10000.
   */
  sessionTimeoutMs?: number;
  /** Commit positions every `autoCommitIntervalMs` (failures are logged and tried again next time). Default true. */
  autoCommit?: boolean;
  /** Milliseconds between automatic commits. Default 5000. */
  autoCommitIntervalMs?: number;
  /** How long the broker holds a fetch open waiting for new messages, in ms. Default 500. */
  maxWaitMs?: number;
  /** Bytes one fetch of one partition returns at most. Default 1 MiB. */
  fetchBytes?: number;
  /**
   * Whether this consumer stores commits at all. `false` makes commit(), auto-commit, revocations
   * and close() store nothing (a throwaway group, as the CLI's); the start still reads the group's
   * commits. Default true.
   */
  commit?: boolean;
}

/** Options of one {@link Consumer.poll}. */
export interface PollOptions {
  /** Most messages returned. Default 1000. */
  maxMessages?: number;
  /** Milliseconds to wait when nothing is buffered; `[]` when it passes. Default 1000. */
  timeoutMs?: number;
}

/** A partition's read position: the next offset to hand out, and the latest offset seen. */
export interface PartitionPosition {
  topic: string;
  partition: number;
  /** The offset of the next message to hand out (commit() would store it once the application is done). */
  position: number;
  /** The latest offset the broker reported at the last fetch (the offset the next message gets). */
  latest: number;
}
