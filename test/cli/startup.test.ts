// `tubemq --help` must start fast (< 150 ms, ecosystem.md §2): main.js loads commander and the small
// parsers only; the client, the daemons, the protocol layer (zod), pino and cli-table3 load inside
// the action that needs them. A resolve hook in the child records every module it loads, so this
// test fails as soon as something heavy is imported eagerly. A run that does connect is the control:
// it must show the client loading, proving the hook sees what it should.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

const main = resolve(import.meta.dirname, '../../dist/cli/main.js');
const heavy = [
  /\/dist\/client\//,
  /\/dist\/master\//,
  /\/dist\/broker\//,
  /\/dist\/storage\//,
  /\/dist\/protocol\//,
  /\/node_modules\/cli-table3\//,
  /\/node_modules\/pino\//,
  /\/node_modules\/zod\//,
];

describe('startup cost of tubemq', () => {
  let dir: string;
  let register: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tubemq-startup-'));
    const hooks = join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `import { appendFileSync } from 'node:fs';\n` +
        `export async function resolve(specifier, context, next) {\n` +
        `  const result = await next(specifier, context);\n` +
        `  appendFileSync(process.env.TUBEMQ_LOAD_LOG, result.url + '\\n');\n` +
        `  return result;\n}\n`,
    );
    register = join(dir, 'register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function loadedBy(args: string[], log: string): Promise<{ urls: string[]; status: number | null }> {
    const result = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, main, ...args], {
      env: { ...process.env, TUBEMQ_LOAD_LOG: log, NODE_ENV: 'test' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    const urls = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
    return { urls, status: result.status };
  }

  test('--help loads commander and nothing heavy', async (t) => {
    const started = process.hrtime.bigint();
    spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
    t.diagnostic(
      `tubemq --help took ${Number(process.hrtime.bigint() - started) / 1e6} ms (target < 150 ms)`,
    );

    for (const args of [['--help'], ['consume', '--help'], ['topic', 'create', '--bogus']]) {
      const { urls, status } = await loadedBy(args, join(dir, `${args.join('_')}.log`));
      assert.ok(status === 0 || status === 2, `${args.join(' ')} exited ${status}`);
      assert.ok(
        urls.some((url) => url.endsWith('/dist/cli/program.js')),
        'the hook saw the CLI load (else this test proves nothing)',
      );
      assert.ok(
        urls.some((url) => url.includes('/node_modules/commander/')),
        'the hook saw commander',
      );
      const eager = urls.filter((url) => heavy.some((pattern) => pattern.test(url)));
      assert.deepEqual(eager, [], `${args.join(' ')} loaded modules it does not need`);
    }
  });

  test('control: a command that connects does load the client', async () => {
    const { urls, status } = await loadedBy(
      ['-m', '127.0.0.1:1', '--timeout-ms', '1000', 'topic', 'list'],
      join(dir, 'control.log'),
    );
    assert.equal(status, 3);
    assert.ok(urls.some((url) => /\/dist\/client\//.test(url)));
    assert.ok(urls.some((url) => /\/node_modules\/cli-table3\//.test(url)));
  });
});
