// PRODUCE (opcode 10): append a batch of messages to one partition, and its response. The hot
// write path, so hand-coded binary; the decoder returns views into the body, never copies.
//
//   produce-request  = acks reserved topicBytes topic partition messageCount *message
//   acks             = u8             ; 0 memory, 1 written, 2 fsync
//   reserved         = u8             ; 0
//   topicBytes       = u16            ; 1 to 255
//   topic            = UTF-8 bytes
//   partition        = u32
//   messageCount     = u32            ; at most 1,000,000
//   message          = flags [timestamp] [keyBytes key] streamIdBytes streamId
//                      attributesBytes attributes valueBytes value
//   flags            = u8             ; bit 0 has timestamp, bit 1 has key, bits 2-7 zero
//   timestamp        = u64            ; milliseconds since the epoch, at most 2^53 - 1
//   keyBytes         = u32
//   streamIdBytes    = u16            ; 0 means no stream
//   streamId         = UTF-8 bytes
//   attributesBytes  = u32            ; 0 means no attributes
//   attributes       = UTF-8 "k=v,k=v"; keys non-empty, neither keys nor values hold ',' or '='
//   valueBytes       = u32
//
//   produce-response = baseOffset count
//   baseOffset       = u64            ; offset of the first message; the others follow contiguously
//   count            = u32
//
// All integers little-endian. Every declared length is checked against the bytes left before
// anything is sliced, and nothing may follow the last message.
import { TubeError } from '../../common/index.js';
import { getU64, setU64 } from '../../common/byte-view.js';

/** How far an append must get before it is acknowledged; the wire byte is the index in {@link produceAcks}. */
export type ProduceAcks = 'memory' | 'written' | 'fsync';

/** Ack levels by wire byte: 0 memory, 1 written, 2 fsync. */
export const produceAcks: readonly ProduceAcks[] = ['memory', 'written', 'fsync'];

/** Limits a PRODUCE request obeys on both ends. */
export const produceLimits = {
  /** UTF-8 bytes of the topic name. */
  topicBytesMax: 255,
  /** Messages in one request. */
  messageCountMax: 1_000_000,
} as const;

/** One message as a producer hands it to the encoder. */
export interface ProduceMessage {
  value: Buffer | string;
  key?: Buffer | string;
  /** Milliseconds since the epoch; the broker's clock when absent. */
  timestamp?: number;
  /** The stream (TubeMQ msgType); absent or empty means none. */
  streamId?: string;
  /** `k=v` attributes; keys non-empty, neither keys nor values may contain `,` or `=`. */
  attributes?: Readonly<Record<string, string>>;
}

/** A PRODUCE request as the encoder takes it. */
export interface ProduceRequest {
  topic: string;
  partition: number;
  acks: ProduceAcks;
  messages: readonly ProduceMessage[];
}

/** One decoded message: key and value are views into the request body. Absent fields are omitted. */
export interface ProducedMessage {
  value: Buffer;
  key?: Buffer;
  timestamp?: number;
  streamId?: string;
  attributes?: Record<string, string>;
}

/** A decoded PRODUCE request; its buffers view the body, so they live as long as it does. */
export interface DecodedProduceRequest {
  topic: string;
  partition: number;
  acks: ProduceAcks;
  messages: ProducedMessage[];
}

/** The broker's answer: where the batch landed. */
export interface ProduceResponse {
  baseOffset: number;
  count: number;
}

const flagTimestamp = 0x01;
const flagKey = 0x02;
const flagsKnown = flagTimestamp | flagKey;
const requestFixedBytes = 1 + 1 + 2 + 4 + 4;
const responseBytes = 8 + 4;
const u16Max = 0xffff;
const u32Max = 0xffff_ffff;
/**
 * Values up to this many bytes are copied into the one header allocation; larger ones go out as
 * their own buffers. Measured through a corked loopback socket (the transport's write path),
 * batches of 1000 values: copying was about 5x faster at 64 B and 10-20% faster at 1 KiB (noisy:
 * one less warmed-up run had it 10% slower) than an extra buffer and iovec per message; past some
 * tens of KiB the copy itself would dominate (that threshold is a judgement, not measured).
 */
