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
// anything is sliced, and nothing may follow the last message. Everything from topicBytes on is
// the section PRODUCE_BATCHES repeats per batch: one implementation, in produce-section.ts.
import { getU64, setU64 } from '../../common/byte-view.js';
import {
  type ProduceMessage,
  type ProducedMessage,
  type SectionLabel,
  checkU32,
  decodeSection,
  encodeSections,
  malformed,
  measureSection,
  sectionFixedBytes,
  unencodable,
} from './produce-section.js';

export { produceLimits } from './produce-section.js';
export type { ProduceMessage, ProducedMessage } from './produce-section.js';

/** How far an append must get before it is acknowledged; the wire byte is the index in {@link produceAcks}. */
export type ProduceAcks = 'memory' | 'written' | 'fsync';

/** Ack levels by wire byte: 0 memory, 1 written, 2 fsync. */
export const produceAcks: readonly ProduceAcks[] = ['memory', 'written', 'fsync'];

/** A PRODUCE request as the encoder takes it. */
export interface ProduceRequest {
  topic: string;
  partition: number;
  acks: ProduceAcks;
  messages: readonly ProduceMessage[];
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

const label: SectionLabel = { request: 'PRODUCE request' };
const responseLabel: SectionLabel = { request: 'PRODUCE response' };
/** acks and reserved: what PRODUCE puts before its one section. */
const headerBytes = 1 + 1;
const requestFixedBytes = headerBytes + sectionFixedBytes;
const responseBytes = 8 + 4;

/**
 * Encodes a PRODUCE request body as the buffers to write. Two passes: the first validates and
 * measures every message, the second fills one allocation with all headers, small values copied
 * in between; values over 16 KiB are passed through as their own buffers, uncopied.
 * Throws `TubeError('BAD_REQUEST')` for a request the wire cannot carry.
 */
export function encodeProduceRequest(request: ProduceRequest): Buffer[] {
  const acks = encodeAcks(request.acks, label);
  const section = measureSection(request.topic, request.partition, request.messages, label);
  return encodeSections(acks, [section], false);
}

/**
 * Decodes a PRODUCE request body. Keys and values are views into `body` (no copies); attributes
 * are parsed into an object. Throws `TubeError('BAD_REQUEST')` naming what is malformed.
 */
export function decodeProduceRequest(body: Buffer): DecodedProduceRequest {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  if (end < requestFixedBytes) {
    throw malformed(label, `${end} bytes, fewer than the ${requestFixedBytes} fixed`);
  }
  const acks = decodeHeader(view, label);
  const { topic, partition, messages, at } = decodeSection(body, view, headerBytes, label);
  if (at !== end) throw malformed(label, `${end - at} bytes follow the last message`);
  return { topic, partition, acks, messages };
}

/**
 * Reads the acks and reserved bytes PRODUCE and PRODUCE_BATCHES start with (the caller made
 * sure both are there). Throws `TubeError('BAD_REQUEST')` for an unknown ack level or a set
 * reserved byte.
 */
export function decodeHeader(view: DataView, whose: SectionLabel): ProduceAcks {
  const acksByte = view.getUint8(0);
  const acks = produceAcks[acksByte];
  if (acks === undefined) throw malformed(whose, `acks ${acksByte} is not 0, 1 or 2`);
  const reserved = view.getUint8(1);
  if (reserved !== 0) throw malformed(whose, `reserved byte is ${reserved}, not 0`);
  return acks;
}

/** The wire byte of an ack level; throws `TubeError('BAD_REQUEST')` for anything else. */
export function encodeAcks(acks: ProduceAcks, whose: SectionLabel): number {
  const byte = produceAcks.indexOf(acks);
  if (byte < 0) throw unencodable(whose, `acks must be one of ${produceAcks.join(', ')}`);
  return byte;
}

/** Encodes a PRODUCE response body. */
export function encodeProduceResponse(response: ProduceResponse): Buffer {
  const body = Buffer.allocUnsafe(responseBytes);
  writeLanded(new DataView(body.buffer, body.byteOffset, body.byteLength), 0, response, label);
  return body;
}

/**
 * Writes baseOffset (u64) and count (u32) at `at`, as PRODUCE answers and PRODUCE_BATCHES
 * answers per batch. Throws `TubeError('BAD_REQUEST')` for values the wire cannot carry.
 */
export function writeLanded(
  view: DataView,
  at: number,
  response: ProduceResponse,
  whose: SectionLabel,
): void {
  if (!Number.isSafeInteger(response.baseOffset) || response.baseOffset < 0) {
    throw unencodable(whose, `baseOffset must be an integer in [0, 2^53 - 1], got ${response.baseOffset}`);
  }
  checkU32(response.count, 'count', whose);
  setU64(view, at, response.baseOffset);
  view.setUint32(at + 8, response.count, true);
}

/** Decodes a PRODUCE response body; throws `TubeError('BAD_REQUEST')` unless it is exactly 12 bytes. */
export function decodeProduceResponse(body: Buffer): ProduceResponse {
  if (body.byteLength !== responseBytes) {
    throw malformed(responseLabel, `${body.byteLength} bytes, not ${responseBytes}`);
  }
  return readLanded(new DataView(body.buffer, body.byteOffset, body.byteLength), 0, responseLabel);
}

/**
 * Reads the baseOffset (u64) and count (u32) at `at` (the caller made sure 12 bytes are there).
 * Throws `TubeError('BAD_REQUEST')` for a baseOffset over 2^53 - 1.
 */
export function readLanded(view: DataView, at: number, whose: SectionLabel): ProduceResponse {
  const baseOffset = getU64(view, at);
  if (!Number.isSafeInteger(baseOffset)) throw malformed(whose, 'baseOffset is over 2^53 - 1');
  return { baseOffset, count: view.getUint32(at + 8, true) };
}
