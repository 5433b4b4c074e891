// BROKER_HEARTBEAT (opcode 41, broker to master): "still here, and this is what I have applied".
//
//   request  = {"brokerId", "appliedVersion"}
//   response = {"assignment"?: BrokerAssignment}   present only when newer than appliedVersion
//
// A broker the master does not know (say, after the master lost it for missing heartbeats) is
// answered NOT_REGISTERED; the broker then registers again.
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { brokerAssignmentSchema } from './broker-assignment.js';
import { jsonMessage } from './json-message.js';
import { brokerIdSchema, offsetSchema } from './shapes.js';

const request = z.object({ brokerId: brokerIdSchema, appliedVersion: offsetSchema });
const response = z.object({ assignment: brokerAssignmentSchema.optional() });

export type BrokerHeartbeatRequest = z.infer<typeof request>;
export type BrokerHeartbeatResponse = z.infer<typeof response>;

/** Codec of BROKER_HEARTBEAT. */
export const brokerHeartbeatMessage = jsonMessage({
  opcode: opcodes.BROKER_HEARTBEAT,
  name: 'BROKER_HEARTBEAT',
  request,
  response,
});
