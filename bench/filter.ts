// Filtered consumption benchmark (`npm run bench -- filter [--quick] [--reps N] [--messages N]
// [--partitions N] [--cold] [--json FILE]`).
//
// A real master and broker (the built `bin/tubemq`, child processes on free ports, data in a temp
// dir); one topic filled with 1 KiB messages spread round-robin over 100 stream ids (the producer's
// `streamId`). Then, in the same run and on the same data, the time to read the whole topic with a
// Consumer against the time to read one stream id of the 100 with `filters` (the broker skips the
// other 99 % by the stream hash in its index, without reading their bodies). Each read is a fresh
// consumer on every partition (client-side assignment, no commits), timed from its start() to the
// last expected message; the two kinds alternate which goes first, and the figure is the median of
// the per-run ratios filtered / full. Target (issue 5 §3): <= 20 %. Reads are warm by default (the
// topic was just written and read once untimed, so both kinds find it in the page cache); `--cold`
// writes back and drops the page cache (root only) before every timed read instead.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Admin, Consumer, Producer, type ConsumerOptions } from '../src/client/index.js';
import { dropPageCache, missingBuild, processCpuSeconds, startDaemon, stopDaemon } from './daemons.js';
import { atMost, machineFacts, median, printMachine, reportFigures, type Figure } from './report.js';

const valueBytes = 1024;
const streamCount = 100;
/** The stream id read by the filtered consumer: one of the 100. */
const chosenStream = 'stream-42';
const streamOf = (i: number): string => `stream-${i % streamCount}`;

interface Sizes {
  messages: number;
  reps: number;
  partitions: number;
  cold: boolean;
}

const fullSizes: Sizes = { messages: 500_000, reps: 5, partitions: 1, cold: false };
const quickSizes: Sizes = { messages: 100_000, reps: 3, partitions: 1, cold: false };

async function produce(masters: string, topic: string, messages: number): Promise<Map<string, number>> {
  const producer = new Producer({ masters, acks: 'written' });
  const value = Buffer.alloc(valueBytes, 0x61);
  const perStream = new Map<string, number>();
  const window = 20_000;
  const inFlight = new Array<Promise<unknown>>(window);
  for (let i = 0; i < messages; i++) {
    const slot = i % window;
    if (i >= window) await inFlight[slot];
    const streamId = streamOf(i);
    perStream.set(streamId, (perStream.get(streamId) ?? 0) + 1);
    inFlight[slot] = producer.send(topic, value, { streamId });
  }
  await Promise.all(inFlight);
  await producer.close();
  return perStream;
}

interface ReadResult {
  seconds: number;
  messages: number;
  brokerCpuSeconds: number;
  consumerCpuSeconds: number;
}

