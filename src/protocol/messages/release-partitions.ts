// RELEASE_PARTITIONS (opcode 16, broker): a member gives partition leases up, after committing
// what it processed, so the partitions' next owner may claim them at once.
//
//   request  = {"group", "memberId", "partitions": [{"topic", "partition"}, ...]}   1 to 10,000
//   response = {}
//
// Only leases `memberId` holds are released; naming others is not an error (they are left alone).
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { groupNameSchema, memberIdSchema, topicPartitionSchema } from './shapes.js';

const request = z.object({
  group: groupNameSchema,
  memberId: memberIdSchema,
  partitions: z.array(topicPartitionSchema).min(1).max(10_000),
});
const response = z.object({});

export type ReleasePartitionsRequest = z.infer<typeof request>;
export type ReleasePartitionsResponse = z.infer<typeof response>;

/** Codec of RELEASE_PARTITIONS. */
export const releasePartitionsMessage = jsonMessage({
  opcode: opcodes.RELEASE_PARTITIONS,
  name: 'RELEASE_PARTITIONS',
  request,
  response,
});
