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

describe('tubemq group, and consume with groups, push, filters and exact starts', () => {
  let root: string;
  let master: Daemon;
  let broker: Daemon;
  let m: string[];

  /** `group describe --json`, parsed. */
  interface Described {
    state: string;
    members: { memberId: string }[];
    partitions: {
      partition: number;
      currentOffset: number | null;
      lag: number | null;
      consumerId: string | null;
    }[];
  }
  const describeJson = async (group: string): Promise<Described> => {
    const result = await tubemq([...m, 'group', 'describe', group, '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    return JSON.parse(result.stdout) as Described;
  };
  const committed = async (group: string): Promise<(number | null)[]> =>
    (await describeJson(group)).partitions.map((row) => row.currentOffset);
  /** A long-running `tubemq consume` child; its stdout lines are collected. */
  const consumeChild = (args: string[]) => {
    const child = execa(process.execPath, [tubemqBin, ...m, 'consume', ...args], {
      reject: false,
      env: cliEnv,
      extendEnv: true,
      stdin: 'ignore',
      timeout: 60_000,
    });
    const lines: string[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
    return { child, lines };
  };

  before(async () => {
    root = await tempDir();
    master = await startMaster(join(root, 'master'));
    broker = await startBroker(join(root, 'broker'), master.port);
    m = ['-m', `127.0.0.1:${master.port}`];
    await waitFor(
      async () => {
        const listed = await tubemq([...m, 'broker', 'list', '--json']);
        return (
          listed.exitCode === 0 &&
          (JSON.parse(listed.stdout) as { state: string }[]).some((b) => b.state === 'online')
        );
      },
      15_000,
      'the broker to register',
    );
    assert.equal((await tubemq([...m, 'topic', 'create', 'grp', '--partitions', '2'])).exitCode, 0);
    const ten = Array.from({ length: 10 }, (_, i) => `a${i}`).join('\n') + '\n';
    const six = Array.from({ length: 6 }, (_, i) => `b${i}`).join('\n') + '\n';
    assert.equal((await tubemq([...m, 'produce', 'grp', '--partition', '0'], { input: ten })).exitCode, 0);
    assert.equal((await tubemq([...m, 'produce', 'grp', '--partition', '1'], { input: six })).exitCode, 0);
  });

  after(async () => {
    await broker?.stop();
    await master?.stop();
    if (root !== undefined) await removeDir(root);
  });

  test('group list and describe (table and --json); an unknown group exits 1', async () => {
    const consumed = await tubemq([
      ...m,
      'consume',
      'grp',
      '--group',
      'cg',
      '--offset',
      'earliest',
      '--max-messages',
      '16',
    ]);
    assert.equal(consumed.exitCode, 0, consumed.stderr);
    assert.equal(consumed.stdout.trimEnd().split('\n').length, 16);

    const listed = await tubemq([...m, 'group', 'list']);
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.match(listed.stdout, /^GROUP +STATE +MEMBERS +TOPICS$/m);
    assert.match(listed.stdout, /^cg +empty +0 +grp$/m);
    const listedJson = JSON.parse((await tubemq([...m, 'group', 'list', '--json'])).stdout) as {
      group: string;
    }[];
    assert.deepEqual(
      listedJson.find((group) => group.group === 'cg'),
      { group: 'cg', state: 'empty', members: 0, topics: ['grp'] },
    );

    const described = await tubemq([...m, 'group', 'describe', 'cg']);
    assert.equal(described.exitCode, 0, described.stderr);
    assert.match(described.stdout, /^Group: cg\tState: empty\tGeneration: \d+\tMembers: 0$/m);
    assert.match(
      described.stdout,
      /^TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +CONSUMER-ID +HOST$/m,
    );
    assert.match(described.stdout, /^grp +0 +10 +10 +0 +- +-$/m);
    assert.match(described.stdout, /^grp +1 +6 +6 +0 +- +-$/m);
    assert.deepEqual(await committed('cg'), [10, 6]);

    const unknown = await tubemq([...m, 'group', 'describe', 'nope']);
    assert.equal(unknown.exitCode, 1, unknown.stderr);
    assert.match(unknown.stderr, /^error: consumer group "nope" does not exist$/m);
    assert.match(unknown.stderr, /^hint: /m);
  });

  test('reset-offsets prints the plan and changes nothing without --execute; delete needs --yes', async () => {
    await tubemq([...m, 'group', 'reset-offsets', 'rg', '--topic', 'grp', '--to-latest', '--execute']);
    assert.deepEqual(await committed('rg'), [10, 6]);

    const dry = await tubemq([...m, 'group', 'reset-offsets', 'rg', '--topic', 'grp', '--to-earliest']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.match(dry.stdout, /^TOPIC +PARTITION +CURRENT-OFFSET +NEW-OFFSET$/m);
    assert.match(dry.stdout, /^grp +0 +10 +0$/m);
    assert.match(dry.stdout, /^grp +1 +6 +0$/m);
    assert.match(dry.stderr, /Dry run: nothing changed/);
    assert.deepEqual(await committed('rg'), [10, 6], 'a dry run changes nothing');

    const executed = await tubemq([
      ...m,
      'group',
      'reset-offsets',
      'rg',
      '--topic',
      'grp',
      '--to-earliest',
      '--execute',
    ]);
    assert.equal(executed.exitCode, 0, executed.stderr);
    assert.match(executed.stderr, /Reset the offsets of group rg in 2 partitions/);
    assert.deepEqual(await committed('rg'), [0, 0]);

    const shifted = await tubemq([
      ...m,
      'group',
      'reset-offsets',
      'rg',
      '--topic',
      'grp:1',
      '--shift-by',
      '+4',
      '--execute',
      '--json',
    ]);
    assert.equal(shifted.exitCode, 0, shifted.stderr);
    assert.deepEqual(JSON.parse(shifted.stdout), {
      group: 'rg',
      executed: true,
      offsets: [{ topic: 'grp', partition: 1, currentOffset: 0, newOffset: 4 }],
    });
    const clamped = await tubemq([
      ...m,
      'group',
      'reset-offsets',
      'rg',
      '--topic',
      'grp',
      '--to-offset',
      '8',
      '--execute',
    ]);
    assert.equal(clamped.exitCode, 0, clamped.stderr);
    assert.deepEqual(await committed('rg'), [8, 6], 'clamped into [earliest, latest]');

    const unconfirmed = await tubemq([...m, 'group', 'delete', 'rg']);
    assert.equal(unconfirmed.exitCode, 2, unconfirmed.stderr);
    assert.match(unconfirmed.stderr, /^error: group delete rg needs --yes/m);
    assert.deepEqual(await committed('rg'), [8, 6]);
    const deleted = await tubemq([...m, 'group', 'delete', 'rg', '--yes']);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    assert.match(deleted.stdout, /^Deleted group rg \(committed offsets of 2 partitions\)\.$/m);
    assert.equal((await tubemq([...m, 'group', 'describe', 'rg'])).exitCode, 1);
  });

  test('two consumers of one group share the partitions; reset refused while they live unless --force', async () => {
    const first = consumeChild(['grp', '--group', 'live']);
    const second = consumeChild(['grp', '--group', 'live', '--push']);
    try {
      await waitFor(
        async () => {
          const result = await tubemq([...m, 'group', 'describe', 'live', '--json']);
          if (result.exitCode !== 0) return false; // the members have not joined yet
          const described = JSON.parse(result.stdout) as Described;
          const owners = new Set(described.partitions.map((row) => row.consumerId));
          return (
            described.state === 'stable' &&
            described.members.length === 2 &&
            owners.size === 2 &&
            !owners.has(null)
          );
        },
        20_000,
        'two members owning one partition each',
      );
      const refused = await tubemq([
        ...m,
        'group',
        'reset-offsets',
        'live',
        '--topic',
        'grp',
        '--to-earliest',
        '--execute',
      ]);
      assert.equal(refused.exitCode, 1, refused.stderr);
      assert.match(refused.stderr, /^error: .*(live members|members)/m);
      assert.match(refused.stderr, /^hint: .*--force/m);
      const listed = await tubemq([...m, 'group', 'list']);
      assert.match(listed.stdout, /^live +stable +2 +grp$/m);

      const forced = await tubemq(
        [...m, 'group', 'reset-offsets', 'live', '--topic', 'grp', '--to-earliest', '--execute', '--force'],
        { timeoutMs: 30_000 },
      );
      assert.equal(forced.exitCode, 0, forced.stderr);
      // From offset 0 again: between them the two members print all 16 stored messages.
      await waitFor(
        () => Promise.resolve(new Set([...first.lines, ...second.lines]).size >= 16),
        20_000,
        'every message after the forced reset',
      );
    } finally {
      first.child.kill('SIGINT');
      second.child.kill('SIGINT');
    }
    const results = await Promise.all([first.child, second.child]);
    for (const result of results) assert.equal(result.exitCode, 130, String(result.stderr));
    const all = [
      ...Array.from({ length: 10 }, (_, i) => `a${i}`),
      ...Array.from({ length: 6 }, (_, i) => `b${i}`),
    ];
    assert.deepEqual([...new Set([...first.lines, ...second.lines])].sort(), all.sort());
  });

  test('consume --push prints every message and commits what it printed', async () => {
    const pushed = await tubemq([
      ...m,
      'consume',
      'grp',
      '--push',
      '--group',
      'pg',
      '--offset',
      'earliest',
      '--max-messages',
      '16',
    ]);
    assert.equal(pushed.exitCode, 0, pushed.stderr);
    const values = pushed.stdout.trimEnd().split('\n');
    assert.equal(values.length, 16);
    assert.deepEqual(
      values.filter((value) => value.startsWith('a')),
      Array.from({ length: 10 }, (_, i) => `a${i}`),
    );
    assert.match(pushed.stderr, /Processed a total of 16 messages/);
    assert.deepEqual(await committed('pg'), [10, 6]);

    const atEnd = await tubemq([...m, 'consume', 'grp', '--push', '--offset', 'earliest', '--exit-at-end']);
    assert.equal(atEnd.exitCode, 0, atEnd.stderr);
    assert.equal(atEnd.stdout.trimEnd().split('\n').length, 16);
  });

  test('consume --offsets, --partition --offset and --to-datetime start exactly there', async () => {
    const offsets = await tubemq([
      ...m,
      'consume',
      'grp',
      '--group',
      'og',
      '--offsets',
      '0:7,1:4',
      '--exit-at-end',
      '--print-partition',
    ]);
    assert.equal(offsets.exitCode, 0, offsets.stderr);
    assert.deepEqual(offsets.stdout.trimEnd().split('\n').sort(), [
      'Partition:0\ta7',
      'Partition:0\ta8',
      'Partition:0\ta9',
      'Partition:1\tb4',
      'Partition:1\tb5',
    ]);
    assert.deepEqual(await committed('og'), [10, 6]);
    // A bound start keeps the group balanced and applies the offsets once per session key.
    const bound = ['consume', 'grp', '--group', 'bg', '--offsets', '0:8,1:5', '--session-key', 'k1'];
    const first = await tubemq([...m, ...bound, '--exit-at-end']);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.deepEqual(first.stdout.trimEnd().split('\n').sort(), ['a8', 'a9', 'b5']);
    const again = await tubemq([...m, ...bound, '--exit-at-end', '--timeout-ms', '2000']);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal(again.stdout, '', 'the same key does not apply the offsets again');
    const one = await tubemq([...m, 'consume', 'grp', '--partition', '1', '--offset', '5', '--exit-at-end']);
    assert.equal(one.stdout, 'b5');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await tubemq([
      ...m,
      'consume',
      'grp',
      '--to-datetime',
      future,
      '--exit-at-end',
      '--timeout-ms',
      '2000',
    ]);
    assert.equal(none.exitCode, 0, none.stderr);
    assert.equal(none.stdout, '');
    const past = await tubemq([
      ...m,
      'consume',
      'grp',
      '--to-datetime',
      '2000-01-01T00:00:00Z',
      '--exit-at-end',
    ]);
    assert.equal(past.stdout.trimEnd().split('\n').length, 16);
  });

  test('consume --filter: matching stream ids only; over the limit exits 2 naming it', async () => {
    assert.equal((await tubemq([...m, 'topic', 'create', 'streams', '--partitions', '1'])).exitCode, 0);
    for (const [streamId, values] of [
      ['clicks', 'c1\nc2\n'],
      ['views', 'v1\n'],
      ['buys', 'p1\n'],
    ] as const) {
      const produced = await tubemq([...m, 'produce', 'streams', '--stream-id', streamId], { input: values });
      assert.equal(produced.exitCode, 0, produced.stderr);
    }
    const filtered = await tubemq([
      ...m,
      'consume',
      'streams',
      '--filter',
      'clicks,buys',
      '--offset',
      'earliest',
      '--exit-at-end',
    ]);
    assert.equal(filtered.exitCode, 0, filtered.stderr);
    assert.deepEqual(filtered.stdout.trimEnd().split('\n'), ['c1', 'c2', 'p1']);

    const many = Array.from({ length: 501 }, (_, i) => `s${i}`).join(',');
    const tooMany = await tubemq([...m, 'consume', 'streams', '--filter', many]);
    assert.equal(tooMany.exitCode, 2, tooMany.stderr);
    assert.match(tooMany.stderr, /^error: .*at most 500/m);
    const tooLong = await tubemq([...m, 'consume', 'streams', '--filter', 'x'.repeat(257)]);
    assert.equal(tooLong.exitCode, 2, tooLong.stderr);
    assert.match(tooLong.stderr, /^error: .*at most 256 bytes/m);
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
