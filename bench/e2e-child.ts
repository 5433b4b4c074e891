// One process of the e2e benchmark (bench/e2e.ts forks it with tsx): a producer, a consumer, or
// one end of the raw loopback baseline. It gets its job as JSON in argv[2], reports one result
// over IPC, and exits. Timing starts when the process is warmed up and connected, so process
// start-up is not measured.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Consumer, Producer } from '../src/client/index.js';
import { FrameDecoder, encodeFrame, encodeProduceRequest, opcodes } from '../src/protocol/index.js';

export type ChildJob =
  | { role: 'produce'; masters: string; topic: string; messages: number; valueBytes: number; window: number }
  | { role: 'consume'; masters: string; topic: string; group: string; messages: number }
  | {
      role: 'paced-produce';
      masters: string;
      topic: string;
      ratePerSecond: number;
      /** Sent first at the same rate and not measured: JIT compilation and first GCs happen here. */
      warmupSeconds: number;
      seconds: number;
      valueBytes: number;
    }
  | { role: 'latency-consume'; masters: string; topic: string; group: string; messages: number }
  | { role: 'raw-sink' }
  | {
      role: 'raw-send';
      port: number;
      messages: number;
      valueBytes: number;
      batchMessages: number;
      window: number;
    };

export type ChildResult =
  | { role: 'produce' | 'consume' | 'raw-send'; messages: number; seconds: number; cpuSeconds: number }
  | { role: 'latency-consume'; latenciesMs: number[]; cpuSeconds: number }
  | { role: 'paced-produce'; messages: number; seconds: number }
  | { role: 'raw-sink'; port: number }
  | { role: 'ready' };

const job = JSON.parse(process.argv[2] ?? '{}') as ChildJob;

/** Sends a result to the parent; resolves once it is handed over, so exiting cannot drop it. */
function report(result: ChildResult): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) throw new Error('bench child started without an IPC channel');
    process.send(result, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

/** Milliseconds on a clock that all processes of this machine share, with sub-ms precision. */
function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function produce(spec: Extract<ChildJob, { role: 'produce' }>): Promise<void> {
  const producer = new Producer({ masters: spec.masters, acks: 'written' });
  const value = Buffer.alloc(spec.valueBytes, 0x61);
  await producer.send(spec.topic, value); // connects and learns the partitions before the clock starts
  const inFlight = new Array<Promise<unknown>>(spec.window);
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  for (let i = 0; i < spec.messages; i++) {
    const slot = i % spec.window;
    if (i >= spec.window) await inFlight[slot];
    inFlight[slot] = producer.send(spec.topic, value);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - startedAt) / 1000;
  await report({ role: 'produce', messages: spec.messages + 1, seconds, cpuSeconds: cpuSecondsSince(cpu) });
  await producer.close();
}

async function consume(spec: Extract<ChildJob, { role: 'consume' }>): Promise<void> {
  const consumer = new Consumer({
    masters: spec.masters,
    group: spec.group,
    topics: [spec.topic],
    start: 'earliest',
  });
  await consumer.start();
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  let received = 0;
  while (received < spec.messages) {
    const batch = await consumer.poll({ maxMessages: 10_000, timeoutMs: 10_000 });
    if (batch.length === 0)
      throw new Error(`consumer stalled after ${received} of ${spec.messages} messages`);
    received += batch.length;
  }
  const seconds = (performance.now() - startedAt) / 1000;
  await report({ role: 'consume', messages: received, seconds, cpuSeconds: cpuSecondsSince(cpu) });
  await consumer.close();
}

async function pacedProduce(spec: Extract<ChildJob, { role: 'paced-produce' }>): Promise<void> {
  const producer = new Producer({ masters: spec.masters, acks: 'written', lingerMs: 0 });
  const warmup = Math.round(spec.ratePerSecond * spec.warmupSeconds);
  const total = warmup + Math.round(spec.ratePerSecond * spec.seconds);
  const startedAt = performance.now();
  let sent = 0;
  const pending: Promise<unknown>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - startedAt) / 1000) * spec.ratePerSecond));
    for (; sent < due; sent++) {
      const value = Buffer.alloc(spec.valueBytes);
      // A zero send time marks a warm-up message, which the consumer does not measure.
      if (sent >= warmup) value.writeDoubleLE(wallClockMs(), 0);
      pending.push(producer.send(spec.topic, value));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  await report({
    role: 'paced-produce',
    messages: sent - warmup,
    seconds: (performance.now() - startedAt) / 1000,
  });
  await producer.close();
}

