// The `tubemq` CLI end to end: real master and broker processes on `--port 0`, driven through the
// built bin/tubemq exactly as the README shows, plus every bad input of issue 4 §6.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import {
  cliEnv,
  closedPort,
  removeDir,
  shell,
  startBroker,
  startMaster,
  tempDir,
  tubemq,
  readPorts,
  tubemqBin,
  waitFor,
  type Daemon,
} from './helpers.js';

describe('tubemq CLI against a master and a broker', () => {
  let root: string;
  let master: Daemon;
  let broker: Daemon;
  let m: string[];

  before(async () => {
    root = await tempDir();
    master = await startMaster(join(root, 'master'));
    broker = await startBroker(join(root, 'broker'), master.port);
    m = ['-m', `127.0.0.1:${master.port}`];
    // The broker registers asynchronously: wait until the master lists it online.
    for (let i = 0; i < 100; i++) {
      const listed = await tubemq([...m, 'broker', 'list', '--json']);
      if (
        listed.exitCode === 0 &&
        (JSON.parse(listed.stdout) as { state: string }[]).some((b) => b.state === 'online')
      )
        break;
      await new Promise((done) => setTimeout(done, 50));
    }
  });

  after(async () => {
    await broker?.stop();
    await master?.stop();
    if (root !== undefined) await removeDir(root);
  });

  test('the README commands: create, produce 1000 lines from stdin, consume all 1000', async () => {
    const created = await tubemq([...m, 'topic', 'create', 'orders', '--partitions', '3']);
    assert.equal(created.exitCode, 0, created.stderr);
    assert.match(created.stdout, /Created topic orders with 3 partitions/);

    const lines = Array.from({ length: 1000 }, (_, i) => String(i + 1)).join('\n') + '\n';
    const produced = await tubemq([...m, 'produce', 'orders'], { input: lines });
    assert.equal(produced.exitCode, 0, produced.stderr);
    assert.match(produced.stderr, /Produced 1000 messages/);

    const consumed = await tubemq([
      ...m,
      'consume',
      'orders',
      '--group',
      'g1',
      '--pull',
      '--offset',
      'earliest',
      '--max-messages',
      '1000',
    ]);
    assert.equal(consumed.exitCode, 0, consumed.stderr);
    const values = consumed.stdout.trimEnd().split('\n').map(Number);
    assert.equal(values.length, 1000);
    assert.deepEqual(
      [...values].sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.match(consumed.stderr, /Processed a total of 1000 messages/);

    // The group committed on close: no lag left.
    const offsets = await tubemq([...m, 'offset', 'show', 'orders', '--group', 'g1', '--json']);
    assert.equal(offsets.exitCode, 0, offsets.stderr);
    const rows = JSON.parse(offsets.stdout) as { lag: number; committed: number | null }[];
    assert.equal(rows.length, 3);
    assert.ok(rows.every((row) => row.lag === 0));

    // Tables: borderless, Kafka's headers, no colour when piped.
    const listed = await tubemq([...m, 'topic', 'list']);
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.match(listed.stdout, /^TOPIC +PARTITIONS/);
    assert.match(listed.stdout, /\norders +3 /);
    assert.ok(!listed.stdout.includes('\u001b') && !/[│─┌]/.test(listed.stdout), 'no colour or borders');
  });

  test('consume --exit-at-end --json prints NDJSON envelopes; --print-* prefixes; --offsets', async () => {
    const all = await tubemq([...m, 'consume', 'orders', '--offset', 'earliest', '--exit-at-end', '--json']);
    assert.equal(all.exitCode, 0, all.stderr);
    const envelopes = all.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { topic: string; partition: number; offset: number; value: string });
    assert.ok(envelopes.length >= 1000);
    assert.equal(envelopes[0]?.topic, 'orders');
    assert.equal(typeof envelopes[0]?.value, 'string');

    const one = await tubemq([
      ...m,
      'consume',
      'orders',
      '--offsets',
      '1:5',
      '--max-messages',
      '1',
      '--print-partition',
      '--print-offset',
    ]);
    assert.equal(one.exitCode, 0, one.stderr);
    assert.match(one.stdout, /^Partition:1\tOffset:5\t\d+$/);
  });

  test('unknown topic: exit 1 with `error: topic "x" does not exist`', async () => {
    for (const args of [
      ['consume', 'x', '--max-messages', '1'],
      ['produce', 'x', 'hello'],
      ['topic', 'describe', 'x'],
    ]) {
      const result = await tubemq([...m, ...args]);
      assert.equal(result.exitCode, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^error: topic "x" does not exist$/m);
    }
  });

  test('nothing listening: exit 3 with a hint naming the address tried', async () => {
    const port = await closedPort();
    const result = await tubemq(['-m', `127.0.0.1:${port}`, 'topic', 'list']);
    assert.equal(result.exitCode, 3, result.stderr);
    assert.match(result.stderr, /^error: /m);
    assert.match(result.stderr, new RegExp(`^hint: .*127\\.0\\.0\\.1:${port}`, 'm'));
  });

  test('bad flags and values: exit 2 with usage', async () => {
    for (const args of [
      ['consume', 'orders', '--offset', '-5'],
      ['consume', 'orders', '--bogus'],
      ['topic', 'create', 'orders2', '--partitions', '0'],
      ['produce', 'orders', '--acks', 'all', 'x'],
      ['consume', 'orders', '--offset', '1', '--offsets', '0:1'],
      ['topic', 'create', 'bad/name'],
      ['-m', 'nonsense', 'topic', 'list'],
      ['consume', 'orders', '--offset', '3'],
    ]) {
      const result = await tubemq([...m, ...args]);
      assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^error: /m, args.join(' '));
      assert.match(result.stderr, /Usage: tubemq/, args.join(' '));
    }
    const keyless = await tubemq([...m, 'produce', 'orders', '--parse-key', '--key-separator', ':'], {
      input: 'a:1\nb:2\nno separator here\n',
    });
    assert.equal(keyless.exitCode, 2, keyless.stderr);
    assert.match(keyless.stderr, /line 3 has no key separator/);
  });

  test('a message over the limit: exit 1 with code 413, and the broker keeps serving', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024) + '\n';
    const refused = await tubemq([...m, 'produce', 'orders'], { input: big });
    assert.equal(refused.exitCode, 1, refused.stderr);
    assert.match(refused.stderr, /^error: .*413/m);
    const next = await tubemq([...m, 'produce', 'orders', 'still-serving']);
    assert.equal(next.exitCode, 0, next.stderr);
    assert.match(next.stderr, /Produced 1 messages/);
  });

  test('--offset beyond the end: a clear error naming the valid range', async () => {
    const result = await tubemq([...m, 'consume', 'orders', '--offset', '999999', '--partition', '0']);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /^error: .*999999/m);
    assert.match(result.stderr, /\b0\b.*\b\d+\b/);
    assert.match(result.stderr, /range|from 0 to/);
  });

  test('creating an existing topic: exit 1, or 0 with --if-not-exists', async () => {
    const again = await tubemq([...m, 'topic', 'create', 'orders']);
    assert.equal(again.exitCode, 1, again.stderr);
    assert.match(again.stderr, /^error: topic "orders" already exists$/m);
    const idempotent = await tubemq([...m, 'topic', 'create', 'orders', '--if-not-exists']);
    assert.equal(idempotent.exitCode, 0, idempotent.stderr);
  });

  test('`| head -1` exits 0 quietly', async () => {
    assert.equal((await tubemq([...m, 'topic', 'create', 'wide', '--partitions', '1'])).exitCode, 0);
    // 1 MiB of output: far more than a pipe holds, so writing after head exits hits EPIPE.
    const line = 'y'.repeat(10 * 1024);
    const input = Array.from({ length: 100 }, () => line).join('\n') + '\n';
    assert.equal((await tubemq([...m, 'produce', 'wide'], { input })).exitCode, 0);
    const script =
      `node ${JSON.stringify(tubemqBin)} -m 127.0.0.1:${master.port} consume wide --offset earliest ` +
      `--timeout-ms 15000 | head -c 20; echo; echo "rc=\${PIPESTATUS[0]}"`;
    const started = Date.now();
    const result = await shell(script);
    assert.match(result.stdout, /rc=0$/);
    assert.equal(result.stderr, '');
    assert.ok(Date.now() - started < 14_000, 'ended on EPIPE, not on the idle timeout');
  });

  test('a second daemon on the same data dir is refused', async () => {
    const result = await tubemq(['master', 'start', '--port', '0', '--data-dir', master.dataDir]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /^error: .*in use/m);
    const status = await tubemq(['master', 'status', '--data-dir', master.dataDir]);
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /master is running \(pid \d+\) on 127\.0\.0\.1:\d+/);
  });

  test('Ctrl-C while consuming: commits what was printed, exits 130', async () => {
    const child = execa(
      process.execPath,
      [tubemqBin, ...m, 'consume', 'orders', '--group', 'interrupted', '--offset', 'earliest'],
      { reject: false, env: cliEnv, extendEnv: true, stdin: 'ignore', timeout: 20_000 },
    );
    let printed = 0;
    await new Promise<void>((done) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        printed += chunk.toString('utf8').split('\n').length - 1;
        if (printed >= 1000) done();
      });
    });
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130, String(result.stderr));
    assert.match(String(result.stderr), /Processed a total of \d+ messages/);
    const offsets = await tubemq([...m, 'offset', 'show', 'orders', '--group', 'interrupted', '--json']);
    const rows = JSON.parse(offsets.stdout) as { lag: number }[];
    assert.ok(
      rows.every((row) => row.lag === 0),
      offsets.stdout,
    );
  });

  test('broker --detach, status and stop through the pid file', async () => {
    const dataDir = join(root, 'broker-2');
    const started = await tubemq([
      ...m,
      'broker',
      'start',
      '--broker-id',
      '2',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--detach',
    ]);
    assert.equal(started.exitCode, 0, started.stderr);
    assert.match(started.stdout, /broker running in the background \(pid \d+\) on 127\.0\.0\.1:\d+/);

    const running = await tubemq(['broker', 'status', '--data-dir', dataDir, '--json']);
    assert.equal(running.exitCode, 0, running.stderr);
    const status = JSON.parse(running.stdout) as { running: boolean; pid: number };
    assert.equal(status.running, true);

    const stopped = await tubemq(['broker', 'stop', '--data-dir', dataDir]);
    assert.equal(stopped.exitCode, 0, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`stopped broker \\(pid ${status.pid}\\)`));

    const gone = await tubemq(['broker', 'status', '--data-dir', dataDir]);
    assert.equal(gone.exitCode, 3);
    assert.match(gone.stdout, /broker is not running/);
  });
});

