// COMMIT_OFFSETS (opcode 12, broker): store a consumer group's offsets for partitions this broker
// serves. Durable (fsynced) before the answer.
//
//   request  = {"group", "offsets": [{"topic", "partition", "offset"}, ...]}   1 to 10,000 entries
//   response = {}
//
// The offset is the next one to consume. A partition this broker does not serve is UNAVAILABLE
// (retriable: the client refreshes its metadata); an unknown topic is NOT_FOUND.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, offsetSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  offsets: z
    .array(z.object({ ...topicPartitionSchema.shape, offset: offsetSchema }))
    .min(1)
    .max(10_000),
});
const response = z.object({});

export type CommitOffsetsRequest = z.infer<typeof request>;
export type CommitOffsetsResponse = z.infer<typeof response>;

/** Codec of COMMIT_OFFSETS. */
export const commitOffsetsMessage = jsonMessage({
  opcode: opcodes.COMMIT_OFFSETS,
  name: 'COMMIT_OFFSETS',
  request,
  response,
});
