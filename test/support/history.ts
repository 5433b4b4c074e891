// The history of a fault test (reliability-anchors.md §5.2): every send and its outcome, every
// message read, every commit, and the faults themselves, as they happened. Kept in memory for the
// checker (history-checker.ts) and appended, one JSON line per event and synchronously, to a file
// in a directory of its own, outside every daemon's data dir, so a crash or a full disk of the
// daemons never touches it and a failed run can be read afterwards.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsumedMessage, Consumer, Producer, SendOptions } from '../../src/client/index.js';
import { TubeError } from '../../src/common/errors.js';

/** An acknowledgement level, as producers name it. */
export type AckLevel = 'memory' | 'written' | 'fsync';

/** A producer was asked to send a message (the invoke). */
export interface SendEvent {
  type: 'send';
  t: number;
  producer: string;
  seq: number;
  topic: string;
  /** Only when the test chose it; otherwise the partitioner did and the ack says which. */
  partition?: number;
  payloadId: string;
  hash: string;
  acks: AckLevel;
}

/** The send of `producer`/`seq` was acknowledged at this partition and offset. */
export interface AckEvent {
  type: 'ack';
  t: number;
  producer: string;
  seq: number;
  topic: string;
  partition: number;
  offset: number;
}

/** The send of `producer`/`seq` failed (after the client's own retries). */
export interface FailEvent {
  type: 'fail';
  t: number;
  producer: string;
  seq: number;
  /** The wire code (507, 503, ...) when the error was a TubeError. */
  code?: number;
  name: string;
  message?: string;
}

/** A place in a partition as one member of a group saw it. */
interface MemberPlace {
  t: number;
  group: string;
  member: string;
  topic: string;
  partition: number;
  offset: number;
}

/** A consumer was handed a message. */
export interface ReadEvent extends MemberPlace {
  type: 'read';
  /** The id the payload carries, or '' when it carries none (an unexpected message). */
  payloadId: string;
  hash: string;
}

/** A commit by a consumer (`ok`), or one refused. */
export interface CommitEvent extends MemberPlace {
  type: 'commit';
  ok: boolean;
  code?: number;
  name?: string;
}

/** A group's committed offset as read back from the broker (e.g. after a restart). */
export interface CommittedEvent {
  type: 'committed';
  t: number;
  group: string;
  topic: string;
  partition: number;
  offset: number;
}

/**
 * A position change the consumer was told to make, or a rebalance: offsets may go back after it.
 * Without member/topic/partition it applies to every one of the group.
 */
export interface ResetEvent {
  type: 'reset';
  t: number;
  group: string;
  member?: string;
  topic?: string;
  partition?: number;
  reason: string;
}

/**
 * A fault the test made. `kill` is recorded just before SIGKILL; `restart` just before the new
 * process is spawned (the old one is dead by then), so an ack received before it came from the
 * old process. Other kinds (`disk-full`, `eio`, `stop`, ...) are markers for the report.
 */
export interface FaultEvent {
  type: 'fault';
  t: number;
  kind: string;
  detail?: string;
}

/** The final drain starts: a brand-new group reads every partition from earliest to `ends`. */
export interface DrainEvent {
  type: 'drain';
  t: number;
  group: string;
  topic: string;
  /** Partition → the latest offset when the drain started (it reads up to it). */
  ends: Record<string, number>;
}

export type HistoryEvent =
  | SendEvent
  | AckEvent
  | FailEvent
  | ReadEvent
  | CommitEvent
  | CommittedEvent
  | ResetEvent
  | FaultEvent
  | DrainEvent;

/** Events as {@link History.record} takes them: the time is stamped there. */
type Unstamped<E> = E extends HistoryEvent ? Omit<E, 't'> : never;

/** The hash of a payload as sent and as read, to match a read to its send byte for byte. */
export function payloadHash(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 16);
}

/** The id a payload carries: `p<producer>-<seq>`. */
export function payloadId(producer: string, seq: number): string {
  return `p${producer}-${seq}`;
}

