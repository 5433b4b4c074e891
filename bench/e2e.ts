// End-to-end benchmark (`npm run bench -- e2e [--quick] [--reps N] [--json FILE]`).
//
// A real master and broker (the built `bin/tubemq`, as child processes on free ports, data in a
// temp dir), one producer process and one consumer process over loopback TCP, 1 KiB messages,
// `written` acks. Figures:
//   - produce and consume throughput, next to a baseline measured in the same run: the same
//     PRODUCE frames sent over the same loopback to a sink that only splits frames and answers;
//   - produce→consume latency p50/p99/p99.9 at a fixed 5,000 msg/s.
// Targets are the (>= 150k msg/s produce, >= 200k msg/s consume, p99 <= 5 ms); a miss is
// reported, never thrown.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin } from '../src/client/index.js';
import {
  dropPageCache,
  missingBuild,
  processCpuSeconds,
  processRssMiB,
  startDaemon,
  stopDaemon,
} from './daemons.js';
import type { ChildJob, ChildResult } from './e2e-child.js';
import {
  atLeast,
  atMost,
  machineFacts,
  median,
  percentile,
  printMachine,
  reportFigures,
  sorted,
  type Figure,
} from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const childScript = path.join(root, 'bench', 'e2e-child.ts');
const MB = 1e6;
const valueBytes = 1024;

interface Sizes {
  messages: number;
  reps: number;
  latencySeconds: number;
  /** Sent at the same rate before measuring, so the latency figure is the steady state. */
  latencyWarmupSeconds: number;
}

const fullSizes: Sizes = { messages: 1_000_000, reps: 5, latencySeconds: 20, latencyWarmupSeconds: 3 };
const quickSizes: Sizes = { messages: 100_000, reps: 1, latencySeconds: 3, latencyWarmupSeconds: 1 };
const latencyRatePerSecond = 5000;

/**
 * The malloc settings `bin/tubemq` starts the daemons with (its shebang). The baseline's two
 * processes get them too, so the baseline is not handicapped against the broker; the producer and
 * consumer processes run as a plain `node` program would.
 */
const launcherMallocEnv = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '268435456' };

/** Runs one child job; resolves with its results in order (the last one is the final result). */
function runChild(
  job: ChildJob,
  onMessage?: (result: ChildResult) => void,
  extraEnv: Record<string, string> = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(childScript, [JSON.stringify(job)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production', TUBEMQ_LOG_LEVEL: 'warn', ...extraEnv },
    });
    let last: ChildResult | undefined;
    child.on('message', (message: ChildResult) => {
      last = message;
      onMessage?.(message);
    });
    child.on('exit', (code) => {
      if (code === 0 && last !== undefined) resolve(last);
      else reject(new Error(`bench child ${job.role} exited with code ${code}`));
    });
  });
}

async function measureRaw(messages: number): Promise<number> {
  let sinkPid = 0;
  let sinkPort = 0;
  const sinkReady = new Promise<void>((resolve) => {
    const child = fork(childScript, [JSON.stringify({ role: 'raw-sink' } satisfies ChildJob)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...launcherMallocEnv },
    });
    sinkPid = child.pid ?? 0;
    child.on('message', (message: ChildResult) => {
      if (message.role === 'raw-sink') {
        sinkPort = message.port;
        resolve();
      }
    });
  });
  await sinkReady;
  try {
    const result = await runChild(
      { role: 'raw-send', port: sinkPort, messages, valueBytes, batchMessages: 256, window: 16 },
      undefined,
      launcherMallocEnv,
    );
    return result.role === 'raw-send' ? result.messages / result.seconds : Number.NaN;
  } finally {
    process.kill(sinkPid, 'SIGKILL');
  }
}

