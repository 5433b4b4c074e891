// RESET_GROUP_OFFSETS (opcode 56, master): set a group's committed offsets (`group reset-offsets
// --execute`). With no live members the master commits them on the brokers at once. With members,
// it refuses with GROUP_NOT_EMPTY (423) unless `force`: then it revokes every partition, waits until
// the members released them (they commit their own positions first), commits these offsets, and
// assigns again, so members continue from the new offsets.
//
//   request  = {"group", "offsets": [{"topic", "partition", "offset"}, ...], "force"?}  1 to 10,000
//   response = {"committed": int}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, offsetSchema, partitionOffsetSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  offsets: z.array(partitionOffsetSchema).min(1).max(10_000),
  force: z.boolean().optional(),
});
const response = z.object({ committed: offsetSchema });

export type ResetGroupOffsetsRequest = z.infer<typeof request>;
export type ResetGroupOffsetsResponse = z.infer<typeof response>;

/** Codec of RESET_GROUP_OFFSETS. */
export const resetGroupOffsetsMessage = jsonMessage({
  opcode: opcodes.RESET_GROUP_OFFSETS,
  name: 'RESET_GROUP_OFFSETS',
  request,
  response,
});
