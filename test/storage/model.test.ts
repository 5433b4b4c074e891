// The storage engine against a plain model (issue 13 item 6). fast-check generates command
// sequences (appends at each ack level, alone or several at once, reads, group offset commits,
// clean restarts, crashes, power losses, a corrupt tail, a full disk, an EIO on the next data
// write, data sync or index write)
// and runs them against a StorageEngine on a temp dir, through a FileIO that injects the faults
// (test/helpers/fault-io.ts) over a power-loss layer (test/helpers/power-loss-io.ts). The model
// keeps what each offset was given, what acks and reads showed, and what must survive; after every
// command every partition is read from its earliest offset to its readable end and checked.
//
// A failure shrinks, and fast-check's message (in the TAP output) names the seed, the path and the
// shrunk command list, with the run's steps and the engine's last log lines. Replay it with
//   TUBEMQ_MODEL_SEED=<seed> TUBEMQ_MODEL_PATH=<path> node scripts/test.mjs test/storage/model.test.ts
// (add TUBEMQ_MODEL_REPLAY=<replayPath> from the command list's comment to skip re-generating it).
// TUBEMQ_FAULTS=full runs the battery's 1,000+ sequences; TUBEMQ_MODEL_RUNS sets the number.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { isTubeError } from '../../src/common/errors.js';
import type { FileIO } from '../../src/common/file-io.js';
import { recordMagic } from '../../src/common/record-format.js';
import {
  StorageEngine,
  type AckLevel,
  type PartitionState,
  type ReadResult,
  type StorageLogger,
  type StorageOptions,
} from '../../src/storage/index.js';
import { bindHandle } from '../helpers/bound-handle.js';
import { FaultDisk, FaultIO, type ArmedFault, type FaultKind } from '../helpers/fault-io.js';
import { PowerLossIO } from '../helpers/power-loss-io.js';

const KiB = 1024;
const topic = 't';
const groups = ['g0', 'g1'] as const;
const full = process.env.TUBEMQ_FAULTS === 'full';
const numRuns = Number(process.env.TUBEMQ_MODEL_RUNS ?? (full ? 1000 : 100));
const maxCommands = full ? 40 : 30;
const commandTimeoutMs = 5_000;
/** Runs and shrinking stop here (TUBEMQ_MODEL_TIME_LIMIT_MS); the smallest failure so far is reported. */
const timeLimitMs = Number(process.env.TUBEMQ_MODEL_TIME_LIMIT_MS ?? (full ? 3 * 3600_000 : 120_000));
/** TUBEMQ_MODEL_TRACE=1 prints every command as it starts (on stderr). */
const trace = process.env.TUBEMQ_MODEL_TRACE === '1';

/** Small everything: cache blocks flush, data and index segments roll, checkpoints come often. */
const engineOptions: Omit<StorageOptions, 'dataDir'> = {
  segmentBytes: 2 * KiB,
  indexSegmentEntries: 4,
  cacheBlockBytes: KiB,
  cacheBlockAgeMs: 2,
  checkpointIntervalMs: 5,
  checkpointBytes: 4 * KiB,
  retentionCheckIntervalMs: 0,
};

/** /dev/shm keeps real fsyncs cheap; the power-loss layer, not the device, decides what survives. */
const tempBase = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `work`, or a rejection naming `what` as a hang once `ms` passed. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  const cancel = new AbortController();
  const expiry = delay(ms, undefined, { signal: cancel.signal }).then(
    () => Promise.reject(new Error(`${what} did not finish within ${ms} ms (a hang)`)),
    () => new Promise<never>(() => undefined),
  );
  try {
    return await Promise.race([work, expiry]);
  } finally {
    cancel.abort();
  }
}

