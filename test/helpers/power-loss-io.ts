/*
 * A FileIO that models the disk cache between the storage engine and the platters, so a test can
 * cut the power at any moment and see only what the engine had made durable.
 *
 * The model (POSIX, as LazyFS and the Jepsen/ALICE papers read it):
 *
 * - Every file ("inode") has a durable image: what a power loss leaves. Writes and truncates go to
 *   the real file at once (reads see them: that is the page cache) and are also kept, in order, as
 *   pending operations of that inode. `datasync()` folds every operation that had completed before
 *   it started into the durable image. That carries the same facts as an undo record per unsynced
 *   write (position, length, the durable bytes it overwrote): those bytes are the durable image's.
 * - Every directory has durable entries: what a power loss leaves in it. Creating a file (open with
 *   `create`), `mkdir`, `rename`, `unlink` and `removeTree` change only its volatile entries;
 *   `syncDirectory(dir)` makes that directory's current entries durable. A file whose creation was
 *   never followed by a sync of its directory disappears, even if its data was synced; a directory
 *   made by `mkdir` disappears (with everything in it) until its parent is synced; an unlinked or
 *   renamed-away file comes back with its durable content. Entries point to inodes, so a rename
 *   moves the file, and a file handle keeps writing to its inode whatever its names do.
 * - What existed before the layer first looked at it is durable as it is.
 *
 * `crashAfterOperations(n)` arms a crash point: the power fails just before the n-th mutating
 * operation (create, writev, writevDurable, truncate, datasync, mkdir, rename, unlink, removeTree,
 * syncDirectory), so a test can stop the world at every step of a run.
 *
 * `powerLoss()` freezes the layer: every later call rejects with {@link PowerLostError}, and an
 * operation still running in the kernel when the power failed completes on the real disk but
 * neither counts (a sync does not make anything durable) nor resolves (its caller gets PowerLost).
 * Once those have drained, every directory the layer touched is rewritten on the real disk to its
 * durable state: entries that were not durable are removed, durable ones come back, and every file
 * gets its durable image. The engine can then be reopened on the same directory with the real
 * `nodeFileIO`.
 *
 * Modes of the loss:
 * - `drop` (default): every unsynced write, truncate and directory change is lost: the most
 *   pessimistic state the disk may be left in.
 * - `random` (seeded): each unsynced write independently survives whole, survives torn (each
 *   512-byte sector of it kept or not: the disk reorders freely between syncs, so holes of zeros
 *   can appear before kept data), or is lost; each unsynced truncate survives or not; each directory's
 *   unsynced changes all survive or none do. Every such state is one a real disk may leave.
 *
 * Simplifications, stated so that nobody reads more into a green run than it shows:
 * - Whole-write granularity in `drop` mode, sector granularity in `random` mode; no tearing inside a
 *   sector (disks promise sector atomicity), and no corruption of durable bytes (no bit flips).
 * - `datasync()` covers the operations that completed before it was called; one that completes
 *   while the sync runs is treated as not covered. `writevDurable()` (O_DSYNC) makes its own bytes
 *   durable and nothing else; the random mode may replay an older pending write over them, which
 *   an append-only file never has. Concurrent overlapping writes to one file are
 *   ordered by completion.
 * - fdatasync makes the file size durable together with the data (it must, to retrieve the data);
 *   mtimes are not modelled. Directory operations are all-or-nothing per directory in `random`
 *   mode, never reordered inside one directory, and never made durable by a sync of a file in it
 *   (ext4's journal often does that in practice; POSIX does not promise it).
 * - Reads, sizes and `readdir` are passed through to the real (volatile) state.
 * - Only paths the layer touched are modelled; files outside touched directories are left alone.
 *   The model keeps durable images in memory, which is fine for test-sized data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeFileIO, type FileHandleIO, type FileIO } from '../../src/common/file-io.js';

/** What every call gets once the power is gone. */
export class PowerLostError extends Error {
  override readonly name = 'PowerLost';
  readonly code = 'EPOWERLOST';
  constructor(operation: string) {
    super(`power lost: ${operation}`);
  }
}

