// The snapshot + log pattern under group offsets and master metadata (DESIGN.md §6): round trips,
// compaction, torn log tails, a damaged snapshot, and power loss at many points of a run, on real
// files in a temp dir.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeCheckedLine } from '../../src/common/checked-log.js';
import { DurableState, type DurableStateOptions } from '../../src/common/durable-state.js';
import { nodeFileIO, type FileIO } from '../../src/common/file-io.js';
import { isPowerLost, PowerLossIO, type PowerLossOptions } from '../helpers/power-loss-io.js';

/** /dev/shm keeps real fsyncs cheap; the power-loss layer, not the device, decides what survives. */
const root = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'tubemq-ds-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => path.join(root, `d${++dirCount}`);

/** A key-value map; a change sets one key (null removes it). */
type KV = Map<string, number>;
interface Change {
  key: string;
  value: number | null;
}

interface Logged {
  level: 'warn' | 'error';
  message: string;
}

function optionsFor(dir: string, logged: Logged[] = [], compactAfterChanges?: number) {
  const options: DurableStateOptions<KV, Change> = {
    dir,
    snapshotFile: 'state.snapshot',
    logFile: 'state.log',
    initial: () => new Map(),
    apply(state, { key, value }) {
      if (value === null) state.delete(key);
      else state.set(key, value);
    },
    serialize: (state) => [...state],
    deserialize: (json) => new Map(json as [string, number][]),
    compactAfterChanges,
    logger: {
      warn: (_fields, message) => logged.push({ level: 'warn', message }),
      error: (_fields, message) => logged.push({ level: 'error', message }),
    },
  };
  return options;
}

async function reopen(dir: string, logged: Logged[] = [], compactAfterChanges?: number): Promise<KV> {
  const state = await DurableState.open(nodeFileIO, optionsFor(dir, logged, compactAfterChanges));
  const copy = new Map(state.state);
  await state.close();
  return copy;
}

const set = (key: string, value: number | null): Change => ({ key, value });
const kv = (entries: Record<string, number>): KV => new Map(Object.entries(entries));

/** Opens, commits `changes` and closes. */
async function commitOnce(dir: string, changes: Change[]): Promise<void> {
  const state = await DurableState.open(nodeFileIO, optionsFor(dir));
  await state.commit(changes);
  await state.close();
}

