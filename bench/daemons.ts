// What the benchmarks that run real daemons share: start `bin/tubemq` as a user would, stop it,
// read a process's CPU and memory from /proc, and put the page cache in a known state.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tubemq = path.join(root, 'bin', 'tubemq');

/** Why the daemons cannot start (`bin/tubemq` runs the built `dist/`), or undefined when they can. */
export function missingBuild(): string | undefined {
  return fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))
    ? undefined
    : 'dist/ is missing; run `npm run build` first';
}

/** A daemon started by {@link startDaemon}. */
export interface Daemon {
  child: ChildProcess;
  port: number;
}

/** Starts `tubemq <args>` on a free port in `dataDir`; resolves once it wrote its ports.json. */
export async function startDaemon(args: string[], dataDir: string): Promise<Daemon> {
  const daemonArgs = [...args, '--port', '0', '--data-dir', dataDir];
  const env = { ...process.env, TUBEMQ_LOG_LEVEL: 'warn' };
  // TUBEMQ_BENCH_CPU_PROF=DIR: each daemon writes a V8 CPU profile into DIR when it stops (the
  // flag is not allowed in NODE_OPTIONS, so node is run directly with the shebang's malloc settings).
  const profileDir = process.env.TUBEMQ_BENCH_CPU_PROF;
  const child =
    profileDir === undefined
      ? // Executed as a user runs it, through its shebang (which also sets the launcher's malloc settings).
        spawn(tubemq, daemonArgs, { stdio: ['ignore', 'ignore', 'inherit'], env })
      : spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, tubemq, ...daemonArgs], {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...env, ...launcherMallocSettings() },
        });
  const portsFile = path.join(dataDir, 'ports.json');
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (child.exitCode !== null) throw new Error(`tubemq ${args.join(' ')} exited with ${child.exitCode}`);
    try {
      const ports = JSON.parse(fs.readFileSync(portsFile, 'utf8')) as { port: number };
      return { child, port: ports.port };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`tubemq ${args.join(' ')} did not write ${portsFile} within 20 s`);
}

/** The glibc settings `bin/tubemq`'s shebang line sets (`env -S NAME=value … node`). */
function launcherMallocSettings(): Record<string, string> {
  const shebang = fs.readFileSync(tubemq, 'utf8').split('\n', 1)[0]!;
  return Object.fromEntries(
    [...shebang.matchAll(/(MALLOC_[A-Z_]+)=(\d+)/g)].map((match) => [match[1]!, match[2]!]),
  );
}

/** SIGTERM, then waits for the exit (a clean shutdown). */
export async function stopDaemon(daemon: Daemon): Promise<void> {
  if (daemon.child.exitCode !== null) return;
  const exited = new Promise((resolve) => daemon.child.once('exit', resolve));
  daemon.child.kill('SIGTERM');
  await exited;
}

/** CPU seconds a process has used, from /proc (Linux); NaN elsewhere. */
export function processCpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process in MiB, from /proc (Linux); NaN elsewhere. */
export function processRssMiB(pid: number): number {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((each) => each.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/**
 * Writes back dirty pages and, where allowed (root), drops the clean ones, so every run starts from
 * the same state. Without it a later run pays for the writeback of earlier ones, and on a VM whose
 * memory the host backs lazily, for first touches of never-used page-cache pages (this machine
 * writes 443 MB/s into fresh pages and 1,058 MB/s into reused ones: research/peers-baseline.md).
 * Not root, or not Linux: runs are then less comparable (a "cold" read is warm), not wrong.
 */
export function dropPageCache(): void {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
  } catch {
    // See above.
  }
}
