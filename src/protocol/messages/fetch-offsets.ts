// FETCH_OFFSETS (opcode 13, broker): a consumer group's committed offsets.
//
//   request  = {"group", "partitions": [{"topic", "partition"}, ...]}   1 to 10,000 entries
//   response = {"offsets": [{"topic", "partition", "offset": int | null}, ...]}  same order
//
// null means the group never committed that partition.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, offsetSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  partitions: z.array(topicPartitionSchema).min(1).max(10_000),
});
const response = z.object({
  offsets: z.array(z.object({ ...topicPartitionSchema.shape, offset: offsetSchema.nullable() })),
});

export type FetchOffsetsRequest = z.infer<typeof request>;
export type FetchOffsetsResponse = z.infer<typeof response>;

/** Codec of FETCH_OFFSETS. */
export const fetchOffsetsMessage = jsonMessage({
  opcode: opcodes.FETCH_OFFSETS,
  name: 'FETCH_OFFSETS',
  request,
  response,
});
