// METADATA, CREATE_TOPIC, LIST_TOPICS, DESCRIBE_TOPIC: topics as clients and admins see them.
import { TubeError, topicDefaults, topicNotFound } from '../common/index.js';
import {
  createTopicMessage,
  describeTopicMessage,
  listTopicsMessage,
  metadataMessage,
  type CreateTopicRequest,
  type CreateTopicResponse,
  type RequestHandler,
  type TopicDescription,
} from '../protocol/index.js';
import { hostingBrokers } from './assignment.js';
import { brokerInfos, jsonHandler, pushAssignments, type MasterContext } from './master-context.js';
import { placePartitions } from './placement.js';

function requireTopic(context: MasterContext, name: string): TopicDescription {
  const topic = context.store.topic(name);
  if (topic === undefined) throw topicNotFound(name);
  return topic;
}

/** Handlers of the topic messages, by opcode. */
export function topicHandlers(context: MasterContext): [number, RequestHandler][] {
  const { store } = context;
  return [
    jsonHandler(metadataMessage, ({ topics }) => ({
      brokers: brokerInfos(context),
      topics: topics.length === 0 ? store.topics() : topics.map((name) => requireTopic(context, name)),
    })),
    jsonHandler(listTopicsMessage, () => ({ topics: store.topics() })),
    jsonHandler(describeTopicMessage, ({ name }) => ({ topic: requireTopic(context, name) })),
    jsonHandler(createTopicMessage, (request) => createTopic(context, request)),
  ];
}

/**
 * Creates the topic (durably), pushes the new assignment to its brokers, then waits until they
 * report it applied so that a produce right after the answer finds the partitions ready. A broker
 * slower than `topicApplyTimeoutMs` does not fail the creation, which is already durable: the
 * client's retries cover the gap.
 */
async function createTopic(
  context: MasterContext,
  request: CreateTopicRequest,
): Promise<CreateTopicResponse> {
  const { store, registry, logger } = context;
  const outcome = await store.exclusive(async () => {
    const existing = store.topic(request.name);
    if (existing !== undefined) {
      if (request.ifNotExists === true) return { topic: existing, version: undefined };
      throw new TubeError('ALREADY_EXISTS', `topic "${request.name}" already exists`, {
        details: { topic: request.name },
        hint: 'pass --if-not-exists to accept an existing topic',
      });
    }
    const candidates = store
      .brokers()
      .map(({ brokerId }) => ({ brokerId, online: registry.isOnline(brokerId) }));
    const topic: TopicDescription = {
      name: request.name,
      partitions: request.partitions,
      stores: request.stores ?? topicDefaults.stores,
      retentionMs: request.retentionMs ?? topicDefaults.retentionMs,
      retentionBytes: request.retentionBytes ?? topicDefaults.retentionBytes,
      ackFloor: request.ackFloor ?? topicDefaults.ackFloor,
      createdAtMs: Date.now(),
      placement: placePartitions(request.partitions, candidates, request.brokers),
    };
    return { topic, version: await store.addTopic(topic) };
  });
  const { topic, version } = outcome;
  if (version === undefined) return { created: false, topic };

  logger.info({ topic: topic.name, partitions: topic.partitions, version }, 'topic created');
  const brokers = hostingBrokers(topic);
  pushAssignments(context, brokers);
  const notApplied = await registry.waitApplied(brokers, version, context.topicApplyTimeoutMs);
  if (notApplied.length > 0) {
    logger.warn(
      { topic: topic.name, version, brokers: notApplied, timeoutMs: context.topicApplyTimeoutMs },
      'topic created, but some brokers have not applied it yet',
    );
  }
  return { created: true, topic };
}
