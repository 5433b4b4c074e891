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
    for (const command of ['start', 'master', 'broker', 'topic', 'produce', 'consume', 'offset', 'cluster']) {
      assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`), command);
    }
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const consumeHelp = await run(['consume', '--help']);
    assert.equal(consumeHelp.code, 0);
    assert.match(consumeHelp.stdout, /--exit-at-end/);
    assert.match(consumeHelp.stdout, /Global Options:[\s\S]*--timeout-ms/);
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
});