const valueCopyBytesMax = 16 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Measured {
  flags: number;
  key: Buffer | undefined;
  streamId: Buffer | undefined;
  attributes: Buffer | undefined;
  value: Buffer;
}

/**
 * Encodes a PRODUCE request body as the buffers to write. Two passes: the first validates and
 * measures every message, the second fills one allocation with all headers, small values copied
 * in between; values over 16 KiB are passed through as their own buffers, uncopied.
 * Throws `TubeError('BAD_REQUEST')` for a request the wire cannot carry.
 */
export function encodeProduceRequest(request: ProduceRequest): Buffer[] {
  const topic = Buffer.from(request.topic, 'utf8');
  if (topic.byteLength === 0 || topic.byteLength > produceLimits.topicBytesMax) {
    throw encodeError(`topic must be 1 to ${produceLimits.topicBytesMax} UTF-8 bytes`);
  }
  checkU32(request.partition, 'partition');
  const acks = produceAcks.indexOf(request.acks);
  if (acks < 0) throw encodeError(`acks must be one of ${produceAcks.join(', ')}`);
  const { messages } = request;
  if (messages.length > produceLimits.messageCountMax) {
    throw encodeError(`${messages.length} messages, more than the ${produceLimits.messageCountMax} allowed`);
  }

  const measured: Measured[] = new Array<Measured>(messages.length);
  let ownBytes = requestFixedBytes + topic.byteLength;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    const part = measure(message, i);
    measured[i] = part;
    ownBytes += 1 + 2 + 4 + 4;
    if (part.flags & flagTimestamp) ownBytes += 8;
    if (part.key) ownBytes += 4 + part.key.byteLength;
    ownBytes += (part.streamId?.byteLength ?? 0) + (part.attributes?.byteLength ?? 0);
    if (part.value.byteLength <= valueCopyBytesMax) ownBytes += part.value.byteLength;
  }

  const out: Buffer[] = [];
  let block = Buffer.allocUnsafe(ownBytes);
  let view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  view.setUint8(0, acks);
  view.setUint8(1, 0);
  view.setUint16(2, topic.byteLength, true);
  let at = 4 + topic.copy(block, 4);
  view.setUint32(at, request.partition, true);
  view.setUint32(at + 4, messages.length, true);
  at += 8;
  for (let i = 0; i < measured.length; i++) {
    const part = measured[i]!;
    view.setUint8(at, part.flags);
    at += 1;
    if (part.flags & flagTimestamp) {
      setU64(view, at, messages[i]!.timestamp!);
      at += 8;
    }
    if (part.key) {
      view.setUint32(at, part.key.byteLength, true);
      at += 4 + part.key.copy(block, at + 4);
    }
    view.setUint16(at, part.streamId?.byteLength ?? 0, true);
    at += 2;
    if (part.streamId) at += part.streamId.copy(block, at);
    view.setUint32(at, part.attributes?.byteLength ?? 0, true);
    at += 4;
    if (part.attributes) at += part.attributes.copy(block, at);
    view.setUint32(at, part.value.byteLength, true);
    at += 4;
    if (part.value.byteLength <= valueCopyBytesMax) {
      at += part.value.copy(block, at);
    } else {
      // Hand out what is filled so far, then the value itself; continue in the rest of the block.
      out.push(block.subarray(0, at), part.value);
      block = block.subarray(at);
      view = new DataView(block.buffer, block.byteOffset, block.byteLength);
      at = 0;
    }
  }
  if (at > 0 || out.length === 0) out.push(block.subarray(0, at));
  return out;
}

/**
 * Decodes a PRODUCE request body. Keys and values are views into `body` (no copies); attributes
 * are parsed into an object. Throws `TubeError('BAD_REQUEST')` naming what is malformed.
 */
