// Control messages (DESIGN.md §5): compact UTF-8 JSON bodies validated by zod on both ends. Hot
// messages (PRODUCE, FETCH) are hand-coded binary instead; these run a few times a second at most.
//
//   request  = UTF-8 JSON object, fields in the schema's order
//   response = UTF-8 JSON object, fields in the schema's order
//
// Unknown fields are dropped on decode, so a later version may add optional ones.
import { z } from 'zod';
import { TubeError } from '../../common/index.js';
import type { Connection, RequestOptions } from '../connection.js';

/** A request/response pair carried as JSON under one opcode. */
export interface JsonMessage<Request, Response> {
  readonly opcode: number;
  /** The opcode's name, used in error messages, e.g. `CREATE_TOPIC`. */
  readonly name: string;
  encodeRequest(request: Request): Buffer;
  /** Throws `TubeError('BAD_REQUEST')` naming the first bad field. */
  decodeRequest(body: Buffer): Request;
  encodeResponse(response: Response): Buffer;
  /** Throws `TubeError('BAD_REQUEST')` naming the first bad field. */
  decodeResponse(body: Buffer): Response;
}

/** A message the server pushes unasked (PUSH flag): a body only, no answer. */
export interface JsonPush<Body> {
  readonly opcode: number;
  readonly name: string;
  encode(body: Body): Buffer;
  decode(body: Buffer): Body;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Defines the codec of one JSON control message from its two schemas. */
export function jsonMessage<Request, Response>(definition: {
  opcode: number;
  name: string;
  request: z.ZodType<Request>;
  response: z.ZodType<Response>;
}): JsonMessage<Request, Response> {
  const { opcode, name, request, response } = definition;
  return {
    opcode,
    name,
    encodeRequest: (value) => encodeJson(request, value, `${name} request`),
    decodeRequest: (body) => decodeJson(request, body, `${name} request`),
    encodeResponse: (value) => encodeJson(response, value, `${name} response`),
    decodeResponse: (body) => decodeJson(response, body, `${name} response`),
  };
}

/** Defines the codec of one JSON push message. */
export function jsonPush<Body>(definition: {
  opcode: number;
  name: string;
  body: z.ZodType<Body>;
}): JsonPush<Body> {
  const { opcode, name, body } = definition;
  return {
    opcode,
    name,
    encode: (value) => encodeJson(body, value, `${name} push`),
    decode: (bytes) => decodeJson(body, bytes, `${name} push`),
  };
}

/**
 * Sends `request` as `message` and decodes the answer. Rejects with the peer's TubeError, with
 * UNAVAILABLE on timeout or close, or with BAD_REQUEST when the answer does not decode.
 */
export async function callJson<Request, Response>(
  connection: Connection,
  message: JsonMessage<Request, Response>,
  request: Request,
  options?: RequestOptions,
): Promise<Response> {
  const frame = await connection.request(message.opcode, message.encodeRequest(request), options);
  return message.decodeResponse(frame.body);
}

// Encoding validates too: a value the peer would refuse is a bug on this side, caught here with the
// field named, and parsing puts the fields in the schema's order so the bytes are stable.
function encodeJson<T>(schema: z.ZodType<T>, value: T, what: string): Buffer {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new TubeError('BAD_REQUEST', `cannot encode ${what}: ${describeIssues(result.error).join('; ')}`);
  }
  return Buffer.from(JSON.stringify(result.data), 'utf8');
}

/** Decodes and validates one JSON body; throws `TubeError('BAD_REQUEST')` saying what is wrong. */
export function decodeJson<T>(schema: z.ZodType<T>, body: Buffer, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (error) {
    throw new TubeError('BAD_REQUEST', `${what} is not UTF-8 JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = describeIssues(result.error);
    throw new TubeError('BAD_REQUEST', `${what} is invalid: ${problems.join('; ')}`, {
      details: { issues: problems },
    });
  }
  return result.data;
}

// Enough to fix a request by; 10,000 bad entries would otherwise make a 20 KB request answer with
// an error about 35 times its size.
const issuesDescribedMax = 10;

function describeIssues(error: z.ZodError): string[] {
  const { issues } = error;
  const described = issues
    .slice(0, issuesDescribedMax)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  if (issues.length > issuesDescribedMax) described.push(`and ${issues.length - issuesDescribedMax} more`);
  return described;
}
