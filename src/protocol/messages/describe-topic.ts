// DESCRIBE_TOPIC (opcode 32, master): one topic's settings and placement.
//
//   request  = {"name"}
//   response = {"topic": TopicDescription}
//
// An unknown name is answered NOT_FOUND with details {"topic": name}.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { topicDescriptionSchema, topicNameSchema } from './shapes.js';

const request = z.object({ name: topicNameSchema });
const response = z.object({ topic: topicDescriptionSchema });

export type DescribeTopicRequest = z.infer<typeof request>;
export type DescribeTopicResponse = z.infer<typeof response>;

/** Codec of DESCRIBE_TOPIC. */
export const describeTopicMessage = jsonMessage({
  opcode: opcodes.DESCRIBE_TOPIC,
  name: 'DESCRIBE_TOPIC',
  request,
  response,
});
