// One daemon per data dir: a second master on the same dir is refused naming the holder's pid, and a
// lock left by a dead process is taken over (issue 4 §2).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { acquireDataDirLock, TubeError } from '../../src/common/index.js';
import { startMaster, tempRoot } from './helpers.js';

const dirs = tempRoot('tubemq-master-lock-');
after(() => dirs.remove());

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

describe('data dir lock', () => {
  test('a second Master.start on the same data dir is refused ALREADY_EXISTS naming the pid', async () => {
    // Goal: two masters never write the same meta files; the error says who holds the dir and how
    // to stop it.
    const dataDir = dirs.fresh();
    const master = await startMaster(dataDir);
    try {
      const error = await startMaster(dataDir).then(
        async (second) => {
          await second.close();
          return undefined;
        },
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof TubeError, String(error));
      assert.equal(error.errorName, 'ALREADY_EXISTS');
      assert.equal(error.message, `data dir ${dataDir} is in use by process ${process.pid}`);
      assert.match(error.hint ?? '', /tubemq master stop --data-dir/);
    } finally {
      await master.close();
    }
    // Released on close: a new master can start.
    assert.equal(fs.existsSync(path.join(dataDir, 'lock')), false);
    const next = await startMaster(dataDir);
    await next.close();
  });

  test('a stale lock of a dead process is taken over', async () => {
    // Goal: a crashed daemon does not lock its data dir forever.
    const dataDir = dirs.fresh();
    fs.mkdirSync(dataDir, { recursive: true });
    const pid = await deadPid();
    fs.writeFileSync(path.join(dataDir, 'lock'), `${pid}\n`);
    const master = await startMaster(dataDir);
    try {
      assert.equal(fs.readFileSync(path.join(dataDir, 'lock'), 'utf8').trim(), String(process.pid));
    } finally {
      await master.close();
    }
  });

  test('a lock naming this pid but not held by this process (pid reuse) or holding garbage is taken over', async () => {
    // Goal: a daemon restarted with the same pid (containers) or after a crash mid-write starts.
    for (const content of [`${process.pid}\n`, 'not a pid', '']) {
      const dir = dirs.fresh();
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'lock'), content);
      const lock = await acquireDataDirLock(dir, 'broker');
      assert.equal(fs.readFileSync(lock.path, 'utf8').trim(), String(process.pid));
      await lock.release();
      await lock.release();
      assert.equal(fs.existsSync(lock.path), false);
    }
  });

  test('a lock held by another live process is refused with the broker stop hint', async () => {
    // Goal: the live check sees other processes, not just this one (pid 1 always exists).
    const dir = dirs.fresh();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'lock'), '1\n');
    const error = await acquireDataDirLock(dir, 'broker').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TubeError && error.errorName === 'ALREADY_EXISTS', String(error));
    assert.equal(error.message, `data dir ${dir} is in use by process 1`);
    assert.equal(error.hint, `stop it with \`tubemq broker stop --data-dir ${dir}\``);
    assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), '1\n', 'the holder keeps its lock');
  });
});
