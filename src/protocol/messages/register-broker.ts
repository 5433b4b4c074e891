// REGISTER_BROKER (opcode 40, broker to master): join the cluster, or come back after a restart.
//
//   request  = {"brokerId", "host", "port"}        the address clients should use
//   response = {"heartbeatIntervalMs", "assignment": BrokerAssignment}
//
// The broker is online from this answer on. An id whose registration is still live from another
// address is refused ALREADY_EXISTS; the same id from the same address replaces the old session.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { brokerAssignmentSchema } from './broker-assignment.js';
import { jsonMessage } from './json-message.js';
import { brokerIdSchema, hostSchema, portSchema } from './shapes.js';

const request = z.object({ brokerId: brokerIdSchema, host: hostSchema, port: portSchema });
const response = z.object({
  heartbeatIntervalMs: z.int().min(1).max(3_600_000),
  assignment: brokerAssignmentSchema,
});

export type RegisterBrokerRequest = z.infer<typeof request>;
export type RegisterBrokerResponse = z.infer<typeof response>;

/** Codec of REGISTER_BROKER. */
export const registerBrokerMessage = jsonMessage({
  opcode: opcodes.REGISTER_BROKER,
  name: 'REGISTER_BROKER',
  request,
  response,
});