function describeError(error: unknown): string {
  if (isTubeError(error)) return `TubeError ${error.errorName} (${error.code}): ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What the runs exercised, printed as the test's diagnostic (a green run must have done things). */
const stats = {
  runs: 0,
  commands: 0,
  byCommand: new Map<string, number>(),
  acked: { memory: 0, written: 0, fsync: 0 },
  refused: 0,
  failedInFlight: 0,
  lostAndReported: 0,
  faultsFired: 0,
  openFailedOnFullDisk: 0,
};

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

// ---- the model ----------------------------------------------------------------------------------

/** What the engine told a producer about one message. */
interface Ack {
  id: string;
  level: AckLevel;
  /** Power losses before the ack: a `written` ack may be lost to a later one. */
  powerLosses: number;
}

/**
 * `ok`; `full` (a write found no space: refuses with 507); `resuming` (the disk was freed: it may
 * refuse until its probe sees the space); `failed` (EIO on a write) and `unsynced` (EIO on a
 * sync): refuses with 503 until a restart.
 */
type StoreState = 'ok' | 'full' | 'resuming' | 'failed' | 'unsynced';

class PartitionModel {
  /** Offset → every message id that was given it (more than one only if nobody saw the first). */
  readonly assigned = new Map<number, Set<string>>();
  /** Offset → the message an ack or a read showed there. */
  readonly seen = new Map<number, string>();
  /** Offsets a read passed over as a gap or damage: no message may have them afterwards. */
  readonly skipped = new Set<number>();
  readonly acked = new Map<number, Ack>();
  /** Acked offsets the last full read found. */
  present = new Set<number>();
  latestSeen = 0;
  /** Above every offset ever handed out (acked, read, or read past). */
  handedOutEnd = 0;
  /** Lost offsets already found reported. */
  readonly lossReported = new Set<number>();

  handOut(offset: number): void {
    this.handedOutEnd = Math.max(this.handedOutEnd, offset + 1);
  }
}

class Model {
  readonly partitions: PartitionModel[];
  stores: StoreState[];
  /** Faults injected into each store's files since the engine was opened. */
  sessionFaults: Set<FaultKind>[];
  /** An ENOSPC hit a file of no store (group offsets, topic metadata) since the engine was opened. */
  otherNoSpace = false;
  /** Message id → the exact value sent. */
  readonly values = new Map<string, Buffer>();
  /** `${group}/${partition}` → the committed offsets it may read back (-1: none). */
  readonly commits = new Map<string, Set<number>>();
  powerLosses = 0;
  nextId = 0;
  step = 0;
  /** What ran, for the failure message. */
  readonly trail: string[] = [];

  constructor(readonly scenario: Scenario) {
    this.partitions = Array.from({ length: scenario.partitions }, () => new PartitionModel());
    this.stores = Array.from({ length: scenario.stores }, (): StoreState => 'ok');
    this.sessionFaults = this.stores.map(() => new Set<FaultKind>());
  }

  storeOf(partition: number): number {
    return partition % this.scenario.stores;
  }

  newSession(): void {
    this.stores = this.stores.map(() => 'ok');
    this.sessionFaults = this.stores.map(() => new Set<FaultKind>());
    this.otherNoSpace = false;
  }

  /** Whether a message with this ack must be readable now. */
  mustHave(ack: Ack): boolean {
    return ack.level === 'fsync' || (ack.level === 'written' && ack.powerLosses === this.powerLosses);
  }

  note(text: string): void {
    this.trail.push(`    ${text}`);
  }
}

interface Scenario {
  partitions: number;
  stores: number;
}

// ---- the real system ----------------------------------------------------------------------------

class Real {
  readonly disk = new FaultDisk();
  /** One power-loss layer per boot: a power loss starts a new one (a new boot id). */
  layer = new PowerLossIO();
  io: FaultIO;
  engine!: StorageEngine;
  private eventCursor = 0;
  private probeCursor = 0;
  /** I/O layers of processes that are gone (their late calls are a bug of abandon). */
  readonly dead: FaultIO[] = [];
  readonly logLines: string[] = [];
  readonly logger: StorageLogger;

  constructor(
    readonly dataDir: string,
    readonly scenario: Scenario,
    private readonly wrapIO: (io: FileIO) => FileIO = (io) => io,
  ) {
    this.io = new FaultIO(this.layer, this.disk);
    const keep = (level: string) => (fields: object, message: string) => {
      const { err, ...rest } = fields as { err?: unknown };
      const cause = err === undefined ? '' : ` (${describeError(err)})`;
      this.logLines.push(`${level} ${message}${cause} ${JSON.stringify(rest)}`);
      if (this.logLines.length > 25) this.logLines.shift();
    };
    this.logger = { info: keep('info'), warn: keep('warn'), error: keep('error') };
  }

  options(): StorageOptions {
    return { dataDir: this.dataDir, ...engineOptions, fileIO: this.wrapIO(this.io), logger: this.logger };
  }

  /** Opens on a new process's I/O layer (same boot unless the layer was replaced). */
  async open(model: Model): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.io = new FaultIO(this.layer, this.disk);
      this.eventCursor = this.probeCursor = 0;
      model.newSession();
      try {
        this.engine = await StorageEngine.open(this.options());
        return;
      } catch (error) {
        this.syncFaults(model);
        if (attempt > 1 || !this.disk.full)
          violation(model, this, `the engine did not open (attempt ${attempt}): ${describeError(error)}`);
        // A full disk may keep recovery from writing its checkpoint: the operator frees space.
        stats.openFailedOnFullDisk++;
        model.note(`open failed on the full disk (${describeError(error)}); space freed, opened again`);
        this.io.kill();
        this.disk.full = false;
      }
    }
  }

  /** The process dies: the engine drops its files, and its I/O layer refuses everything after. */
  async crash(): Promise<void> {
    await this.engine.abandon();
    this.retire();
  }

  /** The process is gone: its I/O layer refuses (and counts) every later call. */
  retire(): void {
    this.io.kill();
    this.dead.push(this.io);
  }

  async powerLoss(mode: 'drop' | 'random', seed: number): Promise<void> {
    await this.layer.powerLoss({ mode, seed });
    // The machine is off: every call of the engine fails. Drop it as a dead machine does; abandon()
    // only stops its timers (it need not resolve: nothing of it outlives the power).
    void this.engine.abandon().catch(() => undefined);
    this.io.kill();
    this.layer = new PowerLossIO();
  }

  /** Folds the faults injected and the space probes answered since the last call into the model. */
  syncFaults(model: Model): void {
    for (; this.eventCursor < this.io.events.length; this.eventCursor++) {
      const event = this.io.events[this.eventCursor]!;
      if (event.store === undefined) {
        if (event.kind === 'ENOSPC') model.otherNoSpace = true;
        continue;
      }
      model.sessionFaults[event.store]!.add(event.kind);
      const state = model.stores[event.store]!;
      if (state === 'failed' || state === 'unsynced') continue;
      // A lasting failure replaces a full disk; a full disk replaces nothing lasting.
      if (event.kind === 'ENOSPC') model.stores[event.store] = 'full';
      else model.stores[event.store] = event.kind === 'EIO-write' ? 'failed' : 'unsynced';
    }
    for (; this.probeCursor < this.io.probes.length; this.probeCursor++) {
      const probe = this.io.probes[this.probeCursor]!;
      const needed = Math.min(engineOptions.cacheBlockBytes!, 1024 * 1024);
      if (probe.store === undefined || probe.availableBytes < needed) continue;
      if (model.stores[probe.store] === 'resuming') model.stores[probe.store] = 'ok';
    }
  }

  lateCalls(): string[] {
    return this.dead.flatMap((io) => io.lateCalls);
  }

  /** Drops the engine; one that hangs (a reported failure) is left behind, its timers unref'd. */
  async dispose(): Promise<void> {
    await within(2000, 'abandon', this.engine?.abandon() ?? Promise.resolve()).catch(() => undefined);
    this.io.kill();
  }
}

class ModelViolation extends Error {
  override readonly name = 'ModelViolation';
}

function violation(model: Model, real: Real, message: string): never {
  throw new ModelViolation(
    `${message}\n  steps so far:\n${model.trail.join('\n')}\n  engine log (last lines):\n    ${real.logLines.join('\n    ')}`,
  );
}

// ---- messages -----------------------------------------------------------------------------------

/** A unique, recognizable value: `m<id>|` then `filler` bytes drawn from the id. */
function newMessage(model: Model, filler: number): { id: string; value: Buffer } {
  const id = `m${model.nextId++}`;
  const head = Buffer.from(`${id}|`);
  const value = Buffer.alloc(head.length + filler);
  head.copy(value);
  for (let i = 0; i < filler; i++) value[head.length + i] = (model.nextId * 31 + i * 7) & 0xff;
  model.values.set(id, value);
  return { id, value };
}

function idOf(value: Buffer): string {
  const bar = value.indexOf(0x7c);
  return bar < 0 ? `<no id: ${value.toString('latin1', 0, 16)}>` : value.toString('latin1', 0, bar);
}

// ---- what every read must show ------------------------------------------------------------------

/** Checks one read's answer against the model and records what it showed. */
function observeRead(
  model: Model,
  real: Real,
  partition: number,
  from: number,
  result: ReadResult,
  what: string,
): Set<number> {
  const pm = model.partitions[partition]!;
  const where = `${what}: read of partition ${partition} from ${from}`;
  const got = new Set<number>();
  let previous = from - 1;
  if (result.latestOffset < pm.latestSeen)
    violation(model, real, `${where}: latestOffset ${result.latestOffset} went down from ${pm.latestSeen}`);
  pm.latestSeen = result.latestOffset;
  if (result.nextOffset < from || result.nextOffset > Math.max(from, result.latestOffset))
    violation(
      model,
      real,
      `${where}: nextOffset ${result.nextOffset} outside [${from}, ${result.latestOffset}]`,
    );
  for (const message of result.messages) {
    const offset = message.offset;
    if (message.partition !== partition)
      violation(model, real, `${where}: offset ${offset} belongs to partition ${message.partition}`);
    if (offset <= previous) violation(model, real, `${where}: offset ${offset} after ${previous}`);
    if (offset >= result.latestOffset)
      violation(model, real, `${where}: offset ${offset} at or past the readable end ${result.latestOffset}`);
    if (offset >= result.nextOffset)
      violation(
        model,
        real,
        `${where}: offset ${offset} at or past the read's nextOffset ${result.nextOffset}`,
      );
    const id = idOf(message.value);
    const assigned = pm.assigned.get(offset);
    if (!assigned?.has(id)) {
      const given = assigned ? [...assigned].join(', ') : 'nothing';
      violation(
        model,
        real,
        `${where}: offset ${offset} holds ${id}, but that offset was given to ${given} (a phantom)`,
      );
    }
    if (!model.values.get(id)!.equals(message.value))
      violation(model, real, `${where}: offset ${offset} holds ${id} with other bytes than were sent`);
    see(model, real, partition, offset, id, where);
    got.add(offset);
    previous = offset;
  }
  const passed = result.nextOffset - from - result.messages.length;
  if (passed !== result.gapSkipped + result.damagedSkipped) {
    violation(
      model,
      real,
      `${where}: [${from}, ${result.nextOffset}) has ${result.messages.length} messages, ${result.gapSkipped} gap and ${result.damagedSkipped} damaged offsets: ${passed - result.gapSkipped - result.damagedSkipped} unaccounted for`,
    );
  }
  for (let offset = from; offset < result.nextOffset; offset++) {
    pm.handOut(offset);
    if (got.has(offset) || pm.skipped.has(offset)) continue;
    const shown = pm.seen.get(offset);
    const ack = pm.acked.get(offset);
    if (ack && ack.id === shown && model.mustHave(ack))
      violation(
        model,
        real,
        `${where}: ${shown} (${ack.level}-acked) at offset ${offset} is gone: the read passes it as a gap or damage`,
      );
    if (shown !== undefined)
      model.note(`offset ${partition}/${offset} (${shown}, ${ack?.level ?? 'never acked'}) now skipped`);
    pm.skipped.add(offset);
  }
  return got;
}

