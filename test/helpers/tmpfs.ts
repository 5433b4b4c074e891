// A small RAM file system for tests that need a disk to fill up (reliability-anchors.md §5.5).
// Mounting needs root; where it is refused, `mountTmpfs` says why and the test skips.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A mounted tmpfs; `unmount` removes it and its mount point. */
export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeBytes`, or returns why it could not (not root, no mount permission). */
export function mountTmpfs(sizeBytes: number): Tmpfs | { refused: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    fs.rmdirSync(dir);
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { refused: `mount -t tmpfs refused: ${stderr || (error as Error).message}` };
  }
  return {
    dir,
    unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      fs.rmdirSync(dir);
    },
  };
}

/** Writes `bytes` of zeros to `file` and syncs it: space a test frees later to end a full disk. */
export function writeBallast(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, Buffer.alloc(bytes));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
