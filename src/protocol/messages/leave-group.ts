// LEAVE_GROUP (opcode 52, master): a member leaves at once (a consumer's close()); its partitions
// are balanced over the others without waiting for the session timeout. Leaving twice is no error.
//
//   request  = {"group", "memberId"}
//   response = {}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, memberIdSchema } from './shapes.js';

const request = z.object({ group: groupNameSchema, memberId: memberIdSchema });
const response = z.object({});

export type LeaveGroupRequest = z.infer<typeof request>;
export type LeaveGroupResponse = z.infer<typeof response>;

/** Codec of LEAVE_GROUP. */
export const leaveGroupMessage = jsonMessage({
  opcode: opcodes.LEAVE_GROUP,
  name: 'LEAVE_GROUP',
  request,
  response,
});