export function isPowerLost(error: unknown): boolean {
  return error instanceof PowerLostError;
}

export interface PowerLossOptions {
  /** `drop` (default): lose every unsynced change; `random`: keep a seeded random part of them. */
  mode?: 'drop' | 'random';
  /** Seed of the `random` mode. @default 1 */
  seed?: number;
  /** Tear granularity of the `random` mode. @default 512 */
  sectorBytes?: number;
}

/** What a power loss did to the disk. */
export interface PowerLossReport {
  /** Mutating operations that ran before the power failed. */
  operations: number;
  /** `manual`, or the operation that never ran because the power failed just before it. */
  trigger: string;
  mode: 'drop' | 'random';
  /** Unsynced writes and truncates lost entirely. */
  droppedOperations: number;
  /** Unsynced writes and truncates that survived (random mode). */
  keptOperations: number;
  /** Unsynced writes that survived in part (random mode). */
  tornWrites: number;
  /** Paths that existed before the loss but whose entry was not durable. */
  removed: string[];
  /** Paths that came back (unlinked or renamed away without a directory sync). */
  restored: string[];
}

type PendingOperation =
  { kind: 'write'; position: number; data: Buffer } | { kind: 'truncate'; length: number };

interface FileNode {
  kind: 'file';
  /** What a power loss leaves of the content. */
  durable: Buffer;
  /** Completed writes and truncates no datasync covered yet, oldest first. */
  pending: PendingOperation[];
}

interface DirNode {
  kind: 'dir';
  /** Entries as they are now; undefined while the layer never looked inside (durable as on disk). */
  volatile?: Map<string, FsNode>;
  /** Entries a power loss leaves. */
  durable?: Map<string, FsNode>;
}

type FsNode = FileNode | DirNode;

interface TrackedDir extends DirNode {
  volatile: Map<string, FsNode>;
  durable: Map<string, FsNode>;
}

/** mulberry32: small, seeded, good enough to pick what survives. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function applyOperation(image: Buffer, operation: PendingOperation): Buffer {
  if (operation.kind === 'truncate') {
    if (operation.length <= image.length) return image.subarray(0, operation.length);
    return Buffer.concat([image, Buffer.alloc(operation.length - image.length)]);
  }
  return applyWrite(image, operation.position, operation.data);
}

function applyWrite(image: Buffer, position: number, data: Buffer): Buffer {
  const end = position + data.length;
  const target = end > image.length ? Buffer.concat([image, Buffer.alloc(end - image.length)]) : image;
  data.copy(target, position);
  return target;
}

function isDirectory(filePath: string): boolean {
  try {
    return fs.lstatSync(filePath).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The power-loss layer. Use it as the engine's `fileIO`; call {@link PowerLossIO.powerLoss} (or arm
 * {@link PowerLossIO.crashAfterOperations}) to cut the power; then reopen on the real disk.
 */
export class PowerLossIO implements FileIO {
  private readonly byPath = new Map<string, FsNode>();
  /** Tracked directories whose parent was not tracked when they were: the roots of the model. */
  private readonly anchors = new Map<string, TrackedDir>();
  private readonly trackedDirs = new Set<TrackedDir>();
  private readonly openHandles = new Set<FileHandleIO>();
  private readonly inflight = new Set<Promise<void>>();
  private frozen = false;
  private operationCount = 0;
  private crashAt: number | undefined;
  private crashOptions: PowerLossOptions = {};
  private loss: Promise<PowerLossReport> | undefined;
  private resolveLoss!: (report: PowerLossReport) => void;
  private rejectLoss!: (error: unknown) => void;
  private readonly lossSettled: Promise<PowerLossReport>;

  constructor(private readonly inner: FileIO = nodeFileIO) {
    this.lossSettled = new Promise<PowerLossReport>((resolve, reject) => {
      this.resolveLoss = resolve;
      this.rejectLoss = reject;
    });
    this.lossSettled.catch(() => undefined);
  }

  /** Mutating operations (create, write, truncate, datasync, mkdir, rename, unlink, removeTree, syncDirectory) run so far. */
  get operations(): number {
    return this.operationCount;
  }

