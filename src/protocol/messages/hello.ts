// HELLO (opcode 1), the first request on every connection, and its response. A control message,
// so compact JSON validated by zod rather than hand-coded binary.
//
//   hello-request  = UTF-8 JSON {"protocolVersion":int,"clientId":string,"authToken"?:string}
//   hello-response = UTF-8 JSON {"protocolVersion":int,"serverId":string,"role":"master"|"broker"}
//
// protocolVersion is an integer in [1, 65535]; clientId and serverId hold 1 to 255 UTF-8 bytes.
// Unknown fields are ignored, so a later version may add optional ones.
import { z } from 'zod';
import { decodeJson } from './json-message.js';

const version = z.int().min(1).max(0xffff);
const identity = z
  .string()
  .min(1)
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 255, { message: 'must be at most 255 UTF-8 bytes' });

const helloRequestSchema = z.object({
  protocolVersion: version,
  clientId: identity,
  authToken: z.string().optional(),
});

const helloResponseSchema = z.object({
  protocolVersion: version,
  serverId: identity,
  role: z.enum(['master', 'broker']),
});

/** What a client says first: its protocol version, who it is, and optionally a credential. */
export type HelloRequest = z.infer<typeof helloRequestSchema>;

/** The server's answer to HELLO: its protocol version, identity and role. */
export type HelloResponse = z.infer<typeof helloResponseSchema>;

/** Encodes a HELLO request body; fields in a fixed order so the bytes are stable. */
export function encodeHelloRequest(request: HelloRequest): Buffer {
  const { protocolVersion, clientId, authToken } = request;
  return json(
    authToken === undefined ? { protocolVersion, clientId } : { protocolVersion, clientId, authToken },
  );
}

/** Decodes and validates a HELLO request body; throws `TubeError('BAD_REQUEST')` saying what is wrong. */
export function decodeHelloRequest(body: Buffer): HelloRequest {
  return decodeJson(helloRequestSchema, body, 'HELLO request');
}

/** Encodes a HELLO response body; fields in a fixed order so the bytes are stable. */
export function encodeHelloResponse(response: HelloResponse): Buffer {
  const { protocolVersion, serverId, role } = response;
  return json({ protocolVersion, serverId, role });
}

/** Decodes and validates a HELLO response body; throws `TubeError('BAD_REQUEST')` saying what is wrong. */
export function decodeHelloResponse(body: Buffer): HelloResponse {
  return decodeJson(helloResponseSchema, body, 'HELLO response');
}

function json(value: object): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
