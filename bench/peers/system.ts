// What the peers suite (bench/peers.ts) needs of each system it measures, and the process plumbing
// the adapters share: free ports, finding a server binary, starting it, waiting for its port and
// stopping it by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export type SystemName = 'tubemq' | 'nats' | 'redis';
export const systemNames: readonly SystemName[] = ['tubemq', 'nats', 'redis'];

/** `default`: each system's default durable ack level; `fsync`: every ack after an fsync. */
export type ServerMode = 'default' | 'fsync';

/** Thrown when a system cannot run a workload at all (not a failure: the table says why). */
export class Unsupported extends Error {}

/** A timed run: how many messages, in how long, and the client's CPU meanwhile. */
export interface Timing {
  messages: number;
  seconds: number;
  clientCpuSeconds: number;
}

/** Latencies in ms, one per message (ack or produce→consume), and how many messages per second went. */
export interface LatencyRun {
  latenciesMs: Float64Array;
  messages: number;
  seconds: number;
}

export interface ProduceJob {
  /** Sent round-robin: message i goes to topics[i % topics.length]. */
  topics: readonly string[];
  messages: number;
  value: Buffer;
  /** When set, message i carries stream id `s<i % streamCount>` (tubemq streamId, NATS subject, Redis field). */
  streamCount?: number;
}

/** One system behind the common workloads. Every method throws on failure; the runner records it. */
export interface PeerSystem {
  readonly name: SystemName;
  /** The server's version line, once started. */
  version: string;
  /** The pid whose CPU and RSS count as the server's (tubemq: the broker). */
  serverPid(): number;
  /** Other server processes reported beside it (tubemq: the master). */
  otherPids(): Record<string, number>;
  /** Starts the server(s) with data under `dataDir`. */
  start(mode: ServerMode, dataDir: string): Promise<void>;
  /** Stops the server(s) by pid; safe to call twice or after a failed start. */
  stop(): Promise<void>;
  /**
   * Topic layouts this system has for the 1,000-topic workload; the first one is its figure, the
   * others are reported beside it (NATS: 1,000 streams, and 1,000 subjects of one stream).
   */
  readonly layouts: readonly string[];
  /** Creates topics (streams) named `names`; `layout` as in {@link layouts}. Untimed. */
  createTopics(names: readonly string[], layout?: string): Promise<void>;
  /**
   * Produces as fast as the client's recommended pipelining allows; resolves once all are
   * acknowledged. First, untimed, one message (stream id s0) per topic connects and warms up, so
   * the topics hold `messages + topics.length` messages afterwards.
   */
  produce(job: ProduceJob): Promise<Timing>;
  /** Reads `expected` messages of `topic` from the start as consumer group `group`, acknowledging them. */
  consume(topic: string, group: string, expected: number): Promise<Timing>;
  /** Reads the `expected` messages of stream id `streamId` of `topic` (filtered where the system can). */
  consumeFiltered(topic: string, streamId: string, group: string, expected: number): Promise<Timing>;
  /** Paced produce at `rate` msg/s with a consumer tailing the topic; latencies of the measured part. */
  latency(topic: string, rate: number, warmupSeconds: number, seconds: number): Promise<LatencyRun>;
  /** `producers` concurrent clients, each sending one message and awaiting its ack, for `seconds`. */
  fsyncProduce(topic: string, producers: number, seconds: number): Promise<LatencyRun>;
  /** A line on how this system ran each workload, for the notes under the table. */
  readonly notes: Record<string, string>;
}

/** CPU seconds of this process since `start`. */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A port free right now on 127.0.0.1 (the server binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Where a server's executable is (PATH, then the sbin dirs Debian installs servers into), or what to
 * install: the Debian package is named like the executable for every server this bench runs.
 */
export function locateServer(binary: string): { binary: string } | { missing: string } {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, binary);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return { binary: candidate };
    } catch {
      // Not here.
    }
  }
  return { missing: `${binary} not found: \`apt-get install -y ${binary}\`` };
}

/** Every server child this process started and has not yet seen exit: killed on SIGINT or exit. */
export const liveChildren = new Set<ChildProcess>();

/** Spawns a server; its output goes to `logFile`, so a failed start can quote it. */
export function spawnServer(binary: string, args: string[], logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** Resolves once `port` accepts a TCP connection; throws (with the log's tail) if the child exits first. */
export async function waitForPort(child: ChildProcess, port: number, logFile: string): Promise<void> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = fs.existsSync(logFile)
        ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-3)
        : [];
      throw new Error(
        `exited with ${child.exitCode ?? child.signalCode} before listening: ${tail.join(' | ')}`,
      );
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`did not listen on ${port} within 20 s`);
}

/** SIGTERM by pid, SIGKILL after 10 s; resolves once the process exited. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Runs `task(i)` for i in 0..total-1 with at most `window` unsettled at once, in order of i. */
export async function windowed(
  total: number,
  window: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  const inFlight = new Array<Promise<unknown>>(Math.min(window, total));
  for (let i = 0; i < total; i++) {
    const slot = i % window;
    if (i >= window) await inFlight[slot];
    inFlight[slot] = task(i);
  }
  await Promise.all(inFlight);
}

/**
 * Calls `send(i, stamp)` at `rate` per second for warm-up plus measured seconds (stamp 0 during
 * warm-up, else the send time in ms), ticking every ms; resolves with how many measured sends went.
 */
export async function paced(
  rate: number,
  warmupSeconds: number,
  seconds: number,
  send: (i: number, stamp: number) => void,
): Promise<number> {
  const warmup = Math.round(rate * warmupSeconds);
  const total = warmup + Math.round(rate * seconds);
  const startedAt = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - startedAt) / 1000) * rate));
    for (; sent < due; sent++) send(sent, sent >= warmup ? performance.now() : 0);
    await sleep(1);
  }
  return total - warmup;
}

/** A 1 KiB (or `bytes`) value stamped with `stamp` in its first 8 bytes. */
export function stampedValue(bytes: number, stamp: number): Buffer {
  const value = Buffer.alloc(bytes, 0x61);
  value.writeDoubleLE(stamp, 0);
  return value;
}

/** Runs `producers` loops of send-and-await for `seconds`; each ack's latency in ms. */
export async function closedLoop(
  producers: number,
  seconds: number,
  sendOne: (producer: number) => Promise<unknown>,
): Promise<LatencyRun> {
  const latencies: number[] = [];
  const startedAt = performance.now();
  const endAt = startedAt + seconds * 1000;
  await Promise.all(
    Array.from({ length: producers }, async (_, producer) => {
      while (performance.now() < endAt) {
        const sentAt = performance.now();
        await sendOne(producer);
        latencies.push(performance.now() - sentAt);
      }
    }),
  );
  return {
    latenciesMs: Float64Array.from(latencies),
    messages: latencies.length,
    seconds: (performance.now() - startedAt) / 1000,
  };
}

/** `promise`, or a rejection naming `what` after `ms` (a stalled client is a failure, not a hang). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
