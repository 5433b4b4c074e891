// Storage engine benchmark (`npm run bench -- storage [--quick] [--json FILE] [--only S,..] [--reps N]`).
//
// Every engine figure is printed beside a baseline measured in the same run on the same disk:
// plain Node `fs` appends and reads of the same bytes in the same sizes. Targets are the issue's;
// a missed target is reported, never thrown. Data lives in a temp dir removed at the end.
//
//   --quick        smaller sizes and 1 run per figure, for a smoke run (~1 minute)
//   --json FILE    where the JSON result goes (default: <tmpdir>/tubemq-bench-storage-<time>.json)
//   --only S,...   sections to run: append, fsync, read, seek, memory (default: all)
//   --reps N       runs of each paired figure (default 3, quick 1); the table shows the median
import { fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StorageEngine, type AckLevel, type MessageInput, type StorageStats } from '../src/storage/index.js';
import {
  atLeast,
  atMost,
  cpuMeter,
  formatNumber,
  machineFacts,
  meanCpu,
  median,
  percentile,
  printFigures,
  printMachine,
  Samples,
  verdict,
  type CpuUse,
  type Figure,
  type Target,
} from './report.js';
import type { MemoryChildConfig, MemoryChildResult } from './storage-memory-child.js';
import {
  appendRetrying,
  countingLogger,
  drive,
  makeBatch,
  type AppendCounters,
  type CountingLogger,
} from './workload.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Throughputs are in MB (10^6 bytes) per second, like research/peers-baseline.md. */
const MB = 1e6;

const sections = ['append', 'fsync', 'read', 'seek', 'memory'] as const;
type Section = (typeof sections)[number];

interface Sizes {
  /** Message values written by each append figure. */
  appendBytes: number;
  topics: number;
  partitionsPerTopic: number;
  concurrentAppenders: number;
  fsyncAppenders: number;
  fsyncSeconds: number;
  fsyncWarmupSeconds: number;
  readBytes: number;
  /** Messages in the seek partition, and the far offset read. */
  seekMessages: number;
  seekFarOffset: number;
  seekReads: number;
  memoryBytes: number;
  /** Runs of each paired throughput figure (engine and its baseline, interleaved). */
  reps: number;
}

const fullSizes: Sizes = {
  appendBytes: 1 * GiB,
  topics: 1000,
  partitionsPerTopic: 3,
  concurrentAppenders: 8,
  fsyncAppenders: 64,
  fsyncSeconds: 10,
  fsyncWarmupSeconds: 1,
  readBytes: 1 * GiB,
  seekMessages: 10_010_000,
  seekFarOffset: 10_000_000,
  seekReads: 200,
  memoryBytes: 2 * GiB,
  reps: 3,
};

const quickSizes: Sizes = {
  ...fullSizes,
  appendBytes: 128 * MiB,
  fsyncSeconds: 2,
  fsyncWarmupSeconds: 0.3,
  readBytes: 128 * MiB,
  seekMessages: 1_010_000,
  seekFarOffset: 1_000_000,
  memoryBytes: 256 * MiB,
  reps: 1,
};

const appendBatchMessages = 100;
const appendValueBytes = 1 * KiB;
const fetchBytes = 1 * MiB;
const seekBatchMessages = 1000;
const seekValueBytes = 16;
const seekWindow = 1000;
const rssTargetMiB = 300;

/** Progress goes to stderr so stdout holds the table only. */
const progress = (line: string) => process.stderr.write(`  ${line}\n`);

interface Context {
  root: string;
  sizes: Sizes;
  logger: CountingLogger;
  figures: Figure[];
  notes: string[];
  counter: number;
}

