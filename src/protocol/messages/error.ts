// The body of a frame flagged ERROR. Not a hot path, so details may be JSON.
//
//   error-body   = code messageBytes message detailsBytes details
//   code         = u16            ; wire code from the error table (src/common/errors.ts)
//   messageBytes = u16            ; byte length of message
//   message      = UTF-8 bytes
//   detailsBytes = u32            ; byte length of details; 0 means no details
//   details      = UTF-8 JSON object, e.g. {"length":99999999}
//
// The error's hint for people travels as the string `details.hint`, so a CLI far from the server
// can still say what to do.
//
// All integers little-endian; nothing may follow details.
import { type ErrorName, TubeError, errorNameForCode } from '../../common/index.js';

const u16Max = 0xffff;
const fixedBytes = 2 + 2 + 4;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes an error as a frame body. A message over 65535 UTF-8 bytes is cut at a character boundary. */
export function encodeError(error: TubeError): Buffer {
  const message = truncateUtf8(Buffer.from(error.message, 'utf8'), u16Max);
  const details = encodeDetails(
    error.hint === undefined ? error.details : { ...error.details, hint: error.hint },
  );
  const body = Buffer.allocUnsafe(fixedBytes + message.byteLength + details.byteLength);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  view.setUint16(0, error.code, true);
  view.setUint16(2, message.byteLength, true);
  message.copy(body, 4);
  view.setUint32(4 + message.byteLength, details.byteLength, true);
  details.copy(body, fixedBytes + message.byteLength);
  return body;
}

/**
 * Decodes an error body into the {@link TubeError} it carries. A code this version does not know
 * becomes INTERNAL with `details.unknownCode`. A malformed body becomes BAD_REQUEST: this never
 * throws, and never returns anything but a TubeError.
 */
export function decodeError(body: Buffer): TubeError {
  try {
    return decodeOrThrow(body);
  } catch (error) {
    return new TubeError('BAD_REQUEST', `malformed error body: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function decodeOrThrow(body: Buffer): TubeError {
  if (body.byteLength < fixedBytes)
    throw new Error(`${body.byteLength} bytes, fewer than the ${fixedBytes} fixed`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const code = view.getUint16(0, true);
  const messageBytes = view.getUint16(2, true);
  if (4 + messageBytes + 4 > body.byteLength) {
    throw new Error(`messageBytes ${messageBytes} overruns the ${body.byteLength}-byte body`);
  }
  const message = utf8.decode(body.subarray(4, 4 + messageBytes));
  const detailsAt = fixedBytes + messageBytes;
  const detailsBytes = view.getUint32(4 + messageBytes, true);
  if (detailsBytes !== body.byteLength - detailsAt) {
    throw new Error(
      `detailsBytes ${detailsBytes} does not match the ${body.byteLength - detailsAt} bytes left`,
    );
  }
  const details = detailsBytes === 0 ? {} : parseDetails(utf8.decode(body.subarray(detailsAt)));
  const errorName: ErrorName = errorNameForCode(code);
  const known = errorName !== 'INTERNAL' || code === 500;
  const { hint, ...rest } = details;
  return new TubeError(errorName, message, {
    details: known ? rest : { ...rest, unknownCode: code },
    hint: typeof hint === 'string' ? hint : undefined,
  });
}

function parseDetails(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('details is not a JSON object');
  }
  return value as Record<string, unknown>;
}

function encodeDetails(details: Readonly<Record<string, unknown>>): Buffer {
  if (Object.keys(details).length === 0) return Buffer.alloc(0);
  try {
    return Buffer.from(JSON.stringify(details), 'utf8');
  } catch {
    // A BigInt or a cycle cannot cross the wire; the code and message still must.
    return Buffer.alloc(0);
  }
}

/** Shortens to at most `limit` bytes without splitting a UTF-8 sequence. */
function truncateUtf8(bytes: Buffer, limit: number): Buffer {
  if (bytes.byteLength <= limit) return bytes;
  let end = limit;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