/** msg/s (median of the runs, against a target), MB/s, and the ratio to the raw baseline. */
function throughputFigures(
  name: string,
  short: string,
  runs: number[],
  rawMedian: number,
  target: number,
  notes: string[],
): Figure[] {
  const value = median(runs);
  return [
    {
      name,
      metric: 'msg/s',
      value,
      runs,
      target: atLeast(target, `>= ${target.toLocaleString('en-US')}`),
      note: notes.join(', '),
    },
    { name: short, metric: 'MB/s', value: (value * valueBytes) / MB },
    { name: `${short} / raw loopback`, metric: 'ratio', value: value / rawMedian, format: 'percent' },
  ];
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const sizes = { ...(values.quick ? quickSizes : fullSizes) };
  if (values.reps !== undefined) sizes.reps = Math.max(1, Number(values.reps));
  const missing = missingBuild();
  if (missing !== undefined) {
    console.error(`error: ${missing}`);
    return 2;
  }

  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-bench-e2e-'));
  printMachine(machineFacts(dataRoot));
  console.log(
    `e2e: ${sizes.messages.toLocaleString('en-US')} messages of ${valueBytes} B per run, ${sizes.reps} run(s), ` +
      `latency at ${latencyRatePerSecond} msg/s for ${sizes.latencySeconds} s after ${sizes.latencyWarmupSeconds} s of warm-up\n`,
  );
  const master = await startDaemon(['master', 'start'], path.join(dataRoot, 'master'));
  const masters = `127.0.0.1:${master.port}`;
  const broker = await startDaemon(
    ['broker', 'start', '--broker-id', '1', '--master', masters],
    path.join(dataRoot, 'broker'),
  );
  const admin = new Admin({ masters });
  const produced: number[] = [];
  const consumed: number[] = [];
  const raw: number[] = [];
  const brokerCores = { produce: [] as number[], consume: [] as number[] };
  const clientCores = { produce: [] as number[], consume: [] as number[] };
  let brokerRssMiB = 0;
  try {
    for (let rep = 0; rep < sizes.reps; rep++) {
      const topic = `bench-${rep}`;
      await admin.createTopic(topic, { partitions: 1 });
      dropPageCache();
      raw.push(await measureRaw(sizes.messages));

      let cpuBefore = processCpuSeconds(broker.child.pid!);
      const produceResult = await runChild({
        role: 'produce',
        masters,
        topic,
        messages: sizes.messages,
        valueBytes,
        window: 20_000,
      });
      if (produceResult.role !== 'produce') throw new Error('unexpected producer result');
      produced.push(produceResult.messages / produceResult.seconds);
      brokerCores.produce.push((processCpuSeconds(broker.child.pid!) - cpuBefore) / produceResult.seconds);
      clientCores.produce.push(produceResult.cpuSeconds / produceResult.seconds);
      brokerRssMiB = Math.max(brokerRssMiB, processRssMiB(broker.child.pid!));

      cpuBefore = processCpuSeconds(broker.child.pid!);
      const consumeResult = await runChild({
        role: 'consume',
        masters,
        topic,
        group: `bench-group-${rep}`,
        messages: produceResult.messages,
      });
      if (consumeResult.role !== 'consume') throw new Error('unexpected consumer result');
      consumed.push(consumeResult.messages / consumeResult.seconds);
      brokerCores.consume.push((processCpuSeconds(broker.child.pid!) - cpuBefore) / consumeResult.seconds);
      clientCores.consume.push(consumeResult.cpuSeconds / consumeResult.seconds);
      console.log(
        `run ${rep + 1}: produce ${Math.round(produced.at(-1)!)} msg/s, consume ${Math.round(consumed.at(-1)!)} msg/s, ` +
          `raw ${Math.round(raw.at(-1)!)} msg/s`,
      );
    }

    dropPageCache();
    const latencyTopic = 'bench-latency';
    await admin.createTopic(latencyTopic, { partitions: 1 });
    const total = latencyRatePerSecond * sizes.latencySeconds;
    let consumerReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (consumerReady = resolve));
    const latencyRun = runChild(
      { role: 'latency-consume', masters, topic: latencyTopic, group: 'bench-latency', messages: total },
      (message) => {
        if (message.role === 'ready') consumerReady();
      },
    );
    await ready;
    await runChild({
      role: 'paced-produce',
      masters,
      topic: latencyTopic,
      ratePerSecond: latencyRatePerSecond,
      warmupSeconds: sizes.latencyWarmupSeconds,
      seconds: sizes.latencySeconds,
      valueBytes,
    });
    const latencyResult = await latencyRun;
    if (latencyResult.role !== 'latency-consume') throw new Error('unexpected latency result');
    const latencies = sorted(latencyResult.latenciesMs);

    const rawMedian = median(raw);
    const figures: Figure[] = [
      { name: 'raw loopback, same frames', metric: 'msg/s', value: rawMedian, runs: raw },
      ...throughputFigures('produce 1 KiB, written acks', 'produce', produced, rawMedian, 150_000, [
        `broker used ${median(brokerCores.produce).toFixed(2)} cores`,
        `producer ${median(clientCores.produce).toFixed(2)}`,
      ]),
      ...throughputFigures('consume 1 KiB, pull group', 'consume', consumed, rawMedian, 200_000, [
        `broker used ${median(brokerCores.consume).toFixed(2)} cores`,
        `consumer ${median(clientCores.consume).toFixed(2)}`,
      ]),
      { name: `latency @ ${latencyRatePerSecond} msg/s`, metric: 'p50 ms', value: percentile(latencies, 50) },
      {
        name: `latency @ ${latencyRatePerSecond} msg/s`,
        metric: 'p99 ms',
        value: percentile(latencies, 99),
        target: atMost(5, '<= 5 ms'),
      },
      {
        name: `latency @ ${latencyRatePerSecond} msg/s`,
        metric: 'p99.9 ms',
        value: percentile(latencies, 99.9),
      },
      { name: 'broker RSS, peak sampled', metric: 'MiB', value: brokerRssMiB },
    ];
    reportFigures('e2e', figures, { dataDir: dataRoot, sizes, jsonFile: values.json });
    return 0;
  } finally {
    await admin.close();
    await stopDaemon(broker);
    await stopDaemon(master);
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}
