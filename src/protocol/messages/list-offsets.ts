// LIST_OFFSETS (opcode 14, broker): the stored range of partitions, and optionally the first offset
// at or after a time.
//
//   request  = {"partitions": [{"topic", "partition", "timestampMs"?}, ...]}   1 to 10,000 entries
//   response = {"offsets": [{"topic", "partition", "earliest", "latest", "offsetAtTimestamp"?}, ...]}
//
// `earliest` is the first offset still stored, `latest` the offset the next message will get.
// `offsetAtTimestamp` (only when asked) is the first offset whose timestamp is >= timestampMs, or
// `latest` when there is none.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { offsetSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  partitions: z
    .array(z.object({ ...topicPartitionSchema.shape, timestampMs: offsetSchema.optional() }))
    .min(1)
    .max(10_000),
});
const response = z.object({
  offsets: z.array(
    z.object({
      ...topicPartitionSchema.shape,
      earliest: offsetSchema,
      latest: offsetSchema,
      offsetAtTimestamp: offsetSchema.optional(),
    }),
  ),
});

export type ListOffsetsRequest = z.infer<typeof request>;
export type ListOffsetsResponse = z.infer<typeof response>;

/** Codec of LIST_OFFSETS. */
export const listOffsetsMessage = jsonMessage({
  opcode: opcodes.LIST_OFFSETS,
  name: 'LIST_OFFSETS',
  request,
  response,
});