export function decodeProduceRequest(body: Buffer): DecodedProduceRequest {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  if (end < requestFixedBytes) {
    throw malformed(`${end} bytes, fewer than the ${requestFixedBytes} fixed`);
  }
  const acksByte = view.getUint8(0);
  const acks = produceAcks[acksByte];
  if (acks === undefined) throw malformed(`acks ${acksByte} is not 0, 1 or 2`);
  const reserved = view.getUint8(1);
  if (reserved !== 0) throw malformed(`reserved byte is ${reserved}, not 0`);
  const topicBytes = view.getUint16(2, true);
  if (topicBytes === 0 || topicBytes > produceLimits.topicBytesMax) {
    throw malformed(`topicBytes ${topicBytes} is not in [1, ${produceLimits.topicBytesMax}]`);
  }
  if (4 + topicBytes + 8 > end) throw malformed(`topicBytes ${topicBytes} overruns the ${end}-byte body`);
  const topic = text(body, 4, 4 + topicBytes, 'topic');
  let at = 4 + topicBytes;
  const partition = view.getUint32(at, true);
  const messageCount = view.getUint32(at + 4, true);
  at += 8;
  if (messageCount > produceLimits.messageCountMax) {
    throw malformed(`messageCount ${messageCount} is over the ${produceLimits.messageCountMax} allowed`);
  }
  // Each message takes at least 11 bytes, so a count the body cannot hold fails before any work.
  if (messageCount * 11 > end - at) {
    throw malformed(`messageCount ${messageCount} cannot fit in the ${end - at} bytes left`);
  }

  const messages: ProducedMessage[] = new Array<ProducedMessage>(messageCount);
  for (let i = 0; i < messageCount; i++) {
    need(at, 1, end, `message ${i} flags`);
    const flags = view.getUint8(at);
    at += 1;
    if ((flags & ~flagsKnown) !== 0) throw malformed(`message ${i} has unknown flags 0x${hex(flags)}`);
    const message: ProducedMessage = { value: body };
    if (flags & flagTimestamp) {
      need(at, 8, end, `message ${i} timestamp`);
      const timestamp = getU64(view, at);
      if (!Number.isSafeInteger(timestamp)) {
        throw malformed(`message ${i} timestamp is over 2^53 - 1`);
      }
      message.timestamp = timestamp;
      at += 8;
    }
    if (flags & flagKey) {
      need(at, 4, end, `message ${i} keyBytes`);
      const keyBytes = view.getUint32(at, true);
      at += 4;
      need(at, keyBytes, end, `message ${i} keyBytes ${keyBytes}`);
      message.key = body.subarray(at, at + keyBytes);
      at += keyBytes;
    }
    need(at, 2, end, `message ${i} streamIdBytes`);
    const streamIdBytes = view.getUint16(at, true);
    at += 2;
    need(at, streamIdBytes, end, `message ${i} streamIdBytes ${streamIdBytes}`);
    if (streamIdBytes > 0) message.streamId = text(body, at, at + streamIdBytes, `message ${i} streamId`);
    at += streamIdBytes;
    need(at, 4, end, `message ${i} attributesBytes`);
    const attributesBytes = view.getUint32(at, true);
    at += 4;
    need(at, attributesBytes, end, `message ${i} attributesBytes ${attributesBytes}`);
    if (attributesBytes > 0) {
      message.attributes = parseAttributes(
        text(body, at, at + attributesBytes, `message ${i} attributes`),
        i,
      );
    }
    at += attributesBytes;
    need(at, 4, end, `message ${i} valueBytes`);
    const valueBytes = view.getUint32(at, true);
    at += 4;
    need(at, valueBytes, end, `message ${i} valueBytes ${valueBytes}`);
    message.value = body.subarray(at, at + valueBytes);
    at += valueBytes;
    messages[i] = message;
  }
  if (at !== end) throw malformed(`${end - at} bytes follow the last message`);
  return { topic, partition, acks, messages };
}

/** Encodes a PRODUCE response body. */
export function encodeProduceResponse(response: ProduceResponse): Buffer {
  if (!Number.isSafeInteger(response.baseOffset) || response.baseOffset < 0) {
    throw encodeError(`baseOffset must be an integer in [0, 2^53 - 1], got ${response.baseOffset}`);
  }
  checkU32(response.count, 'count');
  const body = Buffer.allocUnsafe(responseBytes);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  setU64(view, 0, response.baseOffset);
  view.setUint32(8, response.count, true);
  return body;
}

