// JOIN_GROUP (opcode 50, master): a consumer becomes a member of a balanced consumer group. The
// connection it joins on carries the member's GROUP_ASSIGNMENT pushes; closing it leaves the group.
//
//   request  = {"group", "clientId", "subscriptions": [{"topic", "streamIds": [id, ...]}, ...],
//               "sessionTimeoutMs"?, "bound"?: {"sessionKey", "offsets": [{"topic", "partition",
//               "offset"}, ...]}}
//   response = {"memberId", "generation", "heartbeatIntervalMs", "sessionTimeoutMs"}
//
// Every member of a group subscribes to the same topics with the same stream ids; a member that
// differs gets GROUP_MISMATCH (425) naming the difference (the group's shape is set by its first
// member and forgotten when the last one leaves). `bound` starts the group at exact offsets, applied
// once per session key (TubeMQ's precise offset reset): the first member with a new key makes the
// master revoke every partition, commit the offsets and only then assign; members joining later
// with the same key just join; a key the group has moved past gets STALE_SESSION (427), and members
// of an older session are removed (their next heartbeat gets 427). An offset naming a topic not
// subscribed is BAD_REQUEST; a partition the topic lacks is NOT_FOUND.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import {
  groupNameSchema,
  memberIdSchema,
  offsetSchema,
  partitionOffsetSchema,
  subscriptionSchema,
} from './shapes.js';

/** Limits of a member's session timeout, in ms. */
export const sessionTimeoutMsLimits = { min: 1000, max: 300_000, default: 10_000 } as const;

const request = z.object({
  group: groupNameSchema,
  clientId: z.string().min(1).max(255),
  subscriptions: z.array(subscriptionSchema).min(1).max(1024),
  sessionTimeoutMs: z.int().min(sessionTimeoutMsLimits.min).max(sessionTimeoutMsLimits.max).optional(),
  bound: z
    .object({
      sessionKey: z.string().min(1).max(255),
      offsets: z.array(partitionOffsetSchema).max(10_000),
    })
    .optional(),
});
const response = z.object({
  memberId: memberIdSchema,
  generation: offsetSchema,
  heartbeatIntervalMs: z.int().min(1),
  sessionTimeoutMs: z.int().min(1),
});

export type JoinGroupRequest = z.infer<typeof request>;
export type JoinGroupResponse = z.infer<typeof response>;

/** Codec of JOIN_GROUP. */
export const joinGroupMessage = jsonMessage({
  opcode: opcodes.JOIN_GROUP,
  name: 'JOIN_GROUP',
  request,
  response,
});
