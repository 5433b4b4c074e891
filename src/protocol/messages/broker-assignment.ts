// What a broker serves, as the master tells it: in the answers to REGISTER_BROKER and
// BROKER_HEARTBEAT, and pushed unasked as BROKER_ASSIGNMENT (opcode 44) the moment it changes.
//
//   assignment = {"version": int, "topics": [{"name", "partitions", "stores", "retentionMs",
//                 "retentionBytes", "ackFloor", "hostedPartitions": [p, ...]}, ...]}
//
// `version` grows with every metadata change; a broker reports the version it has applied in each
// heartbeat, and the master answers with a newer assignment when there is one. The broker creates
// each listed topic locally with all `partitions` and serves only `hostedPartitions`.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonPush } from './json-message.js';
import { offsetSchema, partitionSchema, topicNameSchema, topicSettingsSchema } from './shapes.js';

export const brokerAssignmentSchema = z.object({
  version: offsetSchema,
  topics: z.array(
    z.object({
      name: topicNameSchema,
      ...topicSettingsSchema.shape,
      hostedPartitions: z.array(partitionSchema),
    }),
  ),
});

/** The topics and partitions one broker serves, at one metadata version. */
export type BrokerAssignment = z.infer<typeof brokerAssignmentSchema>;

/** Codec of the BROKER_ASSIGNMENT push (master to broker). */
export const brokerAssignmentPush = jsonPush({
  opcode: opcodes.BROKER_ASSIGNMENT,
  name: 'BROKER_ASSIGNMENT',
  body: brokerAssignmentSchema,
});