/** An ack or a read showed `id` at `offset`: it must be the only message that offset ever shows. */
function see(model: Model, real: Real, partition: number, offset: number, id: string, where: string): void {
  const pm = model.partitions[partition]!;
  const before = pm.seen.get(offset);
  if (before !== undefined && before !== id)
    violation(
      model,
      real,
      `${where}: offset ${partition}/${offset} showed ${before} and now ${id} (offset reused)`,
    );
  if (pm.skipped.has(offset))
    violation(
      model,
      real,
      `${where}: offset ${partition}/${offset} was passed as a gap or damage and now shows ${id}`,
    );
  pm.seen.set(offset, id);
  pm.handOut(offset);
}

function inListedGap(state: PartitionState, offset: number): boolean {
  return state.gaps.some((gap) => offset >= gap.from && offset < gap.to);
}

/** After every command: each partition's positions, a read of all of it, and the commits. */
async function checkAll(model: Model, real: Real, what: string): Promise<void> {
  await tick();
  real.syncFaults(model);
  const late = real.lateCalls();
  if (late.length > 0)
    violation(
      model,
      real,
      `${what}: the engine did I/O after abandon() resolved: ${late.slice(0, 3).join('; ')}`,
    );
  const engine = real.engine;
  for (let partition = 0; partition < model.partitions.length; partition++) {
    const pm = model.partitions[partition]!;
    const before = engine.partitionState(topic, partition);
    const latest = engine.latestOffset(topic, partition);
    const next = engine.nextOffset(topic, partition);
    const earliest = engine.earliestOffset(topic, partition);
    const where = `${what}: partition ${partition}`;
    if (before.readableOffset !== latest || before.nextOffset !== next || before.earliestOffset !== earliest)
      violation(
        model,
        real,
        `${where}: partitionState ${JSON.stringify(before)} disagrees with latest ${latest}, next ${next}, earliest ${earliest}`,
      );
    if (latest > next || earliest > latest)
      violation(model, real, `${where}: earliest ${earliest}, latest ${latest}, next ${next} out of order`);
    if (latest < pm.latestSeen)
      violation(model, real, `${where}: latestOffset ${latest} went down from ${pm.latestSeen}`);
    pm.latestSeen = latest;
    if (next < pm.handedOutEnd)
      violation(
        model,
        real,
        `${where}: nextOffset ${next} is below offsets already handed out (up to ${pm.handedOutEnd - 1}): they would be given again`,
      );
    // Everything readable, from the earliest offset on.
    const got = new Set<number>();
    let gapSkipped = 0;
    for (let offset = earliest; offset < latest;) {
      const result = await engine.read(topic, partition, offset, { maxMessages: 64 });
      for (const each of observeRead(model, real, partition, offset, result, what)) got.add(each);
      gapSkipped += result.gapSkipped;
      if (result.nextOffset <= offset)
        violation(model, real, `${where}: a read at ${offset} made no progress (latest ${latest})`);
      offset = result.nextOffset;
    }
    // Taken again: a write may have failed while the reads ran (gaps only grow).
    const state = engine.partitionState(topic, partition);
    if (gapSkipped > state.gapOffsets)
      violation(
        model,
        real,
        `${where}: reads passed ${gapSkipped} gap offsets, the ledger reports ${state.gapOffsets}`,
      );
    // Every message an ack or a read ever showed is still there, or lost in a way it may be, and
    // reported: inside a listed gap (also below the earliest offset), or read as damage.
    const present = new Set<number>();
    for (const [offset, shown] of pm.seen) {
      const ack = pm.acked.get(offset);
      if (got.has(offset)) {
        if (ack) present.add(offset);
        continue;
      }
      const label = `${where}: ${shown} (${ack ? `${ack.level}-acked` : 'read, never acked'}) at offset ${offset}`;
      if (offset >= latest) {
        // A failed sync freezes what readers see until a restart; later acks wait behind it.
        if (model.stores[model.storeOf(partition)] === 'unsynced') continue;
        violation(model, real, `${label} is not readable (latest ${latest})`);
      }
      if (ack && model.mustHave(ack)) violation(model, real, `${label} is lost (earliest ${earliest})`);
      if (offset < earliest) pm.skipped.add(offset);
      if (pm.lossReported.has(offset)) continue;
      let reported = inListedGap(state, offset) || state.gaps.length >= 16;
      if (!reported && offset >= earliest) {
        const probe = await engine.read(topic, partition, offset, { maxMessages: 1 });
        reported = probe.damagedSkipped > 0 && probe.messages[0]?.offset !== offset;
      }
      if (!reported)
        violation(
          model,
          real,
          `${label} was lost and no gap lists it (earliest ${earliest}, gaps ${JSON.stringify(state.gaps)})`,
        );
      pm.lossReported.add(offset);
      model.note(`${shown} at ${partition}/${offset} lost, reported`);
      stats.lostAndReported++;
    }
    pm.present = present;
  }
  for (const [key, allowed] of model.commits) {
    const [group, partition] = key.split('/') as [string, string];
    const committed = engine.committedOffset(group, topic, Number(partition)) ?? -1;
    if (!allowed.has(committed))
      violation(
        model,
        real,
        `${what}: group ${group} partition ${partition} reads back committed offset ${committed}, expected ${[...allowed].join(' or ')}`,
      );
  }
}