describe('tubemq start (master + broker in one process)', () => {
  test('--detach prints where it listens; serves topics; stops through tubemq.pid', async () => {
    const dataDir = await tempDir();
    try {
      const started = await tubemq([
        'start',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        '--broker-port',
        '0',
        '--detach',
      ]);
      assert.equal(started.exitCode, 0, started.stderr);
      assert.match(started.stdout, /master 127\.0\.0\.1:\d+, broker 127\.0\.0\.1:\d+/);
      assert.match(started.stderr, /stop it with/);
      const ports = (await readPorts(dataDir)) as {
        pid: number;
        master: { port: number };
        broker: { port: number };
      };
      const m = ['-m', `127.0.0.1:${ports.master.port}`];
      assert.equal((await tubemq([...m, 'topic', 'create', 'quick', '--partitions', '1'])).exitCode, 0);
      assert.equal((await tubemq([...m, 'produce', 'quick', 'hello'])).exitCode, 0);
      const consumed = await tubemq([...m, 'consume', 'quick', '--from-beginning', '--exit-at-end']);
      assert.equal(consumed.stdout, 'hello');
      process.kill(ports.pid, 'SIGTERM');
      await waitFor(async () => (await readPorts(dataDir)) === undefined, 10_000, 'tubemq start to stop');
    } finally {
      await removeDir(dataDir);
    }
  });
});
