// DELETE_GROUP_OFFSETS (opcode 18, broker): forget every offset a group committed on this broker.
// Durable (fsynced) before the answer. The master sends it for DELETE_GROUP.
//
//   request  = {"group"}
//   response = {"deleted": int}   ; how many partitions' offsets were removed
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, offsetSchema } from './shapes.js';

const request = z.object({ group: groupNameSchema });
const response = z.object({ deleted: offsetSchema });

export type DeleteGroupOffsetsRequest = z.infer<typeof request>;
export type DeleteGroupOffsetsResponse = z.infer<typeof response>;

/** Codec of DELETE_GROUP_OFFSETS. */
export const deleteGroupOffsetsMessage = jsonMessage({
  opcode: opcodes.DELETE_GROUP_OFFSETS,
  name: 'DELETE_GROUP_OFFSETS',
  request,
  response,
});
