// Time retention end to end (issue 13, item 5): a topic created through the CLI with a short
// `retention.ms` loses the messages it stopped receiving, through a real broker daemon whose
// broker.ini runs retention often (`logClearupDurationMs`, TubeMQ's key); `offset show` shows its
// earliest offset moved up, and producing continues at the next offsets.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, startDaemon, startMaster, tempDir, tubemq, waitFor, type Daemon } from './helpers.js';

const retentionMs = 2000;

describe('time retention through a broker daemon', () => {
  let root: string;
  let master: Daemon;
  let broker: Daemon;
  let m: string[];

  before(async () => {
    root = await tempDir('tubemq-e2e-retention-');
    master = await startMaster(join(root, 'master'));
    m = ['-m', `127.0.0.1:${master.port}`];
    const ini = join(root, 'broker.ini');
    await writeFile(ini, '[broker]\nlogClearupDurationMs = 200\n');
    const dataDir = join(root, 'broker');
    broker = await startDaemon(
      ['broker', 'start', '-c', ini, '--port', '0', ...m, '--data-dir', dataDir],
      dataDir,
    );
    await waitFor(
      async () => {
        const listed = await tubemq([...m, 'broker', 'list', '--json']);
        return (
          listed.exitCode === 0 &&
          (JSON.parse(listed.stdout) as { state: string }[]).some((each) => each.state === 'online')
        );
      },
      10_000,
      'the broker to come online',
    );
  });

  after(async () => {
    await broker?.stop();
    await master?.stop();
    if (root !== undefined) await removeDir(root);
  });

  const offsets = async (): Promise<{ earliest: number; latest: number }> => {
    const shown = await tubemq([...m, 'offset', 'show', 'aging', '--json']);
    assert.equal(shown.exitCode, 0, shown.stderr);
    const [row] = JSON.parse(shown.stdout) as { earliest: number; latest: number }[];
    return { earliest: row!.earliest, latest: row!.latest };
  };

  test('messages older than retention.ms go: offset show moves earliest up; producing continues', async () => {
    const created = await tubemq([
      ...m,
      ...['topic', 'create', 'aging', '--partitions', '1', '--config', `retention.ms=${retentionMs}`],
    ]);
    assert.equal(created.exitCode, 0, created.stderr);
    const producingAt = Date.now();
    const produced = await tubemq([...m, 'produce', 'aging', 'one', 'two', 'three']);
    assert.equal(produced.exitCode, 0, produced.stderr);
    const first = await offsets();
    assert.equal(first.latest, 3);
    // Nothing can be gone before the retention time (a loaded machine may take that long here).
    if (Date.now() - producingAt < retentionMs) assert.equal(first.earliest, 0);

    // Nothing more is written: after the retention time (plus a segment age of a tenth of it and a
    // 200 ms run) the messages are gone.
    await waitFor(async () => (await offsets()).earliest === 3, 15_000, 'earliest to move up');
    assert.equal((await offsets()).latest, 3);

    // The store takes appends after it: at the next offset, which ages out in turn.
    const again = await tubemq([...m, '--json', 'produce', 'aging', 'four']);
    assert.equal(again.exitCode, 0, again.stderr);
    const { partitions } = JSON.parse(again.stdout) as { partitions: { lastOffset: number }[] };
    assert.equal(partitions[0]!.lastOffset, 3);
    assert.equal((await offsets()).latest, 4);
    await waitFor(async () => (await offsets()).earliest === 4, 15_000, 'earliest to move up again');
  });
});