// ---- commands -----------------------------------------------------------------------------------

abstract class Step implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    model.step++;
    stats.commands++;
    count(stats.byCommand, this.toString().replace(/\(.*/, ''));
    model.trail.push(`#${model.step} ${this.toString()}`);
    const label = `#${model.step} ${this.toString()}`;
    if (trace) process.stderr.write(`[model ${Date.now() % 100_000}] run ${stats.runs} ${label}\n`);
    try {
      await within(commandTimeoutMs, label, this.act(model, real));
      await within(commandTimeoutMs, `the checks after ${label}`, checkAll(model, real, `after ${label}`));
    } catch (error) {
      if (error instanceof ModelViolation) throw error;
      violation(model, real, `${label}: ${describeError(error)}`);
    }
  }

  protected abstract act(model: Model, real: Real): Promise<void>;
  abstract toString(): string;
}

interface BatchSpec {
  partition: number;
  acks: AckLevel;
  /** Filler bytes of each message. */
  sizes: number[];
}

const batchLabel = (spec: BatchSpec) =>
  `p${spec.partition} ${spec.acks} ${spec.sizes.length}×[${spec.sizes.join(',')}]`;

/** Appends batches at once (one, or several to race each other) and judges every outcome. */
class Append extends Step {
  constructor(readonly batches: BatchSpec[]) {
    super();
  }

