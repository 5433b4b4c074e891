// A scripted master and broker on real sockets (ProtocolServer), for client tests that need control
// over answers: hold them back, fail them, count requests. No storage, no daemons.
import { createLogger } from '../../src/common/index.js';
import {
  ProtocolServer,
  decodeProduceRequest,
  encodeProduceResponse,
  metadataMessage,
  opcodes,
  type DecodedProduceRequest,
  type RequestHandler,
  type TopicDescription,
} from '../../src/protocol/index.js';

/** One PRODUCE request the fake broker received. */
export interface ReceivedProduce {
  request: DecodedProduceRequest;
  bytes: number;
}

/** Decides a PRODUCE answer: return offsets (the default appends), or throw a TubeError. */
export type ProduceHook = (request: DecodedProduceRequest, bytes: number) => Promise<void> | void;

/** A fake master (METADATA only) and broker (PRODUCE only, in-memory offsets). */
export class FakeCluster {
  readonly master: ProtocolServer;
  readonly broker: ProtocolServer;
  masterPort = 0;
  brokerPort = 0;
  readonly topics = new Map<string, TopicDescription>();
  readonly produced: ReceivedProduce[] = [];
  readonly nextOffsets = new Map<string, number>();
  produceHook: ProduceHook | undefined;
  metadataRequests = 0;

  constructor() {
    const logger = createLogger({ name: 'fake', level: 'silent' });
    const metadata: RequestHandler = (frame) => {
      this.metadataRequests++;
      const { topics } = metadataMessage.decodeRequest(frame.body);
      const found = topics.map((name) => this.topics.get(name)).filter((t) => t !== undefined);
      const now = Date.now();
      return metadataMessage.encodeResponse({
        brokers: [
          {
            brokerId: 1,
            host: '127.0.0.1',
            port: this.brokerPort,
            state: 'online',
            registeredAtMs: now,
            lastHeartbeatAtMs: now,
          },
        ],
        topics: found,
      });
    };
    const produce: RequestHandler = async (frame) => {
      const request = decodeProduceRequest(frame.body);
      this.produced.push({ request, bytes: frame.body.byteLength });
      await this.produceHook?.(request, frame.body.byteLength);
      const key = `${request.topic}/${request.partition}`;
      const baseOffset = this.nextOffsets.get(key) ?? 0;
      this.nextOffsets.set(key, baseOffset + request.messages.length);
      return encodeProduceResponse({ baseOffset, count: request.messages.length });
    };
    this.master = new ProtocolServer({
      role: 'master',
      serverId: 'fake-master',
      handlers: new Map([[opcodes.METADATA, metadata]]),
      logger,
    });
    this.broker = new ProtocolServer({
      role: 'broker',
      serverId: 'fake-broker',
      handlers: new Map([[opcodes.PRODUCE, produce]]),
      logger,
    });
  }

  /** Listens on free ports; `topics` maps names to partition counts (all on broker 1). */
  static async start(topics: Record<string, number>): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (const [name, partitions] of Object.entries(topics)) {
      cluster.topics.set(name, {
        name,
        partitions,
        stores: 1,
        retentionMs: -1,
        retentionBytes: -1,
        ackFloor: 'memory',
        createdAtMs: Date.now(),
        placement: Array.from({ length: partitions }, () => 1),
      });
    }
    cluster.masterPort = await cluster.master.listen('127.0.0.1', 0);
    cluster.brokerPort = await cluster.broker.listen('127.0.0.1', 0);
    return cluster;
  }

  get masters(): string {
    return `127.0.0.1:${this.masterPort}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.master.close(), this.broker.close()]);
  }
}

/** A promise with its resolver, to hold a fake answer back until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