async function latencyConsume(spec: Extract<ChildJob, { role: 'latency-consume' }>): Promise<void> {
  const consumer = new Consumer({
    masters: spec.masters,
    group: spec.group,
    topics: [spec.topic],
    start: 'latest',
    maxWaitMs: 500,
  });
  await consumer.start();
  await report({ role: 'ready' });
  const cpu = process.cpuUsage();
  const latenciesMs: number[] = [];
  while (latenciesMs.length < spec.messages) {
    const batch = await consumer.poll({ maxMessages: 10_000, timeoutMs: 10_000 });
    if (batch.length === 0) throw new Error(`latency consumer stalled after ${latenciesMs.length} messages`);
    const now = wallClockMs();
    for (const message of batch) {
      const sentAt = message.value.readDoubleLE(0);
      if (sentAt !== 0) latenciesMs.push(now - sentAt);
    }
  }
  await report({ role: 'latency-consume', latenciesMs, cpuSeconds: cpuSecondsSince(cpu) });
  await consumer.close();
}

// The baseline: the same PRODUCE frames over the same loopback, to a sink that only splits frames
// and answers each with a 12-byte body, as the broker's acknowledgement would be. No storage.
function rawSink(): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const ack = Buffer.alloc(12);
    const decoder = new FrameDecoder({
      onFrame: (frame) => {
        for (const buffer of encodeFrame(
          { opcode: frame.opcode, flags: 0x01, correlationId: frame.correlationId },
          ack,
        )) {
          socket.write(buffer);
        }
      },
    });
    socket.on('data', (chunk) => decoder.push(chunk));
    socket.on('error', () => socket.destroy());
  });
  server.listen(
    0,
    '127.0.0.1',
    () => void report({ role: 'raw-sink', port: (server.address() as net.AddressInfo).port }),
  );
}

async function rawSend(spec: Extract<ChildJob, { role: 'raw-send' }>): Promise<void> {
  const value = Buffer.alloc(spec.valueBytes, 0x61);
  const body = encodeProduceRequest({
    topic: 'bench',
    partition: 0,
    acks: 'written',
    messages: Array.from({ length: spec.batchMessages }, () => ({ value })),
  });
  const socket = net.connect(spec.port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const frames = Math.ceil(spec.messages / spec.batchMessages);
  let acked = 0;
  let sent = 0;
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    const sendMore = (): void => {
      socket.cork();
      while (sent < frames && sent - acked < spec.window) {
        sent++;
        for (const buffer of encodeFrame({ opcode: opcodes.PRODUCE, flags: 0, correlationId: sent }, body)) {
          socket.write(buffer);
        }
      }
      socket.uncork();
    };
    const decoder = new FrameDecoder({
      onFrame: () => {
        acked++;
        if (acked === frames) resolve();
        else sendMore();
      },
    });
    socket.on('data', (chunk) => decoder.push(chunk));
    sendMore();
  });
  const seconds = (performance.now() - startedAt) / 1000;
  await report({
    role: 'raw-send',
    messages: frames * spec.batchMessages,
    seconds,
    cpuSeconds: cpuSecondsSince(cpu),
  });
  socket.destroy();
}

const run: Record<ChildJob['role'], () => Promise<void> | void> = {
  produce: () => produce(job as Extract<ChildJob, { role: 'produce' }>),
  consume: () => consume(job as Extract<ChildJob, { role: 'consume' }>),
  'paced-produce': () => pacedProduce(job as Extract<ChildJob, { role: 'paced-produce' }>),
  'latency-consume': () => latencyConsume(job as Extract<ChildJob, { role: 'latency-consume' }>),
  'raw-sink': rawSink,
  'raw-send': () => rawSend(job as Extract<ChildJob, { role: 'raw-send' }>),
};

Promise.resolve(run[job.role]()).then(
  () => {
    if (job.role !== 'raw-sink') process.disconnect?.();
  },
  (error: unknown) => {
    console.error(
      `error: ${job.role}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exit(1);
  },
);
