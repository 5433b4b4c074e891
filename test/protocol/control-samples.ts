// One valid request and response per JSON control message, with the exact compact JSON each
// encodes to. The golden-bytes tests pin these strings; the server tests and the fuzz test use the
// values as known-good bodies to serve and to mutate.
import {
  type BrokerAssignment,
  type BrokerInfo,
  type JsonMessage,
  type TopicDescription,
  brokerHeartbeatMessage,
  claimPartitionsMessage,
  clusterStatusMessage,
  commitOffsetsMessage,
  createTopicMessage,
  deleteGroupMessage,
  deleteGroupOffsetsMessage,
  describeGroupMessage,
  describeTopicMessage,
  fetchOffsetsMessage,
  groupHeartbeatMessage,
  joinGroupMessage,
  leaveGroupMessage,
  listBrokersMessage,
  listGroupOffsetsMessage,
  listGroupsMessage,
  listOffsetsMessage,
  listTopicsMessage,
  metadataMessage,
  registerBrokerMessage,
  releasePartitionsMessage,
  resetGroupOffsetsMessage,
} from '../../src/protocol/index.js';

/** A control message with one valid request and response and their exact encodings. */
export interface ControlSample {
  message: JsonMessage<unknown, unknown>;
  request: unknown;
  requestJson: string;
  response: unknown;
  responseJson: string;
}

function sample<Request, Response>(
  message: JsonMessage<Request, Response>,
  request: Request,
  requestJson: string,
  response: Response,
  responseJson: string,
): ControlSample {
  return {
    message,
    request,
    requestJson,
    response,
    responseJson,
  };
}

export const broker: BrokerInfo = {
  brokerId: 1,
  host: '127.0.0.1',
  port: 8123,
  state: 'online',
  registeredAtMs: 1_700_000_000_000,
  lastHeartbeatAtMs: 1_700_000_001_000,
};
export const brokerJson =
  '{"brokerId":1,"host":"127.0.0.1","port":8123,"state":"online",' +
  '"registeredAtMs":1700000000000,"lastHeartbeatAtMs":1700000001000}';

export const topic: TopicDescription = {
  name: 'orders',
  partitions: 3,
  stores: 1,
  retentionMs: -1,
  retentionBytes: -1,
  ackFloor: 'memory',
  createdAtMs: 1_700_000_000_000,
  placement: [1, 2, 1],
};
export const topicJson =
  '{"name":"orders","partitions":3,"stores":1,"retentionMs":-1,"retentionBytes":-1,' +
  '"ackFloor":"memory","createdAtMs":1700000000000,"placement":[1,2,1]}';

export const assignment: BrokerAssignment = {
  version: 7,
  topics: [
    {
      name: 'orders',
      partitions: 3,
      stores: 1,
      retentionMs: 604_800_000,
      retentionBytes: -1,
      ackFloor: 'written',
      hostedPartitions: [0, 2],
    },
  ],
};
export const assignmentJson =
  '{"version":7,"topics":[{"name":"orders","partitions":3,"stores":1,"retentionMs":604800000,' +
  '"retentionBytes":-1,"ackFloor":"written","hostedPartitions":[0,2]}]}';