  /** True once the power failed (every call rejects from then on). */
  get lost(): boolean {
    return this.frozen;
  }

  /**
   * Arms a crash point: the power fails just before the `n`-th mutating operation, which never
   * runs (so n − 1 did; n = 1 fails before the first). The loss then proceeds as {@link powerLoss}.
   */
  crashAfterOperations(n: number, options: PowerLossOptions = {}): void {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new RangeError(`crash point must be a positive integer, got ${n}`);
    this.crashAt = n;
    this.crashOptions = options;
  }

  /** Resolves with the report once the power failed and the disk holds only durable state. */
  whenPowerLost(): Promise<PowerLossReport> {
    return this.lossSettled;
  }

  /** Cuts the power now; resolves once the real disk holds only the durable state. */
  powerLoss(options: PowerLossOptions = {}): Promise<PowerLossReport> {
    return this.startLoss('manual', options);
  }

  private startLoss(trigger: string, options: PowerLossOptions): Promise<PowerLossReport> {
    if (!this.loss) {
      this.frozen = true;
      this.loss = this.settleLoss(trigger, options);
      this.loss.then(this.resolveLoss, this.rejectLoss);
    }
    return this.loss;
  }

  private async settleLoss(trigger: string, options: PowerLossOptions): Promise<PowerLossReport> {
    // Let every operation the kernel already had finish on the real disk: none of them counts.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    for (const handle of this.openHandles) await handle.close().catch(() => undefined);
    this.openHandles.clear();
    const mode = options.mode ?? 'drop';
    const report: PowerLossReport = {
      operations: this.operationCount,
      trigger,
      mode,
      droppedOperations: 0,
      keptOperations: 0,
      tornWrites: 0,
      removed: [],
      restored: [],
    };
    const random = seededRandom(options.seed ?? 1);
    const sectorBytes = options.sectorBytes ?? 512;
    if (mode === 'random') {
      for (const dir of this.trackedDirs) if (random() < 0.5) dir.durable = new Map(dir.volatile);
    }
    const images = new Map<FileNode, Buffer>();
    const imageOf = (node: FileNode): Buffer => {
      let image = images.get(node);
      if (image) return image;
      image = Buffer.from(node.durable);
      for (const operation of node.pending) {
        if (mode === 'drop') {
          report.droppedOperations++;
          continue;
        }
        const roll = random();
        if (operation.kind === 'truncate' || roll < 1 / 3) {
          if (operation.kind === 'write' || roll < 0.5) {
            image = applyOperation(image, operation);
            report.keptOperations++;
          } else report.droppedOperations++;
        } else if (roll < 2 / 3) {
          // Torn: each sector of the write survives or not, in any combination.
          const end = operation.position + operation.data.length;
          for (let at = operation.position; at < end;) {
            const next = Math.min(end, (Math.floor(at / sectorBytes) + 1) * sectorBytes);
            if (random() < 0.5) {
              const data = operation.data.subarray(at - operation.position, next - operation.position);
              image = applyWrite(image, at, data);
            }
            at = next;
          }
          report.tornWrites++;
        } else report.droppedOperations++;
      }
      images.set(node, image);
      return image;
    };
    for (const [anchorPath, anchor] of this.anchors) {
      const parent = this.byPath.get(path.dirname(anchorPath));
      if (parent?.kind === 'dir' && parent.durable) continue; // reached through its parent
      this.rebuild(anchorPath, anchor, imageOf, report);
    }
    return report;
  }