/** A payload carrying its own id: `<id>|` then padding up to `bytes` (never shorter than the id). */
export function makePayload(producer: string, seq: number, bytes = 64): { id: string; value: Buffer } {
  const id = payloadId(producer, seq);
  const head = `${id}|`;
  const padding = Math.max(0, bytes - head.length);
  // The padding depends on the id, so a payload moved to another message's place is seen.
  const fill = String.fromCharCode(97 + (seq % 26));
  return { id, value: Buffer.from(head + fill.repeat(padding)) };
}

/** The id a payload carries, or '' when it is not one of ours. */
export function parsePayloadId(value: Buffer): string {
  const bar = value.indexOf(0x7c); // '|'
  if (bar <= 0 || bar > 64) return '';
  const id = value.subarray(0, bar).toString('latin1');
  return /^p[^|]+-\d+$/.test(id) ? id : '';
}

/** The recorder: in memory, and appended to `path` as JSON lines. */
export class History {
  readonly events: HistoryEvent[] = [];
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    /** The directory made for it, removed by {@link discard}. */
    private readonly ownDir: string | undefined,
  ) {
    this.fd = openSync(path, 'a');
  }

  /**
   * A new history file `history.jsonl` in a fresh directory under the system temp dir (not inside
   * any data dir); `dir` names another directory.
   */
  static create(dir?: string): History {
    const ownDir = dir === undefined ? mkdtempSync(join(tmpdir(), 'tubemq-history-')) : undefined;
    return new History(join(dir ?? ownDir!, 'history.jsonl'), ownDir);
  }

  /** Reads a history file back (for a checker run on a saved history). */
  static load(path: string): HistoryEvent[] {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as HistoryEvent);
  }

  /** Stamps an event with the wall clock (ms, sub-ms precision) and records it. */
  record(event: Unstamped<HistoryEvent>): HistoryEvent {
    const stamped: HistoryEvent = { t: performance.timeOrigin + performance.now(), ...event };
    this.events.push(stamped);
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify(stamped) + '\n');
    return stamped;
  }

  fault(kind: string, detail?: string): void {
    this.record(detail === undefined ? { type: 'fault', kind } : { type: 'fault', kind, detail });
  }

  /** Records a message a consumer was handed. */
  read(group: string, member: string, message: ConsumedMessage): void {
    this.record({
      type: 'read',
      group,
      member,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      payloadId: parsePayloadId(message.value),
      hash: payloadHash(message.value),
    });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Closes and deletes the file (and the directory made for it): a passing run's history is not worth keeping. */
  discard(): void {
    this.close();
    rmSync(this.path, { force: true });
    if (this.ownDir !== undefined) rmSync(this.ownDir, { recursive: true, force: true });
  }
}

/** The code and name of an error as the history keeps them. */
export function errorFields(error: unknown): { code?: number; name: string; message?: string } {
  if (error instanceof TubeError) return { code: error.code, name: error.errorName, message: error.message };
  return { name: error instanceof Error ? error.name : 'Error', message: String(error) };
}

/** How a run of sends went: acked, failed, and the failures by `NAME code`. */
export interface SendOutcome {
  acked: number;
  failed: number;
  errors: Record<string, number>;
}

/** An outcome of no sends. */
export function noOutcome(): SendOutcome {
  return { acked: 0, failed: 0, errors: {} };
}

/** Two outcomes added up. */
export function addOutcomes(a: SendOutcome, b: SendOutcome): SendOutcome {
  const errors = { ...a.errors };
  for (const [label, count] of Object.entries(b.errors)) errors[label] = (errors[label] ?? 0) + count;
  return { acked: a.acked + b.acked, failed: a.failed + b.failed, errors };
}

/** A producer whose every send is recorded: invoke, then ack or failure. */
export class RecordedProducer {
  private nextSeq = 0;

  constructor(
    private readonly history: History,
    readonly id: string,
    readonly producer: Producer,
    readonly acks: AckLevel,
    private readonly payloadBytes = 64,
  ) {}

