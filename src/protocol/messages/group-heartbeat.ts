// GROUP_HEARTBEAT (opcode 51, master): a member is alive, and holds these partitions now. Sent every
// `heartbeatIntervalMs`, and at once after the member has released what an assignment took away —
// the master gives a partition to its next owner only once the previous one reported it gone.
//
//   request  = {"group", "memberId", "owned": [{"topic", "partition"}, ...]}
//   response = {"generation"}
//
// A member the master does not know (it timed out, or the master restarted) gets NOT_REGISTERED
// (411) and joins again; one removed by a newer bound session gets STALE_SESSION (427).
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, memberIdSchema, offsetSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  memberId: memberIdSchema,
  owned: z.array(topicPartitionSchema).max(100_000),
});
const response = z.object({ generation: offsetSchema });

export type GroupHeartbeatRequest = z.infer<typeof request>;
export type GroupHeartbeatResponse = z.infer<typeof response>;

/** Codec of GROUP_HEARTBEAT. */
export const groupHeartbeatMessage = jsonMessage({
  opcode: opcodes.GROUP_HEARTBEAT,
  name: 'GROUP_HEARTBEAT',
  request,
  response,
});
