// NATS JetStream behind the peers suite's interface: Debian's `nats-server -js` with file storage on a
// free port, and the `nats` client used as its docs recommend (js.publish with acks awaited in a
// window, durable pull consumers read with consume()).
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AckPolicy,
  connect,
  createInbox,
  DeliverPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
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

/** Publishes sent before their acks are awaited together (256 measured best of 16..4096 here). */
const publishWindow = 256;
/** Lean publishes that may be unacknowledged at once. */
const leanWindow = 4096;
/** Messages a consume() keeps requested ahead. */
const consumeBatch = 1000;

interface Placement {
  stream: string;
  /** Subjects of this topic are `<prefix>.m`, or `<prefix>.s<k>` with stream ids. */
  prefix: string;
}

export class NatsSystem implements PeerSystem {
  readonly name = 'nats' as const;
  version = '';
  readonly layouts = ['streams', 'subjects'];
  /** Produce with js.publish (true) or with the lean pipelined publish protocol (false, the default). */
  publishApi = false;
  readonly notes = {
    produce:
      `core publish with a reply subject, PubAcks counted, ${leanWindow.toLocaleString('en-US')} unacked at most ` +
      `(js.publish in windows of ${publishWindow} measured apart, see details); file storage, default sync`,
    consume: `durable pull consumer, consume({max_messages: ${consumeBatch}}), explicit ack per message`,
    'topics-1000': 'figure: 1,000 streams; beside it: 1 stream with 1,000 subjects',
    filtered: 'stream of 100 subjects, durable pull consumer with filter_subject',
    latency:
      'core publish with a reply subject (PubAcks counted) + pull consumer (deliver new), in this process',
    fsync: '64 connections, js.publish awaited each; needs sync_interval: always (nats-server 2.10+)',
  };
  #binary: string;
  #child: ChildProcess | undefined;
  #port = 0;
  #nc: NatsConnection | undefined;
  #consumerNc: NatsConnection | undefined;
  #jsm: JetStreamManager | undefined;
  #js: JetStreamClient | undefined;
  #mode: ServerMode = 'default';
  readonly #placements = new Map<string, Placement>();

  constructor(binary: string) {
    this.#binary = binary;
  }

  /** The nats-server binary, or what to install. */
  static locate(): { binary: string } | { missing: string } {
    return locateServer('nats-server');
  }

  serverPid(): number {
    return this.#child?.pid ?? 0;
  }

  otherPids(): Record<string, number> {
    return {};
  }