  /** Makes the real directory at `dirPath` hold exactly the durable state of `node`. */
  private rebuild(
    dirPath: string,
    node: DirNode,
    imageOf: (file: FileNode) => Buffer,
    report: PowerLossReport,
  ): void {
    if (!isDirectory(dirPath)) {
      fs.rmSync(dirPath, { force: true, recursive: true });
      fs.mkdirSync(dirPath, { recursive: true });
    }
    if (!node.durable) return; // never looked inside: durable as it is on disk
    const present = new Set(fs.readdirSync(dirPath));
    for (const name of present) {
      if (node.durable.has(name)) continue;
      report.removed.push(path.join(dirPath, name));
      fs.rmSync(path.join(dirPath, name), { force: true, recursive: true });
    }
    for (const [name, child] of node.durable) {
      const childPath = path.join(dirPath, name);
      const exists = present.has(name);
      const sameNode = this.byPath.get(childPath) === child;
      if (!exists || !sameNode) report.restored.push(childPath);
      if (child.kind === 'file') {
        if (exists && isDirectory(childPath)) fs.rmSync(childPath, { force: true, recursive: true });
        fs.writeFileSync(childPath, imageOf(child));
      } else {
        if (exists && (!sameNode || !isDirectory(childPath))) {
          if (!child.durable)
            throw new Error(`power-loss model: cannot restore untracked directory ${childPath}`);
          fs.rmSync(childPath, { force: true, recursive: true });
        }
        this.rebuild(childPath, child, imageOf, report);
      }
    }
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  /** Refuses every call once the power is gone. */
  private check(operation: string): void {
    if (this.frozen) throw new PowerLostError(operation);
  }

  /** Counts a mutating operation, or cuts the power just before it when it is the crash point. */
  private begin(operation: string): void {
    this.check(operation);
    if (this.crashAt !== undefined && this.operationCount + 1 >= this.crashAt) {
      void this.startLoss(operation, this.crashOptions);
      throw new PowerLostError(operation);
    }
    this.operationCount++;
  }

  /**
   * Runs a real operation. `commit` updates the model only when it completed before the power
   * failed; a late completion is discarded (`late` cleans up) and its caller gets PowerLost.
   */
  private async call<T>(
    operation: string,
    real: () => Promise<T>,
    commit?: (value: T) => void,
    late?: (value: T) => void,
  ): Promise<T> {
    const promise = real();
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    try {
      const value = await promise;
      if (this.frozen) {
        late?.(value);
        throw new PowerLostError(operation);
      }
      commit?.(value);
      return value;
    } finally {
      this.inflight.delete(settled);
    }
  }

  /** The node at `filePath`, met for the first time if needed (then its current state is durable). */
  private nodeAt(filePath: string): FsNode | undefined {
    const known = this.byPath.get(filePath);
    if (known) return known;
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(filePath);
    } catch {
      return undefined;
    }
    const node: FsNode = stats.isDirectory()
      ? { kind: 'dir' }
      : { kind: 'file', durable: fs.readFileSync(filePath), pending: [] };
    this.byPath.set(filePath, node);
    return node;
  }

  /** Starts modelling a directory's entries (they are durable as they are now); undefined if it is not one. */
  private trackDir(dirPath: string): TrackedDir | undefined {
    const node = this.nodeAt(dirPath);
    if (node?.kind !== 'dir') return undefined;
    if (!node.volatile) {
      const entries = new Map<string, FsNode>();
      for (const name of fs.readdirSync(dirPath)) {
        const child = this.nodeAt(path.join(dirPath, name));
        if (child) entries.set(name, child);
      }
      node.volatile = entries;
      node.durable = new Map(entries);
      this.trackedDirs.add(node as TrackedDir);
      const parent = this.byPath.get(path.dirname(dirPath));
      if (!(parent?.kind === 'dir' && parent.volatile)) this.anchors.set(dirPath, node as TrackedDir);
    }
    return node as TrackedDir;
  }

  /** Tracks a whole subtree (before it moves or goes away, so it can come back). */
  private trackTree(dirPath: string): void {
    const node = this.trackDir(dirPath);
    if (!node) return;
    for (const [name, child] of node.volatile)
      if (child.kind === 'dir') this.trackTree(path.join(dirPath, name));
  }

  /** Forgets the volatile paths at and under `filePath`; returns them with their nodes. */
  private detachPaths(filePath: string): [string, FsNode][] {
    const moved: [string, FsNode][] = [];
    for (const [each, node] of this.byPath) {
      if (each === filePath || each.startsWith(filePath + path.sep)) moved.push([each, node]);
    }
    for (const [each] of moved) this.byPath.delete(each);
    return moved;
  }

