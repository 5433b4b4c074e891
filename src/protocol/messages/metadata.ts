// METADATA (opcode 20, master): where the partitions of some topics live, and the brokers' addresses.
//
//   request  = {"topics": [name, ...]}          empty list: every topic
//   response = {"brokers": [BrokerInfo, ...], "topics": [TopicDescription, ...]}
//
// A named topic that does not exist is answered NOT_FOUND with details {"topic": name}.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { brokerInfoSchema, topicDescriptionSchema, topicNameSchema } from './shapes.js';

const request = z.object({ topics: z.array(topicNameSchema).max(10_000) });
const response = z.object({ brokers: z.array(brokerInfoSchema), topics: z.array(topicDescriptionSchema) });

export type MetadataRequest = z.infer<typeof request>;
export type MetadataResponse = z.infer<typeof response>;

/** Codec of METADATA. */
export const metadataMessage = jsonMessage({ opcode: opcodes.METADATA, name: 'METADATA', request, response });
