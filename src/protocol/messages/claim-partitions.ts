// CLAIM_PARTITIONS (opcode 15, broker): a consumer group member takes the leases of partitions
// before it fetches them as that member (DESIGN.md §6: never two owners of a partition).
//
//   request  = {"group", "memberId", "partitions": [{"topic", "partition"}, ...]}   1 to 10,000
//   response = {"claims": [{"topic", "partition", "granted": bool, "holder"?: memberId}, ...]}
//              same order; `holder` names the member holding a lease that was not granted
//
// A lease is granted when nobody holds it, when it has expired, or when `memberId` already holds it
// (then it moves to this connection). It belongs to the connection it was claimed on: it ends on
// RELEASE_PARTITIONS, when that connection closes, or when the lease time (10 s by default) passes
// without a fetch, commit or claim by its holder. A partition this broker does not serve is
// UNAVAILABLE; an unknown topic is NOT_FOUND.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, memberIdSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  memberId: memberIdSchema,
  partitions: z.array(topicPartitionSchema).min(1).max(10_000),
});
const response = z.object({
  claims: z.array(
    z.object({ ...topicPartitionSchema.shape, granted: z.boolean(), holder: memberIdSchema.optional() }),
  ),
});

export type ClaimPartitionsRequest = z.infer<typeof request>;
export type ClaimPartitionsResponse = z.infer<typeof response>;

/** Codec of CLAIM_PARTITIONS. */
export const claimPartitionsMessage = jsonMessage({
  opcode: opcodes.CLAIM_PARTITIONS,
  name: 'CLAIM_PARTITIONS',
  request,
  response,
});