  /** Sends the next sequence number's payload; resolves (never rejects) once it settled. */
  async send(topic: string, options: SendOptions = {}): Promise<{ ok: boolean; error?: unknown }> {
    const seq = this.nextSeq++;
    const { id, value } = makePayload(this.id, seq, this.payloadBytes);
    this.history.record({
      type: 'send',
      producer: this.id,
      seq,
      topic,
      ...(options.partition === undefined ? {} : { partition: options.partition }),
      payloadId: id,
      hash: payloadHash(value),
      acks: this.acks,
    });
    try {
      const result = await this.producer.send(topic, value, options);
      this.history.record({
        type: 'ack',
        producer: this.id,
        seq,
        topic,
        partition: result.partition,
        offset: result.offset,
      });
      return { ok: true };
    } catch (error) {
      this.history.record({ type: 'fail', producer: this.id, seq, ...errorFields(error) });
      return { ok: false, error };
    }
  }

  /**
   * Sends `count` messages, up to `window` outstanding; resolves to how many were acked and the
   * error names of the others (e.g. `{ STORAGE_FULL: 3 }`).
   */
  async sendMany(topic: string, count: number, window = 8): Promise<SendOutcome> {
    const outcome = noOutcome();
    let issued = 0;
    const lane = async (): Promise<void> => {
      while (issued < count) {
        issued++;
        const { ok, error } = await this.send(topic);
        if (ok) outcome.acked++;
        else {
          outcome.failed++;
          const { name, code } = errorFields(error);
          const label = code === undefined ? name : `${name} ${code}`;
          outcome.errors[label] = (outcome.errors[label] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(window, count)) }, lane));
    return outcome;
  }

  /** Sends with up to `window` sends outstanding until `running()` turns false; then waits for them. */
  async sendWhile(topic: string, running: () => boolean, window: number, pauseMs = 0): Promise<void> {
    const outstanding = new Set<Promise<unknown>>();
    while (running()) {
      if (outstanding.size >= window) {
        await Promise.race(outstanding);
        continue;
      }
      const sent = this.send(topic).finally(() => outstanding.delete(sent));
      outstanding.add(sent);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      else if (outstanding.size % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(outstanding);
  }
}

/**
 * Reads with `consumer` (already constructed, not started) while `running()` holds, recording each
 * message, and commits explicitly every `commitEveryMs` (each partition's last read offset + 1),
 * recording every commit. Assignment changes are recorded as resets (a rebalance may move a
 * partition back to its commit).
 */
export async function consumeWhile(
  history: History,
  consumer: Consumer,
  group: string,
  running: () => boolean,
  commitEveryMs = 300,
): Promise<void> {
  await consumer.start();
  const member = consumer.memberId ?? 'assigned';
  const next = new Map<string, { topic: string; partition: number; offset: number }>();
  const committed = new Map<string, number>();
  let assignment = '';
  let lastCommit = Date.now();
  const commit = async (): Promise<void> => {
    const offsets = [...next.values()].filter(
      (each) => committed.get(`${each.topic}/${each.partition}`) !== each.offset,
    );
    if (offsets.length === 0) return;
    try {
      await consumer.commit(offsets);
      for (const each of offsets) {
        committed.set(`${each.topic}/${each.partition}`, each.offset);
        history.record({ type: 'commit', group, member, ...each, ok: true });
      }
    } catch (error) {
      const { code, name } = errorFields(error);
      for (const each of offsets) {
        history.record({
          type: 'commit',
          group,
          member,
          ...each,
          ok: false,
          name,
          ...(code === undefined ? {} : { code }),
        });
      }
    }
  };
  while (running()) {
    const now = consumer
      .assignment()
      .map((each) => `${each.topic}/${each.partition}`)
      .sort()
      .join(',');
    if (now !== assignment) {
      history.record({ type: 'reset', group, member, reason: `assignment ${now}` });
      assignment = now;
    }
    const messages = await consumer.poll({ maxMessages: 500, timeoutMs: 200 });
    for (const message of messages) {
      history.read(group, member, message);
      next.set(`${message.topic}/${message.partition}`, {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset + 1,
      });
    }
    if (Date.now() - lastCommit >= commitEveryMs) {
      await commit();
      lastCommit = Date.now();
    }
  }
  await commit();
}
