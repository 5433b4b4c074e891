// Restarts end to end: a broker killed with SIGKILL comes back with every acknowledged message and
// every committed offset, and a master restarted on its data dir comes back with its topics, through
// real daemon processes, the built CLI and the client library.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { Admin, Producer } from '../../src/client/index.js';
import {
  cliEnv,
  removeDir,
  startBroker,
  startDaemon,
  startMaster,
  tempDir,
  tubemq,
  waitFor,
  tubemqBin,
  type Daemon,
} from './helpers.js';

const messageCount = 600;

describe('restarts keep data, offsets and topics', () => {
  let root: string;
  let master: Daemon;
  let broker: Daemon;
  let masters: string;

  const brokerOnline = async (): Promise<boolean> => {
    const listed = await tubemq(['-m', masters, 'broker', 'list', '--json']);
    return (
      listed.exitCode === 0 &&
      (JSON.parse(listed.stdout) as { brokerId: number; state: string; port: number }[]).some(
        (each) => each.state === 'online' && each.port === broker.port,
      )
    );
  };

  before(async () => {
    root = await tempDir('tubemq-e2e-restart-');
    master = await startMaster(join(root, 'master'));
    masters = `127.0.0.1:${master.port}`;
    broker = await startBroker(join(root, 'broker'), master.port);
    await waitFor(brokerOnline, 10_000, 'the broker to come online');
  });

  after(async () => {
    await broker?.stop();
    await master?.stop();
    if (root !== undefined) await removeDir(root);
  });

  test('a broker killed with SIGKILL restarts with its messages, and the group resumes after its commit', async () => {
    // Goal: nothing acknowledged is lost and nothing committed is delivered again after a crash.
    // Method: produce 600 keyed messages (written acks) through the library, consume 250 through the
    // CLI (which commits on exit), SIGKILL the broker, restart it on the same data dir, then consume
    // the rest with the same group: exactly the 350 not yet consumed, none of the first 250.
    const created = await tubemq(['-m', masters, 'topic', 'create', 'events', '--partitions', '2']);
    assert.equal(created.exitCode, 0, created.stderr);
    const producer = new Producer({ masters, lingerMs: 1 });
    const sent = await Promise.all(
      Array.from({ length: messageCount }, (_, i) => producer.send('events', `m${i}`, { key: `k${i % 17}` })),
    );
    await producer.close();
    assert.equal(new Set(sent.map((each) => `${each.partition}:${each.offset}`)).size, messageCount);

    const first = await tubemq([
      '-m',
      masters,
      'consume',
      'events',
      '--group',
      'g-restart',
      '--offset',
      'earliest',
      '--max-messages',
      '250',
    ]);
    assert.equal(first.exitCode, 0, first.stderr);
    const firstValues = first.stdout.trim().split('\n');
    assert.equal(firstValues.length, 250);

    broker.child.kill('SIGKILL');
    await broker.child;
    broker = await startBroker(join(root, 'broker'), master.port);
    await waitFor(brokerOnline, 10_000, 'the restarted broker to come online');

    const rest = await tubemq(['-m', masters, 'consume', 'events', '--group', 'g-restart', '--exit-at-end']);
    assert.equal(rest.exitCode, 0, rest.stderr);
    const restValues = rest.stdout.trim().split('\n');
    assert.equal(restValues.length, messageCount - 250, 'exactly the messages not yet consumed');
    const all = new Set([...firstValues, ...restValues]);
    assert.equal(all.size, messageCount, 'no message twice, none missing');
    for (let i = 0; i < messageCount; i++) assert.ok(all.has(`m${i}`), `m${i} was consumed`);

    const offsets = await tubemq([
      '-m',
      masters,
      'offset',
      'show',
      'events',
      '--group',
      'g-restart',
      '--json',
    ]);
    assert.equal(offsets.exitCode, 0, offsets.stderr);
    const rows = JSON.parse(offsets.stdout) as { lag: number }[];
    assert.equal(rows.length, 2);
    assert.ok(
      rows.every((row) => row.lag === 0),
      `no lag left: ${offsets.stdout}`,
    );
  });

  test('a broker killed while `tubemq produce` runs: the retries succeed or fail loudly, nothing is dropped', async () => {
    // Goal: issue 4 §6, a producer never loses a message in silence. Method: feed `tubemq produce`
    // 1500 lines through a pipe in three bursts, SIGKILL the broker after the first and restart it
    // after the second; the CLI must either report all 1500 produced (and all 1500 are then
    // consumable) or exit 1 with an `error:` line.
    const created = await tubemq(['-m', masters, 'topic', 'create', 'payments', '--partitions', '2']);
    assert.equal(created.exitCode, 0, created.stderr);
    const lines = (from: number): string =>
      Array.from({ length: 500 }, (_, i) => `p${from + i}`).join('\n') + '\n';
    const producing = execa(process.execPath, [tubemqBin, '-m', masters, 'produce', 'payments'], {
      env: cliEnv,
      extendEnv: true,
      reject: false,
      stdin: 'pipe',
      timeout: 60_000,
    });
    producing.stdin.write(lines(0));
    await sleep(300);
    broker.child.kill('SIGKILL');
    await broker.child;
    producing.stdin.write(lines(500));
    await sleep(300);
    broker = await startBroker(join(root, 'broker'), master.port);
    producing.stdin.end(lines(1000));
    const result = await producing;
    await waitFor(brokerOnline, 10_000, 'the restarted broker to come online');

    if (result.exitCode !== 0) {
      assert.equal(result.exitCode, 1, String(result.stderr));
      assert.match(String(result.stderr), /^error: /m, 'a failure is reported, not swallowed');
      return;
    }
    assert.match(String(result.stderr), /Produced 1500 messages/);
    const consumed = await tubemq([
      '-m',
      masters,
      'consume',
      'payments',
      '--group',
      'g-payments',
      '--offset',
      'earliest',
      '--exit-at-end',
    ]);
    assert.equal(consumed.exitCode, 0, consumed.stderr);
    const values = new Set(consumed.stdout.trim().split('\n'));
    for (let i = 0; i < 1500; i++)
      assert.ok(values.has(`p${i}`), `p${i} was acknowledged, so it must be stored`);
  });

  test('a broker killed after memory-acked sends resumes past a reported gap: described, skipped, never reused', async () => {
    // Goal: issue 13 §3, an offset that may have been handed out is never given to another message.
    // Method: 40 sends acknowledged at `memory` (offsets handed out before any write), SIGKILL, restart:
    // `topic describe` shows the gap recovery left, the next send lands after every offset handed out,
    // and a fresh group reads every message still stored, in offset order, past the gap.
    const created = await tubemq(['-m', masters, 'topic', 'create', 'hot', '--partitions', '1']);
    assert.equal(created.exitCode, 0, created.stderr);
    const producer = new Producer({ masters, acks: 'memory', lingerMs: 1 });
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send('hot', `h${i}`)));
    await producer.close();
    const handedOut = Math.max(...sent.map((each) => each.offset)) + 1;
    await sleep(300); // the cache block's age flush writes them
    broker.child.kill('SIGKILL');
    await broker.child;
    broker = await startBroker(join(root, 'broker'), master.port);
    await waitFor(brokerOnline, 10_000, 'the restarted broker to come online');

    const described = await tubemq(['-m', masters, 'topic', 'describe', 'hot']);
    assert.equal(described.exitCode, 0, described.stderr);
    const row = described.stdout.split('\n').find((line) => /^hot\s+0\s/.test(line));
    assert.ok(row, described.stdout);
    const [, , , , , earliest, latest, gapOffsets, lastGap] = row.trim().split(/\s+/);
    assert.equal(earliest, '0');
    assert.ok(Number(gapOffsets) > 0, `a gap is reported: ${row}`);
    assert.equal(Number(latest), handedOut + Number(gapOffsets));
    assert.match(lastGap!, new RegExp(`^${handedOut}-`));

    const again = new Producer({ masters });
    const next = await again.send('hot', 'after-the-gap');
    await again.close();
    assert.ok(next.offset >= handedOut, `offset ${next.offset} was handed out before the kill`);
    const consumed = await tubemq([
      '-m',
      masters,
      'consume',
      'hot',
      '--group',
      'g-hot',
      '--offset',
      'earliest',
      '--exit-at-end',
    ]);
    assert.equal(consumed.exitCode, 0, consumed.stderr);
    assert.deepEqual(consumed.stdout.trim().split('\n'), [
      ...Array.from({ length: 40 }, (_, i) => `h${i}`),
      'after-the-gap',
    ]);
  });

  test('a master restarted on its data dir keeps its topics, and the broker finds it again', async () => {
    // Goal: metadata survives a master restart and the cluster works on. Method: stop the master,
    // start it on the same data dir and port, check topics and placement through the library, then
    // produce and consume through the re-registered broker.
    const admin = new Admin({ masters });
    const before = await admin.describeTopic('events');
    await admin.close();
    const port = master.port;
    assert.equal(await master.stop(), 0);
    master = await startDaemon(
      ['master', 'start', '--port', String(port), '--data-dir', join(root, 'master')],
      join(root, 'master'),
    );
    const again = new Admin({ masters });
    try {
      const after = await again.describeTopic('events');
      assert.deepEqual(after, before);
      assert.deepEqual(
        (await again.listTopics()).map((topic) => topic.name),
        ['events', 'hot', 'payments'],
      );
      await waitFor(brokerOnline, 10_000, 'the broker to register with the restarted master');
    } finally {
      await again.close();
    }
    const produced = await tubemq(['-m', masters, 'produce', 'events', 'after-restart']);
    assert.equal(produced.exitCode, 0, produced.stderr);
    const consumed = await tubemq([
      '-m',
      masters,
      'consume',
      'events',
      '--group',
      'g-restart',
      '--exit-at-end',
    ]);
    assert.equal(consumed.exitCode, 0, consumed.stderr);
    assert.equal(consumed.stdout.trim(), 'after-restart');
  });
});
