import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * An open file as the storage layers use it: positional, batch-friendly, and async so that the
 * event loop never waits on the disk.
 */
export interface FileHandleIO {
  readonly path: string;
  /** Writes all `buffers` back to back at `position`; resolves once every byte went to the OS. */
  writev(buffers: readonly Buffer[], position: number): Promise<void>;
  /**
   * Writes like {@link writev} and resolves once those bytes are durable, as a write followed by a
   * datasync of just them (O_DSYNC): one trip to the disk thread instead of two. Earlier unsynced
   * writes to the file are not made durable by it.
   */
  writevDurable(buffers: readonly Buffer[], position: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buffer` at `bufferOffset`; resolves to the count read. */
  read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The file system seen by storage and metadata code. Production uses {@link nodeFileIO}; tests
 * wrap it to simulate a power loss (drop every write not covered by a sync).
 */
export interface FileIO {
  /** Opens for read and write, creating the file when `create` is set. */
  open(filePath: string, options?: { create?: boolean }): Promise<FileHandleIO>;
  mkdir(dirPath: string): Promise<void>;
  readdir(dirPath: string): Promise<string[]>;
  exists(filePath: string): Promise<boolean>;
  mtimeMs(filePath: string): Promise<number>;
  /** When the file was created (statx birth time), or 0 where the file system does not keep it. */
  birthtimeMs(filePath: string): Promise<number>;
  rename(from: string, to: string): Promise<void>;
  unlink(filePath: string): Promise<void>;
  removeTree(dirPath: string): Promise<void>;
  /** Makes a directory's entries (created, renamed, removed files) durable. */
  syncDirectory(dirPath: string): Promise<void>;
  readFile(filePath: string): Promise<Buffer>;
  /** Bytes an unprivileged writer may still use on the file system holding `dirPath` (statfs). */
  availableBytes(dirPath: string): Promise<number>;
  /**
   * Names the current boot of the machine (Linux's boot_id): written bytes the process never
   * synced survive its crash within one boot, not a reboot. Empty when unknown.
   */
  bootId(): Promise<string>;
}

function callback<T>(resolve: (value: T) => void, reject: (error: Error) => void) {
  return (error: NodeJS.ErrnoException | null, value: T) => (error ? reject(error) : resolve(value));
}

class NodeFileHandle implements FileHandleIO {
  /** A second descriptor of the same file opened O_DSYNC, on the first durable write. */
  private durableFd: Promise<number> | undefined;

  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  writev(buffers: readonly Buffer[], position: number): Promise<void> {
    return writeAll(this.fd, buffers, position);
  }

  async writevDurable(buffers: readonly Buffer[], position: number): Promise<void> {
    if (fs.constants.O_DSYNC === undefined) {
      // A platform without O_DSYNC (Windows): the same promise, in two steps.
      await this.writev(buffers, position);
      return this.datasync();
    }
    // Linux ignores O_DSYNC in fcntl(F_SETFL), so durable writes need their own descriptor.
    this.durableFd ??= new Promise<number>((resolve, reject) => {
      fs.open(this.path, fs.constants.O_WRONLY | fs.constants.O_DSYNC, callback(resolve, reject));
    });
    let fd: number;
    try {
      fd = await this.durableFd;
    } catch (error) {
      this.durableFd = undefined;
      throw error;
    }
    await writeAll(fd, buffers, position);
  }

  read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.fd, buffer, bufferOffset, length, position, callback(resolve, reject));
    });
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.fdatasync(this.fd, (error) => (error ? reject(error) : resolve())),
    );
  }

  truncate(length: number): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.ftruncate(this.fd, length, (error) => (error ? reject(error) : resolve())),
    );
  }

  size(): Promise<number> {
    return new Promise((resolve, reject) =>
      fs.fstat(this.fd, (error, stats) => (error ? reject(error) : resolve(stats.size))),
    );
  }

  async close(): Promise<void> {
    const durableFd = await this.durableFd?.catch(() => undefined);
    if (durableFd !== undefined) await closeFd(durableFd);
    await closeFd(this.fd);
  }
}

/**
 * Writes every byte of `buffers` at `position`, or rejects. libuv loops over partial writes, but
 * when a later round fails (ENOSPC once the disk fills mid-write) it reports the bytes written so
 * far and no error: so the count is checked here, and the rest is written again, which either
 * completes it or surfaces the error that stopped it.
 */
function writeAll(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  return new Promise((resolve, reject) => {
    const writeFrom = (pending: readonly Buffer[], at: number, left: number): void => {
      fs.writev(fd, pending as Buffer[], at, (error, written) => {
        if (error) return reject(error);
        if (written >= left) return resolve();
        if (written === 0) return reject(shortWriteError(fd, left));
        writeFrom(remainingAfter(pending, written), at + written, left - written);
      });
    };
    writeFrom(buffers, position, total);
  });
}

/** The buffers left to write once the first `written` bytes of `buffers` are written. */
export function remainingAfter(buffers: readonly Buffer[], written: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = written;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

/** A write that made no progress and named no error: treated as the I/O error it must be. */
function shortWriteError(fd: number, left: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(
    `write to fd ${fd} made no progress with ${left} bytes left`,
  );
  error.code = 'EIO';
  return error;
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (error) => (error ? reject(error) : resolve())));
}

/** The real file system, through libuv's thread pool. */
export const nodeFileIO: FileIO = {
  open(filePath, options = {}) {
    const flags = options.create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR;
    return new Promise((resolve, reject) => {
      fs.open(filePath, flags, 0o644, (error, fd) =>
        error ? reject(error) : resolve(new NodeFileHandle(filePath, fd)),
      );
    });
  },
  async mkdir(dirPath) {
    await fs.promises.mkdir(dirPath, { recursive: true });
  },
  readdir: (dirPath) => fs.promises.readdir(dirPath),
  async exists(filePath) {
    try {
      await fs.promises.access(filePath);
      return true;
    } catch {
      return false;
    }
  },
  async mtimeMs(filePath) {
    return (await fs.promises.stat(filePath)).mtimeMs;
  },
  async birthtimeMs(filePath) {
    return (await fs.promises.stat(filePath)).birthtimeMs;
  },
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (filePath) => fs.promises.unlink(filePath),
  removeTree: (dirPath) => fs.promises.rm(dirPath, { recursive: true, force: true }),
  async syncDirectory(dirPath) {
    const handle = await fs.promises.open(dirPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  readFile: (filePath) => fs.promises.readFile(filePath),
  async availableBytes(dirPath) {
    const stats = await fs.promises.statfs(dirPath);
    return stats.bavail * stats.bsize;
  },
  async bootId() {
    try {
      return (await fs.promises.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    } catch {
      return '';
    }
  },
};

/**
 * Creates a directory and any missing parents so that they survive a power loss: each new level
 * is made durable by syncing its parent (POSIX makes a new entry durable only that way).
 */
export async function mkdirDurable(io: FileIO, dirPath: string): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(dirPath); !(await io.exists(current)); current = path.dirname(current)) {
    missing.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const dir of missing) {
    await io.mkdir(dir);
    await io.syncDirectory(path.dirname(dir));
  }
}

/** Opens a file, creating it if needed; a new file's directory entry is synced before it is used. */
export async function openDurable(io: FileIO, filePath: string): Promise<FileHandleIO> {
  const created = !(await io.exists(filePath));
  const handle = await io.open(filePath, { create: true });
  if (created) await io.syncDirectory(path.dirname(filePath));
  return handle;
}

/**
 * Writes a whole file so that a crash leaves either the old or the new content, never a mix:
 * temp file, fsync, rename over, fsync the directory.
 */
export async function writeFileAtomic(io: FileIO, filePath: string, content: Buffer): Promise<void> {
  const temporaryPath = `${filePath}.tmp`;
  const handle = await io.open(temporaryPath, { create: true });
  try {
    await handle.truncate(0);
    await handle.writev([content], 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await io.rename(temporaryPath, filePath);
  await io.syncDirectory(path.dirname(filePath));
}
