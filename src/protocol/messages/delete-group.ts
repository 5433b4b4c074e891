// DELETE_GROUP (opcode 57, master): delete a group with no live members: its offsets on every
// online broker (DELETE_GROUP_OFFSETS) and what the master kept (its bound session). A group with
// members gets GROUP_NOT_EMPTY (423); one nobody knows gets NOT_FOUND.
//
//   request  = {"group"}
//   response = {"deletedOffsets": int}   ; partitions whose offsets were removed
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, offsetSchema } from './shapes.js';

const request = z.object({ group: groupNameSchema });
const response = z.object({ deletedOffsets: offsetSchema });

export type DeleteGroupRequest = z.infer<typeof request>;
export type DeleteGroupResponse = z.infer<typeof response>;

/** Codec of DELETE_GROUP. */
export const deleteGroupMessage = jsonMessage({
  opcode: opcodes.DELETE_GROUP,
  name: 'DELETE_GROUP',
  request,
  response,
});
