// CLUSTER_STATUS (opcode 43, master): the master itself, the brokers and the counts a person checks.
//
//   request  = {}
//   response = {"master": {"masterId", "host", "port", "role", "startedAtMs", "metadataVersion"},
//               "brokers": [BrokerInfo, ...], "topicCount", "partitionCount"}
import { z } from 'zod';
import { opcodes } from '../opcodes.js';
import { jsonMessage } from './json-message.js';
import { brokerInfoSchema, hostSchema, offsetSchema, portSchema } from './shapes.js';

const request = z.object({});
const response = z.object({
  master: z.object({
    masterId: z.string().min(1).max(255),
    host: hostSchema,
    port: portSchema,
    /** `leader` until standby masters exist (the HA issue). */
    role: z.enum(['leader', 'standby']),
    startedAtMs: offsetSchema,
    metadataVersion: offsetSchema,
  }),
  brokers: z.array(brokerInfoSchema),
  topicCount: offsetSchema,
  partitionCount: offsetSchema,
});

export type ClusterStatusRequest = z.infer<typeof request>;
export type ClusterStatusResponse = z.infer<typeof response>;

/** Codec of CLUSTER_STATUS. */
export const clusterStatusMessage = jsonMessage({
  opcode: opcodes.CLUSTER_STATUS,
  name: 'CLUSTER_STATUS',
  request,
  response,
});
