// COMMIT_OFFSETS (opcode 12, broker): store a consumer group's offsets for partitions this broker
// serves. Durable (fsynced) before the answer.
//
//   request  = {"group", "offsets": [{"topic", "partition", "offset"}, ...], "memberId"?, "force"?}
//              1 to 10,000 entries
//   response = {}
//
// The offset is the next one to consume. Partition leases (CLAIM_PARTITIONS) guard commits: while a
// member of the group holds a partition's lease, only that member (`memberId`) may commit it, else
// PARTITION_OWNED_BY_OTHER (410); a `memberId` that holds no lease on it gets NOT_REGISTERED (411).
// Without `memberId` and with no live lease the commit is an offline one (an admin's) and is taken.
// `force: true` skips the lease checks (the master's offset resets). A partition this broker does not serve is UNAVAILABLE
// (retriable: the client refreshes its metadata); an unknown topic is NOT_FOUND.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, memberIdSchema, offsetSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  offsets: z
    .array(z.object({ ...topicPartitionSchema.shape, offset: offsetSchema }))
    .min(1)
    .max(10_000),
  memberId: memberIdSchema.optional(),
  force: z.boolean().optional(),
});
const response = z.object({});

export type CommitOffsetsRequest = z.infer<typeof request>;
export type CommitOffsetsResponse = z.infer<typeof response>;

/** Codec of COMMIT_OFFSETS. */
export const commitOffsetsMessage = jsonMessage({
  opcode: opcodes.COMMIT_OFFSETS,
  name: 'COMMIT_OFFSETS',
  request,
  response,
});
