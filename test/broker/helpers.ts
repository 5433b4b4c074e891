// Shared by the broker tests: temp data dirs with topics made through storage (standalone brokers
// have no CREATE_TOPIC), a client connection over a real socket, produce/fetch over the codecs, and
// a fake master built from ProtocolServer (the real Master is written elsewhere).
import assert from 'node:assert/strict';
import { createLogger, isTubeError, TubeError } from '../../src/common/index.js';
import { Broker, type BrokerOptions } from '../../src/broker/index.js';
import {
  brokerAssignmentPush,
  brokerHeartbeatMessage,
  decodeFetchResponse,
  decodeProduceResponse,
  dial,
  encodeFetchRequest,
  encodeProduceRequest,
  opcodes,
  ProtocolServer,
  registerBrokerMessage,
  type BrokerAssignment,
  type BrokerHeartbeatRequest,
  type Connection,
  type DecodedFetchResponse,
  type FetchRequest,
  type ProduceAcks,
  type ProduceMessage,
  type ProduceResponse,
  type RegisterBrokerRequest,
  type RequestHandler,
  type Session,
} from '../../src/protocol/index.js';
import { StorageEngine, type TopicConfig } from '../../src/storage/index.js';
import { tempDir } from '../helpers/storage-files.js';

export { removeTempDirs, tempDir } from '../helpers/storage-files.js';

const quiet = createLogger({ name: 'broker-test', level: 'silent' });

/** A data dir holding the given topics, made through storage directly. */
export async function dataDirWithTopics(topics: Record<string, Partial<TopicConfig>>): Promise<string> {
  const dir = tempDir();
  const storage = await StorageEngine.open({ dataDir: dir, retentionCheckIntervalMs: 0, logger: quiet });
  for (const [name, config] of Object.entries(topics)) await storage.createTopic(name, config);
  await storage.close();
  return dir;
}

/** Starts a broker on 127.0.0.1, any port; standalone unless masters are given. */
export function startBroker(dataDir: string, options: Partial<BrokerOptions> = {}): Promise<Broker> {
  return Broker.start({
    brokerId: 1,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    masters: [],
    logger: quiet,
    ...options,
    storage: { retentionCheckIntervalMs: 0, ...options.storage },
  });
}

/** A greeted client connection to `port`. */
export async function connect(port: number): Promise<Connection> {
  const { connection } = await dial({ host: '127.0.0.1', port }, { clientId: 'broker-test' });
  return connection;
}

export async function produce(
  connection: Connection,
  topic: string,
  partition: number,
  messages: ProduceMessage[],
  acks: ProduceAcks = 'written',
): Promise<ProduceResponse> {
  const frame = await connection.request(
    opcodes.PRODUCE,
    encodeProduceRequest({ topic, partition, acks, messages }),
  );
  return decodeProduceResponse(frame.body);
}

export async function fetch(
  connection: Connection,
  request: Partial<FetchRequest> & Pick<FetchRequest, 'topic' | 'partition' | 'offset'>,
): Promise<DecodedFetchResponse> {
  const frame = await connection.request(
    opcodes.FETCH,
    encodeFetchRequest({ maxBytes: 1 << 20, maxWaitMs: 0, streamIds: [], ...request }),
  );
  return decodeFetchResponse(frame.body, { verifyCrc: true });
}

/** Awaits `action` and requires it to reject with a TubeError named `name`; returns the error. */
export async function rejectsWith(
  action: Promise<unknown>,
  name: TubeError['errorName'],
): Promise<TubeError> {
  try {
    await action;
  } catch (error) {
    assert.ok(isTubeError(error, name), `expected ${name}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${name}, but it succeeded`);
}

/** Resolves once `condition()` holds, checking on each event-loop turn (tests only), or fails after `timeoutMs`. */
export async function eventually(
  condition: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A heartbeat as the fake master saw it. */
export interface SeenHeartbeat extends BrokerHeartbeatRequest {
  atMs: number;
}

/**
 * A master that answers REGISTER_BROKER with `assignment` and heartbeats with the assignment when
 * the broker is behind; it records what it saw and can push a new assignment.
 */
export class FakeMaster {
  readonly registrations: RegisterBrokerRequest[] = [];
  readonly heartbeats: SeenHeartbeat[] = [];
  assignment: BrokerAssignment;
  /** Answer this many heartbeats NOT_REGISTERED before behaving. */
  forgetBroker = 0;
  #sessions = new Set<Session>();
  readonly #server: ProtocolServer;
  port = 0;

  constructor(assignment: BrokerAssignment, heartbeatIntervalMs: number) {
    this.assignment = assignment;
    const register: RequestHandler = (frame, session) => {
      this.registrations.push(registerBrokerMessage.decodeRequest(frame.body));
      this.#sessions.add(session);
      session.onClose(() => this.#sessions.delete(session));
      return registerBrokerMessage.encodeResponse({ heartbeatIntervalMs, assignment: this.assignment });
    };
    const heartbeat: RequestHandler = (frame) => {
      const request = brokerHeartbeatMessage.decodeRequest(frame.body);
      this.heartbeats.push({ ...request, atMs: Date.now() });
      if (this.forgetBroker > 0) {
        this.forgetBroker--;
        throw new TubeError('NOT_REGISTERED', 'broker 1 is not registered');
      }
      return brokerHeartbeatMessage.encodeResponse(
        request.appliedVersion < this.assignment.version ? { assignment: this.assignment } : {},
      );
    };
    this.#server = new ProtocolServer({
      role: 'master',
      serverId: 'fake-master',
      logger: quiet,
      handlers: new Map([
        [opcodes.REGISTER_BROKER, register],
        [opcodes.BROKER_HEARTBEAT, heartbeat],
      ]),
    });
  }

  async listen(port = 0): Promise<number> {
    this.port = await this.#server.listen('127.0.0.1', port);
    return this.port;
  }

  /** Changes the assignment and pushes it to every registered broker, as the master does. */
  push(assignment: BrokerAssignment): void {
    this.assignment = assignment;
    for (const session of this.#sessions) {
      session.connection.push(opcodes.BROKER_ASSIGNMENT, brokerAssignmentPush.encode(assignment));
    }
  }

  close(): Promise<void> {
    return this.#server.close();
  }
}

/** One topic of an assignment with storage's defaults. */
export function assignedTopic(
  name: string,
  partitions: number,
  hostedPartitions: number[],
): BrokerAssignment['topics'][number] {
  return {
    name,
    partitions,
    stores: 1,
    retentionMs: -1,
    retentionBytes: -1,
    ackFloor: 'memory',
    hostedPartitions,
  };
}
