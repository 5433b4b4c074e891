// Redis Streams behind the peers suite's interface: Debian's `redis-server` with appendonly yes
// (appendfsync everysec, or always in fsync mode) on a free port, and `ioredis` used as its docs
// recommend (pipelined XADD; XREADGROUP + XACK in a consumer group).
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import {
  closedLoop,
  cpuSecondsSince,
  locateServer,
  freePort,
  paced,
  spawnServer,
  stampedValue,
  stopChild,
  Unsupported,
  waitForPort,
  type LatencyRun,
  type PeerSystem,
  type ProduceJob,
  type ServerMode,
  type Timing,
} from './system.js';

/** XADDs per pipeline, and pipelines in flight at once. */
const pipelineCommands = 500;
const pipelinesInFlight = 4;
/** Entries one XREADGROUP asks for. */
const readCount = 1000;

type StreamEntries = [id: Buffer, fields: Buffer[] | null][];
type ReadReply = [key: Buffer, entries: StreamEntries][] | null;

/** The value of field `name` in an entry's flat field list. */
function field(fields: Buffer[] | null, name: string): Buffer | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}

export class RedisSystem implements PeerSystem {
  readonly name = 'redis' as const;
  version = '';
  readonly layouts = ['streams'];
  readonly notes = {
    produce: `pipelined XADD (${pipelineCommands} per pipeline, ${pipelinesInFlight} in flight), appendfsync everysec`,
    consume: `XREADGROUP COUNT ${readCount} + XACK of each batch (pipelined with the next read)`,
    'topics-1000': '1,000 stream keys',
    filtered: 'no server-side filter: reads the whole stream and keeps field s == the stream id',
    latency: 'XADD + XREADGROUP BLOCK on a second connection, in this process',
    fsync: '64 connections, XADD awaited each, appendfsync always',
  };
  #binary: string;
  #child: ChildProcess | undefined;
  #port = 0;
  #redis: Redis | undefined;
  #mode: ServerMode = 'default';

  constructor(binary: string) {
    this.#binary = binary;
  }

  /** The redis-server binary, or what to install. */
  static locate(): { binary: string } | { missing: string } {
    return locateServer('redis-server');
  }

  serverPid(): number {
    return this.#child?.pid ?? 0;
  }

  otherPids(): Record<string, number> {
    return {};
  }

  #connect(): Redis {
    return new Redis({ host: '127.0.0.1', port: this.#port, protocol: 2, maxRetriesPerRequest: 0 });
  }

  async start(mode: ServerMode, dataDir: string): Promise<void> {
    this.#mode = mode;
    this.version = execFileSync(this.#binary, ['--version'], { encoding: 'utf8' }).trim();
    fs.mkdirSync(dataDir, { recursive: true });
    this.#port = await freePort();
    const log = path.join(dataDir, 'redis.log');
    this.#child = spawnServer(
      this.#binary,
      [
        '--port',
        String(this.#port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dataDir,
        '--appendonly',
        'yes',
        '--appendfsync',
        mode === 'fsync' ? 'always' : 'everysec',
        '--save',
        '',
        '--daemonize',
        'no',
        '--protected-mode',
        'no',
        '--logfile',
        '',
      ],
      log,
    );
    await waitForPort(this.#child, this.#port, log);
    this.#redis = this.#connect();
    await this.#redis.ping();
  }

  async stop(): Promise<void> {
    this.#redis?.disconnect();
    this.#redis = undefined;
    await stopChild(this.#child);
    this.#child = undefined;
  }

  async createTopics(): Promise<void> {
    // Streams come into being with their first XADD.
  }

  async produce(job: ProduceJob): Promise<Timing> {
    const redis = this.#redis!;
    const { topics, value, streamCount } = job;
    for (const topic of topics) await redis.xadd(topic, '*', 's', 's0', 'd', value);
    const streamIds = Array.from({ length: streamCount ?? 0 }, (_, k) => `s${k}`);
    const pipelines = Math.ceil(job.messages / pipelineCommands);
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    const inFlight: Promise<unknown>[] = [];
    for (let p = 0; p < pipelines; p++) {
      if (inFlight.length >= pipelinesInFlight) await inFlight.shift();
      const pipeline = redis.pipeline();
      const end = Math.min(job.messages, (p + 1) * pipelineCommands);
      for (let i = p * pipelineCommands; i < end; i++) {
        const topic = topics[i % topics.length]!;
        if (streamCount === undefined) pipeline.xadd(topic, '*', 'd', value);
        else pipeline.xadd(topic, '*', 's', streamIds[i % streamCount]!, 'd', value);
      }
      inFlight.push(
        pipeline.exec().then((results) => {
          const failed = results?.find(([error]) => error !== null);
          if (failed) throw failed[0]!;
        }),
      );
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - startedAt) / 1000;
    return { messages: job.messages, seconds, clientCpuSeconds: cpuSecondsSince(cpu) };
  }

  /** Reads the stream from its start in a new group until `done` says so; acks every batch. */
  async #readGroup(
    key: string,
    group: string,
    onEntries: (entries: StreamEntries) => boolean,
  ): Promise<{ seconds: number; clientCpuSeconds: number }> {
    const redis = this.#connect();
    try {
      await redis.xgroup('CREATE', key, group, '0');
      const cpu = process.cpuUsage();
      const startedAt = performance.now();
      let ack: Promise<unknown> = Promise.resolve();
      for (;;) {
        const reply = (await redis.callBuffer(
          'XREADGROUP',
          'GROUP',
          group,
          'c1',
          'COUNT',
          readCount,
          'STREAMS',
          key,
          '>',
        )) as ReadReply;
        await ack;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) throw new Error(`stream ${key} ran dry`);
        ack = redis.xack(key, group, ...entries.map(([id]) => id));
        if (onEntries(entries)) break;
      }
      await ack;
      return { seconds: (performance.now() - startedAt) / 1000, clientCpuSeconds: cpuSecondsSince(cpu) };
    } finally {
      redis.disconnect();
    }
  }

  async consume(topic: string, group: string, expected: number): Promise<Timing> {
    let received = 0;
    const timing = await this.#readGroup(topic, group, (entries) => {
      for (const [, fields] of entries) if (field(fields, 'd') !== undefined) received++;
      return received >= expected;
    });
    return { messages: received, ...timing };
  }

