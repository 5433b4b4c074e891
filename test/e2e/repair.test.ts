// Damaged metadata and offsets files end to end, through the built CLI and real daemons: a start
// refuses with `error:` and `hint:` naming the file, the byte offset and the repair command (never
// a stack trace); `tubemq master|broker repair` says what it dropped and which snapshot it used,
// refuses while the daemon runs, and leaves files the daemon starts from and serves.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { MetaStore } from '../../src/master/meta-store.js';
import type { TopicDescription } from '../../src/protocol/index.js';
import {
  removeDir,
  startBroker,
  startMaster,
  tempDir,
  tubemq,
  waitFor,
  type CliResult,
  type Daemon,
} from './helpers.js';

/** Flips a bit inside the JSON of the last line of `file` that contains `text`. */
function damageLineWith(file: string, text: string): { offset: number; bytes: number } {
  const content = fs.readFileSync(file);
  const at = content.lastIndexOf(text);
  assert.ok(at >= 0, `${text} in ${file}`);
  const offset = content.lastIndexOf(0x0a, at) + 1;
  content[at + 1]! ^= 0x01;
  fs.writeFileSync(file, content);
  return { offset, bytes: content.indexOf(0x0a, at) + 1 - offset };
}

function flipByte(file: string, at: number): void {
  const content = fs.readFileSync(file);
  content[at]! ^= 0x01;
  fs.writeFileSync(file, content);
}

/** A refused start as the user sees it: exit 1, `error:` and `hint:` lines, no stack trace. */
function assertRefusedStart(result: CliResult, file: string, repair: string): void {
  assert.equal(result.exitCode, 1, result.stderr);
  assert.match(result.stderr, new RegExp(`^error: ${file} is damaged at byte \\d+: `, 'm'));
  assert.match(result.stderr, new RegExp(`^hint: .*\`${repair}\``, 'm'));
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
}

async function topicNames(masters: string): Promise<string[]> {
  const listed = await tubemq(['-m', masters, 'topic', 'list', '--json']);
  assert.equal(listed.exitCode, 0, listed.stderr);
  return (JSON.parse(listed.stdout) as TopicDescription[]).map((topic) => topic.name);
}

