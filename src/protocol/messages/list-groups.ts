// LIST_GROUPS (opcode 54, master): the consumer groups the master knows — those with members and
// those with a bound session on record — sorted by name. Groups that only have committed offsets
// live on the brokers (LIST_GROUP_OFFSETS); the admin client merges both.
//
//   request  = {}
//   response = {"groups": [{"group", "state", "members": int, "topics": [topic, ...]}, ...]}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, groupStateSchema, offsetSchema, topicNameSchema } from './shapes.js';

const request = z.object({});
const response = z.object({
  groups: z.array(
    z.object({
      group: groupNameSchema,
      state: groupStateSchema,
      members: offsetSchema,
      topics: z.array(topicNameSchema),
    }),
  ),
});

export type ListGroupsRequest = z.infer<typeof request>;
export type ListGroupsResponse = z.infer<typeof response>;

/** Codec of LIST_GROUPS. */
export const listGroupsMessage = jsonMessage({
  opcode: opcodes.LIST_GROUPS,
  name: 'LIST_GROUPS',
  request,
  response,
});
