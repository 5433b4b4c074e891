// LIST_TOPICS (opcode 31, master): every topic, sorted by name.
//
//   request  = {}
//   response = {"topics": [TopicDescription, ...]}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { topicDescriptionSchema } from './shapes.js';

const request = z.object({});
const response = z.object({ topics: z.array(topicDescriptionSchema) });

export type ListTopicsRequest = z.infer<typeof request>;
export type ListTopicsResponse = z.infer<typeof response>;

/** Codec of LIST_TOPICS. */
export const listTopicsMessage = jsonMessage({
  opcode: opcodes.LIST_TOPICS,
  name: 'LIST_TOPICS',
  request,
  response,
});
