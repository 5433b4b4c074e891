/*
 * A FileIO that makes the disk fail on command, for tests of what the storage engine promises
 * when writes fail. It sits between the engine and another FileIO (the real one, or a
 * PowerLossIO so the same run can also lose power):
 *
 * - A full disk ({@link FaultDisk.full}, shared by every layer of one data directory, since the disk
 *   outlives the process): every write that would grow a file fails with ENOSPC, and
 *   `availableBytes` reports 0 (plenty otherwise). Writes inside a file's size (a slot rewritten
 *   in place) and truncates still work, as on a real file system. A failed write may leave a
 *   prefix of its bytes on the file (`tornFraction`), as a short write cut by ENOSPC does; those
 *   bytes go straight to the real file, past the layer below (the page cache has them, no sync
 *   ever covered them), and a truncate that removes only them goes the same way.
 * - An armed I/O error (`arm`): the next write (writev or durable writev) of a data segment
 *   (`*.data`) or of a partition index (`*.index`), or the next datasync of a data segment, fails
 *   with EIO, once.
 * - `kill()`: the process is gone; every later call fails and is counted (I/O an engine still
 *   makes after `abandon()` resolved would be a bug of abandon).
 *
 * Every injected failure is listed in `events`, with the store whose file it hit, and every
 * `availableBytes` answer in `probes`, so a test knows what the engine was told.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileHandleIO, FileIO } from '../../src/common/file-io.js';
import { isPowerLost } from './power-loss-io.js';

/** The disk's state, shared by every FaultIO over one data directory. */
export class FaultDisk {
  full = false;
  /** How much of a write that hits a full disk still lands on the file, 0 to 1. */
  tornFraction = 0;
}

export type FaultKind = 'ENOSPC' | 'EIO-write' | 'EIO-sync';

/** An I/O error `arm` makes the next matching operation fail with. */
export type ArmedFault = 'data-write' | 'data-sync' | 'index-write';

export interface FaultEvent {
  kind: FaultKind;
  file: string;
  /** The store (`store-N` directory) the file belongs to, undefined for other files. */
  store: number | undefined;
}

export interface ProbeAnswer {
  store: number | undefined;
  availableBytes: number;
}

/** What `availableBytes` answers while the disk has room. */
export const roomyBytes = 1024 * 1024 * 1024;

/** The store a path belongs to (its `store-N` directory), or undefined. */
export function storeOfPath(filePath: string): number | undefined {
  const match = /[\\/]store-(\d+)(?:[\\/]|$)/.exec(filePath);
  return match ? Number(match[1]) : undefined;
}

function errnoError(code: 'ENOSPC' | 'EIO', syscall: string, filePath: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  const error: NodeJS.ErrnoException = new Error(`${code}: ${text} (injected), ${syscall} '${filePath}'`);
  error.code = code;
  error.errno = code === 'ENOSPC' ? -28 : -5;
  error.syscall = syscall;
  error.path = filePath;
  return error;
}

class ProcessGoneError extends Error {
  constructor(operation: string) {
    super(`the process is gone: ${operation}`);
  }
}

export class FaultIO implements FileIO {
  readonly events: FaultEvent[] = [];
  readonly probes: ProbeAnswer[] = [];
  /** Calls made after {@link kill}. */
  lateCalls: string[] = [];
  private readonly armed = new Set<ArmedFault>();
  private dead = false;
  /** Per file: the size the layer below knows, while bytes of a torn write lie past it. */
  private readonly tornFrom = new Map<string, number>();

  constructor(
    private readonly inner: FileIO,
    readonly disk: FaultDisk,
  ) {}

  /** The next such operation fails with EIO. */
  arm(fault: ArmedFault): void {
    this.armed.add(fault);
  }

  /** The process died: every later call fails. */
  kill(): void {
    this.dead = true;
    this.armed.clear();
  }

  /** Whether `fault` is armed for `filePath`; disarms it when it is. */
  private fires(fault: ArmedFault, filePath: string): boolean {
    const target = fault === 'index-write' ? '.index' : '.data';
    return filePath.endsWith(target) && this.armed.delete(fault);
  }

  private check(operation: string): void {
    if (!this.dead) return;
    this.lateCalls.push(operation);
    throw new ProcessGoneError(operation);
  }

  private inject(kind: FaultKind, filePath: string): void {
    this.events.push({ kind, file: filePath, store: storeOfPath(filePath) });
  }