/** Decodes a PRODUCE response body; throws `TubeError('BAD_REQUEST')` unless it is exactly 12 bytes. */
export function decodeProduceResponse(body: Buffer): ProduceResponse {
  if (body.byteLength !== responseBytes) {
    throw new TubeError(
      'BAD_REQUEST',
      `malformed PRODUCE response: ${body.byteLength} bytes, not ${responseBytes}`,
    );
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const baseOffset = getU64(view, 0);
  if (!Number.isSafeInteger(baseOffset)) {
    throw new TubeError('BAD_REQUEST', 'malformed PRODUCE response: baseOffset is over 2^53 - 1');
  }
  return { baseOffset, count: view.getUint32(8, true) };
}

function measure(message: ProduceMessage, i: number): Measured {
  if (message === null || typeof message !== 'object' || message.value === undefined) {
    throw encodeError(`message ${i} needs a value`);
  }
  let flags = 0;
  if (message.timestamp !== undefined) {
    if (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0) {
      throw encodeError(`message ${i} timestamp must be an integer in [0, 2^53 - 1]`);
    }
    flags |= flagTimestamp;
  }
  const key = message.key === undefined ? undefined : bytesOf(message.key, `message ${i} key`);
  if (key) flags |= flagKey;
  const streamId =
    message.streamId === undefined || message.streamId === ''
      ? undefined
      : Buffer.from(message.streamId, 'utf8');
  if (streamId && streamId.byteLength > u16Max) {
    throw encodeError(`message ${i} streamId is over ${u16Max} UTF-8 bytes`);
  }
  return {
    flags,
    key,
    streamId,
    attributes: encodeAttributes(message.attributes, i),
    value: bytesOf(message.value, `message ${i} value`),
  };
}

function bytesOf(value: Buffer | string, what: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) {
    if (value.byteLength > u32Max) throw encodeError(`${what} is over ${u32Max} bytes`);
    return value;
  }
  throw encodeError(`${what} must be a string or Buffer`);
}

function encodeAttributes(
  attributes: Readonly<Record<string, string>> | undefined,
  i: number,
): Buffer | undefined {
  if (attributes === undefined) return undefined;
  let textForm = '';
  for (const [key, value] of Object.entries(attributes)) {
    if (key === '' || /[,=]/.test(key) || typeof value !== 'string' || /[,=]/.test(value)) {
      throw encodeError(
        `message ${i} attribute ${JSON.stringify(key)}: keys must be non-empty strings and neither keys nor values may contain ',' or '='`,
      );
    }
    textForm += textForm === '' ? `${key}=${value}` : `,${key}=${value}`;
  }
  return textForm === '' ? undefined : Buffer.from(textForm, 'utf8');
}

function parseAttributes(textForm: string, i: number): Record<string, string> {
  const pairs: [string, string][] = [];
  for (const pair of textForm.split(',')) {
    const separator = pair.indexOf('=');
    if (separator <= 0 || pair.indexOf('=', separator + 1) >= 0) {
      throw malformed(`message ${i} attribute ${JSON.stringify(pair)} is not k=v`);
    }
    pairs.push([pair.slice(0, separator), pair.slice(separator + 1)]);
  }
  // fromEntries defines own properties, so a key like "__proto__" stays an attribute.
  return Object.fromEntries(pairs);
}

function text(body: Buffer, start: number, end: number, what: string): string {
  try {
    return utf8.decode(body.subarray(start, end));
  } catch (error) {
    throw malformed(`${what} is not UTF-8`, error);
  }
}

function need(at: number, bytes: number, end: number, what: string): void {
  if (bytes > end - at) throw malformed(`${what} overruns the body (${end - at} bytes left)`);
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > u32Max) {
    throw encodeError(`${what} must be an integer in [0, ${u32Max}], got ${value}`);
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function malformed(message: string, cause?: unknown): TubeError {
  return new TubeError('BAD_REQUEST', `malformed PRODUCE request: ${message}`, { cause });
}

function encodeError(message: string): TubeError {
  return new TubeError('BAD_REQUEST', `PRODUCE request cannot be encoded: ${message}`);
}
