// The snapshot + log pattern under group offsets and master metadata (DESIGN.md §6): round trips,
// group commit, changes visible only once durable, the fail-closed latch after a failed write,
// compaction with .prev copies, what an open does with each kind of damage (drop a torn last line,
// refuse everything else with file, offset and the repair command), repair, and power loss at
// every operation of a run and of a compaction, on real files in a temp dir.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeCheckedLine, scanCheckedLines } from '../../src/common/checked-log.js';
import { DurableState, type DurableStateOptions } from '../../src/common/durable-state.js';
import { isTubeError, type TubeError } from '../../src/common/errors.js';
import { nodeFileIO, type FileIO } from '../../src/common/file-io.js';
import { errnoError, hookedFileIO } from '../helpers/hooked-io.js';
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
  fields: Record<string, unknown>;
}

const repairCommand = (dir: string) => `tubemq test repair --data-dir ${dir}`;

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
    deserialize: (json) => {
      if (!Array.isArray(json)) throw new TypeError('not a list');
      return new Map(json as [string, number][]);
    },
    compactAfterChanges,
    repairCommand: repairCommand(dir),
    logger: {
      warn: (fields, message) =>
        logged.push({ level: 'warn', message, fields: fields as Record<string, unknown> }),
      error: (fields, message) =>
        logged.push({ level: 'error', message, fields: fields as Record<string, unknown> }),
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
const file = (dir: string, name: string) => path.join(dir, name);

/** Opens, commits each batch in turn and closes. */
async function commitOnce(dir: string, ...batches: Change[][]): Promise<void> {
  const state = await DurableState.open(nodeFileIO, optionsFor(dir));
  for (const batch of batches) await state.commit(batch);
  await state.close();
}

/** The decoded lines of a file (undefined for a damaged one). */
const linesOf = (filePath: string) =>
  scanCheckedLines(fs.readFileSync(filePath)).lines.map(
    (line) => line.entry as { seq: number; changes: Change[] },
  );

/** Flips one bit of the byte at `at` (negative: from the end). */
function flipByte(filePath: string, at: number): void {
  const content = fs.readFileSync(filePath);
  const index = at < 0 ? content.length + at : at;
  content[index]! ^= 0x01;
  fs.writeFileSync(filePath, content);
}

/** Every file of `dir` with its bytes, to show that a refused open changed nothing. */
const filesOf = (dir: string) =>
  Object.fromEntries(
    fs.readdirSync(dir).map((name) => [name, fs.readFileSync(file(dir, name)).toString('hex')]),
  );

/** Opens `dir`, expecting the refusal; returns it. */
async function refusal(dir: string): Promise<TubeError> {
  const error = await DurableState.open(nodeFileIO, optionsFor(dir)).then(
    async (state) => {
      await state.close();
      return assert.fail(`open of ${dir} should have been refused`);
    },
    (caught: unknown) => caught,
  );
  assert.ok(isTubeError(error, 'UNAVAILABLE'), String(error));
  assert.equal(error.hint?.includes(repairCommand(dir)), true, error.hint);
  return error;
}

/** The model of a sequence of changes. */
function modelOf(changes: readonly Change[]): KV {
  const model: KV = new Map();
  for (const { key, value } of changes) {
    if (value === null) model.delete(key);
    else model.set(key, value);
  }
  return model;
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
    // One `{seq, changes}` line per write, seqs increasing by one across reopens.
    assert.deepEqual(
      linesOf(file(dir, 'state.log')).map((line) => line.seq),
      [1, 2, 3, 4],
    );
  });

  test('commits that arrive while a write runs share the next line (group commit), in order', async () => {
    // Goal: one write for everything waiting, order kept. Method: three commits at once: the first
    // starts a write alone, the two that wait behind it go out together.
    const dir = freshDir();
    const state = await DurableState.open(nodeFileIO, optionsFor(dir));
    const resolvedOrder: string[] = [];
    await Promise.all(
      ['x', 'y', 'z'].map((key, index) =>
        state.commit([set(key, index)]).then(() => resolvedOrder.push(key)),
      ),
    );
    await state.close();
    assert.deepEqual(resolvedOrder, ['x', 'y', 'z']);
    assert.deepEqual(linesOf(file(dir, 'state.log')), [
      { seq: 1, changes: [set('x', 0)] },
      { seq: 2, changes: [set('y', 1), set('z', 2)] },
    ]);
  });

  test('a change is not in the state until its write is durable, and concurrent commits apply in order', async () => {
    // Goal: nobody reads a change that a crash or a failed write could still take away. Method:
    // hold every fdatasync of the log until the test releases it, and look at the state meanwhile.
    const dir = freshDir();
    const held: (() => void)[] = [];
    const io = hookedFileIO(async (operation, filePath) => {
      if (operation === 'datasync' && filePath.endsWith('state.log'))
        await new Promise<void>((go) => held.push(go));
    });
    const state = await DurableState.open(io, optionsFor(dir));
    const waitHeld = async (count: number) => {
      while (held.length < count) await new Promise((resolve) => setImmediate(resolve));
    };
    const seen: string[] = [];
    const first = state.commit([set('a', 1)]).then(() => seen.push(`first a=${state.state.get('a')}`));
    await waitHeld(1);
    const second = state
      .commit([set('a', 2), set('b', 1)])
      .then(() => seen.push(`second a=${state.state.get('a')}`));
    // Derived from the state as it will be after the two commits before it.
    const third = state.commit((current) => [set('sum', (current.get('a') ?? 0) + (current.get('b') ?? 0))]);
    assert.deepEqual([...state.state], [], 'nothing visible while the first write is not synced');
    held.shift()!();
    await first;
    assert.deepEqual(new Map(state.state), kv({ a: 1 }), 'only the first commit once it is durable');
    await waitHeld(1);
    assert.deepEqual(new Map(state.state), kv({ a: 1 }), 'the second is being written, not visible yet');
    held.shift()!();
    await second;
    await waitHeld(1);
    assert.equal(state.state.has('sum'), false);
    held.shift()!();
    assert.deepEqual(await third, [set('sum', 3)]);
    assert.deepEqual(seen, ['first a=1', 'second a=2']);
    await state.close();
    assert.deepEqual(await reopen(dir), kv({ a: 2, b: 1, sum: 3 }));
  });

  for (const [code, operation, errorName] of [
    ['ENOSPC', 'writev', 'STORAGE_FULL'],
    ['EIO', 'datasync', 'UNAVAILABLE'],
  ] as const) {
    test(`a failed ${operation} (${code}) refuses that commit and every later one; nothing of it is durable, even after a compaction`, async () => {
      // Goal: fail closed. Method: a threshold of 3 changes; commit one, fail the disk for the
      // next commit (and one queued behind it), let the disk work again, commit more (enough to
      // cross the threshold), close, reopen on the real disk: only the first commit is there.
      const dir = freshDir();
      let failing = false;
      const io = hookedFileIO((each, filePath) => {
        if (failing && each === operation && filePath.endsWith('state.log')) throw errnoError(code);
      });
      const logged: Logged[] = [];
      const state = await DurableState.open(io, optionsFor(dir, logged, 3));
      await state.commit([set('a', 1)]);
      failing = true;
      const outcomes = await Promise.allSettled([state.commit([set('b', 2)]), state.commit([set('c', 3)])]);
      failing = false;
      const reasons = outcomes.map((outcome) =>
        outcome.status === 'rejected' ? (outcome.reason as unknown) : 'resolved',
      );
      assert.ok(isTubeError(reasons[0], errorName), String(reasons[0]));
      assert.equal(reasons[1], reasons[0], 'the commit queued behind it gets the same error');
      const failure = reasons[0];
      assert.equal(failure.code, errorName === 'STORAGE_FULL' ? 507 : 503);
      assert.match(failure.hint ?? '', /restart/);
      assert.deepEqual(new Map(state.state), kv({ a: 1 }), 'the failed changes never show');
      for (const later of [[set('d', 4), set('e', 5)], [set('f', 6)], []]) {
        await assert.rejects(state.commit(later), (error) => error === failure);
      }
      assert.equal(state.failed, failure);
      await state.close();
      assert.ok(
        logged.some((entry) => entry.level === 'error' && /refused until a restart/.test(entry.message)),
      );
      assert.equal(fs.existsSync(file(dir, 'state.snapshot')), false, 'no compaction ran after the failure');
      assert.deepEqual(await reopen(dir), kv({ a: 1 }));
    });
  }

  test('a failed compaction refuses later commits; the commit before it stays, and a reopen has exactly that', async () => {
    // Goal: a compaction cut short by a disk error neither loses the durable commits nor lets
    // later ones in. Method: fail the rename of the log to log.prev.
    const dir = freshDir();
    const io = hookedFileIO((operation, filePath) => {
      if (operation === 'rename' && filePath.endsWith('state.log')) throw errnoError('EIO');
    });
    const state = await DurableState.open(io, optionsFor(dir, [], 2));
    await state.commit([set('a', 1)]);
    await state.commit([set('b', 2)]); // crosses 2: the compaction fails after this commit resolved
    await assert.rejects(state.commit([set('c', 3)]), (error) => isTubeError(error, 'UNAVAILABLE'));
    await state.close();
    assert.deepEqual(await reopen(dir), kv({ a: 1, b: 2 }));
  });

  test('crossing the compaction threshold writes a snapshot, keeps the previous one and the old log as .prev', async () => {
    // Goal: compaction loses nothing and keeps a previous copy. Method: a small threshold, many
    // commits, then reopen; and the same with the previous copies gone (they are only a spare).
    const dir = freshDir();
    const changes: Change[] = [];
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 7));
    for (let i = 0; i < 50; i++) {
      const change = set(`k${i % 13}`, i % 5 === 0 ? null : i);
      await state.commit([change]);
      changes.push(change);
    }
    await state.close();
    const model = modelOf(changes);
    for (const name of ['state.snapshot', 'state.snapshot.prev', 'state.log.prev'])
      assert.ok(fs.existsSync(file(dir, name)), name);
    // 50 changes, a compaction at every 7th: one change is left in the log, 7 in log.prev.
    assert.equal(linesOf(file(dir, 'state.log')).length, 1);
    assert.deepEqual(
      linesOf(file(dir, 'state.log.prev')).map((line) => line.seq),
      [43, 44, 45, 46, 47, 48, 49],
    );
    assert.deepEqual(await reopen(dir), model);
    assert.deepEqual(await reopen(dir, [], 10_000), model);
    fs.rmSync(file(dir, 'state.snapshot.prev'));
    fs.rmSync(file(dir, 'state.log.prev'));
    assert.deepEqual(await reopen(dir), model);
  });

  test('log lines at or below the snapshot seq are skipped (a crash between snapshot and log rename)', async () => {
    // Goal: replay is idempotent against the snapshot. Method: put the old log back after compaction.
    const dir = freshDir();
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 4));
    await state.commit([set('a', 1), set('a', 2)]);
    const logBefore = fs.readFileSync(file(dir, 'state.log'));
    await state.commit([set('b', 1), set('a', null)]); // crosses 4: compaction
    await state.close();
    assert.equal(fs.statSync(file(dir, 'state.log')).size, 0);
    fs.writeFileSync(file(dir, 'state.log'), logBefore);
    assert.deepEqual(await reopen(dir), kv({ b: 1 }));
  });

  test('a log cut at every byte of its last line recovers the good prefix and reports the cut', async () => {
    // Goal: torn tails. Method: write, then for every cut point in the last line reopen a copy.
    const dir = freshDir();
    await commitOnce(dir, [set('a', 1), set('b', 2)], [set('c', 3)]);
    const full = fs.readFileSync(file(dir, 'state.log'));
    const lastStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    for (let cut = lastStart; cut < full.length; cut++) {
      const copy = freshDir();
      fs.mkdirSync(copy);
      fs.writeFileSync(file(copy, 'state.log'), full.subarray(0, cut));
      const logged: Logged[] = [];
      assert.deepEqual(await reopen(copy, logged), kv({ a: 1, b: 2 }), `cut at ${cut}`);
      assert.equal(logged.length, cut > lastStart ? 1 : 0, `cut at ${cut}`);
      if (cut > lastStart) {
        assert.match(logged[0]!.message, /torn last log line dropped/);
        assert.deepEqual(logged[0]!.fields.offset, lastStart);
      }
      // The cut was made on disk: a later commit goes after the good prefix and survives.
      await commitOnce(copy, [set('d', 4)]);
      assert.deepEqual(await reopen(copy), kv({ a: 1, b: 2, d: 4 }));
    }
  });

  test('a last line that fails its CRC, with nothing after it, is dropped and reported', async () => {
    // Goal: a torn write whose newline made it (sectors kept out of order) counts as torn too.
    const dir = freshDir();
    await commitOnce(dir, [set('a', 1)], [set('b', 2)], [set('c', 3)]);
    flipByte(file(dir, 'state.log'), -5);
    const logged: Logged[] = [];
    assert.deepEqual(await reopen(dir, logged), kv({ a: 1, b: 2 }));
    assert.deepEqual(
      logged.map((entry) => entry.message),
      ['torn last log line dropped'],
    );
    await commitOnce(dir, [set('d', 4)]);
    assert.deepEqual(await reopen(dir), kv({ a: 1, b: 2, d: 4 }));
  });

  test('damage before the last line refuses the open with the file, the byte offset and the repair command', async () => {
    // Goal: acknowledged changes after damage are never dropped silently, and nothing is touched.
    // Method: several kinds of damage in front of at least one more line; each must refuse.
    const source = freshDir();
    await commitOnce(source, [set('a', 1)], [set('b', 2)], [set('c', 3)], [set('d', 4)]);
    const log = fs.readFileSync(file(source, 'state.log'));
    const starts = [0];
    for (let at = log.indexOf(0x0a); at >= 0 && at < log.length - 1; at = log.indexOf(0x0a, at + 1))
      starts.push(at + 1);
    const second = starts[1]!;
    const unreadable = encodeCheckedLine({ seq: 2, something: 'else' });
    const cases: [string, (content: Buffer) => Buffer, number, RegExp][] = [
      [
        'a flipped bit in line 2',
        (content) => flip(content, second + 12),
        second,
        /fails its CRC check, and 2 more/,
      ],
      [
        'garbage instead of line 2',
        (content) => splice(content, second, starts[2]!, 'garbage\n'),
        second,
        /CRC/,
      ],
      [
        'a damaged last line with bytes after it',
        (content) => Buffer.concat([flip(content, content.length - 4), Buffer.from('xyz')]),
        starts[3]!,
        /CRC check, and 1 more/,
      ],
      [
        'a line this version cannot read',
        (content) => splice(content, second, starts[2]!, unreadable),
        second,
        /not a change this version reads/,
      ],
      [
        'an unreadable last line',
        (content) => Buffer.concat([content, Buffer.from(encodeCheckedLine({ seq: 5 }))]),
        log.length,
        /not a change/,
      ],
      [
        'a missing line (seq gap)',
        (content) => splice(content, second, starts[2]!, ''),
        second,
        /seq 2 to 2 are missing/,
      ],
      [
        'lines out of order',
        (content) => Buffer.concat([content, content.subarray(starts[3])]),
        log.length,
        /out of order/,
      ],
    ];
    for (const [name, damage, offset, reason] of cases) {
      const dir = freshDir();
      fs.mkdirSync(dir);
      fs.writeFileSync(file(dir, 'state.log'), damage(Buffer.from(log)));
      const before = filesOf(dir);
      const error = await refusal(dir);
      assert.match(
        error.message,
        new RegExp(`^${file(dir, 'state.log')} is damaged at byte ${offset}: `),
        name,
      );
      assert.match(error.message, reason, name);
      assert.deepEqual(error.details, { file: file(dir, 'state.log'), offset }, name);
      assert.deepEqual(filesOf(dir), before, `${name}: the files are left as they were`);
    }
  });

  test('a damaged snapshot with a good previous copy is rebuilt from it and the logs: nothing is lost', async () => {
    // Goal: the previous copy is a real spare. Method: several compactions, damage the snapshot
    // (CRC, and a line whose CRC is good but whose content does not deserialize), reopen.
    for (const damage of ['crc', 'content'] as const) {
      const dir = freshDir();
      const changes: Change[] = [];
      const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 3));
      for (let i = 0; i < 11; i++) {
        changes.push(set(`k${i % 4}`, i));
        await state.commit([changes.at(-1)!]);
      }
      await state.close();
      if (damage === 'crc') flipByte(file(dir, 'state.snapshot'), 12);
      else fs.writeFileSync(file(dir, 'state.snapshot'), encodeCheckedLine({ seq: 9, state: 'not a list' }));
      const logged: Logged[] = [];
      assert.deepEqual(await reopen(dir, logged), modelOf(changes), damage);
      assert.deepEqual(
        logged.map((entry) => [entry.level, entry.message, entry.fields.rebuiltFrom]),
        [
          [
            'error',
            'snapshot is damaged; rebuilt it from the previous snapshot and the logs',
            file(dir, 'state.snapshot.prev'),
          ],
        ],
        damage,
      );
      // It keeps working: a commit and a compaction later, everything is still there.
      const again = await DurableState.open(nodeFileIO, optionsFor(dir, [], 3));
      await again.commit([set('after', 1)]);
      await again.commit([set('after', 2)]);
      await again.close();
      assert.deepEqual(await reopen(dir), modelOf([...changes, set('after', 2)]));
    }
  });

  test('a damaged snapshot after the first compaction is rebuilt from the empty state and log.prev', async () => {
    // Goal: with no previous snapshot yet, log.prev holds every change from seq 1.
    const dir = freshDir();
    await commitOnce(dir, [set('a', 1)], [set('b', 2)]);
    const state = await DurableState.open(nodeFileIO, optionsFor(dir, [], 1));
    await state.commit([set('c', 3)]); // the first compaction
    await state.commit([set('d', 4)]); // the second: snapshot.prev now exists; remove it below
    await state.close();
    fs.rmSync(file(dir, 'state.snapshot.prev'));
    flipByte(file(dir, 'state.snapshot'), 12);
    // log.prev starts at seq 4 now, and no previous snapshot reaches it: refused.
    const error = await refusal(dir);
    assert.match(
      error.message,
      /state\.snapshot is damaged at byte 0: it fails its CRC check, and its previous copy/,
    );
    assert.match(error.message, /seq 1 to 3 are missing/);

    const once = freshDir();
    const first = await DurableState.open(nodeFileIO, optionsFor(once, [], 3));
    await first.commit([set('a', 1)]);
    await first.commit([set('b', 2), set('c', 3)]); // compaction: log.prev holds seq 1 and 2
    await first.close();
    flipByte(file(once, 'state.snapshot'), 12);
    assert.deepEqual(await reopen(once), kv({ a: 1, b: 2, c: 3 }));
  });

  test('a damaged snapshot without a good previous copy refuses the open, naming the snapshot', async () => {
    // Goal: never start from the log alone when the snapshot held more (what the old code did).
    // Method: (1) a snapshot and its previous copy both damaged; (2) files of the old layout,
    // snapshot + log with no .prev copies.
    const both = freshDir();
    const state = await DurableState.open(nodeFileIO, optionsFor(both, [], 2));
    for (let i = 0; i < 7; i++) await state.commit([set(`k${i}`, i)]);
    await state.close();
    flipByte(file(both, 'state.snapshot'), 12);
    flipByte(file(both, 'state.snapshot.prev'), 12);
    const before = filesOf(both);
    const error = await refusal(both);
    assert.match(
      error.message,
      new RegExp(`^${file(both, 'state.snapshot')} is damaged at byte 0: it fails its CRC check`),
    );
    assert.deepEqual(error.details, { file: file(both, 'state.snapshot'), offset: 0 });
    assert.deepEqual(filesOf(both), before);

    const old = freshDir();
    fs.mkdirSync(old);
    fs.writeFileSync(
      file(old, 'state.snapshot'),
      encodeCheckedLine({ seq: 5, state: [['a', 1]] }).replace('"a"', '"b"'),
    );
    fs.writeFileSync(file(old, 'state.log'), encodeCheckedLine({ seq: 6, change: set('c', 3) }));
    const oldError = await refusal(old);
    assert.match(oldError.message, /there is no previous log to rebuild it from/);
  });

  test('a custom line format writes and reads its own lines', async () => {
    // Goal: lineFormat is honoured both ways (group offsets and metadata keep their layouts through it).
    const dir = freshDir();
    const options: DurableStateOptions<KV, Change> = {
      ...optionsFor(dir, [], 3),
      lineFormat: {
        batchLine: (seq, changes) => ({ n: seq, kv: changes.map((change) => [change.key, change.value]) }),
        readBatchLine: (line) => {
          const { n, kv: pairs } = line as { n: number; kv: [string, number | null][] };
          return { seq: n, changes: pairs.map(([key, value]) => ({ key, value })) };
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
    assert.match(fs.readFileSync(file(dir, 'state.snapshot'), 'utf8'), /^[0-9a-f]{8} \{"n":1,"all":/);
    assert.match(
      fs.readFileSync(file(dir, 'state.log'), 'utf8'),
      /^[0-9a-f]{8} \{"n":2,"kv":\[\["d",4\]\]\}\n$/,
    );
    const again = await DurableState.open(nodeFileIO, options);
    assert.deepEqual(new Map(again.state), kv({ a: 1, b: 2, c: 3, d: 4 }));
    await again.close();
  });
});

function flip(content: Buffer, at: number): Buffer {
  const copy = Buffer.from(content);
  copy[at]! ^= 0x01;
  return copy;
}

function splice(content: Buffer, from: number, to: number, text: string): Buffer {
  return Buffer.concat([content.subarray(0, from), Buffer.from(text), content.subarray(to)]);
}

describe('DurableState.repair', () => {
  /**
   * Six single-change commits: four with a threshold of 2 (snapshot seq 4, snapshot.prev seq 2,
   * log.prev seq 3 and 4), then two more in the log (seq 5 and 6).
   */
  async function sixCommits(dir: string): Promise<Change[]> {
    const changes = ['a', 'b', 'c', 'd', 'e', 'f'].map((key, index) => set(key, index + 1));
    const compacting = await DurableState.open(nodeFileIO, optionsFor(dir, [], 2));
    for (const change of changes.slice(0, 4)) await compacting.commit([change]);
    await compacting.close();
    await commitOnce(dir, ...changes.slice(4).map((change) => [change]));
    return changes;
  }

  async function repair(dir: string) {
    const { repairCommand: _unused, compactAfterChanges: _none, ...options } = optionsFor(dir);
    return DurableState.repair(nodeFileIO, options);
  }

  test('nothing to repair leaves every file as it was', async () => {
    const dir = freshDir();
    await sixCommits(dir);
    const before = filesOf(dir);
    const report = await repair(dir);
    assert.equal(report.repaired, false);
    assert.deepEqual(report.dropped, []);
    assert.deepEqual(report.snapshotUsed, { file: file(dir, 'state.snapshot'), seq: 4 });
    assert.equal(report.keptLines, 2);
    assert.deepEqual(filesOf(dir), before);
  });

  test('a damaged middle line is dropped and reported; every other change is kept and the store opens', async () => {
    // Goal: keep what is valid, say exactly what was dropped. Method: damage line 1 of 2 in the log.
    const dir = freshDir();
    const changes = await sixCommits(dir);
    const lineBytes = fs.readFileSync(file(dir, 'state.log')).indexOf(0x0a) + 1;
    flipByte(file(dir, 'state.log'), 15);
    await refusal(dir);
    const report = await repair(dir);
    assert.equal(report.repaired, true);
    assert.deepEqual(report.dropped, [
      {
        file: file(dir, 'state.log'),
        offset: 0,
        bytes: lineBytes,
        lines: 1,
        reason: 'the line fails its CRC check',
        lost: true,
      },
    ]);
    assert.deepEqual(report.missing, [{ fromSeq: 5, toSeq: 5 }]);
    assert.deepEqual(report.snapshotUsed, { file: file(dir, 'state.snapshot'), seq: 4 });
    assert.equal(report.keptLines, 1);
    assert.equal(report.seq, 6);
    // The originals are kept, byte for byte, in the backup directory.
    assert.ok(report.backupDir !== undefined && fs.existsSync(path.join(report.backupDir, 'state.log')));
    assert.deepEqual(await reopen(dir), modelOf(changes.filter((change) => change.key !== 'e')));
    // And it goes on: the next commit continues after seq 6.
    await commitOnce(dir, [set('g', 7)]);
    assert.deepEqual(
      linesOf(file(dir, 'state.log')).map((line) => line.seq),
      [7],
    );
  });

  test('a damaged snapshot is rebuilt from the previous one; with both damaged, the logs alone keep what they hold', async () => {
    const dir = freshDir();
    const changes = await sixCommits(dir);
    flipByte(file(dir, 'state.snapshot'), 12);
    let report = await repair(dir);
    assert.deepEqual(
      report.damagedSnapshots.map((each) => each.file),
      [file(dir, 'state.snapshot')],
    );
    assert.deepEqual(report.snapshotUsed, { file: file(dir, 'state.snapshot.prev'), seq: 2 });
    assert.deepEqual(report.missing, []);
    assert.deepEqual(await reopen(dir), modelOf(changes));

    const worse = freshDir();
    await sixCommits(worse);
    flipByte(file(worse, 'state.snapshot'), 12);
    flipByte(file(worse, 'state.snapshot.prev'), 12);
    report = await repair(worse);
    assert.equal(report.snapshotUsed, undefined);
    assert.deepEqual(report.missing, [{ fromSeq: 1, toSeq: 2 }], 'what only the snapshots held');
    assert.deepEqual(await reopen(worse), modelOf(changes.slice(2)));
  });

  test('a torn tail is cut and reported', async () => {
    const dir = freshDir();
    const changes = await sixCommits(dir);
    fs.appendFileSync(file(dir, 'state.log'), '0badc0de {"seq":7,');
    const report = await repair(dir);
    assert.deepEqual(report.dropped, [
      {
        file: file(dir, 'state.log'),
        offset: fs.statSync(path.join(report.backupDir!, 'state.log')).size - 18,
        bytes: 18,
        lines: 0,
        reason: 'bytes after the last newline',
        lost: true,
      },
    ]);
    assert.deepEqual(await reopen(dir), modelOf(changes));
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

  /** Whether `error` is the power loss, or the storage error a failed write latched because of it. */
  const causedByPowerLoss = (error: unknown) =>
    isPowerLost(error) || (error instanceof Error && isPowerLost(error.cause));

  /** Runs the workload with the power failing before operation `n`; checks the reopened state. */
  async function crashAt(n: number | undefined, lossOptions: PowerLossOptions = {}): Promise<number> {
    const dir = freshDir();
    const io = new PowerLossIO();
    if (n !== undefined) io.crashAfterOperations(n, lossOptions);
    const resolved: Change[] = [];
    try {
      await workload(io, dir, resolved);
    } catch (error) {
      if (!causedByPowerLoss(error)) throw error;
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

  test('every resolved commit survives a random power loss (torn and reordered unsynced writes), and no open is refused', async () => {
    // Goal: the same with unsynced writes kept, torn or lost at random; a torn write must never
    // look like damage in the middle (the open would refuse). Method: seeded crash points.
    const total = await crashAt(undefined);
    for (let seed = 1; seed <= 120; seed++) {
      const n = 1 + ((seed * 7919) % (total + 1));
      await crashAt(n, { mode: 'random', seed, sectorBytes: 16 });
    }
  });

  /**
   * Eight single-change commits one after another with a threshold of 4: two compactions, the
   * second of which replaces both .prev copies. The power fails before operation `n`.
   */
  async function compactionRun(n: number | undefined, lossOptions: PowerLossOptions) {
    const dir = freshDir();
    const io = new PowerLossIO();
    if (n !== undefined) io.crashAfterOperations(n, lossOptions);
    const changes = Array.from({ length: 8 }, (_, i) => set(`k${i}`, i));
    let resolved = 0;
    try {
      const state = await DurableState.open(io, optionsFor(dir, [], 4));
      for (const change of changes) {
        await state.commit([change]);
        resolved++;
      }
      await state.close();
    } catch (error) {
      if (!causedByPowerLoss(error)) throw error;
    }
    if (!io.lost) await io.powerLoss(lossOptions);
    const report = await io.whenPowerLost();
    return { dir, changes, resolved, operations: report.operations };
  }

  for (const lossOptions of [{}, { mode: 'random', seed: 7, sectorBytes: 16 }] as PowerLossOptions[]) {
    test(`every crash point of a compaction opens to exactly the committed changes (${lossOptions.mode ?? 'drop'} mode), also with the snapshot then damaged`, async () => {
      // Goal: no step of a compaction (temp file, sync, renames, new log, directory sync) leaves
      // a state that opens to more or less than what was committed, and at every point the
      // previous copies can stand in for a damaged snapshot. Method: cut the power before each
      // operation of a run with two compactions; reopen; then damage the snapshot (if one is
      // there) and reopen again: the same state, or a refusal, never another state.
      const { operations } = await compactionRun(undefined, lossOptions);
      let rebuilt = 0;
      for (let n = 1; n <= operations + 1; n++) {
        const { dir, changes, resolved } = await compactionRun(n, lossOptions);
        if (!fs.existsSync(dir)) {
          assert.equal(resolved, 0, `crash point ${n}`);
          continue;
        }
        const recovered = await reopen(dir);
        // Exactly the resolved commits, or those and the one in flight (written, not yet resolved).
        const exact = [modelOf(changes.slice(0, resolved)), modelOf(changes.slice(0, resolved + 1))];
        assert.ok(
          exact.some((model) => JSON.stringify([...model]) === JSON.stringify([...recovered])),
          `crash point ${n}: ${JSON.stringify([...recovered])} after ${resolved} resolved commits`,
        );
        if (!fs.existsSync(file(dir, 'state.snapshot'))) continue;
        flipByte(file(dir, 'state.snapshot'), 12);
        const again = await DurableState.open(nodeFileIO, optionsFor(dir)).then(
          async (state) => {
            const copy = new Map(state.state);
            await state.close();
            return copy;
          },
          (error: unknown) => {
            assert.ok(isTubeError(error, 'UNAVAILABLE'), `crash point ${n}: ${String(error)}`);
            return undefined;
          },
        );
        if (again === undefined) continue;
        rebuilt++;
        assert.deepEqual(again, recovered, `crash point ${n}: rebuilt from the previous copy`);
      }
      assert.ok(rebuilt > 0, 'the previous copies rebuilt a damaged snapshot at some crash points');
    });
  }
});
