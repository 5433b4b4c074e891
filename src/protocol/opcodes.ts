// One table of opcodes (DESIGN.md §5). A number, once given, is never reused for another message.
// Numbers are grouped by who serves them so a dump of traffic reads at a glance.

/** Opcodes this version speaks. A codec file in `messages/` exists for each. */
export const opcodes = {
  /** First frame on every connection: versions and identity (`messages/hello.ts`). */
  HELLO: 1,
  /** Broker data path: append a batch of messages to a partition (`messages/produce.ts`). */
  PRODUCE: 10,
  /** Broker data path: read messages from a partition, possibly long-polling (`messages/fetch.ts`). */
  FETCH: 11,
  /** Broker: store a consumer group's offsets (`messages/commit-offsets.ts`). */
  COMMIT_OFFSETS: 12,
  /** Broker: read a consumer group's offsets (`messages/fetch-offsets.ts`). */
  FETCH_OFFSETS: 13,
  /** Broker: earliest, latest and by-time offsets of partitions (`messages/list-offsets.ts`). */
  LIST_OFFSETS: 14,
  /** Broker: take the leases of partitions for a group member (`messages/claim-partitions.ts`). */
  CLAIM_PARTITIONS: 15,
  /** Broker: give leases up (`messages/release-partitions.ts`). */
  RELEASE_PARTITIONS: 16,
  /** Broker: every committed offset, of one group or all (`messages/list-group-offsets.ts`). */
  LIST_GROUP_OFFSETS: 17,
  /** Broker: forget a group's committed offsets (`messages/delete-group-offsets.ts`). */
  DELETE_GROUP_OFFSETS: 18,
  /** Broker data path: append the batches of several partitions in one request (`messages/produce-batches.ts`). */
  PRODUCE_BATCHES: 19,
  /** Master: topics, partitions and the brokers that serve them (`messages/metadata.ts`). */
  METADATA: 20,
  /** Master admin: create a topic (`messages/create-topic.ts`). */
  CREATE_TOPIC: 30,
  /** Master admin: list topics (`messages/list-topics.ts`). */
  LIST_TOPICS: 31,
  /** Master admin: one topic's configuration and partitions (`messages/describe-topic.ts`). */
  DESCRIBE_TOPIC: 32,
  /** Broker to master: join the cluster (`messages/register-broker.ts`). */
  REGISTER_BROKER: 40,
  /** Broker to master: liveness and applied metadata (`messages/broker-heartbeat.ts`). */
  BROKER_HEARTBEAT: 41,
  /** Master admin: registered brokers and their state (`messages/list-brokers.ts`). */
  LIST_BROKERS: 42,
  /** Master admin: the master, brokers and counts (`messages/cluster-status.ts`). */
  CLUSTER_STATUS: 43,
  /** Master to broker, pushed: what the broker serves now (`messages/broker-assignment.ts`). */
  BROKER_ASSIGNMENT: 44,
  /** Consumer to master: become a member of a balanced group (`messages/join-group.ts`). */
  JOIN_GROUP: 50,
  /** Consumer to master: liveness and the partitions held (`messages/group-heartbeat.ts`). */
  GROUP_HEARTBEAT: 51,
  /** Consumer to master: leave a group at once (`messages/leave-group.ts`). */
  LEAVE_GROUP: 52,
  /** Master to consumer, pushed: the partitions a member may own now (`messages/group-assignment.ts`). */
  GROUP_ASSIGNMENT: 53,
  /** Master admin: consumer groups the master knows (`messages/list-groups.ts`). */
  LIST_GROUPS: 54,
  /** Master admin: one group's members and assignment (`messages/describe-group.ts`). */
  DESCRIBE_GROUP: 55,
  /** Master admin: set a group's committed offsets safely (`messages/reset-group-offsets.ts`). */
  RESET_GROUP_OFFSETS: 56,
  /** Master admin: delete an empty group and its offsets (`messages/delete-group.ts`). */
  DELETE_GROUP: 57,
} as const;

/** The name of an opcode this version speaks, e.g. `HELLO`. */
export type OpcodeName = keyof typeof opcodes;

/** An opcode number this version speaks. */
export type Opcode = (typeof opcodes)[OpcodeName];

const nameByOpcode = new Map<number, OpcodeName>(
  (Object.keys(opcodes) as OpcodeName[]).map((name) => [opcodes[name], name]),
);

/** Whether `opcode` is one this version speaks. */
export function isKnownOpcode(opcode: number): opcode is Opcode {
  return nameByOpcode.has(opcode);
}

/** A readable name for logs and error messages: `HELLO`, or `opcode 99` when unknown. */
export function opcodeLabel(opcode: number): string {
  return nameByOpcode.get(opcode) ?? `opcode ${opcode}`;
}