  async consumeFiltered(topic: string, streamId: string, group: string, expected: number): Promise<Timing> {
    let matched = 0;
    const timing = await this.#readGroup(topic, group, (entries) => {
      for (const [, fields] of entries) if (field(fields, 's')?.toString() === streamId) matched++;
      return matched >= expected;
    });
    return { messages: matched, ...timing };
  }

  async latency(topic: string, rate: number, warmupSeconds: number, seconds: number): Promise<LatencyRun> {
    const producer = this.#redis!;
    const consumer = this.#connect();
    const group = `${topic}-latency`;
    try {
      await consumer.xgroup('CREATE', topic, group, '$', 'MKSTREAM');
      const latencies: number[] = [];
      let expected = Number.POSITIVE_INFINITY;
      const reading = (async () => {
        while (latencies.length < expected) {
          const reply = (await consumer.callBuffer(
            'XREADGROUP',
            'GROUP',
            group,
            'c1',
            'COUNT',
            readCount,
            'BLOCK',
            1000,
            'STREAMS',
            topic,
            '>',
          )) as ReadReply;
          const now = performance.now();
          const entries = reply?.[0]?.[1] ?? [];
          if (entries.length === 0) continue;
          for (const [, fields] of entries) {
            const sentAt = field(fields, 'd')?.readDoubleLE(0) ?? 0;
            if (sentAt !== 0) latencies.push(now - sentAt);
          }
          void consumer.xack(topic, group, ...entries.map(([id]) => id)).catch(() => undefined);
        }
      })();
      reading.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
      const sends: Promise<unknown>[] = [];
      const startedAt = performance.now();
      const sent = await paced(rate, warmupSeconds, seconds, (_, stamp) => {
        sends.push(producer.xadd(topic, '*', 'd', stampedValue(1024, stamp)));
      });
      await Promise.all(sends);
      expected = sent;
      await reading;
      return {
        latenciesMs: Float64Array.from(latencies),
        messages: sent,
        seconds: (performance.now() - startedAt) / 1000,
      };
    } finally {
      consumer.disconnect();
    }
  }

  async fsyncProduce(topic: string, producers: number, seconds: number): Promise<LatencyRun> {
    if (this.#mode !== 'fsync') throw new Unsupported('started without fsync mode');
    const clients = Array.from({ length: producers }, () => this.#connect());
    const value = Buffer.alloc(1024, 0x61);
    try {
      await Promise.all(clients.map((client) => client.ping()));
      return await closedLoop(producers, seconds, (producer) =>
        clients[producer]!.xadd(topic, '*', 'd', value),
      );
    } finally {
      for (const client of clients) client.disconnect();
    }
  }
}
