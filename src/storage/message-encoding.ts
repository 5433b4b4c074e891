import { TubeError } from '../common/errors.js';
import type { EncodableMessage } from '../common/record-format.js';
import { streamAttribute } from '../common/record-message.js';
import type { MessageInput } from './types.js';

const streamIdLengthMax = 256;
const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;

/**
 * FNV-1a over the stream id's UTF-16 code units, never 0 (0 means "no stream"). Stored in the
 * record and the index so the broker can filter by comparing numbers; collisions are possible,
 * so readers that need certainty re-check the real id.
 */
export function streamHash(streamId: string | undefined): number {
  if (streamId === undefined || streamId === '') return 0;
  let hash = fnvOffsetBasis;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, fnvPrime);
  }
  return hash >>> 0 || 1;
}

/** Bytes of a key or value: a string as UTF-8, a Buffer as is, any other Uint8Array as a view. */
function toBuffer(value: unknown, what: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TubeError('BAD_REQUEST', `${what} must be a string, Buffer or Uint8Array`);
}

function checkString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new TubeError('BAD_REQUEST', `${what} must be a string`);
}

function checkAttributeText(text: string, what: string): void {
  if (text.includes(',') || text.includes('=')) {
    throw new TubeError('BAD_REQUEST', `${what} may not contain ',' or '=': ${JSON.stringify(text)}`);
  }
}

function encodeAttributes(message: MessageInput): Buffer | undefined {
  const pairs: string[] = [];
  if (message.streamId !== undefined && message.streamId !== '') {
    checkString(message.streamId, 'streamId');
    if (message.streamId.length > streamIdLengthMax) {
      throw new TubeError('BAD_REQUEST', `streamId is longer than ${streamIdLengthMax} characters`);
    }
    checkAttributeText(message.streamId, 'streamId');
    pairs.push(`${streamAttribute}=${message.streamId}`);
  }
  const attributes: unknown = message.attributes ?? {};
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw new TubeError('BAD_REQUEST', 'attributes must be an object of strings');
  }
  for (const [key, value] of Object.entries(attributes)) {
    checkString(value, `attribute ${JSON.stringify(key)}`);
    if (key === '' || key.startsWith('$')) {
      throw new TubeError(
        'BAD_REQUEST',
        `attribute key ${JSON.stringify(key)} is empty or reserved ('$' prefix)`,
      );
    }
    checkAttributeText(key, 'attribute key');
    checkAttributeText(value, 'attribute value');
    pairs.push(`${key}=${value}`);
  }
  return pairs.length > 0 ? Buffer.from(pairs.join(',')) : undefined;
}

/** Validates a producer's message and turns it into record fields. */
export function encodeMessage(message: MessageInput, nowMs: number): EncodableMessage {
  if (message === null || typeof message !== 'object' || message.value === undefined) {
    throw new TubeError('BAD_REQUEST', 'a message needs a value');
  }
  const timestamp = message.timestamp ?? nowMs;
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new TubeError(
      'BAD_REQUEST',
      `timestamp must be a non-negative integer of milliseconds, got ${timestamp}`,
    );
  }
  return {
    key: message.key === undefined ? undefined : toBuffer(message.key, 'key'),
    attributes: encodeAttributes(message),
    value: toBuffer(message.value, 'value'),
    timestamp,
    streamHash: streamHash(message.streamId),
  };
}

/** The bytes a message costs against `maxMessageBytes`: key, attributes and value. */
export function payloadBytes(message: EncodableMessage): number {
  return (message.key?.length ?? 0) + (message.attributes?.length ?? 0) + message.value.length;
}