/** Every JSON request/response message, by opcode name. */
export const controlSamples = {
  METADATA: sample(
    metadataMessage,
    { topics: ['orders'] },
    '{"topics":["orders"]}',
    { brokers: [broker], topics: [topic] },
    `{"brokers":[${brokerJson}],"topics":[${topicJson}]}`,
  ),
  CREATE_TOPIC: sample(
    createTopicMessage,
    {
      name: 'orders',
      partitions: 3,
      stores: 1,
      brokers: [1, 2],
      retentionMs: -1,
      retentionBytes: 1024,
      ackFloor: 'fsync',
      ifNotExists: true,
    },
    '{"name":"orders","partitions":3,"stores":1,"brokers":[1,2],"retentionMs":-1,' +
      '"retentionBytes":1024,"ackFloor":"fsync","ifNotExists":true}',
    { created: true, topic },
    `{"created":true,"topic":${topicJson}}`,
  ),
  LIST_TOPICS: sample(listTopicsMessage, {}, '{}', { topics: [topic] }, `{"topics":[${topicJson}]}`),
  DESCRIBE_TOPIC: sample(
    describeTopicMessage,
    { name: 'orders' },
    '{"name":"orders"}',
    { topic },
    `{"topic":${topicJson}}`,
  ),
  REGISTER_BROKER: sample(
    registerBrokerMessage,
    { brokerId: 1, host: '127.0.0.1', port: 8123 },
    '{"brokerId":1,"host":"127.0.0.1","port":8123}',
    { heartbeatIntervalMs: 1000, assignment },
    `{"heartbeatIntervalMs":1000,"assignment":${assignmentJson}}`,
  ),
  BROKER_HEARTBEAT: sample(
    brokerHeartbeatMessage,
    { brokerId: 1, appliedVersion: 6 },
    '{"brokerId":1,"appliedVersion":6}',
    { assignment },
    `{"assignment":${assignmentJson}}`,
  ),
  LIST_BROKERS: sample(listBrokersMessage, {}, '{}', { brokers: [broker] }, `{"brokers":[${brokerJson}]}`),
  CLUSTER_STATUS: sample(
    clusterStatusMessage,
    {},
    '{}',
    {
      master: {
        masterId: 'master-127.0.0.1:8715',
        host: '127.0.0.1',
        port: 8715,
        role: 'leader',
        startedAtMs: 1_700_000_000_000,
        metadataVersion: 7,
      },
      brokers: [broker],
      topicCount: 1,
      partitionCount: 3,
    },
    '{"master":{"masterId":"master-127.0.0.1:8715","host":"127.0.0.1","port":8715,"role":"leader",' +
      `"startedAtMs":1700000000000,"metadataVersion":7},"brokers":[${brokerJson}],` +
      '"topicCount":1,"partitionCount":3}',
  ),
  COMMIT_OFFSETS: sample(
    commitOffsetsMessage,
    { group: 'g1', offsets: [{ topic: 'orders', partition: 2, offset: 42 }] },
    '{"group":"g1","offsets":[{"topic":"orders","partition":2,"offset":42}]}',
    {},
    '{}',
  ),
  FETCH_OFFSETS: sample(
    fetchOffsetsMessage,
    {
      group: 'g1',
      partitions: [
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 1 },
      ],
    },
    '{"group":"g1","partitions":[{"topic":"orders","partition":0},{"topic":"orders","partition":1}]}',
    {
      offsets: [
        { topic: 'orders', partition: 0, offset: 42 },
        { topic: 'orders', partition: 1, offset: null },
      ],
    },
    '{"offsets":[{"topic":"orders","partition":0,"offset":42},{"topic":"orders","partition":1,"offset":null}]}',
  ),
  LIST_OFFSETS: sample(
    listOffsetsMessage,
    {
      partitions: [
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 1, timestampMs: 1_700_000_000_000 },
      ],
    },
    '{"partitions":[{"topic":"orders","partition":0},' +
      '{"topic":"orders","partition":1,"timestampMs":1700000000000}]}',
    {
      offsets: [
        { topic: 'orders', partition: 0, earliest: 0, latest: 10 },
        { topic: 'orders', partition: 1, earliest: 5, latest: 9, offsetAtTimestamp: 7 },
      ],
    },
    '{"offsets":[{"topic":"orders","partition":0,"earliest":0,"latest":10},' +
      '{"topic":"orders","partition":1,"earliest":5,"latest":9,"offsetAtTimestamp":7}]}',
  ),
  CLAIM_PARTITIONS: sample(
    claimPartitionsMessage,
    {
      group: 'g1',
      memberId: 'c1-7f3a',
      partitions: [
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 1 },
      ],
    },
    '{"group":"g1","memberId":"c1-7f3a","partitions":[{"topic":"orders","partition":0},' +
      '{"topic":"orders","partition":1}]}',
    {
      claims: [
        { topic: 'orders', partition: 0, granted: true },
        { topic: 'orders', partition: 1, granted: false, holder: 'c2-91bc' },
      ],
    },
    '{"claims":[{"topic":"orders","partition":0,"granted":true},' +
      '{"topic":"orders","partition":1,"granted":false,"holder":"c2-91bc"}]}',
  ),
  RELEASE_PARTITIONS: sample(
    releasePartitionsMessage,
    { group: 'g1', memberId: 'c1-7f3a', partitions: [{ topic: 'orders', partition: 0 }] },
    '{"group":"g1","memberId":"c1-7f3a","partitions":[{"topic":"orders","partition":0}]}',
    {},
    '{}',
  ),
  LIST_GROUP_OFFSETS: sample(
    listGroupOffsetsMessage,
    { group: 'g1' },
    '{"group":"g1"}',
    { offsets: [{ group: 'g1', topic: 'orders', partition: 0, offset: 42 }] },
    '{"offsets":[{"group":"g1","topic":"orders","partition":0,"offset":42}]}',
  ),
  DELETE_GROUP_OFFSETS: sample(
    deleteGroupOffsetsMessage,
    { group: 'g1' },
    '{"group":"g1"}',
    { deleted: 3 },
    '{"deleted":3}',
  ),
  JOIN_GROUP: sample(
    joinGroupMessage,
    {
      group: 'g1',
      clientId: 'app-1',
      subscriptions: [{ topic: 'orders', streamIds: ['s1'] }],
      sessionTimeoutMs: 10_000,
      bound: { sessionKey: 'job-7', offsets: [{ topic: 'orders', partition: 0, offset: 5 }] },
    },
    '{"group":"g1","clientId":"app-1","subscriptions":[{"topic":"orders","streamIds":["s1"]}],' +
      '"sessionTimeoutMs":10000,"bound":{"sessionKey":"job-7","offsets":[{"topic":"orders","partition":0,"offset":5}]}}',
    { memberId: 'app-1-3f09a1c2b4d5', generation: 3, heartbeatIntervalMs: 1000, sessionTimeoutMs: 10_000 },
    '{"memberId":"app-1-3f09a1c2b4d5","generation":3,"heartbeatIntervalMs":1000,"sessionTimeoutMs":10000}',
  ),
  GROUP_HEARTBEAT: sample(
    groupHeartbeatMessage,
    { group: 'g1', memberId: 'm1', owned: [{ topic: 'orders', partition: 0 }] },
    '{"group":"g1","memberId":"m1","owned":[{"topic":"orders","partition":0}]}',
    { generation: 3 },
    '{"generation":3}',
  ),
  LEAVE_GROUP: sample(
    leaveGroupMessage,
    { group: 'g1', memberId: 'm1' },
    '{"group":"g1","memberId":"m1"}',
    {},
    '{}',
  ),
  LIST_GROUPS: sample(
    listGroupsMessage,
    {},
    '{}',
    { groups: [{ group: 'g1', state: 'stable', members: 2, topics: ['orders'] }] },
    '{"groups":[{"group":"g1","state":"stable","members":2,"topics":["orders"]}]}',
  ),
  DESCRIBE_GROUP: sample(
    describeGroupMessage,
    { group: 'g1' },
    '{"group":"g1"}',
    {
      group: 'g1',
      state: 'rebalancing',
      generation: 4,
      subscriptions: [{ topic: 'orders', streamIds: [] }],
      session: { sessionKey: 'job-7', applied: true },
      members: [
        {
          memberId: 'm1',
          clientId: 'app-1',
          host: '127.0.0.1:53122',
          joinedAtMs: 1_700_000_000_000,
          lastHeartbeatAtMs: 1_700_000_004_000,
          assigned: [{ topic: 'orders', partition: 0 }],
          owned: [],
        },
      ],
    },
    '{"group":"g1","state":"rebalancing","generation":4,"subscriptions":[{"topic":"orders","streamIds":[]}],' +
      '"session":{"sessionKey":"job-7","applied":true},"members":[{"memberId":"m1","clientId":"app-1",' +
      '"host":"127.0.0.1:53122","joinedAtMs":1700000000000,"lastHeartbeatAtMs":1700000004000,' +
      '"assigned":[{"topic":"orders","partition":0}],"owned":[]}]}',
  ),
  RESET_GROUP_OFFSETS: sample(
    resetGroupOffsetsMessage,
    { group: 'g1', offsets: [{ topic: 'orders', partition: 1, offset: 120 }], force: true },
    '{"group":"g1","offsets":[{"topic":"orders","partition":1,"offset":120}],"force":true}',
    { committed: 1 },
    '{"committed":1}',
  ),
  DELETE_GROUP: sample(
    deleteGroupMessage,
    { group: 'g1' },
    '{"group":"g1"}',
    { deletedOffsets: 4 },
    '{"deletedOffsets":4}',
  ),
} as const satisfies Record<string, ControlSample>;

export type ControlName = keyof typeof controlSamples;
export const controlNames = Object.keys(controlSamples) as ControlName[];

/** A deep copy of `value` with every object's keys in reverse order, to prove encoding reorders them. */
export function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, inner]) => [key, reverseKeys(inner)]),
  );
}
