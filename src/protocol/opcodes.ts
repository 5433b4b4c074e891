// One table of opcodes (DESIGN.md §5). A number, once given, is never reused for another message.
// Reserved numbers are grouped by who serves them so a dump of traffic reads at a glance.

/** Opcodes this version speaks. A codec file in `messages/` exists for each. */
export const opcodes = {
  /** First frame on every connection: versions and identity (`messages/hello.ts`). */
  HELLO: 1,
  /** Broker data path: append a batch of messages to a partition (`messages/produce.ts`). */
  PRODUCE: 10,
  /** Broker data path: read messages from a partition, possibly long-polling (`messages/fetch.ts`). */
  FETCH: 11,
} as const;

/**
 * Numbers set aside for the messages that come next, so each later codec file only moves its line
 * into {@link opcodes}. A peer sending one of these today gets BAD_REQUEST, like any unknown opcode.
 */
export const reservedOpcodes = {
  /** Broker: store a consumer group's offsets. */
  COMMIT_OFFSETS: 12,
  /** Broker: read a consumer group's offsets. */
  FETCH_OFFSETS: 13,
  /** Master: topics, partitions and the brokers that serve them. */
  METADATA: 20,
  /** Master admin: create a topic. */
  CREATE_TOPIC: 30,
  /** Master admin: list topics. */
  LIST_TOPICS: 31,
  /** Master admin: one topic's configuration and partitions. */
  DESCRIBE_TOPIC: 32,
  /** Broker to master: join the cluster. */
  REGISTER_BROKER: 40,
  /** Broker to master: liveness and load. */
  BROKER_HEARTBEAT: 41,
  /** Master admin: registered brokers and their state. */
  LIST_BROKERS: 42,
  /** Master admin: leader, standbys and cluster health. */
  CLUSTER_STATUS: 43,
} as const;

/** The name of an opcode this version speaks, e.g. `HELLO`. */
export type OpcodeName = keyof typeof opcodes;

/** An opcode number this version speaks. */
export type Opcode = (typeof opcodes)[OpcodeName];

const nameByOpcode = new Map<number, OpcodeName>(
  (Object.keys(opcodes) as OpcodeName[]).map((name) => [opcodes[name], name]),
);

/** Whether `opcode` is one this version speaks (reserved numbers are not). */
export function isKnownOpcode(opcode: number): opcode is Opcode {
  return nameByOpcode.has(opcode);
}

/** A readable name for logs and error messages: `HELLO`, or `opcode 99` when unknown. */
export function opcodeLabel(opcode: number): string {
  return nameByOpcode.get(opcode) ?? `opcode ${opcode}`;
}
