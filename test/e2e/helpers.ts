// Shared by the e2e tests: run the real built CLI (`bin/tubemq`, as a user does) and start real
// master and broker daemons as child processes on `--port 0`, learning their ports from ports.json.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options, type ResultPromise } from 'execa';

/** The CLI exactly as installed: the bin file importing dist/cli/main.js (npm test rebuilds dist). */
export const tubemqBin = resolve(import.meta.dirname, '../../bin/tubemq');

/** The environment every CLI and daemon gets: no colour, no TTY guesses, silent daemon logs. */
export const cliEnv = { FORCE_COLOR: '0', NO_COLOR: '1', CI: 'true', NODE_ENV: 'test' };

/** The outcome of one CLI run. */
export interface CliResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs `tubemq <args>` to completion; never rejects on a non-zero exit. */
export async function tubemq(
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const result = await execa(process.execPath, [tubemqBin, ...args], {
    reject: false,
    env: cliEnv,
    extendEnv: true,
    timeout: options.timeoutMs ?? 20_000,
    ...(options.input === undefined ? { stdin: 'ignore' } : { input: options.input }),
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Runs a shell pipeline (for `| head -1`). */
export async function shell(script: string, timeoutMs = 20_000): Promise<CliResult> {
  const result = await execa('bash', ['-c', script], { reject: false, env: cliEnv, timeout: timeoutMs });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'tubemq-e2e-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A running daemon started by a test. */
export interface Daemon {
  child: ResultPromise<Options>;
  port: number;
  dataDir: string;
  /** SIGTERM, then waits for the exit; resolves to its exit code. */
  stop(): Promise<number | undefined>;
}

/** Starts `tubemq <args>` in the foreground as a child and waits for `<dataDir>/ports.json`. */
export async function startDaemon(args: string[], dataDir: string): Promise<Daemon> {
  const child = execa(process.execPath, [tubemqBin, ...args], {
    reject: false,
    env: cliEnv,
    extendEnv: true,
    stdin: 'ignore',
  });
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ports = await readPorts(dataDir);
    if (ports !== undefined && ports.pid === child.pid && typeof ports.port === 'number') {
      return {
        child,
        port: ports.port,
        dataDir,
        stop: async () => {
          if (!exited) child.kill('SIGTERM');
          return (await child).exitCode;
        },
      };
    }
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const result = await child;
      throw new Error(`tubemq ${args.join(' ')} did not start: ${String(result.stderr)}`);
    }
    await sleep(25);
  }
}

/** `tubemq master start --port 0 --data-dir <dir>`. */
export function startMaster(dataDir: string): Promise<Daemon> {
  return startDaemon(['master', 'start', '--port', '0', '--data-dir', dataDir], dataDir);
}

/** `tubemq broker start --broker-id N --port 0 --master 127.0.0.1:<port> --data-dir <dir>`. */
export function startBroker(dataDir: string, masterPort: number, brokerId = 1): Promise<Daemon> {
  return startDaemon(
    [
      'broker',
      'start',
      '--broker-id',
      String(brokerId),
      '--port',
      '0',
      '--master',
      `127.0.0.1:${masterPort}`,
      '--data-dir',
      dataDir,
    ],
    dataDir,
  );
}

/** ports.json of a data directory, or undefined until it exists. */
export async function readPorts(dataDir: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, 'ports.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Waits until `check` resolves true (polling), or fails after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Removes a directory tree. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