/** Reads `expected` messages of the topic (of one stream when `streamId` is given) with a fresh consumer. */
async function timedRead(
  masters: string,
  topic: string,
  partitions: number,
  expected: number,
  group: string,
  brokerPid: number,
  streamId?: string,
): Promise<ReadResult> {
  const options = {
    masters,
    group,
    topics: [topic],
    partitions: { [topic]: Array.from({ length: partitions }, (_, partition) => partition) },
    start: 'earliest',
    commit: false,
    ...(streamId === undefined ? {} : { filters: { [topic]: [streamId] } }),
  } as ConsumerOptions;
  const consumer = new Consumer(options);
  try {
    const brokerCpuBefore = processCpuSeconds(brokerPid);
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    await consumer.start();
    let received = 0;
    while (received < expected) {
      const batch = await consumer.poll({ maxMessages: 10_000, timeoutMs: 10_000 });
      if (batch.length === 0) throw new Error(`read stalled after ${received} of ${expected} messages`);
      if (streamId !== undefined) {
        const stray = batch.find((message) => message.streamId !== streamId);
        if (stray !== undefined) {
          throw new Error(
            `a filtered read of ${streamId} got a message of ${String(stray.streamId)}: ` +
              'does this Consumer support the `filters` option yet?',
          );
        }
      }
      received += batch.length;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      seconds,
      messages: received,
      brokerCpuSeconds: processCpuSeconds(brokerPid) - brokerCpuBefore,
      consumerCpuSeconds: (used.user + used.system) / 1e6,
    };
  } finally {
    await consumer.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      cold: { type: 'boolean', default: false },
      reps: { type: 'string' },
      messages: { type: 'string' },
      partitions: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const sizes: Sizes = { ...(values.quick ? quickSizes : fullSizes), cold: values.cold };
  if (values.reps !== undefined) sizes.reps = Math.max(1, Number(values.reps));
  if (values.messages !== undefined) sizes.messages = Math.max(streamCount, Number(values.messages));
  if (values.partitions !== undefined) sizes.partitions = Math.max(1, Number(values.partitions));
  const missing = missingBuild();
  if (missing !== undefined) {
    console.error(`error: ${missing}`);
    return 2;
  }

  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-bench-filter-'));
  printMachine(machineFacts(dataRoot));
  console.log(
    `filter: ${sizes.messages.toLocaleString('en-US')} messages of ${valueBytes} B over ${streamCount} stream ids, ` +
      `${sizes.partitions} partition(s); whole topic vs ${chosenStream} alone, ${sizes.reps} run(s), ` +
      `${sizes.cold ? 'cold (page cache dropped before each read)' : 'warm'}\n`,
  );
  const master = await startDaemon(['master', 'start'], path.join(dataRoot, 'master'));
  const masters = `127.0.0.1:${master.port}`;
  const broker = await startDaemon(
    ['broker', 'start', '--broker-id', '1', '--master', masters],
    path.join(dataRoot, 'broker'),
  );
  const brokerPid = broker.child.pid!;
  const admin = new Admin({ masters });
  try {
    const topic = 'bench-filter';
    await admin.createTopic(topic, { partitions: sizes.partitions });
    const producedAt = performance.now();
    const perStream = await produce(masters, topic, sizes.messages);
    console.log(`produced in ${((performance.now() - producedAt) / 1000).toFixed(1)} s`);
    const chosenCount = perStream.get(chosenStream) ?? 0;

    // Untimed: brings the topic into the page cache and warms the JIT on both paths.
    await timedRead(masters, topic, sizes.partitions, sizes.messages, 'bench-filter-warm-full', brokerPid);
    await timedRead(
      masters,
      topic,
      sizes.partitions,
      chosenCount,
      'bench-filter-warm-one',
      brokerPid,
      chosenStream,
    );

    const full: ReadResult[] = [];
    const filtered: ReadResult[] = [];
    const ratios: number[] = [];
    for (let rep = 0; rep < sizes.reps; rep++) {
      const readFull = async (): Promise<void> => {
        if (sizes.cold) dropPageCache();
        full.push(
          await timedRead(
            masters,
            topic,
            sizes.partitions,
            sizes.messages,
            `bench-filter-full-${rep}`,
            brokerPid,
          ),
        );
      };
      const readOne = async (): Promise<void> => {
        if (sizes.cold) dropPageCache();
        filtered.push(
          await timedRead(
            masters,
            topic,
            sizes.partitions,
            chosenCount,
            `bench-filter-one-${rep}`,
            brokerPid,
            chosenStream,
          ),
        );
      };
      // Alternate which goes first, so neither always reads after the other.
      if (rep % 2 === 0) {
        await readFull();
        await readOne();
      } else {
        await readOne();
        await readFull();
      }
      ratios.push(filtered.at(-1)!.seconds / full.at(-1)!.seconds);
      console.log(
        `run ${rep + 1}: whole topic ${(full.at(-1)!.seconds * 1000).toFixed(0)} ms, ` +
          `1 stream of ${streamCount} ${(filtered.at(-1)!.seconds * 1000).toFixed(0)} ms, ` +
          `ratio ${(ratios.at(-1)! * 100).toFixed(1)} %`,
      );
    }

    const ms = (results: ReadResult[]) => results.map((each) => each.seconds * 1000);
    const cpuNote = (results: ReadResult[]) =>
      `broker CPU ${(median(results.map((each) => each.brokerCpuSeconds)) * 1000).toFixed(0)} ms, ` +
      `consumer CPU ${(median(results.map((each) => each.consumerCpuSeconds)) * 1000).toFixed(0)} ms (medians)`;
    const figures: Figure[] = [
      {
        name: `read whole topic, ${sizes.messages.toLocaleString('en-US')} msgs`,
        metric: 'ms',
        value: median(ms(full)),
        runs: ms(full),
        note: cpuNote(full),
      },
      {
        name: `read 1 stream id of ${streamCount} (${chosenCount.toLocaleString('en-US')} msgs)`,
        metric: 'ms',
        value: median(ms(filtered)),
        runs: ms(filtered),
        note: cpuNote(filtered),
      },
      {
        name: 'filtered / whole topic',
        metric: 'ratio',
        value: median(ratios),
        runs: ratios,
        format: 'percent',
        target: atMost(0.2, '<= 20%'),
      },
    ];
    console.log('');
    reportFigures('filter', figures, { dataDir: dataRoot, sizes, jsonFile: values.json });
    return 0;
  } finally {
    await admin.close();
    await stopDaemon(broker);
    await stopDaemon(master);
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}
