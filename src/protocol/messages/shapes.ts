// zod shapes shared by the control messages: names, brokers, topics and partitions as they travel.
// docs/protocol.md lists each field with its rule.
import { z } from 'zod';
import { isTopicName, partitionsMax, storesMax } from '../../common/index.js';

const u32Max = 0xffff_ffff;

/** A topic name: 1-64 of letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const topicNameSchema = z.string().refine(isTopicName, {
  message: "must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
});

/** A consumer group name: 1 to 255 UTF-8 bytes of printable characters. */
export const groupNameSchema = z
  .string()
  .min(1)
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 255, { message: 'must be at most 255 UTF-8 bytes' })
  .refine((value) => ![...value].some(isControlCharacter), {
    message: 'must not contain control characters',
  });

/** A consumer group member's id, as the master hands it out: same rule as a group name. */
export const memberIdSchema = groupNameSchema;

/** Most stream ids one subscription filters on (TubeMQ's `CFG_FLT_MAX_FILTER_ITEM_COUNT`). */
export const streamIdsPerTopicMax = 500;
/** Longest stream id, in UTF-8 bytes (TubeMQ's `CFG_FLT_MAX_FILTER_ITEM_LENGTH`). */
export const streamIdBytesMax = 256;

/** A stream id as a filter names it: 1 to 256 UTF-8 bytes, no control characters. */
export const streamIdSchema = z
  .string()
  .min(1)
  .refine((value) => Buffer.byteLength(value, 'utf8') <= streamIdBytesMax, {
    message: `must be at most ${streamIdBytesMax} characters (UTF-8 bytes)`,
  })
  .refine((value) => ![...value].some(isControlCharacter), {
    message: 'must not contain control characters',
  });

function isControlCharacter(character: string): boolean {
  const code = character.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
}

/** A broker id, 1 to 2^32-1 (0 is never an id, so it can mean "none"). */
export const brokerIdSchema = z.int().min(1).max(u32Max);
export const partitionSchema = z
  .int()
  .min(0)
  .max(partitionsMax - 1);
/** An offset or a count that a JavaScript number holds exactly. */
export const offsetSchema = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
export const hostSchema = z.string().min(1).max(255);
export const portSchema = z.int().min(1).max(0xffff);
export const ackLevelSchema = z.enum(['memory', 'written', 'fsync']);

/** What a broker is doing, as the master sees it. */
export const brokerStateSchema = z.enum(['online', 'offline']);
export type BrokerState = z.infer<typeof brokerStateSchema>;

/** A registered broker. */
export const brokerInfoSchema = z.object({
  brokerId: brokerIdSchema,
  host: hostSchema,
  port: portSchema,
  state: brokerStateSchema,
  /** When the broker first registered, ms since the epoch. */
  registeredAtMs: offsetSchema,
  /** When the master last heard from it, ms since the epoch. */
  lastHeartbeatAtMs: offsetSchema,
});
export type BrokerInfo = z.infer<typeof brokerInfoSchema>;

/** Per-topic settings, with the meaning `src/storage` gives them. */
export const topicSettingsSchema = z.object({
  partitions: z.int().min(1).max(partitionsMax),
  stores: z.int().min(1).max(storesMax),
  /** -1 keeps closed segments forever. */
  retentionMs: z.int().min(-1).max(Number.MAX_SAFE_INTEGER),
  /** -1 for no size limit. */
  retentionBytes: z.int().min(-1).max(Number.MAX_SAFE_INTEGER),
  ackFloor: ackLevelSchema,
});
export type TopicSettings = z.infer<typeof topicSettingsSchema>;

/** A topic as the master describes it: settings plus which broker serves each partition. */
export const topicDescriptionSchema = z.object({
  name: topicNameSchema,
  ...topicSettingsSchema.shape,
  createdAtMs: offsetSchema,
  /** `placement[p]` is the id of the broker serving partition p. */
  placement: z.array(brokerIdSchema),
});
export type TopicDescription = z.infer<typeof topicDescriptionSchema>;

/** One partition of one topic. */
export const topicPartitionSchema = z.object({ topic: topicNameSchema, partition: partitionSchema });
export type TopicPartition = z.infer<typeof topicPartitionSchema>;

/** One partition of one topic at an offset (the next one to consume). */
export const partitionOffsetSchema = z.object({ ...topicPartitionSchema.shape, offset: offsetSchema });
export type PartitionOffsetEntry = z.infer<typeof partitionOffsetSchema>;

/** A topic a group member reads, with the stream ids it filters on (none: every message). */
export const subscriptionSchema = z.object({
  topic: topicNameSchema,
  streamIds: z.array(streamIdSchema).max(streamIdsPerTopicMax),
});
export type Subscription = z.infer<typeof subscriptionSchema>;

/** How a group is doing: every partition owned as assigned, partitions moving, or no members. */
export const groupStateSchema = z.enum(['stable', 'rebalancing', 'empty']);
export type GroupState = z.infer<typeof groupStateSchema>;
