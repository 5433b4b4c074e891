// Child process of the storage bench's memory figure: a fresh process writes `bytes` through an
// engine with default limits and reports its peak RSS, so earlier sections cannot inflate it.
// Started by bench/storage.ts with fork(); the config comes as one JSON argument.
import { performance } from 'node:perf_hooks';
import { StorageEngine, type AckLevel } from '../src/storage/index.js';
import { appendRetrying, countingLogger, drive, makeBatch, type AppendCounters } from './workload.js';

export interface MemoryChildConfig {
  dataDir: string;
  bytes: number;
  acks: AckLevel;
  appenders: number;
  batchMessages: number;
  valueBytes: number;
}

export interface MemoryChildResult {
  rssBeforeOpenBytes: number;
  rssMaxBytes: number;
  rssEndBytes: number;
  /** process.memoryUsage() when the peak was seen. */
  atPeak: NodeJS.MemoryUsage;
  samples: number;
  seconds: number;
  busy: number;
  cacheBytesMax: number;
}

async function run(config: MemoryChildConfig): Promise<MemoryChildResult> {
  let rssMax = 0;
  let atPeak = process.memoryUsage();
  let samples = 0;
  const sample = () => {
    samples++;
    const rss = process.memoryUsage.rss();
    if (rss > rssMax) {
      rssMax = rss;
      atPeak = process.memoryUsage();
    }
  };
  sample();
  const rssBeforeOpenBytes = rssMax;
  const timer = setInterval(sample, 5);
  const engine = await StorageEngine.open({ dataDir: config.dataDir, logger: countingLogger() });
  await engine.createTopic('memory', { partitions: 1, stores: 1 });
  const { messages, values } = makeBatch(config.batchMessages, config.valueBytes);
  const batchBytes = values.length * config.valueBytes;
  const batches = Math.ceil(config.bytes / batchBytes);
  const counters: AppendCounters = { busy: 0 };
  const started = performance.now();
  await drive(config.appenders, batches, async (index) => {
    await appendRetrying(engine, 'memory', 0, messages, config.acks, counters);
    if (index % 16 === 0) sample();
  });
  await engine.flush();
  const seconds = (performance.now() - started) / 1000;
  sample();
  await engine.close();
  clearInterval(timer);
  sample();
  return {
    rssBeforeOpenBytes,
    rssMaxBytes: rssMax,
    rssEndBytes: process.memoryUsage.rss(),
    atPeak,
    samples,
    seconds,
    busy: counters.busy,
    cacheBytesMax: engine.options.cacheBytesMax,
  };
}

const config = JSON.parse(process.argv[2] ?? '{}') as MemoryChildConfig;
run(config).then(
  (result) => process.send!(result, () => process.exit(0)),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
