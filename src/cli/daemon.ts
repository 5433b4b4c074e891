// Runs a daemon the way DESIGN.md §2 says: in the foreground by default, with `<role>.pid` and
// `ports.json` in its data directory once it listens, a clean close on SIGTERM/SIGINT, and
// `--detach` re-spawning itself in the background with its log in the data directory.
// `stop` and `status` act through the pid file.
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../common/data-dir-lock.js';
import { flushDaemonLogs } from '../common/log-destination.js';
import { exitCodes } from './exit.js';

/** The file-name stem of a daemon's pid and log files. */
export type DaemonRole = 'master' | 'broker' | 'tubemq';

/** A started daemon. */
export interface RunningDaemon {
  /** Written to `ports.json` (with `role` and `pid` added) once it listens. */
  ports: Record<string, unknown>;
  /** Lines printed to stderr once it listens (where it listens, how to stop it). */
  banner: string[];
  close(): Promise<void>;
}

/** What {@link runDaemon} runs. */
export interface DaemonSpec {
  role: DaemonRole;
  /** Where the pid file, ports.json and the --detach log go. */
  dataDir: string;
  start(): Promise<RunningDaemon>;
  /** Status lines go to stderr unless quiet. */
  quiet?: boolean;
}

/** Paths of a daemon's files. */
export function daemonFiles(role: DaemonRole, dataDir: string): { pid: string; ports: string; log: string } {
  const dir = resolve(dataDir);
  return { pid: join(dir, `${role}.pid`), ports: join(dir, 'ports.json'), log: join(dir, `${role}.log`) };
}

/**
 * Runs a daemon in the foreground until SIGTERM or SIGINT, then closes it and removes its pid file
 * and ports.json. Resolves to the exit code.
 */
export async function runDaemon(spec: DaemonSpec): Promise<number> {
  const files = daemonFiles(spec.role, spec.dataDir);
  const say = (line: string): void => {
    if (spec.quiet !== true) writeStatus(line);
  };
  await mkdir(resolve(spec.dataDir), { recursive: true });

  // Listen for signals before starting, so one arriving mid-start still closes cleanly.
  let signalled: ((signal: NodeJS.Signals) => void) | undefined;
  const pendingSignals: NodeJS.Signals[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    if (pendingSignals.length > 0) {
      // A second signal while closing: the person wants out now.
      process.stderr.write(`error: ${signal} again while closing; exiting without a clean close\n`);
      process.exit(signal === 'SIGINT' ? exitCodes.interrupted : exitCodes.refused);
    }
    pendingSignals.push(signal);
    signalled?.(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const daemon = await spec.start();
    await writeJsonAtomic(files.ports, { role: spec.role, pid: process.pid, ...daemon.ports });
    await writeFile(files.pid, `${process.pid}\n`);
    for (const line of daemon.banner) say(line);

    const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
      signalled = resolveSignal;
      const early = pendingSignals[0];
      if (early !== undefined) resolveSignal(early);
    });
    say(`${spec.role}: ${signal} received, closing`);
    await daemon.close();
    await removeOwnFiles(files);
    say(`${spec.role}: stopped`);
    return exitCodes.ok;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await flushDaemonLogs(logFlushTimeoutMs);
  }
}

/** How long an exiting daemon waits for its last log lines; a stuck log disk must not stop the exit. */
const logFlushTimeoutMs = 2000;

/**
 * A status line on stderr that cannot fail the daemon: under `--detach` stderr is the log file, and
 * process.stderr turns ENOSPC there into an 'error' that ends the process mid-shutdown.
 */
function writeStatus(line: string): void {
  try {
    writeSync(2, line + '\n');
  } catch {
    // The log disk is full or the reader gone: the line is lost, the daemon goes on.
  }
}

async function removeOwnFiles(files: { pid: string; ports: string }): Promise<void> {
  // Only our own: a pid file rewritten by someone else (should never happen under the lock) stays.
  if ((await readPid(files.pid)) === process.pid) await rm(files.pid, { force: true });
  const ports = await readJson(files.ports);
  if (ports?.pid === process.pid) await rm(files.ports, { force: true });
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(value, null, 2) + '\n');
  await rename(temporary, path);
}

