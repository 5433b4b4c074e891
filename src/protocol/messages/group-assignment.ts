// GROUP_ASSIGNMENT (opcode 53, pushed by the master to a member on the connection it joined on):
// every partition the member may own now. Partitions it holds and that are missing here are revoked:
// the member stops fetching them, commits what it processed, releases their leases and heartbeats
// at once. Partitions new here are its to claim (CLAIM_PARTITIONS) and read from the committed
// offset. A partition is never in two members' assignments at once.
//
//   push = {"group", "memberId", "generation", "partitions": [{"topic", "partition"}, ...]}
//
// `generation` grows with every change of the group's target assignment; a member ignores a push
// older than one it has applied.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonPush } from './json-message.js';
import { groupNameSchema, memberIdSchema, offsetSchema, topicPartitionSchema } from './shapes.js';

export const groupAssignmentSchema = z.object({
  group: groupNameSchema,
  memberId: memberIdSchema,
  generation: offsetSchema,
  partitions: z.array(topicPartitionSchema),
});

/** The partitions one member may own now. */
export type GroupAssignment = z.infer<typeof groupAssignmentSchema>;

/** Codec of the GROUP_ASSIGNMENT push (master to consumer). */
export const groupAssignmentPush = jsonPush({
  opcode: opcodes.GROUP_ASSIGNMENT,
  name: 'GROUP_ASSIGNMENT',
  body: groupAssignmentSchema,
});