  // ---- FileIO ---------------------------------------------------------------------------------

  async open(filePath: string, options: { create?: boolean } = {}): Promise<FileHandleIO> {
    const absolute = path.resolve(filePath);
    const label = `open ${absolute}`;
    if (options.create) this.begin(`create ${absolute}`);
    else this.check(label);
    const parent = this.trackDir(path.dirname(absolute));
    let node = this.nodeAt(absolute);
    let created = false;
    if (!node && options.create && parent) {
      node = { kind: 'file', durable: Buffer.alloc(0), pending: [] };
      parent.volatile.set(path.basename(absolute), node);
      this.byPath.set(absolute, node);
      created = true;
    }
    let inner: FileHandleIO;
    try {
      inner = await this.call(
        label,
        () => this.inner.open(absolute, options),
        (handle) => this.openHandles.add(handle),
        (handle) => void handle.close().catch(() => undefined),
      );
    } catch (error) {
      if (created && !this.frozen) {
        parent?.volatile.delete(path.basename(absolute));
        this.byPath.delete(absolute);
      }
      throw error;
    }
    node ??= this.nodeAt(absolute);
    if (node?.kind !== 'file') {
      // Opened something the model cannot follow (outside any directory it could track): refuse.
      await inner.close();
      throw new Error(`power-loss model: ${absolute} is not a regular file it can model`);
    }
    return this.wrapHandle(absolute, node, inner);
  }

  private wrapHandle(filePath: string, node: FileNode, inner: FileHandleIO): FileHandleIO {
    return {
      path: filePath,
      writev: async (buffers, position) => {
        const label = `writev ${filePath}@${position}`;
        this.begin(label);
        const data = Buffer.concat(buffers); // a copy: the caller may reuse its buffers
        await this.call(
          label,
          () => inner.writev(buffers, position),
          () => node.pending.push({ kind: 'write', position, data }),
        );
      },
      writevDurable: async (buffers, position) => {
        const label = `durable writev ${filePath}@${position}`;
        this.begin(label);
        const data = Buffer.concat(buffers);
        // Durable on its own (a range sync): earlier pending operations stay pending.
        await this.call(
          label,
          () => inner.writevDurable(buffers, position),
          () => (node.durable = applyWrite(node.durable, position, data)),
        );
      },
      read: async (buffer, bufferOffset, length, position) => {
        const label = `read ${filePath}`;
        this.check(label);
        return this.call(label, () => inner.read(buffer, bufferOffset, length, position));
      },
      datasync: async () => {
        const label = `datasync ${filePath}`;
        this.begin(label);
        const covered = node.pending.length;
        await this.call(
          label,
          () => inner.datasync(),
          () => {
            for (const operation of node.pending.splice(0, covered))
              node.durable = applyOperation(node.durable, operation);
          },
        );
      },
      truncate: async (length) => {
        const label = `truncate ${filePath} to ${length}`;
        this.begin(label);
        await this.call(
          label,
          () => inner.truncate(length),
          () => node.pending.push({ kind: 'truncate', length }),
        );
      },
      size: async () => {
        const label = `size ${filePath}`;
        this.check(label);
        return this.call(label, () => inner.size());
      },
      close: async () => {
        const label = `close ${filePath}`;
        this.check(label);
        // Forget it first: a close still running when the power fails must not be closed twice.
        this.openHandles.delete(inner);
        await this.call(label, () => inner.close());
      },
    };
  }

  async mkdir(dirPath: string): Promise<void> {
    const absolute = path.resolve(dirPath);
    const label = `mkdir ${absolute}`;
    this.begin(label);
    const missing: string[] = [];
    for (let at = absolute; !fs.existsSync(at) && !this.byPath.has(at); at = path.dirname(at))
      missing.unshift(at);
    for (const dir of missing) {
      const parent = this.trackDir(path.dirname(dir));
      if (!parent) break; // the real mkdir will say why
      const node: TrackedDir = { kind: 'dir', volatile: new Map(), durable: new Map() };
      parent.volatile.set(path.basename(dir), node);
      this.byPath.set(dir, node);
      this.trackedDirs.add(node);
    }
    await this.call(label, () => this.inner.mkdir(absolute));
  }