describe('repairing damaged metadata and offsets files', () => {
  let root: string;
  const running: Daemon[] = [];

  before(async () => {
    root = await tempDir('tubemq-e2e-repair-');
  });

  after(async () => {
    for (const daemon of running) await daemon.stop();
    if (root !== undefined) await removeDir(root);
  });

  async function run(start: Promise<Daemon>): Promise<Daemon> {
    const daemon = await start;
    running.push(daemon);
    return daemon;
  }

  async function stop(daemon: Daemon): Promise<void> {
    assert.equal(await daemon.stop(), 0);
    running.splice(running.indexOf(daemon), 1);
  }

  test('meta.wal damaged in the middle: master start refuses with the hint, master repair drops the line, the master serves the rest', async () => {
    // Goal: the whole path a person takes. Method: real master and broker, four topics; flip a
    // byte in the line of the second; start (refused), repair, start again, list the topics.
    const masterDir = join(root, 'm1');
    let master = await run(startMaster(masterDir));
    let masters = `127.0.0.1:${master.port}`;
    const broker = await run(startBroker(join(root, 'b1'), master.port));
    await waitFor(
      async () => (await tubemq(['-m', masters, 'broker', 'list', '--json'])).stdout.includes('"online"'),
      10_000,
      'the broker to come online',
    );
    for (const name of ['alpha', 'bravo', 'charlie', 'delta']) {
      const created = await tubemq(['-m', masters, 'topic', 'create', name, '--partitions', '1']);
      assert.equal(created.exitCode, 0, created.stderr);
    }
    await stop(broker);
    await stop(master);
    const walPath = join(masterDir, 'meta.wal');
    const damaged = damageLineWith(walPath, '"bravo"');

    const refused = await tubemq(['master', 'start', '--port', '0', '--data-dir', masterDir]);
    assertRefusedStart(refused, walPath, `tubemq master repair --data-dir ${masterDir}`);
    assert.match(
      refused.stderr,
      new RegExp(`damaged at byte ${damaged.offset}: the line fails its CRC check`),
    );

    const repaired = await tubemq(['master', 'repair', '--data-dir', masterDir]);
    assert.equal(repaired.exitCode, 0, repaired.stderr);
    assert.match(
      repaired.stdout,
      new RegExp(
        `^${walPath}: dropped 1 line, ${damaged.bytes} bytes at byte ${damaged.offset}: the line fails its CRC check$`,
        'm',
      ),
    );
    assert.match(repaired.stdout, /^lost: the changes with seq \d+ are in no file$/m);
    assert.match(repaired.stdout, /^kept: the empty state and 4 log lines after it \(4 changes\)$/m);
    assert.match(
      repaired.stdout,
      new RegExp(`^repaired: .* the original files are in ${masterDir}/repair-`, 'm'),
    );

    master = await run(startMaster(masterDir));
    masters = `127.0.0.1:${master.port}`;
    assert.deepEqual(await topicNames(masters), ['alpha', 'charlie', 'delta']);
    const created = await tubemq(['-m', masters, 'topic', 'create', 'echo', '--partitions', '1']);
    assert.match(
      created.stderr,
      /no broker is online/,
      'it takes changes again (and needs a broker for this one)',
    );

    // While the master runs, a repair is refused and changes nothing.
    const whileRunning = await tubemq(['master', 'repair', '--data-dir', masterDir]);
    assert.equal(whileRunning.exitCode, 1);
    assert.match(
      whileRunning.stderr,
      new RegExp(`^error: data dir ${masterDir} is in use by process ${master.child.pid}`, 'm'),
    );
    assert.match(whileRunning.stderr, /^hint: stop it with `tubemq master stop/m);
    await stop(master);
  });

  /** A master data dir with five topics, compacted after every two: meta.json (seq 4), its .prev (seq 2), meta.wal.prev (3, 4), meta.wal (5). */
  async function metadataDir(name: string): Promise<string> {
    const dir = join(root, name);
    const store = await MetaStore.open({
      dir,
      logger: createLogger({ name: 'test', level: 'silent' }),
      compactAfterChanges: 2,
    });
    for (let i = 1; i <= 5; i++) {
      await store.exclusive(() =>
        store.addTopic({
          name: `t${i}`,
          partitions: 1,
          stores: 1,
          retentionMs: 60_000,
          retentionBytes: -1,
          ackFloor: 'memory',
          createdAtMs: 1,
          placement: [1],
        }),
      );
    }
    await store.close();
    return dir;
  }

  async function repairThenServe(dir: string, expectOut: RegExp[], expectTopics: string[]): Promise<void> {
    const repaired = await tubemq(['master', 'repair', '--data-dir', dir]);
    assert.equal(repaired.exitCode, 0, repaired.stderr);
    for (const pattern of expectOut) assert.match(repaired.stdout, pattern);
    const master = await run(startMaster(dir));
    assert.deepEqual(await topicNames(`127.0.0.1:${master.port}`), expectTopics);
    await stop(master);
  }

  test('each kind of damage, repaired through the CLI, leaves a master that starts and serves what was kept', async () => {
    // Goal: the repair report is exact and its result opens. Method: one data dir per kind.
    const intact = await metadataDir('intact');
    const metaFiles = (dir: string) =>
      Object.fromEntries(
        fs
          .readdirSync(dir)
          .filter((name) => name.startsWith('meta'))
          .map((name) => [name, fs.readFileSync(join(dir, name), 'hex')]),
      );
    const before = metaFiles(intact);
    const unneeded = await tubemq(['master', 'repair', '--data-dir', intact]);
    assert.equal(unneeded.exitCode, 0, unneeded.stderr);
    assert.match(unneeded.stdout, /^kept: meta\.json \(seq 4\) and 1 log line after it \(1 change\)$/m);
    assert.match(unneeded.stdout, /^nothing to repair in /m);
    assert.deepEqual(metaFiles(intact), before, 'nothing to repair: the files are as they were');

    const torn = await metadataDir('torn');
    const size = fs.statSync(join(torn, 'meta.wal')).size;
    const half = '0badc0de {"seq":6,"changes":[{"type":"topic-cr';
    fs.appendFileSync(join(torn, 'meta.wal'), half);
    await repairThenServe(
      torn,
      [
        new RegExp(
          `meta\\.wal: dropped ${half.length} bytes at byte ${size}: bytes after the last newline$`,
          'm',
        ),
      ],
      ['t1', 't2', 't3', 't4', 't5'],
    );

    const snapshotWithPrevious = await metadataDir('snapshot-with-previous');
    flipByte(join(snapshotWithPrevious, 'meta.json'), 12);
    await repairThenServe(
      snapshotWithPrevious,
      [
        /meta\.json: damaged \(\d+ bytes\), not used: it fails its CRC check$/m,
        /^kept: meta\.json\.prev \(seq 2\) and 3 log lines after it/m,
      ],
      ['t1', 't2', 't3', 't4', 't5'],
    );

    const snapshotAlone = await metadataDir('snapshot-alone');
    flipByte(join(snapshotAlone, 'meta.json'), 12);
    fs.rmSync(join(snapshotAlone, 'meta.json.prev'));
    const refused = await tubemq(['master', 'start', '--port', '0', '--data-dir', snapshotAlone]);
    assertRefusedStart(
      refused,
      join(snapshotAlone, 'meta.json'),
      `tubemq master repair --data-dir ${snapshotAlone}`,
    );
    await repairThenServe(
      snapshotAlone,
      [
        /^kept: the empty state and 3 log lines after it/m,
        /^lost: the changes with seq 1 to 2 are in no file$/m,
      ],
      ['t3', 't4', 't5'],
    );
  });

  test('offsets.log damaged in the middle: broker start refuses, broker repair drops the line, the broker serves the other groups', async () => {
    // Goal: the same path for a broker's committed offsets. Method: three groups commit through
    // `tubemq consume`, the line of the second is damaged; refused start, repair, start, offsets.
    const master = await run(startMaster(join(root, 'm3')));
    const masters = `127.0.0.1:${master.port}`;
    const brokerDir = join(root, 'b3');
    const broker = await run(startBroker(brokerDir, master.port));
    const online = async () =>
      (await tubemq(['-m', masters, 'broker', 'list', '--json'])).stdout.includes('"online"');
    await waitFor(online, 10_000, 'the broker to come online');
    assert.equal(
      (await tubemq(['-m', masters, 'topic', 'create', 'events', '--partitions', '1'])).exitCode,
      0,
    );
    const produced = await tubemq(['-m', masters, 'produce', 'events'], {
      input: 'm0\nm1\nm2\nm3\nm4\nm5\nm6\nm7\nm8\nm9\n',
    });
    assert.equal(produced.exitCode, 0, produced.stderr);
    for (const [group, count] of [
      ['g1', 3],
      ['g2', 5],
      ['g3', 7],
    ] as const) {
      const consumed = await tubemq([
        '-m',
        masters,
        'consume',
        'events',
        '--group',
        group,
        '--offset',
        'earliest',
        '--max-messages',
        String(count),
      ]);
      assert.equal(consumed.exitCode, 0, consumed.stderr);
    }
    await stop(broker);
    const offsetsLog = join(brokerDir, 'offsets', 'offsets.log');
    const damaged = damageLineWith(offsetsLog, '"g2"');

    const refused = await tubemq([
      'broker',
      'start',
      '--port',
      '0',
      '--master',
      masters,
      '--data-dir',
      brokerDir,
    ]);
    assertRefusedStart(refused, offsetsLog, `tubemq broker repair --data-dir ${brokerDir}`);
    const repaired = await tubemq(['broker', 'repair', '--data-dir', brokerDir]);
    assert.equal(repaired.exitCode, 0, repaired.stderr);
    assert.match(
      repaired.stdout,
      new RegExp(`^${offsetsLog}: dropped 1 line, ${damaged.bytes} bytes at byte ${damaged.offset}: `, 'm'),
    );

    await run(startBroker(brokerDir, master.port));
    await waitFor(online, 10_000, 'the repaired broker to come online');
    const committed = async (group: string) => {
      const shown = await tubemq(['-m', masters, 'offset', 'show', 'events', '--group', group, '--json']);
      assert.equal(shown.exitCode, 0, shown.stderr);
      return (JSON.parse(shown.stdout) as { committed: number | null }[])[0]?.committed;
    };
    assert.equal(await committed('g1'), 3);
    assert.equal(await committed('g3'), 7);
    assert.notEqual(await committed('g2'), 5, "g2's last commit was the damaged line");
  });
});
