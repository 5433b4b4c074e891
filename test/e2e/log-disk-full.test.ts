// A full log disk through a real daemon: `tubemq start --detach` with its data dir (and so
// tubemq.log) on a small tmpfs, filled to the last byte while the daemon is made to log. It must
// keep answering, say once how many log lines it dropped when space comes back, and still stop
// cleanly if SIGTERM comes while the disk is full. Needs root to mount the tmpfs; skipped without.
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { isProcessAlive } from '../../src/common/data-dir-lock.js';
import { droppedLinesMessage } from '../../src/common/log-destination.js';
import { cliEnv, readPorts, removeDir, tempDir, tubemq, tubemqBin, waitFor } from './helpers.js';

/** Fills the file system holding `file` until ENOSPC, big chunks first, then page by page. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const chunk of [Buffer.alloc(1024 * 1024), Buffer.alloc(4096), Buffer.alloc(1)]) {
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens `count` connections at once that send bytes no frame starts with: the broker logs a
 * warning for each. Bounded: a daemon that stopped reading costs at most 2 s here.
 */
async function sendGarbage(port: number, count: number): Promise<void> {
  const one = (): Promise<void> =>
    new Promise<void>((done) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.alloc(64, 0xff)));
      socket.setTimeout(2000, () => socket.destroy());
      socket.on('close', () => done());
      socket.on('error', () => undefined);
      socket.resume();
    });
  await Promise.all(Array.from({ length: count }, one));
}

/** Runs a CLI command that must succeed promptly; returns its stdout and how long it took. */
async function promptly(args: string[], limitMs: number): Promise<{ stdout: string; ms: number }> {
  const started = Date.now();
  const result = await tubemq(args, { timeoutMs: limitMs });
  const ms = Date.now() - started;
  assert.equal(result.exitCode, 0, `tubemq ${args.join(' ')} (${ms} ms): ${result.stderr}`);
  return { stdout: result.stdout, ms };
}

test('a daemon whose log disk is full keeps serving, reports the dropped log lines once, and stops cleanly', async (t) => {
  // Goal: issue 13 — with the log on a full disk pino's destination first froze the daemon's event
  // loop (write ENOSPC, sleep 100 ms, retry) and then killed it with an unhandled 'error'. Method:
  // the data dir is an 8 MiB tmpfs; with a topic holding one message, a ballast file fills it;
  // for ~5 s the daemon is made to log (bad connections, consumer sessions) while `cluster status`
  // and `consume` must answer within 3 s each; then the ballast goes and the log must carry one
  // "dropped" line; then the disk is filled again and SIGTERM must end the daemon cleanly.
  const root = await tempDir('tubemq-e2e-logfull-');
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir], { reject: false });
  if (mounted.exitCode !== 0) {
    await removeDir(root);
    t.skip(`cannot mount a tmpfs (needs root): ${String(mounted.stderr).trim()}`);
    return;
  }
  let pid: number | undefined;
  const ballast = join(dataDir, 'ballast');
  const logFile = join(dataDir, 'tubemq.log');
  try {
    const started = await execa(
      process.execPath,
      [tubemqBin, 'start', '--detach', '--port', '0', '--broker-port', '0', '--data-dir', dataDir],
      { reject: false, env: { ...cliEnv, TUBEMQ_LOG_LEVEL: 'debug' }, stdin: 'ignore', timeout: 20_000 },
    );
    assert.equal(started.exitCode, 0, String(started.stderr));
    const ports = (await readPorts(dataDir)) as {
      pid: number;
      master: { port: number };
      broker: { port: number };
    };
    pid = ports.pid;
    const masters = `127.0.0.1:${ports.master.port}`;
    await promptly(['-m', masters, 'topic', 'create', 'kept', '--partitions', '1'], 10_000);
    const produced = await tubemq(['-m', masters, 'produce', 'kept'], {
      input: 'written before the disk filled\n',
    });
    assert.equal(produced.exitCode, 0, produced.stderr);

    fillDisk(ballast);
    const deadline = Date.now() + 5000;
    let rounds = 0;
    while (Date.now() < deadline) {
      await sendGarbage(ports.broker.port, 40);
      const status = await promptly(['-m', masters, 'cluster', 'status', '--json'], 3000);
      const cluster = JSON.parse(status.stdout) as { brokers: { state: string }[] };
      assert.deepEqual(
        cluster.brokers.map((broker) => broker.state),
        ['online'],
      );
      const consumed = await promptly(
        ['-m', masters, 'consume', 'kept', '--offset', 'earliest', '--max-messages', '1'],
        3000,
      );
      assert.equal(consumed.stdout.trim(), 'written before the disk filled');
      rounds++;
    }
    assert.ok(rounds >= 2, `${rounds} rounds of answers in 5 s`);
    assert.ok(isProcessAlive(pid), 'the daemon is alive with its log disk full');

    await rm(ballast);
    await sendGarbage(ports.broker.port, 2);
    const reports = async (): Promise<{ dropped: number }[]> =>
      (await readFile(logFile, 'utf8'))
        .split('\n')
        .filter((line) => line.includes(droppedLinesMessage))
        .map((line) => JSON.parse(line) as { dropped: number });
    await waitFor(async () => (await reports()).length > 0, 5000, 'the "dropped" line in tubemq.log');
    await sendGarbage(ports.broker.port, 5);
    await sleep(1200); // past the destination's retry timer: a second report would be there by now
    const [report, ...more] = await reports();
    assert.ok(report!.dropped >= 40, `dropped ${report!.dropped} lines`);
    assert.equal(more.length, 0, 'the drop is reported once');
    const log = await readFile(logFile, 'utf8');
    assert.ok(
      log.slice(log.indexOf(droppedLinesMessage)).includes('closed a connection that sent bad bytes'),
      'lines logged after the report are written',
    );
    assert.ok(isProcessAlive(pid), 'the daemon is alive after space came back');
    await promptly(['-m', masters, 'cluster', 'status', '--json'], 3000);

    // A shutdown while the log disk is full: status lines and the last log lines are lost, the
    // clean close is not (its last step removes ports.json).
    fillDisk(ballast);
    await sendGarbage(ports.broker.port, 40);
    process.kill(pid, 'SIGTERM');
    const stopping = pid;
    await waitFor(
      () => Promise.resolve(!isProcessAlive(stopping)),
      10_000,
      'the daemon to exit after SIGTERM',
    );
    assert.equal(await readPorts(dataDir), undefined, 'ports.json removed by the clean close');
    pid = undefined;
  } finally {
    if (pid !== undefined && isProcessAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      const killed = pid;
      await waitFor(() => Promise.resolve(!isProcessAlive(killed)), 5000, 'the daemon to die').catch(
        () => undefined,
      );
    }
    const unmounted = await execa('umount', [dataDir], { reject: false });
    if (unmounted.exitCode !== 0) await execa('umount', ['-l', dataDir], { reject: false });
    await removeDir(root);
  }
});
