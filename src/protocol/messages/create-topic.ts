// CREATE_TOPIC (opcode 30, master): create a topic and place its partitions on live brokers.
//
//   request  = {"name", "partitions", "stores"?, "brokers"?: [id...], "retentionMs"?,
//               "retentionBytes"?, "ackFloor"?, "ifNotExists"?}
//   response = {"created": bool, "topic": TopicDescription}
//
// Absent settings take the storage defaults. `brokers` limits placement to those ids (each must be
// online); without it every online broker takes partitions round-robin. An existing name is
// ALREADY_EXISTS unless ifNotExists, which answers created=false and the existing topic.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { brokerIdSchema, topicDescriptionSchema, topicNameSchema, topicSettingsSchema } from './shapes.js';

const request = z.object({
  name: topicNameSchema,
  partitions: topicSettingsSchema.shape.partitions,
  stores: topicSettingsSchema.shape.stores.optional(),
  brokers: z.array(brokerIdSchema).min(1).max(1024).optional(),
  retentionMs: topicSettingsSchema.shape.retentionMs.optional(),
  retentionBytes: topicSettingsSchema.shape.retentionBytes.optional(),
  ackFloor: topicSettingsSchema.shape.ackFloor.optional(),
  ifNotExists: z.boolean().optional(),
});
const response = z.object({ created: z.boolean(), topic: topicDescriptionSchema });

export type CreateTopicRequest = z.infer<typeof request>;
export type CreateTopicResponse = z.infer<typeof response>;

/** Codec of CREATE_TOPIC. */
export const createTopicMessage = jsonMessage({
  opcode: opcodes.CREATE_TOPIC,
  name: 'CREATE_TOPIC',
  request,
  response,
});