/** The pid in a pid file, or undefined when there is none. */
export async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON file's object, or undefined when absent or unreadable. */
export async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What `status` finds. */
export interface DaemonStatus {
  role: DaemonRole;
  dataDir: string;
  running: boolean;
  pid?: number;
  /** ports.json as the daemon wrote it. */
  ports?: Record<string, unknown>;
  /** A pid file left by a process that is gone. */
  stalePidFile?: boolean;
}

/** Reads the pid file and ports.json of a data directory. */
export async function daemonStatus(role: DaemonRole, dataDir: string): Promise<DaemonStatus> {
  const files = daemonFiles(role, dataDir);
  const base = { role, dataDir: resolve(dataDir) };
  const pid = await readPid(files.pid);
  if (pid === undefined) return { ...base, running: false };
  if (!isProcessAlive(pid)) return { ...base, running: false, pid, stalePidFile: true };
  const ports = await readJson(files.ports);
  return ports === undefined ? { ...base, running: true, pid } : { ...base, running: true, pid, ports };
}

/**
 * Sends SIGTERM to the daemon of a data directory and waits until it has exited. Resolves to what
 * was found before stopping.
 */
export async function stopDaemon(
  role: DaemonRole,
  dataDir: string,
  timeoutMs: number,
): Promise<DaemonStatus> {
  const status = await daemonStatus(role, dataDir);
  if (!status.running || status.pid === undefined) {
    if (status.stalePidFile === true) await rm(daemonFiles(role, dataDir).pid, { force: true });
    return status;
  }
  process.kill(status.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(status.pid)) {
    if (Date.now() > deadline) {
      const { TubeError } = await import('../common/errors.js');
      throw new TubeError('UNAVAILABLE', `${role} (pid ${status.pid}) did not stop within ${timeoutMs} ms`, {
        hint: `see ${daemonFiles(role, dataDir).log}; \`kill -9 ${status.pid}\` stops it without a clean close`,
      });
    }
    await sleep(50);
  }
  return status;
}

/** The address a daemon listens on, from its ports.json (`host:port`). */
export function listenAddress(ports: Record<string, unknown> | undefined): string | undefined {
  if (ports === undefined) return undefined;
  if (typeof ports.host === 'string' && typeof ports.port === 'number') return `${ports.host}:${ports.port}`;
  return undefined;
}

/**
 * `--detach`: starts the same command again without `--detach`, in its own session, with stdout
 * and stderr going to `<data-dir>/<role>.log`; waits until the child has written ports.json.
 * Resolves to the ports.json content; rejects with the log's tail if the child dies first.
 */
export async function detach(
  role: DaemonRole,
  dataDir: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const files = daemonFiles(role, dataDir);
  await mkdir(resolve(dataDir), { recursive: true });
  const log = await open(files.log, 'a');
  // Only what this child writes is shown if it fails, not earlier runs' lines.
  const logStart = (await log.stat()).size;
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot tell which script to re-run');
  const args = process.argv.slice(2).filter((arg) => arg !== '--detach');
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    env: process.env,
  });
  await log.close();
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  child.once('error', (error) => {
    exited = error.message;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const ports = await readJson(files.ports);
      if (ports !== undefined && ports.pid === child.pid) return ports;
      if (exited !== undefined || Date.now() > deadline) {
        const tail = await logTail(files.log, logStart, 20);
        const { TubeError } = await import('../common/errors.js');
        const reason = exited === undefined ? `did not start within ${timeoutMs} ms` : `exited (${exited})`;
        if (exited === undefined && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
        throw new TubeError('INTERNAL', `the ${role} ${reason}; it wrote to ${files.log}:\n${tail}`);
      }
      await sleep(50);
    }
  } finally {
    child.unref();
  }
}

async function logTail(path: string, from: number, lines: number): Promise<string> {
  try {
    const text = (await readFile(path)).subarray(from).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