  /** A write of `bytes` at `position`: fails it when armed or when it would grow a full disk's file. */
  private async beforeWrite(
    inner: FileHandleIO,
    filePath: string,
    buffers: readonly Buffer[],
    position: number,
  ): Promise<void> {
    if (this.fires('data-write', filePath) || this.fires('index-write', filePath)) {
      this.inject('EIO-write', filePath);
      throw errnoError('EIO', 'write', filePath);
    }
    if (!this.disk.full) return;
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    const size = await inner.size();
    if (position + bytes <= size) return;
    const torn = Math.floor(bytes * this.disk.tornFraction);
    if (torn > 0 && position >= size) {
      // A short write: the page cache took these bytes, nothing made them durable.
      const data = Buffer.concat(buffers).subarray(0, torn);
      const handle = await fs.promises.open(filePath, 'r+');
      try {
        await handle.write(data, 0, data.length, position);
      } finally {
        await handle.close();
      }
      if (!this.tornFrom.has(filePath)) this.tornFrom.set(filePath, size);
    }
    // Recorded as it is thrown, so whoever reads `events` sees what the engine is told.
    this.inject('ENOSPC', filePath);
    throw errnoError('ENOSPC', 'write', filePath);
  }

  private wrap(filePath: string, inner: FileHandleIO): FileHandleIO {
    return {
      path: filePath,
      writev: async (buffers, position) => {
        this.check(`writev ${filePath}`);
        await this.beforeWrite(inner, filePath, buffers, position);
        this.tornFrom.delete(filePath);
        await inner.writev(buffers, position);
      },
      writevDurable: async (buffers, position) => {
        this.check(`writevDurable ${filePath}`);
        await this.beforeWrite(inner, filePath, buffers, position);
        this.tornFrom.delete(filePath);
        await inner.writevDurable(buffers, position);
      },
      read: (buffer, bufferOffset, length, position) => {
        this.check(`read ${filePath}`);
        return inner.read(buffer, bufferOffset, length, position);
      },
      datasync: async () => {
        this.check(`datasync ${filePath}`);
        if (this.fires('data-sync', filePath)) {
          this.inject('EIO-sync', filePath);
          throw errnoError('EIO', 'fdatasync', filePath);
        }
        await inner.datasync();
      },
      truncate: async (length) => {
        this.check(`truncate ${filePath}`);
        const known = this.tornFrom.get(filePath);
        if (known !== undefined && length >= known) {
          // Cuts only bytes of a torn write, which the layer below never saw.
          await fs.promises.truncate(filePath, length);
          if (length === known) this.tornFrom.delete(filePath);
          return;
        }
        this.tornFrom.delete(filePath);
        await inner.truncate(length);
      },
      size: () => {
        this.check(`size ${filePath}`);
        return inner.size();
      },
      close: async () => {
        if (this.dead) {
          // The process is gone, and the kernel closed its descriptors: so does this one, quietly
          // (no I/O reaches the file; leaving it open would leak a real descriptor per crash).
          await inner.close().catch(() => undefined);
          return;
        }
        try {
          await inner.close();
        } catch (error) {
          // After a power loss the layer below refuses everything; the descriptor is gone anyway.
          if (!isPowerLost(error)) throw error;
        }
      },
    };
  }

  async open(filePath: string, options?: { create?: boolean }): Promise<FileHandleIO> {
    this.check(`open ${filePath}`);
    return this.wrap(filePath, await this.inner.open(filePath, options));
  }

  /** A call passed through unchanged, unless the process is gone. */
  private pass<T>(operation: string, call: () => Promise<T>): Promise<T> {
    this.check(operation);
    return call();
  }

  mkdir = (dir: string) => this.pass(`mkdir ${dir}`, () => this.inner.mkdir(dir));
  readdir = (dir: string) => this.pass(`readdir ${dir}`, () => this.inner.readdir(dir));
  exists = (file: string) => this.pass(`exists ${file}`, () => this.inner.exists(file));
  mtimeMs = (file: string) => this.pass(`mtime ${file}`, () => this.inner.mtimeMs(file));
  birthtimeMs = (file: string) => this.pass(`birthtime ${file}`, () => this.inner.birthtimeMs(file));
  rename = (from: string, to: string) => this.pass(`rename ${from}`, () => this.inner.rename(from, to));
  unlink = (file: string) => this.pass(`unlink ${file}`, () => this.inner.unlink(file));
  removeTree = (dir: string) => this.pass(`removeTree ${dir}`, () => this.inner.removeTree(dir));
  syncDirectory = (dir: string) => this.pass(`syncDirectory ${dir}`, () => this.inner.syncDirectory(dir));
  readFile = (file: string) => this.pass(`readFile ${file}`, () => this.inner.readFile(file));
  bootId = () => this.pass('bootId', () => this.inner.bootId());

  availableBytes(dirPath: string): Promise<number> {
    this.check(`availableBytes ${dirPath}`);
    const answer = this.disk.full ? 0 : roomyBytes;
    this.probes.push({ store: storeOfPath(path.resolve(dirPath)), availableBytes: answer });
    return Promise.resolve(answer);
  }
}