/** A fresh directory under the run's temp root. */
function freshDir(context: Context, name: string): string {
  const dir = path.join(context.root, `${name}-${context.counter++}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** 2 GiB, 256 MiB. */
const sizeText = (bytes: number) =>
  bytes >= GiB ? `${formatNumber(bytes / GiB)} GiB` : `${formatNumber(bytes / MiB)} MiB`;

const seconds = (since: number) => (performance.now() - since) / 1000;

/** How long something took and how much CPU was busy meanwhile. */
interface Timed {
  seconds: number;
  cpu: CpuUse;
}

/** Times `work` with a CPU meter around exactly the timed part. */
async function timed(work: () => Promise<void>): Promise<Timed> {
  const stop = cpuMeter();
  const started = performance.now();
  await work();
  const elapsed = seconds(started);
  return { seconds: elapsed, cpu: stop() };
}

/** One figure's values over the runs, with the CPU use of each run. */
class Series {
  readonly values: number[] = [];
  readonly cpu: CpuUse[] = [];

  add(value: number, cpu?: CpuUse): number {
    this.values.push(value);
    if (cpu) this.cpu.push(cpu);
    return value;
  }

  figure(name: string, metric: string, extra: Partial<Figure> = {}): Figure {
    return {
      name,
      metric,
      value: median(this.values),
      runs: [...this.values],
      ...(this.cpu.length > 0 ? { cpu: meanCpu(this.cpu) } : {}),
      ...extra,
    };
  }

  ratio(name: string, target?: Target): Figure {
    return this.figure(name, 'ratio', { format: 'percent', ...(target ? { target } : {}) });
  }
}

function openFileCount(): number | undefined {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// 1-3: appends

/** The naive Node program: open, then one awaited callback `fs.writev` per batch. */
async function rawAppendWritev(file: string, values: Buffer[], batches: number): Promise<Timed> {
  const fd = fs.openSync(file, 'w');
  const result = await timed(async () => {
    for (let i = 0; i < batches; i++) {
      await new Promise<void>((resolve, reject) =>
        fs.writev(fd, values, (error) => (error ? reject(error) : resolve())),
      );
    }
  });
  fs.closeSync(fd);
  return result;
}

/** The same with the promise API: one awaited `FileHandle.writev` per batch. */
async function rawAppendFileHandle(file: string, values: Buffer[], batches: number): Promise<Timed> {
  const handle = await fs.promises.open(file, 'w');
  const result = await timed(async () => {
    for (let i = 0; i < batches; i++) await handle.writev(values);
  });
  await handle.close();
  return result;
}

/** Info only: a fresh buffer per batch (Buffer.concat of the values, then one awaited fs.write), as a
 * program that frames each batch would do; shows what fresh memory costs next to reused buffers. */
async function rawAppendConcat(file: string, values: Buffer[], batches: number): Promise<Timed> {
  const fd = fs.openSync(file, 'w');
  const result = await timed(async () => {
    for (let i = 0; i < batches; i++) {
      const joined = Buffer.concat(values);
      await new Promise<void>((resolve, reject) =>
        fs.write(fd, joined, (error) => (error ? reject(error) : resolve())),
      );
    }
  });
  fs.closeSync(fd);
  return result;
}

interface EngineAppendRun extends Timed {
  /** Opening the engine and creating the topics. */
  setupSeconds: number;
  /** The untimed first append (1 message) to every partition, which creates its files. */
  primeSeconds: number;
  /** Descriptors this process held once every partition had its files. */
  openFiles: number | undefined;
  busy: number;
  stats: StorageStats;
}

/**
 * Opens a fresh engine, creates `topics` topics of `partitions` partitions (1 store each),
 * appends one 1-message batch to every partition (untimed: a partition's first append creates
 * its segment files and syncs their directory, a one-off cost reported apart), then times
 * `batches` batches round-robin (batch i goes to topic i mod topics, partition
 * floor(i / topics) mod partitions) from `appenders` concurrent loops, and closes it.
 */
async function engineAppend(
  context: Context,
  options: {
    topics: number;
    partitions: number;
    appenders: number;
    batches: number;
    messages: readonly MessageInput[];
    acks: AckLevel;
  },
): Promise<EngineAppendRun> {
  const dir = freshDir(context, 'append');
  const setupStarted = performance.now();
  const engine = await StorageEngine.open({ dataDir: dir, logger: context.logger });
  const names = Array.from({ length: options.topics }, (_, i) => `t${String(i).padStart(5, '0')}`);
  for (const name of names) await engine.createTopic(name, { partitions: options.partitions, stores: 1 });
  const setupSeconds = seconds(setupStarted);
  const counters: AppendCounters = { busy: 0 };
  const primeStarted = performance.now();
  const first = options.messages.slice(0, 1);
  for (const name of names) {
    for (let partition = 0; partition < options.partitions; partition++)
      await appendRetrying(engine, name, partition, first, options.acks, counters);
  }
  const primeSeconds = seconds(primeStarted);
  const openFiles = openFileCount();
  const run = await timed(() =>
    drive(options.appenders, options.batches, (i) =>
      appendRetrying(
        engine,
        names[i % options.topics]!,
        Math.floor(i / options.topics) % options.partitions,
        options.messages,
        options.acks,
        counters,
      ),
    ),
  );
  const stats = engine.stats();
  await engine.close();
  removeDir(dir);
  return { ...run, setupSeconds, primeSeconds, openFiles, busy: counters.busy, stats };
}

async function appendSection(context: Context): Promise<void> {
  const { sizes } = context;
  const { messages, values } = makeBatch(appendBatchMessages, appendValueBytes);
  const batchBytes = appendBatchMessages * appendValueBytes;
  const batches = Math.round(sizes.appendBytes / batchBytes);
  const totalBytes = batches * batchBytes;
  const rate = (run: Timed) => totalBytes / MB / run.seconds;
  const n = sizes.concurrentAppenders;
  const needed = sizes.topics * (1 + sizes.partitionsPerTopic) + 64;
  const limit = machineFacts(context.root).openFilesLimit ?? 0;
  if (limit < needed) {
    context.notes.push(
      `open files limit ${limit} is below the ~${needed} the ${sizes.topics}-topic figure needs; expect EMFILE`,
    );
  }

  const series = {
    writev: new Series(),
    fileHandle: new Series(),
    concat: new Series(),
    one1: new Series(),
    oneN: new Series(),
    many1: new Series(),
    manyN: new Series(),
    ratioOne1: new Series(),
    ratioOneN: new Series(),
    ratioMany1: new Series(),
    ratioManyN: new Series(),
    setup: new Series(),
    prime: new Series(),
  };
  let busy = 0;
  let stats: StorageStats | undefined;
  let openFiles: number | undefined;
  const one = (appenders: number) =>
    engineAppend(context, { topics: 1, partitions: 1, appenders, batches, messages, acks: 'written' });
  const many = (appenders: number) =>
    engineAppend(context, {
      topics: sizes.topics,
      partitions: sizes.partitionsPerTopic,
      appenders,
      batches,
      messages,
      acks: 'written',
    });
  const raw = async (append: typeof rawAppendWritev) => {
    const dir = freshDir(context, 'raw');
    const result = await append(path.join(dir, 'raw.data'), values, batches);
    removeDir(dir);
    return result;
  };
  for (let rep = 1; rep <= sizes.reps; rep++) {
    const tag = `append run ${rep}/${sizes.reps}:`;
    const writev = await raw(rawAppendWritev);
    const fileHandle = await raw(rawAppendFileHandle);
    const baseline = Math.max(
      series.writev.add(rate(writev), writev.cpu),
      series.fileHandle.add(rate(fileHandle), fileHandle.cpu),
    );
    const concat = await raw(rawAppendConcat);
    series.concat.add(rate(concat), concat.cpu);
    progress(
      `${tag} raw fs.writev ${formatNumber(rate(writev))} MB/s, FileHandle.writev ${formatNumber(rate(fileHandle))} MB/s, ` +
        `fresh buffer per batch ${formatNumber(rate(concat))} MB/s`,
    );
    const one1 = await one(1);
    const oneN = await one(n);
    progress(
      `${tag} engine 1 topic: 1 appender ${formatNumber(rate(one1))} MB/s, ` +
        `${n} appenders ${formatNumber(rate(oneN))} MB/s`,
    );
    const many1 = await many(1);
    const manyN = await many(n);
    progress(
      `${tag} engine ${sizes.topics} topics: 1 appender ${formatNumber(rate(many1))} MB/s, ` +
        `${n} appenders ${formatNumber(rate(manyN))} MB/s (create topics ${formatNumber(many1.setupSeconds)} s, ` +
        `first append to each partition ${formatNumber(many1.primeSeconds)} s)`,
    );
    series.ratioOne1.add(series.one1.add(rate(one1), one1.cpu) / baseline);
    series.ratioOneN.add(series.oneN.add(rate(oneN), oneN.cpu) / baseline);
    series.ratioMany1.add(series.many1.add(rate(many1), many1.cpu) / rate(one1));
    series.ratioManyN.add(series.manyN.add(rate(manyN), manyN.cpu) / rate(oneN));
    for (const each of [many1, manyN]) {
      series.setup.add(each.setupSeconds);
      series.prime.add(each.primeSeconds);
    }
    busy += one1.busy + oneN.busy + many1.busy + manyN.busy;
    stats = oneN.stats;
    openFiles = many1.openFiles;
  }

  const size = `${sizeText(totalBytes)} as ${formatNumber(batches)} batches of ${appendBatchMessages} x 1 KiB`;
  const topics = `${sizes.topics} topics x ${sizes.partitionsPerTopic} partitions round-robin`;
  context.figures.push(
    series.writev.figure('1. raw append, callback fs.writev, 1 awaited writer', 'MB/s', {
      note: `baseline: ${size} (the same 100 value buffers each time), no fsync; MB/s of message values`,
    }),
    series.fileHandle.figure('1. raw append, FileHandle.writev, 1 awaited writer', 'MB/s'),
    series.concat.figure('1. raw append, fresh Buffer.concat per batch + fs.write (info only)', 'MB/s', {
      note: 'not a baseline: shows what allocating (page-faulting) 100 KiB per batch costs on this machine',
    }),
    series.one1.figure('2. engine append, 1 topic, 1 appender, written acks', 'MB/s'),
    series.ratioOne1.ratio('2.   1 appender: ratio to the faster raw baseline', atLeast(0.6, '>= 60%')),
    series.oneN.figure(`2. engine append, 1 topic, ${n} appenders, written acks`, 'MB/s'),
    series.ratioOneN.ratio(`2.   ${n} appenders: ratio to the faster raw baseline`, atLeast(0.6, '>= 60%')),
    series.many1.figure(`3. engine append, ${topics}, 1 appender`, 'MB/s'),
    series.ratioMany1.ratio('3.   1 appender: ratio to 1 topic, 1 appender', atLeast(0.8, '>= 80%')),
    series.manyN.figure(`3. engine append, ${topics}, ${n} appenders`, 'MB/s'),
    series.ratioManyN.ratio(`3.   ${n} appenders: ratio to 1 topic, ${n} appenders`, atLeast(0.8, '>= 80%')),
    series.setup.figure(
      `3. create ${sizes.topics} topics x ${sizes.partitionsPerTopic} partitions (untimed above)`,
      's',
    ),
    series.prime.figure(
      `3. first 1-message append to each of the ${sizes.topics * sizes.partitionsPerTopic} partitions (untimed above)`,
      's',
      {
        note: "a partition's first append creates its data and index segment files (and syncs the directory)",
      },
    ),
  );
  context.notes.push(
    `${sizes.topics} topics x ${sizes.partitionsPerTopic} partitions: the process held ${openFiles ?? '?'} open files ` +
      `(~1 data segment + ${sizes.partitionsPerTopic} index segments per topic); open files limit ${limit}`,
  );
  if (busy > 0) context.notes.push(`append: ${busy} appends got BUSY (419) and were retried after 1 ms`);
  if (stats) {
    context.notes.push(
      `append, 1 topic, ${n} appenders: ${stats.flushes} cache flushes for ${batches} batches ` +
        `(${formatNumber(batches / Math.max(1, stats.flushes))} batches per write), ${stats.syncs} syncs`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 4: fsync acks with group commit

async function fsyncSection(context: Context): Promise<void> {
  const { sizes } = context;
  const dir = freshDir(context, 'fsync');
  const engine = await StorageEngine.open({ dataDir: dir, logger: context.logger });
  for (const batchMessages of [1, 10]) {
    const topic = `fsync-${batchMessages}`;
    await engine.createTopic(topic, { partitions: 1, stores: 1 });
    const { messages } = makeBatch(batchMessages, appendValueBytes);
    const counters: AppendCounters = { busy: 0 };
    const runFor = async (durationSeconds: number, latencies: Samples | undefined) => {
      const deadline = performance.now() + durationSeconds * 1000;
      let appended = 0;
      const run = await timed(async () => {
        await Promise.all(
          Array.from({ length: sizes.fsyncAppenders }, async () => {
            while (performance.now() < deadline) {
              const sent = performance.now();
              await appendRetrying(engine, topic, 0, messages, 'fsync', counters);
              latencies?.push(performance.now() - sent);
              appended++;
            }
          }),
        );
      });
      return { ...run, batches: appended };
    };
    await runFor(sizes.fsyncWarmupSeconds, undefined);
    const before = engine.stats();
    const latencies = new Samples();
    const run = await runFor(sizes.fsyncSeconds, latencies);
    const after = engine.stats();
    const ascending = latencies.sorted();
    const rate = (run.batches * batchMessages) / run.seconds;
    const syncs = after.syncs - before.syncs;
    const p = (q: number) => percentile(ascending, q);
    progress(
      `fsync ${batchMessages}-message batches: ${formatNumber(rate)} msg/s, p50 ${formatNumber(p(50))} ms, ` +
        `p99 ${formatNumber(p(99))} ms, ${syncs} syncs`,
    );
    context.figures.push(
      {
        name: `4. fsync acks, ${sizes.fsyncAppenders} appenders, ${batchMessages}-message batches of 1 KiB`,
        metric: 'msg/s',
        value: rate,
        target: atLeast(20_000, '>= 20,000'),
        cpu: run.cpu,
        note: `${formatNumber(run.seconds)} s after ${sizes.fsyncWarmupSeconds} s of warm-up; latency from append() to its ack`,
      },
      { name: `4.   ack latency, ${batchMessages}-message batches`, metric: 'p50 ms', value: p(50) },
      {
        name: `4.   ack latency, ${batchMessages}-message batches`,
        metric: 'p99 ms',
        value: p(99),
        target: atMost(10, '<= 10'),
      },
      { name: `4.   ack latency, ${batchMessages}-message batches`, metric: 'p99.9 ms', value: p(99.9) },
      {
        name: `4.   ack latency, ${batchMessages}-message batches`,
        metric: 'max ms',
        value: ascending.at(-1) ?? Number.NaN,
      },
      {
        name: '4.   batches acked per sync (group commit)',
        metric: 'batches',
        value: syncs > 0 ? run.batches / syncs : Number.NaN,
      },
    );
    if (counters.busy > 0) context.notes.push(`fsync ${batchMessages}: ${counters.busy} BUSY retries`);
  }
  await engine.close();
  removeDir(dir);
}

// ---------------------------------------------------------------------------------------------
// 5: reads

/** Drops files' pages from the page cache (sync, then posix_fadvise DONTNEED through GNU dd). */
function dropFromPageCache(files: readonly string[]): boolean {
  if (spawnSync('sync', [...files]).status !== 0) return false;
  let ok = true;
  for (const file of files) {
    const result = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    ok &&= result.status === 0;
  }
  return ok;
}

function filesUnder(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => path.join(dir, name));
}

interface ReadRun extends Timed {
  bytes: number;
  fetches: number;
}

/** The naive reader: 1 MiB callback `fs.read`s, awaited one after another, over each file in turn. */
async function rawRead(files: readonly string[], reuseBuffer: boolean): Promise<ReadRun> {
  let bytes = 0;
  let fetches = 0;
  let buffer = Buffer.allocUnsafe(fetchBytes);
  const run = await timed(async () => {
    for (const file of files) {
      const fd = fs.openSync(file, 'r');
      for (let position = 0; ;) {
        if (!reuseBuffer) buffer = Buffer.allocUnsafe(fetchBytes);
        const count = await new Promise<number>((resolve, reject) =>
          fs.read(fd, buffer, 0, fetchBytes, position, (error, read) =>
            error ? reject(error) : resolve(read),
          ),
        );
        if (count === 0) break;
        position += count;
        bytes += count;
        fetches++;
      }
      fs.closeSync(fd);
    }
  });
  return { ...run, bytes, fetches };
}

/** Reads the whole partition through `readRaw` in 1 MiB fetches, one awaited after another. */
async function engineRead(engine: StorageEngine, topic: string, end: number): Promise<ReadRun> {
  let bytes = 0;
  let fetches = 0;
  const run = await timed(async () => {
    for (let offset = 0; offset < end;) {
      const result = await engine.readRaw(topic, 0, offset, { maxBytes: fetchBytes });
      for (const chunk of result.chunks) bytes += chunk.length;
      offset = result.nextOffset;
      fetches++;
    }
  });
  return { ...run, bytes, fetches };
}

async function readSection(context: Context): Promise<void> {
  const { sizes } = context;
  const dir = freshDir(context, 'read');
  const topic = 'read';
  const open = () => StorageEngine.open({ dataDir: dir, logger: context.logger });
  let engine = await open();
  await engine.createTopic(topic, { partitions: 1, stores: 1 });
  const { messages } = makeBatch(appendBatchMessages, appendValueBytes);
  const batches = Math.round(sizes.readBytes / (appendBatchMessages * appendValueBytes));
  const counters: AppendCounters = { busy: 0 };
  await drive(sizes.concurrentAppenders, batches, () =>
    appendRetrying(engine, topic, 0, messages, 'written', counters),
  );
  const end = engine.latestOffset(topic, 0);
  await engine.close();
  const storeDir = path.join(dir, 'topics', topic, 'store-0');
  const dataFiles = filesUnder(storeDir, '.data');
  const allFiles = [...dataFiles, ...filesUnder(storeDir, '.index')];

  const series = {
    coldRaw: new Series(),
    coldEngine: new Series(),
    coldRatio: new Series(),
    warmRawReuse: new Series(),
    warmRawFresh: new Series(),
    warmFirstEngine: new Series(),
    warmFirstRatio: new Series(),
    warmEngine: new Series(),
    warmRatio: new Series(),
  };
  let canDrop = true;
  let fileBytes = 0;
  let fetches = 0;
  const rate = (run: ReadRun) => run.bytes / MB / run.seconds;
  for (let rep = 1; rep <= sizes.reps; rep++) {
    // A freshly opened engine has read nothing yet (whatever it may remember of earlier reads).
    engine = await open();
    canDrop &&= dropFromPageCache(allFiles);
    const coldEngine = await engineRead(engine, topic, end);
    await engine.close();
    canDrop &&= dropFromPageCache(allFiles);
    const coldRaw = await rawRead(dataFiles, true);
    // Everything has been read once now: the page cache holds it.
    engine = await open();
    const warmFirstEngine = await engineRead(engine, topic, end);
    const warmEngine = await engineRead(engine, topic, end);
    await engine.close();
    const warmRawReuse = await rawRead(dataFiles, true);
    const warmRawFresh = await rawRead(dataFiles, false);
    if (coldEngine.bytes !== coldRaw.bytes) {
      context.notes.push(
        `read: engine returned ${coldEngine.bytes} bytes, the data files hold ${coldRaw.bytes}`,
      );
    }
    fileBytes = coldRaw.bytes;
    fetches = warmEngine.fetches;
    const warmRaw = Math.max(
      series.warmRawReuse.add(rate(warmRawReuse), warmRawReuse.cpu),
      series.warmRawFresh.add(rate(warmRawFresh), warmRawFresh.cpu),
    );
    series.coldRatio.add(
      series.coldEngine.add(rate(coldEngine), coldEngine.cpu) /
        series.coldRaw.add(rate(coldRaw), coldRaw.cpu),
    );
    series.warmFirstRatio.add(
      series.warmFirstEngine.add(rate(warmFirstEngine), warmFirstEngine.cpu) / warmRaw,
    );
    series.warmRatio.add(series.warmEngine.add(rate(warmEngine), warmEngine.cpu) / warmRaw);
    progress(
      `read run ${rep}/${sizes.reps}: cold raw ${formatNumber(rate(coldRaw))} MB/s, engine ${formatNumber(rate(coldEngine))}; ` +
        `warm raw ${formatNumber(rate(warmRawReuse))} (fresh buffers ${formatNumber(rate(warmRawFresh))}), ` +
        `engine first pass ${formatNumber(rate(warmFirstEngine))}, second ${formatNumber(rate(warmEngine))}`,
    );
  }
  removeDir(dir);

  const cold = canDrop ? 'cold (pages dropped)' : 'cold-ish (page drop failed)';
  context.figures.push(
    series.coldRaw.figure(`5. read ${cold}: raw fs.read 1 MiB, 1 awaited reader`, 'MB/s', {
      note:
        `${sizeText(fileBytes)} of data files (${formatNumber(end)} records of 1 KiB); MB/s of file bytes; ` +
        'pages dropped with posix_fadvise(DONTNEED) (dd iflag=nocache) after sync',
    }),
    series.coldEngine.figure(`5. read ${cold}: engine readRaw 1 MiB, just opened`, 'MB/s'),
    series.coldRatio.ratio('5.   ratio cold', atLeast(0.7, '>= 70%')),
    series.warmRawReuse.figure('5. read warm (page cache): raw fs.read 1 MiB, reused buffer', 'MB/s'),
    series.warmRawFresh.figure('5. read warm (page cache): raw fs.read 1 MiB, fresh buffer each', 'MB/s'),
    series.warmFirstEngine.figure('5. read warm: engine readRaw 1 MiB, first pass after reopening', 'MB/s'),
    series.warmFirstRatio.ratio('5.   ratio to the faster raw (no target)'),
    series.warmEngine.figure('5. read warm: engine readRaw 1 MiB, second pass, same engine', 'MB/s'),
    series.warmRatio.ratio('5.   ratio warm to the faster raw', atLeast(0.7, '>= 70%')),
  );
  context.notes.push(`read: ${fetches} readRaw fetches per pass (maxBytes 1 MiB, default maxMessages)`);
}

// ---------------------------------------------------------------------------------------------
// 5b: reading at offset 0 vs offset 10M

async function seekSection(context: Context): Promise<void> {
  const { sizes } = context;
  const dir = freshDir(context, 'seek');
  const topic = 'seek';
  const engine = await StorageEngine.open({ dataDir: dir, logger: context.logger });
  await engine.createTopic(topic, { partitions: 1, stores: 1 });
  const { messages } = makeBatch(seekBatchMessages, seekValueBytes);
  const batches = Math.ceil(sizes.seekMessages / seekBatchMessages);
  const counters: AppendCounters = { busy: 0 };
  const build = await timed(async () => {
    await drive(4, batches, () => appendRetrying(engine, topic, 0, messages, 'written', counters));
    await engine.flush();
  });
  const total = engine.latestOffset(topic, 0);
  progress(`seek: built ${formatNumber(total)} messages in ${formatNumber(build.seconds)} s`);

  const far = sizes.seekFarOffset;
  const nearOffset = () => Math.floor(Math.random() * seekWindow);
  const farOffset = () => far - seekWindow / 2 + Math.floor(Math.random() * seekWindow);
  const timeRead = async (offset: number) => {
    const sent = performance.now();
    const result = await engine.readRaw(topic, 0, offset, { maxMessages: 1 });
    const elapsed = (performance.now() - sent) * 1000;
    if (result.count !== 1) throw new Error(`read at ${offset} returned ${result.count} records`);
    return elapsed;
  };
  for (let i = 0; i < 20; i++) {
    await timeRead(nearOffset());
    await timeRead(farOffset());
  }
  const near: number[] = [];
  const farTimes: number[] = [];
  for (let i = 0; i < sizes.seekReads; i++) {
    // Alternate which goes first so drift in the machine hits both sides alike.
    if (i % 2 === 0) {
      near.push(await timeRead(nearOffset()));
      farTimes.push(await timeRead(farOffset()));
    } else {
      farTimes.push(await timeRead(farOffset()));
      near.push(await timeRead(nearOffset()));
    }
  }
  await engine.close();
  removeDir(dir);
  const nearMedian = median(near);
  const farMedian = median(farTimes);
  context.figures.push(
    {
      name: `5. build a partition of ${formatNumber(total)} x 16 B messages (batches of 1000, 4 appenders)`,
      metric: 'msg/s',
      value: total / build.seconds,
      cpu: build.cpu,
    },
    {
      name: `5. readRaw of 1 message at a random offset in [0, ${seekWindow})`,
      metric: 'median us',
      value: nearMedian,
      note: `${sizes.seekReads} reads each side, interleaved, after 20 warm-up reads each; warm page cache`,
    },
    {
      name: `5. readRaw of 1 message at a random offset in ${formatNumber(far)} +- ${seekWindow / 2}`,
      metric: 'median us',
      value: farMedian,
    },
    {
      name: '5.   slower / faster of the two medians',
      metric: 'ratio x',
      value: Math.max(nearMedian, farMedian) / Math.min(nearMedian, farMedian),
      target: atMost(2, '<= 2'),
    },
    { name: '5.   reads near 0', metric: 'p99 us', value: percentile(sortedCopy(near), 99) },
    {
      name: `5.   reads near ${formatNumber(far)}`,
      metric: 'p99 us',
      value: percentile(sortedCopy(farTimes), 99),
    },
  );
}

const sortedCopy = (values: number[]) => Float64Array.from(values).sort();

// ---------------------------------------------------------------------------------------------
// 6: memory

function runMemoryChild(config: MemoryChildConfig): Promise<MemoryChildResult> {
  const childPath = fileURLToPath(new URL('./storage-memory-child.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = fork(childPath, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: MemoryChildResult | undefined;
    child.on('message', (message) => (result = message as MemoryChildResult));
    child.on('error', reject);
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`memory child exited with ${code} and no result`)),
    );
  });
}

async function memorySection(context: Context): Promise<void> {
  const { sizes } = context;
  const mib = (bytes: number) => bytes / MiB;
  for (const acks of ['written', 'memory'] as const) {
    const dir = freshDir(context, 'memory');
    const stop = cpuMeter();
    const result = await runMemoryChild({
      dataDir: dir,
      bytes: sizes.memoryBytes,
      acks,
      appenders: sizes.concurrentAppenders,
      batchMessages: appendBatchMessages,
      valueBytes: appendValueBytes,
    });
    const cpu = stop();
    removeDir(dir);
    progress(
      `memory ${acks} acks: max RSS ${formatNumber(mib(result.rssMaxBytes))} MiB over ${result.samples} samples, ` +
        `${formatNumber(sizes.memoryBytes / MB / result.seconds)} MB/s, ${result.busy} BUSY`,
    );
    context.figures.push(
      {
        name: `6. max RSS writing ${sizeText(sizes.memoryBytes)}, ${acks} acks, ${sizes.concurrentAppenders} appenders`,
        metric: 'MiB',
        value: mib(result.rssMaxBytes),
        target: atMost(rssTargetMiB, `<= ${rssTargetMiB}`),
        // The child is another process: only the machine-wide figure means anything here.
        cpu: { process: Number.NaN, machine: cpu.machine },
        note:
          `a fresh child process with default limits (cacheBytesMax ${formatNumber(mib(result.cacheBytesMax))} MiB); ` +
          `RSS sampled every 5 ms and every 16 appends (${result.samples} samples)`,
      },
      {
        name: '6.   RSS of that process before the engine opened (node + tsx loader)',
        metric: 'MiB',
        value: mib(result.rssBeforeOpenBytes),
      },
      {
        name: '6.   growth: max RSS minus RSS before opening',
        metric: 'MiB',
        value: mib(result.rssMaxBytes - result.rssBeforeOpenBytes),
      },
      { name: '6.   at the peak: V8 heap used', metric: 'MiB', value: mib(result.atPeak.heapUsed) },
      {
        name: '6.   at the peak: array buffers (off heap)',
        metric: 'MiB',
        value: mib(result.atPeak.arrayBuffers),
      },
      {
        name: '6.   write rate meanwhile',
        metric: 'MB/s',
        value: sizes.memoryBytes / MB / result.seconds,
      },
    );
    if (result.busy > 0) context.notes.push(`memory ${acks} acks: ${result.busy} BUSY retries`);
  }
}

// ---------------------------------------------------------------------------------------------

const runners: Record<Section, (context: Context) => Promise<void>> = {
  append: appendSection,
  fsync: fsyncSection,
  read: readSection,
  seek: seekSection,
  memory: memorySection,
};

interface Options {
  sizes: Sizes;
  json: string | undefined;
  only: Section[];
  quick: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
      reps: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick ?? false;
  const sizes = { ...(quick ? quickSizes : fullSizes) };
  if (values.reps !== undefined) {
    const reps = Number(values.reps);
    if (!Number.isSafeInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
    sizes.reps = reps;
  }
  const only = values.only === undefined ? [...sections] : values.only.split(',').map((each) => each.trim());
  for (const each of only) {
    if (!(sections as readonly string[]).includes(each))
      throw new Error(`unknown section ${JSON.stringify(each)} in --only; known: ${sections.join(', ')}`);
  }
  return { sizes, json: values.json, only: only as Section[], quick };
}

/** Runs the suite; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  const { sizes, only, quick } = options;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-bench-storage-'));
  const onSignal = (signal: NodeJS.Signals) => {
    removeDir(root);
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const context: Context = { root, sizes, logger: countingLogger(), figures: [], notes: [], counter: 0 };
  const startedAt = new Date();
  const facts = machineFacts(root);
  printMachine(facts);
  if (facts.loadAverage[0]! > facts.cores / 2) {
    console.log(
      `warning: load average ${facts.loadAverage[0]} on ${facts.cores} cores before the start: ` +
        'other work competes with this run; see the cpu column',
    );
  }
  console.log(
    `storage bench${quick ? ' (quick)' : ''}: sections ${only.join(', ')}; ${sizes.reps} run(s) of each paired figure; ` +
      `temp dir ${root}\n`,
  );
  const total = cpuMeter();
  try {
    for (const section of only) {
      const sectionStarted = performance.now();
      progress(`[${section}]`);
      await runners[section](context);
      progress(`[${section}] done in ${formatNumber(seconds(sectionStarted))} s`);
    }
  } finally {
    removeDir(root);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const overall = total();
  const loadAfter = os.loadavg().map((each) => Math.round(each * 100) / 100);
  const { counts, lastProblem } = context.logger;
  if (counts.warn + counts.error > 0) {
    context.notes.push(
      `engine logged ${counts.warn} warnings and ${counts.error} errors; last: ${lastProblem}`,
    );
  }

  printFigures(context.figures);
  console.log('');
  console.log(
    'cpu proc/all: cores kept busy while the figure ran, by this process (all threads) / by the whole machine ' +
      '(the rest is kernel writeback and other work)',
  );
  for (const figure of context.figures)
    if (figure.note) console.log(`note: ${figure.name.trim()}: ${figure.note}`);
  for (const note of context.notes) console.log(`note: ${note}`);
  console.log(
    `note: whole run: this process ${overall.process.toFixed(2)} cores, machine ${overall.machine.toFixed(2)} cores; ` +
      `load average at the end ${loadAfter.join(' ')}`,
  );
  const targeted = context.figures.filter((figure) => figure.target);
  const missed = targeted.filter((figure) => verdict(figure) === 'MISSED');
  console.log(
    `\ntargets: ${targeted.length - missed.length} of ${targeted.length} met` +
      (missed.length > 0
        ? `; missed: ${missed.map((figure) => `${figure.name.trim()} (${figure.metric})`).join('; ')}`
        : ''),
  );

  const jsonPath =
    options.json ??
    path.join(os.tmpdir(), `tubemq-bench-storage-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const result = {
    suite: 'storage',
    startedAt: startedAt.toISOString(),
    quick,
    sections: only,
    sizes,
    machine: facts,
    loadAverageAtEnd: loadAfter,
    figures: context.figures.map((figure) => ({ ...figure, verdict: verdict(figure) || undefined })),
    notes: context.notes,
  };
  fs.mkdirSync(path.dirname(path.resolve(jsonPath)), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`json: ${jsonPath}`);
  return 0;
}
