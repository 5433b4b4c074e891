// REGISTER_BROKER, BROKER_HEARTBEAT, LIST_BROKERS, CLUSTER_STATUS: brokers joining and staying,
// and what an admin sees of them.
import { TubeError } from '../common/index.js';
import {
  brokerHeartbeatMessage,
  clusterStatusMessage,
  formatAddress,
  listBrokersMessage,
  registerBrokerMessage,
  type RegisterBrokerRequest,
  type RegisterBrokerResponse,
  type RequestHandler,
  type Session,
} from '../protocol/index.js';
import { assignmentFor } from './assignment.js';
import { brokerInfos, jsonHandler, type MasterContext } from './master-context.js';

/** Handlers of the broker and status messages, by opcode. */
export function brokerHandlers(context: MasterContext): [number, RequestHandler][] {
  const { store, registry } = context;
  return [
    jsonHandler(registerBrokerMessage, (request, session) => registerBroker(context, request, session)),
    jsonHandler(brokerHeartbeatMessage, ({ brokerId, appliedVersion }, session) => {
      if (!registry.heartbeat(brokerId, session, appliedVersion)) {
        throw new TubeError('NOT_REGISTERED', `broker ${brokerId} is not registered with this master`, {
          details: { brokerId },
        });
      }
      // Only an out-of-date broker gets the assignment, so a steady heartbeat stays tiny.
      return appliedVersion < store.version
        ? { assignment: assignmentFor(brokerId, store.topics(), store.version) }
        : {};
    }),
    jsonHandler(listBrokersMessage, () => ({ brokers: brokerInfos(context) })),
    jsonHandler(clusterStatusMessage, () => {
      const topics = store.topics();
      const { masterId, host, port, startedAtMs } = context.identity();
      return {
        master: { masterId, host, port, role: 'leader', startedAtMs, metadataVersion: store.version },
        brokers: brokerInfos(context),
        topicCount: topics.length,
        partitionCount: topics.reduce((sum, topic) => sum + topic.partitions, 0),
      };
    }),
  ];
}

/**
 * Brings a broker online. A first registration, or one from a new address, is recorded durably
 * before the answer, so a restarted master still lists the broker. The same id live at another
 * address is refused: two brokers sharing an id would serve each other's partitions.
 */
function registerBroker(
  context: MasterContext,
  request: RegisterBrokerRequest,
  session: Session,
): Promise<RegisterBrokerResponse> {
  const { store, registry } = context;
  const { brokerId, host, port } = request;
  return store.exclusive(async () => {
    const known = store.broker(brokerId);
    const sameAddress = known !== undefined && known.host === host && known.port === port;
    if (known !== undefined && !sameAddress && registry.isOnline(brokerId)) {
      if (registry.session(brokerId) !== session) {
        const address = formatAddress(known);
        throw new TubeError('ALREADY_EXISTS', `broker ${brokerId} is already online at ${address}`, {
          details: { brokerId, address },
          hint: 'give each broker its own --broker-id',
        });
      }
    }
    if (!sameAddress) {
      await store.saveBroker({ brokerId, host, port, registeredAtMs: known?.registeredAtMs ?? Date.now() });
    }
    // Its connection may have dropped while the write above ran; attaching it would leave the
    // broker "online" with nobody to hear its close.
    if (session.connection.closed)
      throw new TubeError('UNAVAILABLE', 'connection closed during registration');
    registry.attach(brokerId, session);
    return {
      heartbeatIntervalMs: context.heartbeatIntervalMs,
      assignment: assignmentFor(brokerId, store.topics(), store.version),
    };
  });
}