  override toString(): string {
    return this.batches.length === 1
      ? `append(${batchLabel(this.batches[0]!)})`
      : `appendTogether(${this.batches.map(batchLabel).join(' | ')})`;
  }

  protected async act(model: Model, real: Real): Promise<void> {
    await tick();
    real.syncFaults(model);
    const started = this.batches.map((spec) => {
      const partition = spec.partition % model.partitions.length;
      const pm = model.partitions[partition]!;
      const store = model.storeOf(partition);
      const stateAtCall = model.stores[store]!;
      const messages = spec.sizes.map((size) => newMessage(model, size));
      const before = real.engine.nextOffset(topic, partition);
      const promise = real.engine.append(
        topic,
        partition,
        messages.map(({ value }) => ({ value })),
        { acks: spec.acks },
      );
      const afterCall = real.engine.nextOffset(topic, partition);
      let base: number | undefined;
      if (afterCall === before + messages.length) {
        base = before;
        messages.forEach(({ id }, i) => {
          const offset = before + i;
          if (pm.seen.has(offset) || pm.skipped.has(offset)) {
            const shown = pm.seen.get(offset) ?? 'a gap';
            violation(
              model,
              real,
              `append gave offset ${partition}/${offset}, already handed out (as ${shown}), to ${id}`,
            );
          }
          let ids = pm.assigned.get(offset);
          if (!ids) pm.assigned.set(offset, (ids = new Set()));
          ids.add(id);
        });
      } else if (afterCall !== before) {
        violation(
          model,
          real,
          `an append of ${messages.length} moved nextOffset from ${before} to ${afterCall}`,
        );
      }
      return { spec, partition, store, stateAtCall, messages, base, promise };
    });
    const outcomes = await Promise.allSettled(started.map((each) => each.promise));
    await tick();
    real.syncFaults(model);
    started.forEach((call, i) => {
      const outcome = outcomes[i]!;
      const label = `${batchLabel(call.spec)} [${call.messages.map((m) => m.id).join(',')}]`;
      const readOnly =
        call.stateAtCall === 'full' || call.stateAtCall === 'failed' || call.stateAtCall === 'unsynced';
      if (outcome.status === 'fulfilled') {
        const result = outcome.value;
        if (
          call.base === undefined ||
          result.baseOffset !== call.base ||
          result.count !== call.messages.length
        )
          violation(
            model,
            real,
            `${label}: acked at ${result.baseOffset}+${result.count}, but was given ${call.base ?? 'no offsets'}`,
          );
        if (readOnly)
          violation(model, real, `${label}: acked by a store that is ${call.stateAtCall} (read-only)`);
        if (call.stateAtCall === 'resuming') model.stores[call.store] = 'ok';
        const pm = model.partitions[call.partition]!;
        call.messages.forEach(({ id }, k) => {
          const offset = call.base! + k;
          see(model, real, call.partition, offset, id, label);
          pm.acked.set(offset, { id, level: call.spec.acks, powerLosses: model.powerLosses });
        });
        stats.acked[call.spec.acks]++;
        model.note(`${label} acked at ${call.base}`);
        return;
      }
      const error: unknown = outcome.reason;
      const faults = model.sessionFaults[call.store]!;
      if (!isTubeError(error) || (error.errorName !== 'STORAGE_FULL' && error.errorName !== 'UNAVAILABLE'))
        violation(model, real, `${label}: refused with ${describeError(error)}, not 507/503`);
      if (call.base === undefined) {
        // Refused at the door: only a store that knows it is read-only does that.
        const expected =
          call.stateAtCall === 'full' || call.stateAtCall === 'resuming'
            ? 'STORAGE_FULL'
            : call.stateAtCall === 'ok'
              ? undefined
              : 'UNAVAILABLE';
        if (expected !== error.errorName)
          violation(
            model,
            real,
            `${label}: refused at once with ${describeError(error)} by a store that is ${call.stateAtCall}`,
          );
        model.note(`${label} refused (${error.errorName})`);
        stats.refused++;
        return;
      }
      if (readOnly) violation(model, real, `${label}: a ${call.stateAtCall} store gave it offsets`);
      // Failed on its way to the disk: only after a fault hit this store, and with its code.
      const fits =
        error.errorName === 'STORAGE_FULL'
          ? faults.has('ENOSPC')
          : faults.has('EIO-write') || faults.has('EIO-sync');
      if (!fits)
        violation(
          model,
          real,
          `${label}: failed with ${describeError(error)}; faults on its store: ${[...faults].join(', ') || 'none'}`,
        );
      model.note(`${label} failed at ${call.base} (${error.errorName})`);
      stats.failedInFlight++;
    });
  }
}

