// LIST_GROUP_OFFSETS (opcode 17, broker): every offset committed on this broker, of one group or of
// all groups, for `group list` and `group describe`.
//
//   request  = {"group"?}
//   response = {"offsets": [{"group", "topic", "partition", "offset"}, ...]}
//              sorted by group, topic and partition
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, partitionOffsetSchema } from './shapes.js';

const request = z.object({ group: groupNameSchema.optional() });
const response = z.object({
  offsets: z.array(z.object({ group: groupNameSchema, ...partitionOffsetSchema.shape })),
});

export type ListGroupOffsetsRequest = z.infer<typeof request>;
export type ListGroupOffsetsResponse = z.infer<typeof response>;

/** Codec of LIST_GROUP_OFFSETS. */
export const listGroupOffsetsMessage = jsonMessage({
  opcode: opcodes.LIST_GROUP_OFFSETS,
  name: 'LIST_GROUP_OFFSETS',
  request,
  response,
});