  async start(mode: ServerMode, dataDir: string): Promise<void> {
    this.#mode = mode;
    this.version = execFileSync(this.#binary, ['--version'], { encoding: 'utf8' }).trim();
    fs.mkdirSync(dataDir, { recursive: true });
    this.#port = await freePort();
    const config = path.join(dataDir, 'nats.conf');
    const store = path.join(dataDir, 'jetstream');
    fs.writeFileSync(
      config,
      [
        `listen: 127.0.0.1:${this.#port}`,
        `jetstream {`,
        `  store_dir: ${JSON.stringify(store)}`,
        ...(mode === 'fsync' ? ['  sync_interval: always'] : []),
        `}`,
        '',
      ].join('\n'),
    );
    const log = path.join(dataDir, 'nats.log');
    this.#child = spawnServer(this.#binary, ['-js', '-c', config], log);
    try {
      await waitForPort(this.#child, this.#port, log);
    } catch (error) {
      const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
      if (mode === 'fsync' && text.includes('sync_interval')) {
        throw new Unsupported(
          `${this.version} has no sync_interval (fsync per write needs nats-server 2.10+)`,
        );
      }
      throw error;
    }
    this.#nc = await connect({ servers: `127.0.0.1:${this.#port}` });
    this.#consumerNc = await connect({ servers: `127.0.0.1:${this.#port}` });
    this.#jsm = await this.#nc.jetstreamManager();
    this.#js = this.#nc.jetstream();
  }

  async stop(): Promise<void> {
    await this.#nc?.close().catch(() => undefined);
    await this.#consumerNc?.close().catch(() => undefined);
    this.#nc = undefined;
    this.#consumerNc = undefined;
    await stopChild(this.#child);
    this.#child = undefined;
    this.#placements.clear();
  }

  async createTopics(names: readonly string[], layout = 'streams'): Promise<void> {
    const jsm = this.#jsm!;
    if (layout === 'subjects') {
      const stream = `${names[0]}-all`;
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File });
      for (const name of names) this.#placements.set(name, { stream, prefix: `${stream}.${name}` });
      return;
    }
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names
          .slice(i, i + 20)
          .map((name) => jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File })),
      );
    }
    for (const name of names) this.#placements.set(name, { stream: name, prefix: name });
  }

  #placement(topic: string): Placement {
    const placement = this.#placements.get(topic);
    if (!placement) throw new Error(`no stream for ${topic}`);
    return placement;
  }

  async produce(job: ProduceJob): Promise<Timing> {
    const js = this.#js!;
    const prefixes = job.topics.map((topic) => this.#placement(topic).prefix);
    for (const prefix of prefixes) await js.publish(`${prefix}.s0`, job.value);
    const subjects =
      job.streamCount === undefined
        ? prefixes.map((prefix) => [`${prefix}.m`])
        : prefixes.map((prefix) => Array.from({ length: job.streamCount! }, (_, k) => `${prefix}.s${k}`));
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    const { value } = job;
    const count = prefixes.length;
    const subjectOf = (i: number): string => {
      const options = subjects[i % count]!;
      return options[i % options.length]!;
    };
    if (this.publishApi) {
      // js.publish: `publishWindow` publishes, then their acks awaited together.
      for (let start = 0; start < job.messages; start += publishWindow) {
        const end = Math.min(job.messages, start + publishWindow);
        const acks: Promise<unknown>[] = [];
        for (let i = start; i < end; i++) acks.push(js.publish(subjectOf(i), value));
        await Promise.all(acks);
      }
    } else {
      await this.#publishLean(job.messages, subjectOf, value);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    return { messages: job.messages, seconds, clientCpuSeconds: cpuSecondsSince(cpu) };
  }

  /**
   * JetStream's publish protocol without js.publish's per-message request: core publishes with a
   * reply subject, the server's PubAcks counted on one subscription, at most `leanWindow` unacked.
   * Every ack is checked for an error.
   */
  async #publishLean(messages: number, subjectOf: (i: number) => string, value: Buffer): Promise<void> {
    const nc = this.#nc!;
    const inbox = createInbox();
    let acked = 0;
    let failure: string | undefined;
    let waitFor = 0;
    let wake: () => void = () => {};
    const sub = nc.subscribe(inbox, {
      callback: (error, message) => {
        // A PubAck is {"stream":..}; an error is {"error":..}.
        if (error) failure = error.message;
        else if (message.data[2] === 0x65) failure = Buffer.from(message.data).toString();
        if (++acked >= waitFor || failure !== undefined) wake();
      },
    });
    const until = async (count: number): Promise<void> => {
      if (acked >= count) return;
      waitFor = count;
      await new Promise<void>((resolve) => (wake = resolve));
    };
    try {
      for (let i = 0; i < messages; i++) {
        if (i - acked >= leanWindow) await until(i - leanWindow + 1024);
        if (failure !== undefined) throw new Error(`JetStream publish failed: ${failure}`);
        nc.publish(subjectOf(i), value, { reply: inbox });
      }
      await until(messages);
      if (failure !== undefined) throw new Error(`JetStream publish failed: ${failure}`);
    } finally {
      sub.unsubscribe();
    }
  }

  async #read(stream: string, group: string, expected: number, filter?: string): Promise<Timing> {
    await this.#jsm!.consumers.add(stream, {
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...(filter === undefined ? {} : { filter_subject: filter }),
    });
    const consumer = await this.#consumerNc!.jetstream().consumers.get(stream, group);
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    const messages = await consumer.consume({ max_messages: consumeBatch });
    let received = 0;
    for await (const message of messages) {
      message.ack();
      if (filter !== undefined && message.subject !== filter)
        throw new Error(`filter leaked ${message.subject}`);
      if (++received === expected) break;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    // stop(), not an awaited close(): close() waits for the pending pull to drain.
    messages.stop();
    return { messages: received, seconds, clientCpuSeconds: cpuSecondsSince(cpu) };
  }

  consume(topic: string, group: string, expected: number): Promise<Timing> {
    return this.#read(this.#placement(topic).stream, group, expected);
  }

  consumeFiltered(topic: string, streamId: string, group: string, expected: number): Promise<Timing> {
    const { stream, prefix } = this.#placement(topic);
    return this.#read(stream, group, expected, `${prefix}.${streamId}`);
  }

  async latency(topic: string, rate: number, warmupSeconds: number, seconds: number): Promise<LatencyRun> {
    const { stream, prefix } = this.#placement(topic);
    const group = `${topic}-latency`;
    await this.#jsm!.consumers.add(stream, {
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const consumer = await this.#consumerNc!.jetstream().consumers.get(stream, group);
    const messages = await consumer.consume({ max_messages: consumeBatch });
    const latencies: number[] = [];
    let expected = Number.POSITIVE_INFINITY;
    const reading = (async () => {
      for await (const message of messages) {
        const now = performance.now();
        message.ack();
        const sentAt = Buffer.from(message.data.buffer, message.data.byteOffset, 8).readDoubleLE(0);
        if (sentAt !== 0) latencies.push(now - sentAt);
        if (latencies.length >= expected) break;
      }
    })();
    reading.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    // Publishes as produce() does (core publish with a reply subject, PubAcks counted), not
    // js.publish, whose per-message request cost more than the 5,000 msg/s here at times.
    const nc = this.#nc!;
    const inbox = createInbox();
    let acked = 0;
    let allAcked: () => void = () => {};
    const acks = new Promise<void>((resolve) => (allAcked = resolve));
    let sent = Number.POSITIVE_INFINITY;
    const sub = nc.subscribe(inbox, {
      callback: () => {
        if (++acked >= sent) allAcked();
      },
    });
    const startedAt = performance.now();
    const measured = await paced(rate, warmupSeconds, seconds, (_, stamp) => {
      nc.publish(`${prefix}.m`, stampedValue(1024, stamp), { reply: inbox });
    });
    sent = measured + Math.round(rate * warmupSeconds);
    if (acked >= sent) allAcked();
    await acks;
    sub.unsubscribe();
    sent = measured;
    expected = sent;
    if (latencies.length >= expected) messages.stop();
    await reading;
    messages.stop();
    return {
      latenciesMs: Float64Array.from(latencies),
      messages: sent,
      seconds: (performance.now() - startedAt) / 1000,
    };
  }

  async fsyncProduce(topic: string, producers: number, seconds: number): Promise<LatencyRun> {
    if (this.#mode !== 'fsync') throw new Unsupported('started without fsync mode');
    const { prefix } = this.#placement(topic);
    const connections = await Promise.all(
      Array.from({ length: producers }, () => connect({ servers: `127.0.0.1:${this.#port}` })),
    );
    const clients = connections.map((each) => each.jetstream());
    const value = Buffer.alloc(1024, 0x61);
    try {
      return await closedLoop(producers, seconds, (producer) =>
        clients[producer]!.publish(`${prefix}.m`, value),
      );
    } finally {
      await Promise.all(connections.map((each) => each.close()));
    }
  }
}