class Read extends Step {
  constructor(
    readonly partition: number,
    /** Where in [earliest, next] to start: undefined for the earliest offset. */
    readonly at: number | undefined,
    readonly maxMessages: number,
  ) {
    super();
  }

  override toString(): string {
    return `read(p${this.partition} from ${this.at === undefined ? 'earliest' : this.at.toFixed(2)}, max ${this.maxMessages})`;
  }

  protected async act(model: Model, real: Real): Promise<void> {
    const partition = this.partition % model.partitions.length;
    const earliest = real.engine.earliestOffset(topic, partition);
    const next = real.engine.nextOffset(topic, partition);
    const from = this.at === undefined ? earliest : earliest + Math.floor(this.at * (next - earliest));
    const result = await real.engine.read(topic, partition, from, { maxMessages: this.maxMessages });
    observeRead(model, real, partition, from, result, this.toString());
  }
}

class Commit extends Step {
  constructor(
    readonly group: string,
    readonly partition: number,
    readonly at: number,
  ) {
    super();
  }

  override toString(): string {
    return `commit(${this.group} p${this.partition} at ${this.at.toFixed(2)})`;
  }

  protected async act(model: Model, real: Real): Promise<void> {
    await tick();
    real.syncFaults(model);
    const partition = this.partition % model.partitions.length;
    const offset = Math.floor(this.at * real.engine.nextOffset(topic, partition));
    const key = `${this.group}/${partition}`;
    const fullAtCall = real.disk.full || model.otherNoSpace;
    try {
      await real.engine.commitOffsets([{ group: this.group, topic, partition, offset }]);
      model.commits.set(key, new Set([offset]));
    } catch (error) {
      real.syncFaults(model);
      if (!fullAtCall && !model.otherNoSpace)
        violation(model, real, `commit of ${offset} failed with room on the disk: ${describeError(error)}`);
      // A failed commit may or may not have landed.
      const allowed = model.commits.get(key) ?? new Set([-1]);
      allowed.add(offset);
      model.commits.set(key, allowed);
      model.note(`commit ${key} ${offset} failed (${describeError(error)})`);
    }
  }
}

class Wait extends Step {
  constructor(readonly ms: number) {
    super();
  }

  override toString(): string {
    return `wait(${this.ms} ms)`;
  }

  protected async act(): Promise<void> {
    await delay(this.ms);
  }
}

/** Checks after a crash: `memory` acks lost by it are the tail of what was present before. */
function checkLostTail(model: Model, real: Real, before: Set<number>[], what: string): void {
  model.partitions.forEach((pm, partition) => {
    const lost = [...before[partition]!].filter((offset) => !pm.present.has(offset));
    if (lost.length === 0) return;
    const first = Math.min(...lost);
    const kept = [...pm.present].filter((offset) => offset > first && before[partition]!.has(offset));
    if (kept.length > 0)
      violation(
        model,
        real,
        `${what}: partition ${partition} lost offsets ${lost.join(',')} but kept later ones (${kept.join(',')}): not a tail`,
      );
  });
}

class Restart extends Step {
  constructor(readonly how: 'close' | 'crash') {
    super();
  }

  override toString(): string {
    return this.how === 'close' ? 'restart(close, open)' : 'crash(abandon, open)';
  }

  protected async act(model: Model, real: Real): Promise<void> {
    const before = model.partitions.map((pm) => new Set(pm.present));
    if (this.how === 'close') {
      try {
        await real.engine.close();
      } catch (error) {
        violation(model, real, `close() failed: ${describeError(error)}`);
      }
      real.retire();
    } else {
      await real.crash();
    }
    await real.open(model);
    if (this.how === 'crash') {
      await checkAll(model, real, `after ${this.toString()}`);
      checkLostTail(model, real, before, this.toString());
    }
  }
}

