// One daemon per data dir (issue 4 §2): two masters or brokers writing the same files would corrupt
// them, so each takes `<dir>/lock` before it touches anything and refuses to start if someone
// else holds it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TubeError } from './errors.js';

/** A held data-dir lock. */
export interface DataDirLock {
  /** The lock file, `<dir>/lock`. */
  readonly path: string;
  /** Removes the lock file (if it is still ours); safe to call twice. */
  release(): Promise<void>;
}

const lockFileName = 'lock';
// A holder writes its pid right after creating the file; a reader that finds it empty waits this
// long (in steps) before calling it stale, so a lock being taken is not mistaken for a dead one.
const emptyLockWaitStepsMs = [20, 50, 100, 200];
const takeOverAttemptsMax = 5;

/**
 * Lock files this process holds. A pid alone cannot tell "this process" from "a crashed process
 * that had the same pid" (common in containers, where a daemon is often pid 1 every time).
 */
const heldByThisProcess = new Set<string>();

/**
 * Takes `<dir>/lock` (created with O_EXCL, holding the pid), creating `dir` if needed.
 *
 * A live holder → throws `TubeError('ALREADY_EXISTS', 'data dir D is in use by process P')` with a
 * hint naming the stop command. A lock left by a dead process (or by an earlier run that had this
 * process's pid) is taken over.
 */
export async function acquireDataDirLock(dir: string, role: 'master' | 'broker'): Promise<DataDirLock> {
  await fs.promises.mkdir(dir, { recursive: true });
  const lockPath = path.resolve(dir, lockFileName);
  for (let attempt = 1; ; attempt++) {
    if (await tryCreate(lockPath)) {
      heldByThisProcess.add(lockPath);
      return lockHandle(lockPath);
    }
    const holder = await readHolder(lockPath);
    if (holder === 'gone') continue;
    if (holder !== undefined && isAlive(holder, lockPath)) {
      throw new TubeError('ALREADY_EXISTS', `data dir ${dir} is in use by process ${holder}`, {
        details: { dir, pid: holder, lockFile: lockPath },
        hint: `stop it with \`tubemq ${role} stop --data-dir ${dir}\``,
      });
    }
    if (attempt >= takeOverAttemptsMax) {
      throw new TubeError('UNAVAILABLE', `cannot take the lock of data dir ${dir}: it keeps changing`, {
        details: { dir, lockFile: lockPath },
        hint: 'another daemon may be starting on the same data dir; try again',
      });
    }
    // Stale: remove it and race for a fresh O_EXCL create like anyone else would.
    await fs.promises.rm(lockPath, { force: true });
  }
}

async function tryCreate(lockPath: string): Promise<boolean> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(lockPath, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/** The pid in the lock file; undefined when it holds none (stale), 'gone' when the file vanished. */
async function readHolder(lockPath: string): Promise<number | undefined | 'gone'> {
  for (const waitMs of [0, ...emptyLockWaitStepsMs]) {
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    let text: string;
    try {
      text = await fs.promises.readFile(lockPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw error;
    }
    if (text.trim() === '') continue;
    const pid = Number(text.trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  }
  return undefined;
}

function isAlive(pid: number, lockPath: string): boolean {
  if (pid === process.pid) return heldByThisProcess.has(lockPath);
  return isProcessAlive(pid);
}

/** Whether a process with this pid exists, ours to signal or not (signal 0 probes without sending). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockHandle(lockPath: string): DataDirLock {
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      heldByThisProcess.delete(lockPath);
      // Only remove the file if it is still ours: someone may have judged it stale and taken it.
      const holder = await readHolder(lockPath).catch(() => undefined);
      if (holder === process.pid) await fs.promises.rm(lockPath, { force: true });
    },
  };
}

/**
 * Runs `task` while holding `dir`'s lock, for offline tools such as repair: refuses a directory
 * that does not exist (NOT_FOUND) and one a running daemon holds (ALREADY_EXISTS, with the stop
 * command as the hint), and releases the lock however the task ends.
 */
export async function withDataDirLock<T>(
  dir: string,
  role: 'master' | 'broker',
  task: () => Promise<T>,
): Promise<T> {
  if (!fs.existsSync(dir)) {
    throw new TubeError('NOT_FOUND', `data dir ${dir} does not exist`, {
      details: { dir },
      hint: `pass the ${role}'s data directory with --data-dir`,
    });
  }
  const lock = await acquireDataDirLock(dir, role);
  try {
    return await task();
  } finally {
    await lock.release();
  }
}
