// The command tree: usage errors exit 2 with the usage on stderr; help and version exit 0. These
// runs stop before any action connects anywhere.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../../src/cli/program.js';

async function run(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const code = await runCli(argv, {
    writeErr: (text) => void (stderr += text),
    writeOut: (text) => void (stdout += text),
  });
  return { code, stderr, stdout };
}

describe('tubemq command tree', () => {
  test('--help and --version exit 0', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: tubemq/);
    for (const command of [
      'start',
      'master',
      'broker',
      'topic',
      'produce',
      'consume',
      'offset',
      'group',
      'cluster',
    ]) {
      assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`), command);
    }
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const consumeHelp = await run(['consume', '--help']);
    assert.equal(consumeHelp.code, 0);
    assert.match(consumeHelp.stdout, /--exit-at-end/);
    assert.match(consumeHelp.stdout, /Global Options:[\s\S]*--timeout-ms/);
    for (const flag of ['--push', '--filter', '--to-datetime', '--session-key']) {
      assert.ok(consumeHelp.stdout.includes(flag), flag);
    }
    const groupHelp = await run(['group', '--help']);
    assert.equal(groupHelp.code, 0);
    for (const verb of ['list', 'describe', 'reset-offsets', 'delete']) {
      assert.match(groupHelp.stdout, new RegExp(`\\n  ${verb}\\b`), verb);
    }
    const resetHelp = await run(['group', 'reset-offsets', '--help']);
    for (const flag of [
      '--to-earliest',
      '--to-latest',
      '--to-offset',
      '--to-datetime',
      '--shift-by',
      '--execute',
      '--force',
    ]) {
      assert.ok(resetHelp.stdout.includes(flag), flag);
    }
  });

  const usageErrors: [string, string[]][] = [
    ['unknown command', ['frobnicate']],
    ['unknown subcommand', ['topic', 'drop', 'x']],
    ['no subcommand', ['topic']],
    ['missing argument', ['consume']],
    ['unknown option', ['consume', 'orders', '--bogus']],
    ['negative offset', ['consume', 'orders', '--offset', '-5']],
    ['--offset with --offsets', ['consume', 'orders', '--offset', '1', '--offsets', '0:1']],
    ['--from-beginning with --offset', ['consume', 'orders', '--from-beginning', '--offset', 'latest']],
    ['--partition with --offsets', ['consume', 'orders', '--partition', '1', '--offsets', '0:1']],
    ['bad max-messages', ['consume', 'orders', '--max-messages', '0']],
    ['bad partitions', ['topic', 'create', 'orders', '--partitions', 'three']],
    ['bad topic name', ['topic', 'create', 'a b']],
    ['bad acks', ['produce', 'orders', '--acks', 'all']],
    ['--key with --parse-key', ['produce', 'orders', '--key', 'k', '--parse-key']],
    ['bad master', ['-m', 'nowhere', 'topic', 'list']],
    ['bad port', ['master', 'start', '--port', '99999']],
    ['bad broker id', ['broker', 'start', '--broker-id', '0']],
    ['bad timeout', ['--timeout-ms', 'soon', 'topic', 'list']],
    ['--push with --pull', ['consume', 'orders', '--push', '--pull']],
    ['empty --filter id', ['consume', 'orders', '--filter', 'a,,b']],
    [
      '--to-datetime with --offsets',
      ['consume', 'orders', '--to-datetime', '2024-01-01', '--offsets', '0:1'],
    ],
    ['bad --to-datetime', ['consume', 'orders', '--to-datetime', 'yesterday']],
    ['--session-key with --partition', ['consume', 'orders', '--session-key', 'k', '--partition', '0']],
    ['--session-key without --offsets', ['consume', 'orders', '--group', 'g', '--session-key', 'k']],
    ['group without verb', ['group']],
    ['group describe without a group', ['group', 'describe']],
    ['reset-offsets without --topic', ['group', 'reset-offsets', 'g', '--to-earliest']],
    ['reset-offsets without a target', ['group', 'reset-offsets', 'g', '--topic', 'orders']],
    [
      'reset-offsets with two targets',
      ['group', 'reset-offsets', 'g', '--topic', 'orders', '--to-earliest', '--to-latest'],
    ],
    ['reset-offsets bad --topic', ['group', 'reset-offsets', 'g', '--topic', 'orders:x', '--to-earliest']],
    [
      'reset-offsets bad --shift-by',
      ['group', 'reset-offsets', 'g', '--topic', 'orders', '--shift-by', '1.5'],
    ],
  ];
  for (const [name, argv] of usageErrors) {
    test(`usage error exits 2 with usage: ${name}`, async () => {
      const result = await run(argv);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /error: |Usage: /);
      assert.match(result.stderr, /Usage: tubemq/);
    });
  }

  test('a bad value named by commander says the rule', async () => {
    const result = await run(['consume', 'orders', '--offset', '-5']);
    assert.match(
      result.stderr,
      /argument '-5' is invalid\. expected earliest, latest or a non-negative integer/,
    );
  });

  test('a usage error found by an action (--json with --format) exits 2 with usage', async () => {
    const result = await run(['consume', 'orders', '--json', '--format', '%s']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: --json and --format cannot be used together$/m);
    assert.match(result.stderr, /Usage: tubemq consume/);
  });

  test('TUBEMQ_MASTER is read, and a bad one is a usage error', async () => {
    const saved = process.env.TUBEMQ_MASTER;
    try {
      process.env.TUBEMQ_MASTER = 'not an address';
      const result = await run(['topic', 'list']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /TUBEMQ_MASTER/);
    } finally {
      if (saved === undefined) delete process.env.TUBEMQ_MASTER;
      else process.env.TUBEMQ_MASTER = saved;
    }
  });

  test('consume --filter over the limits: exit 2 naming the limit, before connecting', async () => {
    const many = Array.from({ length: 501 }, (_, i) => `s${i}`).join(',');
    const tooMany = await run(['-m', '127.0.0.1:1', 'consume', 'orders', '--filter', many]);
    assert.equal(tooMany.code, 2, tooMany.stderr);
    assert.match(tooMany.stderr, /^error: --filter names 501 stream ids: at most 500 per topic$/m);
    const tooLong = await run([
      '-m',
      '127.0.0.1:1',
      'consume',
      'orders',
      '--filter',
      `ok,${'x'.repeat(257)}`,
    ]);
    assert.equal(tooLong.code, 2, tooLong.stderr);
    assert.match(tooLong.stderr, /^error: --filter stream id .* is 257 bytes: at most 256 bytes each$/m);
  });

  test('group delete without --yes off a terminal: exit 2 asking for --yes, before connecting', async () => {
    const result = await run(['-m', '127.0.0.1:1', 'group', 'delete', 'g']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: group delete g needs --yes/m);
    assert.match(result.stderr, /^hint: add --yes/m);
  });
});
