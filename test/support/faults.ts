// Fault helpers for the fault battery (test/faults/): a real master and broker as child processes,
// broken on purpose — SIGKILL and SIGSTOP, a small tmpfs filled with a ballast file, EIO injected
// into the broker's file writes or syncs by strace — and the final drain with a brand-new group.
// Everything started here is registered for cleanup, so a failing test still leaves no daemon,
// mount, tracer or temp dir behind (call `cleanup()` in a finally or after hook).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { pino, type Logger } from 'pino';
import { Admin, Consumer } from '../../src/client/index.js';
import { dial, listOffsetsMessage, callJson, type Connection } from '../../src/protocol/index.js';
import { cliEnv, readPorts, startMaster, tubemqBin, type Daemon } from '../e2e/helpers.js';
import {
  checkHistory,
  formatCounts,
  formatViolations,
  type HistoryCounts,
  type HistoryReport,
} from './history-checker.js';
import { consumeWhile, errorFields, payloadId, type History } from './history.js';

/** How many runs of each fault the battery makes: `TUBEMQ_FAULTS=full` for all, else a quick subset. */
export const fullBattery = process.env.TUBEMQ_FAULTS === 'full';

const cleanups: (() => Promise<void>)[] = [];

/** Registers work for {@link cleanup}; runs last-in first-out. */
export function onCleanup(work: () => Promise<void>): void {
  cleanups.push(work);
}

/** Runs every registered cleanup (children, tracers, mounts, dirs), newest first, each once; never throws. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const work = cleanups.pop()!;
    await work().catch((error: unknown) => process.stderr.write(`# cleanup: ${String(error)}\n`));
  }
}

/** A fresh temp dir, removed at cleanup. */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether a pid is a live process (a zombie counts as dead: nothing reaps orphans in some containers). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Sends a signal, ignoring a process already gone. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** SIGSTOP, then SIGCONT after `ms` (a process pause, e.g. a long GC or a frozen VM). */
export async function pause(pid: number, ms: number): Promise<void> {
  signal(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    signal(pid, 'SIGCONT');
  }
}

/**
 * Waits for `work`, at most `ms`: resolves to its value, or to undefined when the time ran out
 * (the timer is cleared either way, so it never holds the process open).
 */
export async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// tmpfs and ballast

/** A mounted tmpfs. */
export interface Tmpfs {
  dir: string;
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `mib` MiB on a fresh directory (unmounted and removed at cleanup). Resolves to
 * a string saying why when mounting is refused (not root, no CAP_SYS_ADMIN): the caller skips.
 */
export async function mountTmpfs(mib: number): Promise<Tmpfs | string> {
  const dir = await mkdtemp(join(tmpdir(), 'tubemq-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n')[0];
    return `cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): ${stderr || String(error)}`;
  }
  let mounted = true;
  const unmount = async (): Promise<void> => {
    if (!mounted) return;
    for (let attempt = 0; ; attempt++) {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
        break;
      } catch (error) {
        // Busy while a dying daemon still holds files; lazily detach as a last resort.
        if (attempt >= 20) {
          execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
          break;
        }
        if (attempt === 0) process.stderr.write(`# umount ${dir}: ${String(error)}; retrying\n`);
        await sleep(100);
      }
    }
    mounted = false;
    await rm(dir, { recursive: true, force: true });
  };
  onCleanup(unmount);
  return { dir, unmount };
}

/** Free bytes of the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/** A file that takes up disk space until freed. */
export class Ballast {
  private constructor(readonly path: string) {}