  async readdir(dirPath: string): Promise<string[]> {
    const label = `readdir ${dirPath}`;
    this.check(label);
    return this.call(label, () => this.inner.readdir(dirPath));
  }

  async exists(filePath: string): Promise<boolean> {
    const label = `exists ${filePath}`;
    this.check(label);
    return this.call(label, () => this.inner.exists(filePath));
  }

  async mtimeMs(filePath: string): Promise<number> {
    const label = `mtime ${filePath}`;
    this.check(label);
    return this.call(label, () => this.inner.mtimeMs(filePath));
  }

  async birthtimeMs(filePath: string): Promise<number> {
    const label = `birthtime ${filePath}`;
    this.check(label);
    return this.call(label, () => this.inner.birthtimeMs(filePath));
  }

  async readFile(filePath: string): Promise<Buffer> {
    const label = `readFile ${filePath}`;
    this.check(label);
    return this.call(label, () => this.inner.readFile(filePath));
  }

  /**
   * A boot of its own: a power loss is a reboot, so whatever reopens the files afterwards (the
   * real file system, or another layer) runs in another boot.
   */
  bootId(): Promise<string> {
    return Promise.resolve(this.simulatedBootId);
  }

  private readonly simulatedBootId = `power-loss-io-${process.pid}-${Math.random().toString(16).slice(2)}`;

  async availableBytes(dirPath: string): Promise<number> {
    const label = `availableBytes ${dirPath}`;
    this.check(label);
    return this.call(label, () => this.inner.availableBytes(dirPath));
  }

  async rename(from: string, to: string): Promise<void> {
    const source = path.resolve(from);
    const target = path.resolve(to);
    const label = `rename ${source} -> ${target}`;
    this.begin(label);
    const sourceParent = this.trackDir(path.dirname(source));
    const targetParent = this.trackDir(path.dirname(target));
    const node = this.nodeAt(source);
    if (node && sourceParent && targetParent && source !== target) {
      if (node.kind === 'dir') this.trackTree(source);
      const replaced = this.nodeAt(target);
      if (replaced?.kind === 'dir') this.trackTree(target);
      sourceParent.volatile.delete(path.basename(source));
      targetParent.volatile.set(path.basename(target), node);
      this.detachPaths(target);
      for (const [each, moved] of this.detachPaths(source))
        this.byPath.set(target + each.slice(source.length), moved);
    }
    await this.call(label, () => this.inner.rename(source, target));
  }

  async unlink(filePath: string): Promise<void> {
    const absolute = path.resolve(filePath);
    const label = `unlink ${absolute}`;
    this.begin(label);
    const parent = this.trackDir(path.dirname(absolute));
    if (parent && this.nodeAt(absolute)) {
      parent.volatile.delete(path.basename(absolute));
      this.detachPaths(absolute);
    }
    await this.call(label, () => this.inner.unlink(absolute));
  }

  async removeTree(dirPath: string): Promise<void> {
    const absolute = path.resolve(dirPath);
    const label = `removeTree ${absolute}`;
    this.begin(label);
    const parent = this.trackDir(path.dirname(absolute));
    const node = this.nodeAt(absolute);
    if (parent && node) {
      if (node.kind === 'dir') this.trackTree(absolute);
      parent.volatile.delete(path.basename(absolute));
      this.detachPaths(absolute);
    }
    await this.call(label, () => this.inner.removeTree(absolute));
  }

  async syncDirectory(dirPath: string): Promise<void> {
    const absolute = path.resolve(dirPath);
    const label = `syncDirectory ${absolute}`;
    this.begin(label);
    const node = this.trackDir(absolute);
    const entries = node ? new Map(node.volatile) : undefined;
    await this.call(
      label,
      () => this.inner.syncDirectory(absolute),
      () => {
        if (node && entries) node.durable = entries;
      },
    );
  }
}