describe('DurableState', () => {
  test('commits survive a reopen, removals included, and later commits continue the sequence', async () => {
    // Goal: the basic round trip. Method: commit, reopen, commit again, reopen, compare with a model.
    const dir = freshDir();
    const first = await DurableState.open(nodeFileIO, optionsFor(dir));
    assert.deepEqual([...first.state], []);
    await first.commit([set('a', 1), set('b', 2)]);
    await Promise.all([first.commit([set('c', 3)]), first.commit([set('a', 4), set('b', null)])]);
    await first.close();
    await assert.rejects(first.commit([set('x', 1)]), /closed/);

    const second = await DurableState.open(nodeFileIO, optionsFor(dir));
    assert.deepEqual(new Map(second.state), kv({ a: 4, c: 3 }));
    await second.commit([set('d', 5)]);
    await second.close();
    assert.deepEqual(await reopen(dir), kv({ a: 4, c: 3, d: 5 }));
    // The log carries `{seq, change}` lines with increasing seq across reopens.
    const seqs = fs
      .readFileSync(path.join(dir, 'state.log'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line.slice(9)) as { seq: number }).seq);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6]);
  });

  test('crossing the compaction threshold writes a snapshot, empties the log and keeps the state', async () => {
    // Goal: compaction loses nothing. Method: a small threshold, many commits, then reopen.
    const dir = freshDir();
    const model: KV = new Map();
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 7));
    for (let i = 0; i < 50; i++) {
      const change = set(`k${i % 13}`, i % 5 === 0 ? null : i);
      await state.commit([change]);
      if (change.value === null) model.delete(change.key);
      else model.set(change.key, change.value);
    }
    await state.close();
    assert.ok(fs.existsSync(path.join(dir, 'state.snapshot')));
    // 50 changes, a compaction at every 7th: one change is left in the log.
    assert.equal(fs.readFileSync(path.join(dir, 'state.log'), 'utf8').split('\n').length - 1, 1);
    assert.deepEqual(await reopen(dir), model);
    assert.deepEqual(await reopen(dir, [], 10_000), model);
  });

  test('log lines at or below the snapshot seq are skipped (a crash between snapshot and log reset)', async () => {
    // Goal: replay is idempotent against the snapshot. Method: put the old log back after compaction.
    const dir = freshDir();
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 4));
    await state.commit([set('a', 1), set('a', 2)]);
    const logBefore = fs.readFileSync(path.join(dir, 'state.log'));
    await state.commit([set('b', 1), set('a', null)]); // crosses 4: compaction
    await state.close();
    assert.equal(fs.statSync(path.join(dir, 'state.log')).size, 0);
    fs.writeFileSync(path.join(dir, 'state.log'), logBefore);
    assert.deepEqual(await reopen(dir), kv({ b: 1 }));
  });

  test('a log cut at every byte of its last line recovers the good prefix and reports the cut', async () => {
    // Goal: torn tails. Method: write, then for every cut point in the last line reopen a copy.
    const dir = freshDir();
    await commitOnce(dir, [set('a', 1), set('b', 2)]);
    await commitOnce(dir, [set('c', 3)]);
    const full = fs.readFileSync(path.join(dir, 'state.log'));
    const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    for (let cut = lastStart; cut < full.length; cut++) {
      const copy = freshDir();
      fs.mkdirSync(copy);
      fs.writeFileSync(path.join(copy, 'state.log'), full.subarray(0, cut));
      const logged: Logged[] = [];
      assert.deepEqual(await reopen(copy, logged), kv({ a: 1, b: 2 }), `cut at ${cut}`);
      assert.equal(logged.length, cut > lastStart ? 1 : 0, `cut at ${cut}`);
      if (cut > lastStart) assert.match(logged[0]!.message, /tail cut/);
      // The cut was made on disk: a later commit goes after the good prefix and survives.
      await commitOnce(copy, [set('d', 4)]);
      assert.deepEqual(await reopen(copy), kv({ a: 1, b: 2, d: 4 }));
    }
  });

  test('a damaged snapshot is reported and the log is replayed onto the initial state', async () => {
    // Goal: a flipped snapshot does not stop the start. Method: compact, commit more, damage the
    // snapshot; only the log's changes come back, and the error is logged.
    const dir = freshDir();
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 2));
    await state.commit([set('a', 1), set('b', 2)]); // compacted into the snapshot
    await state.commit([set('c', 3)]);
    await state.close();
    const snapshotPath = path.join(dir, 'state.snapshot');
    const snapshot = fs.readFileSync(snapshotPath);
    snapshot.writeUInt8(snapshot.readUInt8(12) ^ 0x01, 12);
    fs.writeFileSync(snapshotPath, snapshot);
    const logged: Logged[] = [];
    assert.deepEqual(await reopen(dir, logged), kv({ c: 3 }));
    assert.deepEqual(logged, [{ level: 'error', message: 'snapshot is damaged; using the log only' }]);

    // A snapshot whose CRC is good but which `deserialize` rejects counts as damaged too.
    const strict = { ...optionsFor(dir, logged), deserialize: () => assert.fail('bad snapshot') };
    fs.writeFileSync(snapshotPath, encodeCheckedLine({ seq: 9, state: 'not a list' }));
    const reopened = await DurableState.open(nodeFileIO, strict);
    assert.deepEqual(new Map(reopened.state), kv({ c: 3 }));
    await reopened.close();
    assert.equal(logged.length, 2);
  });

  test('a custom line format writes and reads its own lines', async () => {
    // Goal: lineFormat is honoured both ways (group offsets keep their older layout through it).
    const dir = freshDir();
    const options: DurableStateOptions<KV, Change> = {
      ...optionsFor(dir, [], 3),
      lineFormat: {
        changeLine: (seq, change) => ({ n: seq, k: change.key, v: change.value }),
        readChangeLine: (line) => {
          const { n, k, v } = line as { n: number; k: string; v: number | null };
          return { seq: n, change: { key: k, value: v } };
        },
        snapshotLine: (seq, state) => ({ n: seq, all: state }),
        readSnapshotLine: (line) => ({
          seq: (line as { n: number }).n,
          state: (line as { all: unknown }).all,
        }),
      },
    };
    const state = await DurableState.open(nodeFileIO, options);
    await state.commit([set('a', 1), set('b', 2), set('c', 3)]); // compacted
    await state.commit([set('d', 4)]);
    await state.close();
    assert.match(fs.readFileSync(path.join(dir, 'state.snapshot'), 'utf8'), /^[0-9a-f]{8} \{"n":3,"all":/);
    assert.match(
      fs.readFileSync(path.join(dir, 'state.log'), 'utf8'),
      /^[0-9a-f]{8} \{"n":4,"k":"d","v":4\}\n$/,
    );
    const again = await DurableState.open(nodeFileIO, options);
    assert.deepEqual(new Map(again.state), kv({ a: 1, b: 2, c: 3, d: 4 }));
    await again.close();
  });
});