  /**
   * Writes `path` until the file system has at most `leaveFreeBytes` free (or is full). Resolves
   * to the ballast and how many bytes it took.
   */
  static async fill(path: string, leaveFreeBytes = 0): Promise<{ ballast: Ballast; bytes: number }> {
    const ballast = new Ballast(path);
    onCleanup(() => ballast.free());
    const handle = await open(path, 'a');
    const chunk = Buffer.alloc(256 * 1024, 0x42);
    let bytes = 0;
    try {
      for (let i = 0; i < 1_000_000; i++) {
        const free = await freeBytes(path);
        if (free <= leaveFreeBytes) break;
        const size = Math.min(chunk.length, free - leaveFreeBytes);
        try {
          const { bytesWritten } = await handle.write(chunk, 0, size);
          bytes += bytesWritten;
          if (bytesWritten === 0) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    } finally {
      await handle.close();
    }
    return { ballast, bytes };
  }

  /** Deletes the file (the space comes back at once on tmpfs). */
  async free(): Promise<void> {
    await unlink(this.path).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// strace fault injection

/** Whether strace can be run here. */
export function straceAvailable(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** A tracer attached to a running process, injecting errors into some of its system calls. */
export interface Injection {
  /** How many calls got the error so far (lines marked `(INJECTED)` in strace's output). */
  injected(): number;
  /** Detaches (the process goes on, its calls no longer fail). */
  detach(): Promise<void>;
}

/**
 * Attaches strace to every thread of `pid` (`-f -p`; Node does file I/O on its thread pool) and
 * makes `syscalls` fail with `error` from the `when`-th call on (`when=1+`: every call). Data files
 * are written with pwritev/pwrite64 and synced with fdatasync; sockets use writev/write (no `p`),
 * so they keep working. The trace set must include the injected calls: `-e trace=none` silently
 * disables injection.
 */
export async function injectErrors(
  pid: number,
  syscalls: readonly string[],
  options: { error?: string; when?: string; outputPath: string },
): Promise<Injection> {
  const list = syscalls.join(',');
  const tracer = execa(
    'strace',
    [
      '-f',
      '-qq',
      '-o',
      options.outputPath,
      '-e',
      `trace=${list}`,
      '-e',
      `inject=${list}:error=${options.error ?? 'EIO'}:when=${options.when ?? '1+'}`,
      '-p',
      String(pid),
    ],
    { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' },
  );
  let done = false;
  void tracer.then(() => {
    done = true;
  });
  const detach = async (): Promise<void> => {
    if (done) return;
    tracer.kill('SIGTERM');
    await within(tracer, 5000);
    if (!done) tracer.kill('SIGKILL');
    await tracer;
  };
  onCleanup(detach);
  // strace prints nothing on a successful attach with -qq: wait until the threads are attached.
  const deadline = Date.now() + 5000;
  while (!done && Date.now() < deadline) {
    if (tracerOf(pid) !== undefined) break;
    await sleep(20);
  }
  if (done) throw new Error(`strace could not attach to ${pid}: ${String((await tracer).stderr)}`);
  await sleep(100);
  return {
    injected: () => {
      try {
        return readFileSync(options.outputPath, 'utf8').split('(INJECTED)').length - 1;
      } catch {
        return 0;
      }
    },
    detach,
  };
}

/** The pid tracing `pid` (TracerPid in /proc/pid/status), or undefined. */
function tracerOf(pid: number): number | undefined {
  try {
    const match = /TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const tracer = Number(match?.[1] ?? 0);
    return tracer > 0 ? tracer : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster: a master and one broker as child processes

/** How a broker process is started. */
export interface BrokerStartOptions {
  /** Extra environment (e.g. TUBEMQ_LOG_LEVEL). */
  env?: Record<string, string>;
  /**
   * Where its stdout and stderr (its log) go, appended: `{ inDataDir: true }` for
   * `<data-dir>/broker.log`, where `--detach` puts it; `{ path }`; nowhere by default.
   */
  log?: { inDataDir: true } | { path: string };
}

/** A broker process started by {@link FaultCluster}. */
export interface BrokerProcess {
  pid: number;
  port: number;
  child: ResultPromise;
}

/**
 * One master and one broker, each a child process (`tubemq master start`, `tubemq broker start`)
 * with data in its own directory. The broker keeps its port across restarts. The master's data and
 * the logs live under `root`; the broker's data dir may be elsewhere (on a tmpfs).
 */
export class FaultCluster {
  broker: BrokerProcess | undefined;
  private brokerPort = 0;
  private starts = 0;

  private constructor(
    readonly root: string,
    readonly master: Daemon,
    readonly brokerDataDir: string,
    private readonly brokerOptions: BrokerStartOptions,
  ) {}

  /** Starts a master in `root/master` and a broker in `brokerDataDir` (default `root/broker`). */
  static async start(
    root: string,
    options: { brokerDataDir?: string; broker?: BrokerStartOptions } = {},
  ): Promise<FaultCluster> {
    const master = await startMaster(join(root, 'master'));
    onCleanup(async () => {
      await master.stop();
    });
    const cluster = new FaultCluster(
      root,
      master,
      options.brokerDataDir ?? join(root, 'broker'),
      options.broker ?? {},
    );
    onCleanup(() => cluster.killBroker().then(() => undefined));
    await cluster.startBroker();
    return cluster;
  }

  get masters(): string {
    return `127.0.0.1:${this.master.port}`;
  }

  /** Creates a topic of `partitions` partitions on the broker. */
  async createTopic(topic: string, partitions: number): Promise<void> {
    const admin = new Admin({ masters: this.masters });
    try {
      await admin.createTopic(topic, { partitions });
    } finally {
      await admin.close();
    }
  }

  /** Starts the broker (again: same id, port and data dir) and waits until the master lists it online. */
  async startBroker(): Promise<BrokerProcess> {
    if (this.broker !== undefined && isAlive(this.broker.pid)) throw new Error('the broker is running');
    const { env = {}, log } = this.brokerOptions;
    await mkdir(this.brokerDataDir, { recursive: true });
    // A killed broker leaves its ports.json: remove it so only the new process's counts.
    await rm(join(this.brokerDataDir, 'ports.json'), { force: true });
    const logPath =
      log === undefined ? undefined : 'path' in log ? log.path : join(this.brokerDataDir, 'broker.log');
    const args = [
      tubemqBin,
      'broker',
      'start',
      '--broker-id',
      '1',
      '--port',
      String(this.brokerPort),
      '--master',
      this.masters,
      '--data-dir',
      this.brokerDataDir,
    ];
    const output = logPath === undefined ? 'ignore' : { file: logPath, append: true };
    const child = execa(process.execPath, args, {
      reject: false,
      env: { ...cliEnv, ...env },
      extendEnv: true,
      stdin: 'ignore',
      stdout: output,
      stderr: output,
    });
    this.starts++;
    let exited = false;
    void child.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ports = await readPorts(this.brokerDataDir);
      if (ports !== undefined && ports.pid === child.pid && typeof ports.port === 'number') {
        this.brokerPort = ports.port;
        this.broker = { pid: child.pid!, port: ports.port, child };
        break;
      }
      if (exited || Date.now() > deadline) {
        child.kill('SIGKILL');
        await child;
        const tail =
          logPath !== undefined && existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-2000) : '';
        throw new Error(`broker start #${this.starts} failed (exited: ${exited}); log tail:\n${tail}`);
      }
      await sleep(20);
    }
    await this.waitOnline();
    return this.broker;
  }

  /** Waits until the master lists the current broker process online at its port. */
  private async waitOnline(timeoutMs = 15_000): Promise<void> {
    const admin = new Admin({ masters: this.masters, requestTimeoutMs: 2000 });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const brokers = await admin.listBrokers().catch(() => []);
        if (brokers.some((each) => each.state === 'online' && each.port === this.brokerPort)) return;
        if (Date.now() > deadline) throw new Error('the broker did not come online');
        await sleep(25);
      }
    } finally {
      await admin.close();
    }
  }

  /** SIGKILL; resolves once the process is gone (and reaped). No-op when none runs. */
  async killBroker(): Promise<void> {
    const broker = this.broker;
    if (broker === undefined) return;
    signal(broker.pid, 'SIGKILL');
    await broker.child;
  }

  /** SIGTERM (a clean close); SIGKILL after `timeoutMs`. Resolves to the exit code or signal. */
  async stopBroker(timeoutMs = 15_000): Promise<string> {
    const broker = this.broker;
    if (broker === undefined) return 'none';
    signal(broker.pid, 'SIGTERM');
    const result = await within(broker.child, timeoutMs);
    if (result === undefined) {
      signal(broker.pid, 'SIGKILL');
      await broker.child;
      return `killed after ${timeoutMs} ms`;
    }
    return result.signal ?? `exit ${result.exitCode}`;
  }

  /** Whether the broker process is alive. */
  get brokerAlive(): boolean {
    return this.broker !== undefined && isAlive(this.broker.pid);
  }
}

// ---------------------------------------------------------------------------------------------
// Probing and draining

/** What {@link probeBroker} saw. */
export interface ProbeSummary {
  ok: number;
  failed: number;
  /** The longest time one probe waited (ms). */
  slowestMs: number;
  failures: string[];
}

/**
 * Asks the broker for a topic's offsets every `everyMs` (LIST_OFFSETS on one connection, dialled
 * again when it closes), until stopped: does the broker keep answering?
 */
export function probeBroker(
  port: number,
  topic: string,
  partitions: number,
  everyMs = 200,
): { stop(): Promise<ProbeSummary> } {
  const summary: ProbeSummary = { ok: 0, failed: 0, slowestMs: 0, failures: [] };
  let running = true;
  let connection: Connection | undefined;
  const loop = (async () => {
    for (let round = 0; running && round < 100_000; round++) {
      const began = Date.now();
      try {
        connection ??= (
          await dial({ host: '127.0.0.1', port }, { clientId: 'fault-probe', connectTimeoutMs: 2000 })
        ).connection;
        await callJson(
          connection,
          listOffsetsMessage,
          { partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition })) },
          { timeoutMs: 2000 },
        );
        summary.ok++;
      } catch (error) {
        summary.failed++;
        if (summary.failures.length < 5)
          summary.failures.push(`${new Date().toISOString()} ${String(error)}`);
        connection?.close();
        connection = undefined;
      }
      summary.slowestMs = Math.max(summary.slowestMs, Date.now() - began);
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      connection?.close();
      return summary;
    },
  };
}

/** The latest offset of each partition of `topic`, keyed by partition. */
export async function latestOffsets(masters: string, topic: string): Promise<Record<string, number>> {
  const admin = new Admin({ masters, requestTimeoutMs: 5000 });
  try {
    const offsets = await admin.listOffsets(topic);
    return Object.fromEntries(offsets.map((each) => [String(each.partition), each.latest]));
  } finally {
    await admin.close();
  }
}

/** Records the group's committed offsets as read back from the broker (`committed` events). */
export async function recordCommitted(
  history: History,
  masters: string,
  group: string,
  topic: string,
): Promise<void> {
  const admin = new Admin({ masters, requestTimeoutMs: 5000 });
  try {
    for (const row of await admin.groupOffsets(group, topic)) {
      if (row.committed !== null)
        history.record({ type: 'committed', group, topic, partition: row.partition, offset: row.committed });
    }
  } finally {
    await admin.close();
  }
}

/** A client logger that keeps its lines (warn and up) in memory instead of printing them. */
export function collectingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}

/**
 * The final drain: a brand-new group reads every partition of `topic` from earliest up to the
 * latest offset each had when it started, recording every message. Rejects after `timeoutMs` if
 * some partition did not get there (saying where each stood).
 */
export async function drain(
  history: History,
  masters: string,
  topic: string,
  options: { group?: string; timeoutMs?: number; label?: string } = {},
): Promise<{ group: string; messages: number; damagedSkipped: number }> {
  const group = options.group ?? `drain-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const ends = await latestOffsets(masters, topic);
  history.record({ type: 'drain', group, topic, ends });
  const partitions = Object.keys(ends).map(Number);
  const { logger, lines } = collectingLogger();
  const consumer = new Consumer({
    logger,
    masters,
    group,
    topics: [topic],
    partitions: { [topic]: partitions },
    start: 'earliest',
    commit: false,
    maxWaitMs: 100,
    requestTimeoutMs: 5000,
  });
  let messages = 0;
  try {
    await consumer.start();
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const positions = consumer.positions();
      const behind = positions.filter((each) => each.position < ends[String(each.partition)]!);
      if (positions.length === partitions.length && behind.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(
          `the drain did not reach the end: ${behind
            .map((each) => `${each.partition}: ${each.position}/${ends[String(each.partition)]}`)
            .join(', ')}`,
        );
      }
      for (const message of await consumer.poll({ maxMessages: 2000, timeoutMs: 200 })) {
        history.read(group, 'drain', message);
        messages++;
      }
    }
  } catch (error) {
    history.fault('drain-failed', errorFields(error).message ?? String(error));
    throw error;
  } finally {
    await consumer.close();
  }
  // The broker skips records whose CRC fails; the consumer logs how many it was told of.
  const damagedSkipped = lines.reduce(
    (sum, line) => sum + (typeof line.damagedSkipped === 'number' ? line.damagedSkipped : 0),
    0,
  );
  if (damagedSkipped > 0)
    history.fault('damaged-skipped', `${damagedSkipped} records skipped as damaged by ${group}`);
  return { group, messages, damagedSkipped };
}

/**
 * What a disk fault (full, EIO) must not cause, judged after a restart: an acked message missing,
 * an offset given to two messages, a message handed to a reader and gone later, foreign bytes.
 */
export const diskFaultKinds = [
  'lost',
  'offsetReuse',
  'phantom',
  'unexpected',
  'corrupted',
] as const satisfies readonly (keyof HistoryCounts)[];

/**
 * The end of every fault test: a brand-new group drains the topic, the checker judges the whole
 * history, and the counts go out as one TAP diagnostic line (`# sent … lost 0 …`) followed by the
 * examples of each violation among `kinds`. Resolves to the report and every failure: `failed`
 * (what the test found itself) plus one line per kind whose count is not zero.
 */
export async function finalVerdict(
  t: { diagnostic(message: string): void },
  history: History,
  masters: string,
  topic: string,
  kinds: readonly (keyof HistoryCounts)[],
  failed: readonly string[] = [],
): Promise<{ report: HistoryReport; failures: string[] }> {
  const began = Date.now();
  const drained = await drain(history, masters, topic);
  t.diagnostic(
    `final drain: ${drained.messages} messages in ${Date.now() - began} ms, ` +
      `${drained.damagedSkipped} skipped by the broker as damaged`,
  );
  history.close();
  const report = checkHistory(history.events);
  t.diagnostic(formatCounts(report.counts));
  const sendErrors: Record<string, number> = {};
  for (const event of history.events) {
    if (event.type !== 'fail') continue;
    const label = event.code === undefined ? event.name : `${event.name} ${event.code}`;
    sendErrors[label] = (sendErrors[label] ?? 0) + 1;
  }
  if (report.counts.failed > 0) t.diagnostic(`failed sends by error: ${JSON.stringify(sendErrors)}`);
  for (const line of formatViolations(report, kinds).split('\n').filter(Boolean)) t.diagnostic(line);
  const failures = [
    ...failed,
    ...kinds.filter((kind) => report.counts[kind] !== 0).map((kind) => `${kind} ${report.counts[kind]}`),
  ];
  for (const line of failures) t.diagnostic(`failed: ${line}`);
  return { report, failures };
}

/**
 * A consumer group (`live`) reading `topic` from earliest in the background, recording every
 * message and committing explicitly (see {@link consumeWhile}): what it is handed during a fault
 * must survive it. `stop()` ends the loop and closes the consumer.
 */
export function startLiveGroup(
  history: History,
  masters: string,
  topic: string,
  group = 'live',
): { stop(): Promise<void> } {
  const consumer = new Consumer({
    masters,
    group,
    topics: [topic],
    start: 'earliest',
    autoCommit: false,
    maxWaitMs: 100,
    requestTimeoutMs: 5000,
    logger: collectingLogger().logger,
  });
  let running = true;
  const reading = consumeWhile(history, consumer, group, () => running).catch((error: unknown) => {
    history.fault('live-group-failed', String(error));
  });
  return {
    stop: async () => {
      running = false;
      await within(reading, 20_000);
      await consumer.close();
    },
  };
}

/**
 * While a fault lasts: a fresh group reads the topic to its end, and this says how many of the
 * messages acked so far it was handed (all of them, if reads keep working).
 */
export async function readBackAcked(
  history: History,
  masters: string,
  topic: string,
): Promise<{ acked: number; readable: number; damagedSkipped: number; error?: string }> {
  const acked = new Set(
    history.events.flatMap((event) => (event.type === 'ack' ? [payloadId(event.producer, event.seq)] : [])),
  );
  try {
    const { group, damagedSkipped } = await drain(history, masters, topic, { timeoutMs: 15_000 });
    const read = new Set(
      history.events.flatMap((event) =>
        event.type === 'read' && event.group === group ? [event.payloadId] : [],
      ),
    );
    return { acked: acked.size, readable: [...acked].filter((id) => read.has(id)).length, damagedSkipped };
  } catch (error) {
    return { acked: acked.size, readable: 0, damagedSkipped: 0, error: String(error) };
  }
}

/** Failed expectations of a test, gathered so one run reports all of them rather than the first. */
export class Expectations {
  readonly failures: string[] = [];

  expect(ok: boolean, what: string): void {
    if (!ok) this.failures.push(what);
  }
}