class PowerLoss extends Step {
  constructor(
    readonly mode: 'drop' | 'random',
    readonly seed: number,
  ) {
    super();
  }

  override toString(): string {
    return `powerLoss(${this.mode}${this.mode === 'random' ? ` seed ${this.seed}` : ''})`;
  }

  protected async act(model: Model, real: Real): Promise<void> {
    await real.powerLoss(this.mode, this.seed);
    model.powerLosses++;
    await real.open(model);
  }
}

/** While the engine is down: random bytes after the end of a store's last data segment. */
class CorruptTail extends Step {
  constructor(
    readonly store: number,
    readonly bytes: number,
    readonly looksLikeRecord: boolean,
    readonly synced: boolean,
    readonly how: 'close' | 'crash',
    readonly seed: number,
  ) {
    super();
  }

  override toString(): string {
    const kind = this.looksLikeRecord ? 'record-like ' : '';
    return `corruptTail(store ${this.store}, ${this.bytes} ${kind}bytes${this.synced ? ', synced' : ''}, after ${this.how})`;
  }

  protected async act(model: Model, real: Real): Promise<void> {
    if (this.how === 'close') {
      await real.engine.close();
      real.retire();
    } else {
      await real.crash();
    }
    const dir = path.join(real.dataDir, 'topics', topic, `store-${this.store % model.scenario.stores}`);
    const last = fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.data'))
      .sort()
      .at(-1);
    if (last !== undefined) {
      const garbage = Buffer.alloc(this.bytes);
      let state = this.seed || 1;
      for (let i = 0; i < garbage.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        garbage[i] = state & 0xff;
      }
      if (this.looksLikeRecord && garbage.length >= 8) {
        garbage.writeUInt32LE(recordMagic, 0);
        garbage.writeUInt32LE(Math.min(garbage.length + 48, 4096), 4);
      }
      // Through the power-loss layer: unsynced garbage is lost with the power, as on a disk.
      const handle = await real.layer.open(path.join(dir, last));
      await handle.writev([garbage], await handle.size());
      if (this.synced) await handle.datasync();
      await handle.close();
    }
    await real.open(model);
  }
}

class FillDisk extends Step {
  constructor(readonly tornFraction: number) {
    super();
  }

  override toString(): string {
    return `fillDisk(a failed write leaves ${Math.round(this.tornFraction * 100)} % of it)`;
  }

  protected act(_model: Model, real: Real): Promise<void> {
    real.disk.full = true;
    real.disk.tornFraction = this.tornFraction;
    return Promise.resolve();
  }
}

class FreeDisk extends Step {
  constructor(readonly waitForResume: boolean) {
    super();
  }

  override toString(): string {
    return this.waitForResume ? 'freeDisk(and wait until the stores take writes)' : 'freeDisk';
  }

  protected async act(model: Model, real: Real): Promise<void> {
    await tick();
    real.syncFaults(model);
    real.disk.full = false;
    model.stores = model.stores.map((state) => (state === 'full' ? 'resuming' : state));
    if (!this.waitForResume) return;
    const deadline = Date.now() + 3000;
    while (model.stores.includes('resuming')) {
      if (Date.now() > deadline)
        violation(model, real, `a full store did not take writes again within 3 s of space coming back`);
      await delay(25);
      real.syncFaults(model);
    }
  }
}

class FailNext extends Step {
  constructor(readonly fault: ArmedFault) {
    super();
  }

  override toString(): string {
    return `failNext(${this.fault}, EIO)`;
  }

  protected act(_model: Model, real: Real): Promise<void> {
    real.io.arm(this.fault);
    return Promise.resolve();
  }
}

// ---- generators ---------------------------------------------------------------------------------

const ackLevel = fc.constantFrom<AckLevel>('memory', 'written', 'fsync');
const batchSpec: fc.Arbitrary<BatchSpec> = fc.record({
  partition: fc.nat({ max: 2 }),
  acks: ackLevel,
  sizes: fc.array(fc.nat({ max: 120 }), { minLength: 1, maxLength: 3 }),
});

const commandArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: batchSpec.map((spec) => new Append([spec])) },
  {
    weight: 3,
    arbitrary: fc.array(batchSpec, { minLength: 2, maxLength: 4 }).map((specs) => new Append(specs)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.nat({ max: 2 }),
        fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
        fc.integer({ min: 1, max: 64 }),
      )
      .map(([partition, at, max]) => new Read(partition, at ?? undefined, max)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...groups), fc.nat({ max: 2 }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([group, partition, at]) => new Commit(group, partition, at)),
  },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 12 }).map((ms) => new Wait(ms)) },
  { weight: 1, arbitrary: fc.constant(new Restart('close')) },
  { weight: 2, arbitrary: fc.constant(new Restart('crash')) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom<'drop' | 'random'>('drop', 'random'), fc.nat({ max: 1_000_000 }))
      .map(([mode, seed]) => new PowerLoss(mode, seed)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.nat({ max: 1 }),
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<'close' | 'crash'>('close', 'crash'),
        fc.nat({ max: 1_000_000 }),
      )
      .map((args) => new CorruptTail(...args)),
  },
  { weight: 1, arbitrary: fc.constantFrom(0, 0.5, 0.99).map((torn) => new FillDisk(torn)) },
  { weight: 1, arbitrary: fc.boolean().map((wait) => new FreeDisk(wait)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<ArmedFault>('data-write', 'data-sync', 'index-write')
      .map((fault) => new FailNext(fault)),
  },
);

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  partitions: fc.integer({ min: 2, max: 3 }),
  stores: fc.integer({ min: 1, max: 2 }),
});

