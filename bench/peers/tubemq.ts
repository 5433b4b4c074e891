// tubemq behind the peers suite's interface: the built `bin/tubemq` master and broker (bench/daemons.ts)
// and the project's own client (Producer, Consumer, Admin) in this process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Consumer, Producer, type ConsumerOptions } from '../../src/client/index.js';
import { missingBuild, startDaemon, stopDaemon, type Daemon } from '../daemons.js';
import {
  closedLoop,
  cpuSecondsSince,
  paced,
  liveChildren,
  stampedValue,
  Unsupported,
  windowed,
  type LatencyRun,
  type PeerSystem,
  type ProduceJob,
  type ServerMode,
  type Timing,
} from './system.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * Sends outstanding at once from the one producer: what its default 32 MiB buffer holds of 1 KiB
 * messages, the same for 1 and 1,000 topics. With 1,000 partitions a smaller window makes smaller
 * batches per partition (20,000 gave ~20 messages a batch and 106-136K msg/s; this gives 154-213K).
 */
const produceWindow = 32_768;

/** Registers a daemon with the runner's cleanup (SIGINT, exit). */
function track(daemon: Daemon): void {
  liveChildren.add(daemon.child);
  daemon.child.once('exit', () => liveChildren.delete(daemon.child));
}

export class TubemqSystem implements PeerSystem {
  readonly name = 'tubemq' as const;
  version = '';
  readonly layouts = ['topics'];
  readonly notes = {
    produce: `Producer, acks 'written', ${produceWindow.toLocaleString('en-US')} sends outstanding`,
    consume: 'Consumer in a balanced group, poll() of up to 10,000',
    filtered: 'Consumer with filters (broker skips other stream ids by index hash), client-side partitions',
    latency: 'Producer lingerMs 0 + Consumer start latest, maxWaitMs 500, in this process',
    fsync: "64 Producers, acks 'fsync', lingerMs 0, one send awaited at a time each",
  };
  #master: Daemon | undefined;
  #broker: Daemon | undefined;
  #masters = '';
  #admin: Admin | undefined;
  #mode: ServerMode = 'default';

  /** Why tubemq cannot run here, or undefined. */
  static missing(): string | undefined {
    return missingBuild();
  }

  serverPid(): number {
    return this.#broker?.child.pid ?? 0;
  }

