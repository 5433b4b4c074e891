// DESCRIBE_GROUP (opcode 55, master): one group's state, members and assignment. A group the master
// has no members or session for is described as `empty` with no members (it may still have
// offsets on the brokers; the admin client decides whether it exists at all).
//
//   request  = {"group"}
//   response = {"group", "state", "generation", "subscriptions": [{"topic", "streamIds"}, ...],
//               "session"?: {"sessionKey", "applied": bool},
//               "members": [{"memberId", "clientId", "host", "joinedAtMs", "lastHeartbeatAtMs",
//                            "assigned": [{"topic", "partition"}, ...],
//                            "owned": [{"topic", "partition"}, ...]}, ...]}
//
// `assigned` is the member's share of the target assignment; `owned` what it last reported holding.
// The group is `stable` when every member owns exactly its share.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import {
  groupNameSchema,
  groupStateSchema,
  memberIdSchema,
  offsetSchema,
  subscriptionSchema,
  topicPartitionSchema,
} from './shapes.js';

const memberSchema = z.object({
  memberId: memberIdSchema,
  clientId: z.string(),
  /** The member's address as the master sees its connection, `host:port`. */
  host: z.string(),
  joinedAtMs: offsetSchema,
  lastHeartbeatAtMs: offsetSchema,
  assigned: z.array(topicPartitionSchema),
  owned: z.array(topicPartitionSchema),
});

const request = z.object({ group: groupNameSchema });
const response = z.object({
  group: groupNameSchema,
  state: groupStateSchema,
  generation: offsetSchema,
  subscriptions: z.array(subscriptionSchema),
  session: z.object({ sessionKey: z.string(), applied: z.boolean() }).optional(),
  members: z.array(memberSchema),
});

/** One member of a group as the master describes it. */
export type GroupMemberDescription = z.infer<typeof memberSchema>;
export type DescribeGroupRequest = z.infer<typeof request>;
export type DescribeGroupResponse = z.infer<typeof response>;

/** Codec of DESCRIBE_GROUP. */
export const describeGroupMessage = jsonMessage({
  opcode: opcodes.DESCRIBE_GROUP,
  name: 'DESCRIBE_GROUP',
  request,
  response,
});
