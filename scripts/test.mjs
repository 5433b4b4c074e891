// The one test entry point, for people and CI alike.
//
//   node scripts/test.mjs                        typecheck, lint, then every test/**/*.test.ts (sorted)
//   node scripts/test.mjs test/a.test.ts ...     only the given files; typecheck and lint are skipped for speed
//
// `dist/` is rebuilt first either way: e2e tests run `bin/tubemq` exactly as a user does, and a stale
// build would test old code.
//
// Every step runs even if an earlier one failed, so CI always gets node:test's TAP summary
// (`# tests N`, `# pass N`, `# fail N`); the exit code is non-zero if any step failed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Runs one step with inherited stdio; returns true when it exited 0. */
function step(label, command, args, env = process.env) {
  process.stderr.write(`\n> ${label}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.error) process.stderr.write(`error: ${label}: ${result.error.message}\n`);
  return result.status === 0;
}

// Node 20's `--test` neither expands globs nor finds .ts files, so we list them ourselves.
function findTests() {
  return readdirSync(join(root, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') || file.endsWith('.test.tsx'))
    .map((file) => join('test', file).split('\\').join('/'))
    .sort();
}

const given = process.argv.slice(2).map((file) => relative(root, resolve(file)));
const files = given.length > 0 ? given : findTests();
const failed = [];

if (!step('build', bin('tsc'), ['-p', 'tsconfig.build.json'])) failed.push('build');
if (given.length === 0) {
  if (!step('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json'])) failed.push('typecheck');
  if (!step('eslint', bin('eslint'), ['.'])) failed.push('eslint');
  if (!step('prettier', bin('prettier'), ['--check', '.'])) failed.push('prettier');
}

if (files.length === 0) {
  process.stderr.write('error: no test files found under test/\n');
  failed.push('tests');
} else {
  const testArgs = [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    // The fault battery's long runs (npm run test:faults) raise it.
    `--test-timeout=${process.env.TUBEMQ_TEST_TIMEOUT_MS ?? 300000}`,
    // TAP even on a TTY: its closing `# tests/# pass/# fail` lines are what CI reads.
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    ...files,
  ];
  const env = { ...process.env, NODE_ENV: 'test' };
  if (!step(`node --test (${files.length} files)`, process.execPath, testArgs, env)) failed.push('tests');
}

if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exit(1);
}
process.stderr.write('\nall steps passed\n');
