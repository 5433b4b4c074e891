// LIST_OFFSETS (opcode 14, broker): the stored range of partitions, and optionally the first offset
// at or after a time.
//
//   request  = {"partitions": [{"topic", "partition", "timestampMs"?}, ...]}   1 to 10,000 entries
//   response = {"offsets": [{"topic", "partition", "earliest", "latest", "offsetAtTimestamp"?,
//                            "gapOffsets"?, "gaps"?}, ...]}
//
// `earliest` is the first offset still stored, `latest` the readable end: the first offset a
// consumer may not read yet (every message below it reached the level its producer is
// acknowledged at). `offsetAtTimestamp` (only when asked) is the first offset whose timestamp is
// >= timestampMs, or `latest` when there is none. `gapOffsets` counts the offsets the partition
// ever skipped because no message has them, and `gaps` lists the newest of those ranges
// ({"from", "to" (exclusive), "cause": "write-failed" | "recovery"}); both are absent from
// brokers that predate them.
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
      gapOffsets: offsetSchema.optional(),
      gaps: z
        .array(
          z.object({ from: offsetSchema, to: offsetSchema, cause: z.enum(['write-failed', 'recovery']) }),
        )
        .max(1000)
        .optional(),
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