describe('DurableState under power loss', () => {
  const rounds = 24;
  const compactAfter = 5;

  /**
   * Opens, runs rounds of concurrent commits (so group commit and compactions overlap), closes.
   * Every change sets a key of its own, so which commits landed can be read off the state.
   */
  async function workload(io: FileIO, dir: string, resolved: Change[]): Promise<void> {
    const state = await DurableState.open(io, optionsFor(dir, [], compactAfter));
    for (let round = 0; round < rounds; round++) {
      const batches = [0, 1, 2].map((each) =>
        Array.from({ length: 1 + ((round + each) % 2) }, (_, i) => set(`r${round}-${each}-${i}`, round)),
      );
      const outcomes = await Promise.allSettled(
        batches.map(async (batch) => {
          await state.commit(batch);
          resolved.push(...batch);
        }),
      );
      const failed = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failed) throw failed.reason;
    }
    await state.close();
  }

  /** Runs the workload with the power failing before operation `n`; checks the reopened state. */
  async function crashAt(n: number | undefined, lossOptions: PowerLossOptions = {}): Promise<number> {
    const dir = freshDir();
    const io = new PowerLossIO();
    if (n !== undefined) io.crashAfterOperations(n, lossOptions);
    const resolved: Change[] = [];
    try {
      await workload(io, dir, resolved);
    } catch (error) {
      // A compaction cut short leaves the store refusing commits, with the power loss as the cause.
      if (!isPowerLost(error) && !(error instanceof Error && isPowerLost(error.cause))) throw error;
    }
    if (!io.lost) await io.powerLoss(lossOptions);
    const report = await io.whenPowerLost();
    if (!fs.existsSync(dir)) {
      assert.equal(resolved.length, 0, `crash point ${n}: directory lost after commits resolved`);
      return report.operations;
    }
    const recovered = await reopen(dir);
    for (const change of resolved)
      assert.equal(recovered.get(change.key), change.value, `crash point ${n}: lost ${change.key}`);
    // Nothing but attempted changes, with the values they had.
    for (const [key, value] of recovered) assert.equal(Number(key.slice(1, key.indexOf('-'))), value);
    return report.operations;
  }

  test('every resolved commit survives a power loss at every operation of a run (drop mode)', async () => {
    // Goal: an acknowledged commit is durable at any crash point, compactions included. Method:
    // count the operations of a full run, then cut the power before each of them.
    const total = await crashAt(undefined);
    assert.ok(total > 100, `expected a long run, got ${total} operations`);
    for (let n = 1; n <= total + 1; n++) await crashAt(n);
  });

  test('every resolved commit survives a random power loss (torn and reordered unsynced writes)', async () => {
    // Goal: the same with unsynced writes kept, torn or lost at random. Method: seeded crash points.
    const total = await crashAt(undefined);
    for (let seed = 1; seed <= 60; seed++) {
      const n = 1 + ((seed * 7919) % (total + 1));
      await crashAt(n, { mode: 'random', seed, sectorBytes: 16 });
    }
  });
});
