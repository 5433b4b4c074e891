// LIST_BROKERS (opcode 42, master): every registered broker, sorted by id.
//
//   request  = {}
//   response = {"brokers": [BrokerInfo, ...]}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { brokerInfoSchema } from './shapes.js';

const request = z.object({});
const response = z.object({ brokers: z.array(brokerInfoSchema) });

export type ListBrokersRequest = z.infer<typeof request>;
export type ListBrokersResponse = z.infer<typeof response>;

/** Codec of LIST_BROKERS. */
export const listBrokersMessage = jsonMessage({
  opcode: opcodes.LIST_BROKERS,
  name: 'LIST_BROKERS',
  request,
  response,
});