/** One run: a fresh data dir, a topic, the commands, each followed by the checks. */
async function runScenario(
  scenario: Scenario,
  commands: Iterable<fc.AsyncCommand<Model, Real>>,
  wrapIO?: (io: FileIO) => FileIO,
): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(tempBase, 'tubemq-model-'));
  const model = new Model(scenario);
  const real = new Real(dataDir, scenario, wrapIO);
  stats.runs++;
  try {
    await real.open(model);
    await real.engine.createTopic(topic, { partitions: scenario.partitions, stores: scenario.stores });
    model.trail.push(`#0 createTopic(${scenario.partitions} partitions, ${scenario.stores} stores)`);
    await checkAll(model, real, 'after createTopic');
    await fc.asyncModelRun(() => ({ model, real }), commands);
  } finally {
    stats.faultsFired += real.dead.reduce((sum, io) => sum + io.events.length, real.io.events.length);
    await real.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function assertParameters(): fc.Parameters<[Scenario, Iterable<fc.AsyncCommand<Model, Real>>]> {
  const seed = process.env.TUBEMQ_MODEL_SEED;
  const replayPath = process.env.TUBEMQ_MODEL_PATH;
  return {
    numRuns,
    includeErrorInReport: true,
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(replayPath === undefined ? {} : { path: replayPath }),
    // Shrinking replays whole runs; past this the smallest case found so far is reported.
    plugins: [fc.interruptAfterTimeLimit(timeLimitMs, { failOnInterrupt: true })],
  };
}

describe('storage model test: command sequences against the engine and a plain model', () => {
  test(
    `${numRuns} sequences of up to ${maxCommands} commands keep every promise`,
    { timeout: full ? 4 * 3600_000 : 300_000 },
    async (t) => {
      const startedMs = Date.now();
      const commands = fc.commands([commandArbitrary], {
        maxCommands,
        size: 'max',
        replayPath: process.env.TUBEMQ_MODEL_REPLAY,
      });
      try {
        await fc.assert(
          fc.asyncProperty(scenarioArbitrary, commands, (scenario, cmds) => runScenario(scenario, cmds)),
          assertParameters(),
        );
      } finally {
        // Printed either way: a green run must show it did things, a red one how far it got.
        const kinds = [...stats.byCommand].map(([kind, n]) => `${kind} ${n}`).join(', ');
        t.diagnostic(
          `${stats.runs} runs (shrinking included), ${stats.commands} commands in ${((Date.now() - startedMs) / 1000).toFixed(1)} s: ${kinds}`,
        );
        t.diagnostic(
          `acked ${JSON.stringify(stats.acked)}; refused ${stats.refused}, failed in flight ${stats.failedInFlight}; ${stats.faultsFired} faults injected; ${stats.lostAndReported} messages lost and reported (as allowed); open failed on a full disk ${stats.openFailedOnFullDisk} times`,
        );
      }
    },
  );

  test('sanity: the model catches an engine whose fsync does nothing, and names the seed', async () => {
    // Goal: the checks above can fail. Method: the same run over a file system that turns every
    // sync into nothing; an fsync-acked append and a power loss must then be reported.
    const lying = (io: FileIO): FileIO =>
      new Proxy(io, {
        get(target, property) {
          if (property === 'open') {
            return async (filePath: string, options?: { create?: boolean }) => {
              const handle = await target.open(filePath, options);
              if (!filePath.endsWith('.data')) return handle;
              return {
                ...bindHandle(handle),
                writevDurable: (buffers: readonly Buffer[], position: number) =>
                  handle.writev(buffers, position),
                datasync: () => Promise.resolve(),
              };
            };
          }
          const value: unknown = Reflect.get(target, property);
          return typeof value === 'function'
            ? (value as (...args: unknown[]) => unknown).bind(target)
            : value;
        },
      });
    const steps = [new Append([{ partition: 0, acks: 'fsync', sizes: [10] }]), new PowerLoss('drop', 1)];
    await assert.rejects(
      fc.assert(
        fc.asyncProperty(fc.constant({ partitions: 2, stores: 1 }), (scenario) =>
          runScenario(scenario, steps, lying),
        ),
        { numRuns: 1, seed: 4242, includeErrorInReport: true },
      ),
      (error: Error) => {
        assert.match(error.message, /seed: 4242/);
        assert.match(error.message, /m0 \(fsync-acked\) at offset 0 is lost/);
        return true;
      },
    );
  });
});
