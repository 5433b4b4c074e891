// What the request handlers share: the durable metadata, the live broker registry, settings, and
// the views built from both (broker list, assignment pushes).
import type { Logger } from '../common/index.js';
import {
  brokerAssignmentPush,
  type BrokerInfo,
  type Frame,
  type JsonMessage,
  type RequestHandler,
  type Session,
} from '../protocol/index.js';
import { assignmentFor } from './assignment.js';
import type { BrokerRegistry } from './broker-registry.js';
import type { MetaStore } from './meta-store.js';

/** Who this master is, for CLUSTER_STATUS. */
export interface MasterIdentity {
  masterId: string;
  host: string;
  port: number;
  startedAtMs: number;
}

/** Everything a handler may use. */
export interface MasterContext {
  store: MetaStore;
  registry: BrokerRegistry;
  logger: Logger;
  heartbeatIntervalMs: number;
  topicApplyTimeoutMs: number;
  /** Filled in once the server listens (the port may be 0 until then). */
  identity(): MasterIdentity;
}

/** Every known broker with its live state, sorted by id. */
export function brokerInfos(context: MasterContext): BrokerInfo[] {
  const { store, registry } = context;
  return store.brokers().map((broker) => ({
    brokerId: broker.brokerId,
    host: broker.host,
    port: broker.port,
    state: registry.isOnline(broker.brokerId) ? 'online' : 'offline',
    registeredAtMs: broker.registeredAtMs,
    lastHeartbeatAtMs: registry.lastHeartbeatAtMs(broker.brokerId),
  }));
}

/** Pushes the current assignment to each of `brokerIds` that is connected now. */
export function pushAssignments(context: MasterContext, brokerIds: readonly number[]): void {
  const { store, registry } = context;
  const topics = store.topics();
  for (const brokerId of brokerIds) {
    const session = registry.session(brokerId);
    if (session === undefined) continue;
    const assignment = assignmentFor(brokerId, topics, store.version);
    session.connection.push(brokerAssignmentPush.opcode, brokerAssignmentPush.encode(assignment));
  }
}

/** Adapts a typed JSON handler to a {@link RequestHandler}: decode the request, encode the answer. */
export function jsonHandler<Request, Response>(
  message: JsonMessage<Request, Response>,
  serve: (request: Request, session: Session) => Response | Promise<Response>,
): [number, RequestHandler] {
  const handler = (frame: Frame, session: Session): Buffer | Promise<Buffer> => {
    const answer = serve(message.decodeRequest(frame.body), session);
    return answer instanceof Promise
      ? answer.then((response) => message.encodeResponse(response))
      : message.encodeResponse(answer);
  };
  return [message.opcode, handler];
}