  otherPids(): Record<string, number> {
    return { master: this.#master?.child.pid ?? 0 };
  }

  async start(mode: ServerMode, dataDir: string): Promise<void> {
    this.#mode = mode;
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    this.version = `tubemq-ts ${pkg.version} (dist/)`;
    this.#master = await startDaemon(['master', 'start'], path.join(dataDir, 'master'));
    track(this.#master);
    this.#masters = `127.0.0.1:${this.#master.port}`;
    this.#broker = await startDaemon(
      ['broker', 'start', '--broker-id', '1', '--master', this.#masters],
      path.join(dataDir, 'broker'),
    );
    track(this.#broker);
    this.#admin = new Admin({ masters: this.#masters });
  }

  async stop(): Promise<void> {
    await this.#admin?.close().catch(() => undefined);
    this.#admin = undefined;
    if (this.#broker) await stopDaemon(this.#broker);
    if (this.#master) await stopDaemon(this.#master);
    this.#broker = undefined;
    this.#master = undefined;
  }

  async createTopics(names: readonly string[]): Promise<void> {
    const admin = this.#admin!;
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((name) => admin.createTopic(name, { partitions: 1 })));
    }
  }

  async produce(job: ProduceJob): Promise<Timing> {
    const producer = new Producer({ masters: this.#masters, acks: 'written' });
    try {
      // Connects and learns every topic's partitions before the clock starts.
      for (const topic of job.topics) await producer.send(topic, job.value, { streamId: 's0' });
      const cpu = process.cpuUsage();
      const startedAt = performance.now();
      const { topics, value, streamCount } = job;
      await windowed(job.messages, produceWindow, (i) =>
        producer.send(
          topics[i % topics.length]!,
          value,
          streamCount === undefined ? {} : { streamId: `s${i % streamCount}` },
        ),
      );
      const seconds = (performance.now() - startedAt) / 1000;
      return { messages: job.messages, seconds, clientCpuSeconds: cpuSecondsSince(cpu) };
    } finally {
      await producer.close();
    }
  }

  async consume(topic: string, group: string, expected: number): Promise<Timing> {
    return this.#read({ masters: this.#masters, group, topics: [topic], start: 'earliest' }, expected);
  }

  async consumeFiltered(topic: string, streamId: string, group: string, expected: number): Promise<Timing> {
    return this.#read(
      {
        masters: this.#masters,
        group,
        topics: [topic],
        partitions: { [topic]: [0] },
        start: 'earliest',
        commit: false,
        filters: { [topic]: [streamId] },
      },
      expected,
      streamId,
    );
  }

  async #read(options: ConsumerOptions, expected: number, streamId?: string): Promise<Timing> {
    const consumer = new Consumer(options);
    try {
      await consumer.start();
      const cpu = process.cpuUsage();
      const startedAt = performance.now();
      let received = 0;
      while (received < expected) {
        const batch = await consumer.poll({ maxMessages: 10_000, timeoutMs: 10_000 });
        if (batch.length === 0) throw new Error(`consumer stalled after ${received} of ${expected} messages`);
        if (streamId !== undefined && batch.some((message) => message.streamId !== streamId)) {
          throw new Error(`a filtered read of ${streamId} got another stream id`);
        }
        received += batch.length;
      }
      const seconds = (performance.now() - startedAt) / 1000;
      return { messages: received, seconds, clientCpuSeconds: cpuSecondsSince(cpu) };
    } finally {
      await consumer.close();
    }
  }

  async latency(topic: string, rate: number, warmupSeconds: number, seconds: number): Promise<LatencyRun> {
    const producer = new Producer({ masters: this.#masters, acks: 'written', lingerMs: 0 });
    const consumer = new Consumer({
      masters: this.#masters,
      group: `${topic}-latency`,
      topics: [topic],
      start: 'latest',
      maxWaitMs: 500,
      commit: false,
    });
    try {
      await consumer.start();
      const latencies: number[] = [];
      let expected = Number.POSITIVE_INFINITY;
      const reading = (async () => {
        let lastAt = performance.now();
        while (latencies.length < expected) {
          // Short polls: `expected` is only known once every send is acknowledged, which can be
          // after the last message was already read.
          const batch = await consumer.poll({ maxMessages: 10_000, timeoutMs: 200 });
          const now = performance.now();
          if (batch.length === 0) {
            if (now - lastAt > 10_000) throw new Error(`latency consumer stalled after ${latencies.length}`);
            continue;
          }
          lastAt = now;
          for (const message of batch) {
            const sentAt = message.value.readDoubleLE(0);
            if (sentAt !== 0) latencies.push(now - sentAt);
          }
        }
      })();
      reading.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
      const sends: Promise<unknown>[] = [];
      const startedAt = performance.now();
      const messages = await paced(rate, warmupSeconds, seconds, (_, stamp) => {
        sends.push(producer.send(topic, stampedValue(1024, stamp)));
      });
      await Promise.all(sends);
      expected = messages;
      await reading;
      return {
        latenciesMs: Float64Array.from(latencies),
        messages,
        seconds: (performance.now() - startedAt) / 1000,
      };
    } finally {
      await consumer.close();
      await producer.close();
    }
  }

  async fsyncProduce(topic: string, producers: number, seconds: number): Promise<LatencyRun> {
    if (this.#mode !== 'fsync') throw new Unsupported('started without fsync mode');
    const clients = Array.from(
      { length: producers },
      () => new Producer({ masters: this.#masters, acks: 'fsync', lingerMs: 0 }),
    );
    const value = Buffer.alloc(1024, 0x61);
    try {
      await Promise.all(clients.map((client) => client.send(topic, value)));
      return await closedLoop(producers, seconds, (producer) => clients[producer]!.send(topic, value));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  }
}
