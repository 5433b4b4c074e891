// FETCH (opcode 11): read messages from one partition, possibly long-polling, and its response.
// The hot read path: the response carries storage records exactly as stored, sent without a copy,
// and the client checks every record's CRC again end to end.
//
//   fetch-request   = topicBytes topic partition offset maxBytes maxWaitMs streamIdCount *stream-id
//   topicBytes      = u16            ; 1 to 255
//   topic           = UTF-8 bytes
//   partition       = u32
//   offset          = u64            ; at most 2^53 - 1
//   maxBytes        = u32
//   maxWaitMs       = u32
//   streamIdCount   = u16            ; at most 500; 0 means every stream
//   stream-id       = streamIdBytes streamId
//   streamIdBytes   = u16            ; 1 to 256
//   streamId        = UTF-8 bytes
//   [owner]         = groupBytes group memberIdBytes memberId   ; optional: absent = anonymous read
//   groupBytes      = u16            ; 1 to 255
//   memberIdBytes   = u16            ; 1 to 255
//
// A fetch with an owner reads as that member of that consumer group: the broker serves it only
// while the member holds the partition's lease (CLAIM_PARTITIONS), else 410 or 411, and each such
// fetch renews the lease. A fetch without an owner is not checked against leases.
//
//   fetch-response  = nextOffset latestOffset count damagedSkipped gapSkipped recordBytes records
//   nextOffset      = u64            ; where the next fetch continues
//   latestOffset    = u64            ; the readable end: the first offset not readable yet
//   count           = u32            ; records that follow
//   damagedSkipped  = u32            ; damaged records the broker skipped
//   gapSkipped      = u32            ; offsets skipped that no message has (a failed write, a
//                                    ; recovery that found less than was handed out)
//   recordBytes     = u32            ; = bytes of records, the rest of the body
//   records         = count storage records back to back (src/common/record-format.ts)
//
// All integers little-endian; nothing may follow the last stream id or record.
import { toRecordMessage, type RecordMessage } from '../../common/record-message.js';
import { TubeError } from '../../common/index.js';
import { getU64, setU64 } from '../../common/byte-view.js';
import {
  checkRecord,
  decodeRecord,
  recordHeaderBytes,
  recordLengthField,
  recordMagic,
  recordVersion,
} from '../../common/record-format.js';

/** Limits a FETCH request obeys on both ends (TubeMQ's stream filter limits). */
export const fetchLimits = {
  /** UTF-8 bytes of the topic name. */
  topicBytesMax: 255,
  /** Stream ids in one filter. */
  streamIdCountMax: 500,
  /** UTF-8 bytes of one stream id (TubeMQ's filter item limit). */
  streamIdBytesMax: 256,
  /** UTF-8 bytes of the owner's group and of its member id. */
  ownerBytesMax: 255,
} as const;

/** A FETCH request: where to read, how much, how long to wait, and which streams. */
export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  maxWaitMs: number;
  /** Only messages of these streams; empty for all. */
  streamIds: string[];
  /** The group member reading, checked against the partition's lease; absent for an anonymous read. */
  owner?: FetchOwner;
}

/** Who reads: a member of a consumer group. */
export interface FetchOwner {
  group: string;
  memberId: string;
}

/** A FETCH response as the broker encodes it: records as storage returned them, uncopied. */
export interface FetchResponse {
  nextOffset: number;
  latestOffset: number;
  count: number;
  damagedSkipped: number;
  gapSkipped: number;
  /** Each chunk holds one or more whole storage records back to back. */
  chunks: readonly Buffer[];
}

/** One fetched message; key and value are views into the response body. */
export type FetchedMessage = RecordMessage;

/** A decoded FETCH response. */
export interface DecodedFetchResponse {
  nextOffset: number;
  latestOffset: number;
  /** Damaged records skipped by the broker plus those failing the client's own CRC check. */
  damagedSkipped: number;
  /** Offsets the broker skipped because no message has them. */
  gapSkipped: number;
  messages: FetchedMessage[];
}

export interface DecodeFetchResponseOptions {
  /** Check every record's CRC; a record failing it is dropped and counted in `damagedSkipped`. */
  verifyCrc: boolean;
}

const responseHeaderBytes = 8 + 8 + 4 + 4 + 4 + 4;
const u32Max = 0xffff_ffff;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes a FETCH request body. Throws `TubeError('BAD_REQUEST')` for one the wire cannot carry. */
export function encodeFetchRequest(request: FetchRequest): Buffer {
  const topic = Buffer.from(request.topic, 'utf8');
  if (topic.byteLength === 0 || topic.byteLength > fetchLimits.topicBytesMax) {
    throw cannotEncode('request', `topic must be 1 to ${fetchLimits.topicBytesMax} UTF-8 bytes`);
  }
  checkU32(request.partition, 'partition', 'request');
  checkOffset(request.offset, 'offset', 'request');
  checkU32(request.maxBytes, 'maxBytes', 'request');
  checkU32(request.maxWaitMs, 'maxWaitMs', 'request');
  if (request.streamIds.length > fetchLimits.streamIdCountMax) {
    throw cannotEncode(
      'request',
      `${request.streamIds.length} stream ids, more than ${fetchLimits.streamIdCountMax}`,
    );
  }
  const streamIds = request.streamIds.map((streamId) => {
    const bytes = Buffer.from(streamId, 'utf8');
    if (bytes.byteLength === 0 || bytes.byteLength > fetchLimits.streamIdBytesMax) {
      throw cannotEncode(
        'request',
        `stream id ${JSON.stringify(streamId)} is not 1 to ${fetchLimits.streamIdBytesMax} UTF-8 bytes`,
      );
    }
    return bytes;
  });
  const owner =
    request.owner === undefined
      ? undefined
      : [
          ownerField(request.owner.group, 'owner group'),
          ownerField(request.owner.memberId, 'owner memberId'),
        ];
  let size = 2 + topic.byteLength + 4 + 8 + 4 + 4 + 2;
  for (const bytes of streamIds) size += 2 + bytes.byteLength;
  for (const bytes of owner ?? []) size += 2 + bytes.byteLength;
  const body = Buffer.allocUnsafe(size);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  view.setUint16(0, topic.byteLength, true);
  let at = 2 + topic.copy(body, 2);
  view.setUint32(at, request.partition, true);
  setU64(view, at + 4, request.offset);
  view.setUint32(at + 12, request.maxBytes, true);
  view.setUint32(at + 16, request.maxWaitMs, true);
  view.setUint16(at + 20, streamIds.length, true);
  at += 22;
  for (const bytes of [...streamIds, ...(owner ?? [])]) {
    view.setUint16(at, bytes.byteLength, true);
    at += 2 + bytes.copy(body, at + 2);
  }
  return body;
}

function ownerField(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.byteLength === 0 || bytes.byteLength > fetchLimits.ownerBytesMax) {
    throw cannotEncode('request', `${what} must be 1 to ${fetchLimits.ownerBytesMax} UTF-8 bytes`);
  }
  return bytes;
}

/** Decodes a FETCH request body; throws `TubeError('BAD_REQUEST')` naming what is malformed. */
export function decodeFetchRequest(body: Buffer): FetchRequest {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  need(0, 2, end, 'topicBytes', 'request');
  const topicBytes = view.getUint16(0, true);
  if (topicBytes === 0 || topicBytes > fetchLimits.topicBytesMax) {
    throw malformed('request', `topicBytes ${topicBytes} is not in [1, ${fetchLimits.topicBytesMax}]`);
  }
  need(2, topicBytes + 22, end, `topicBytes ${topicBytes} and the fixed fields`, 'request');
  const topic = text(body, 2, 2 + topicBytes, 'topic', 'request');
  let at = 2 + topicBytes;
  const partition = view.getUint32(at, true);
  const offset = getU64(view, at + 4);
  if (!Number.isSafeInteger(offset)) throw malformed('request', 'offset is over 2^53 - 1');
  const maxBytes = view.getUint32(at + 12, true);
  const maxWaitMs = view.getUint32(at + 16, true);
  const streamIdCount = view.getUint16(at + 20, true);
  at += 22;
  if (streamIdCount > fetchLimits.streamIdCountMax) {
    throw malformed(
      'request',
      `streamIdCount ${streamIdCount} is over the ${fetchLimits.streamIdCountMax} allowed`,
    );
  }
  const streamIds: string[] = new Array<string>(streamIdCount);
  for (let i = 0; i < streamIdCount; i++) {
    need(at, 2, end, `stream id ${i} bytes`, 'request');
    const streamIdBytes = view.getUint16(at, true);
    at += 2;
    if (streamIdBytes === 0 || streamIdBytes > fetchLimits.streamIdBytesMax) {
      throw malformed(
        'request',
        `stream id ${i} has ${streamIdBytes} bytes, not 1 to ${fetchLimits.streamIdBytesMax}`,
      );
    }
    need(at, streamIdBytes, end, `stream id ${i} bytes ${streamIdBytes}`, 'request');
    streamIds[i] = text(body, at, at + streamIdBytes, `stream id ${i}`, 'request');
    at += streamIdBytes;
  }
  if (at === end) return { topic, partition, offset, maxBytes, maxWaitMs, streamIds };
  const group = readOwnerField(body, view, at, end, 'owner group');
  at += 2 + group.bytes;
  const memberId = readOwnerField(body, view, at, end, 'owner memberId');
  at += 2 + memberId.bytes;
  if (at !== end) throw malformed('request', `${end - at} bytes follow the owner`);
  return {
    topic,
    partition,
    offset,
    maxBytes,
    maxWaitMs,
    streamIds,
    owner: { group: group.text, memberId: memberId.text },
  };
}

function readOwnerField(
  body: Buffer,
  view: DataView,
  at: number,
  end: number,
  what: string,
): { text: string; bytes: number } {
  need(at, 2, end, `${what} bytes`, 'request');
  const bytes = view.getUint16(at, true);
  if (bytes === 0 || bytes > fetchLimits.ownerBytesMax) {
    throw malformed('request', `${what} has ${bytes} bytes, not 1 to ${fetchLimits.ownerBytesMax}`);
  }
  need(at + 2, bytes, end, `${what} bytes ${bytes}`, 'request');
  return { text: text(body, at + 2, at + 2 + bytes, what, 'request'), bytes };
}

/**
 * Encodes a FETCH response as `[header, ...chunks]`: a fresh 32-byte header, then the record
 * chunks themselves, never copied. Throws `TubeError('BAD_REQUEST')` for values the wire cannot carry.
 */
export function encodeFetchResponse(response: FetchResponse): Buffer[] {
  checkOffset(response.nextOffset, 'nextOffset', 'response');
  checkOffset(response.latestOffset, 'latestOffset', 'response');
  checkU32(response.count, 'count', 'response');
  checkU32(response.damagedSkipped, 'damagedSkipped', 'response');
  checkU32(response.gapSkipped, 'gapSkipped', 'response');
  let recordBytes = 0;
  for (const chunk of response.chunks) recordBytes += chunk.byteLength;
  checkU32(recordBytes, 'recordBytes', 'response');
  const header = Buffer.allocUnsafe(responseHeaderBytes);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  setU64(view, 0, response.nextOffset);
  setU64(view, 8, response.latestOffset);
  view.setUint32(16, response.count, true);
  view.setUint32(20, response.damagedSkipped, true);
  view.setUint32(24, response.gapSkipped, true);
  view.setUint32(28, recordBytes, true);
  return [header, ...response.chunks];
}

/**
 * Reads only the `nextOffset` of a FETCH response, so a consumer can ask for the next answer before
 * it checks and decodes this one. Throws `TubeError('BAD_REQUEST')` when the body is too short or
 * the offset is out of range; the full decode checks the rest.
 */
export function peekFetchNextOffset(body: Buffer): number {
  need(0, responseHeaderBytes, body.byteLength, 'header', 'response');
  const nextOffset = getU64(new DataView(body.buffer, body.byteOffset, body.byteLength), 0);
  if (!Number.isSafeInteger(nextOffset)) throw malformed('response', 'nextOffset is over 2^53 - 1');
  return nextOffset;
}

/**
 * Decodes a FETCH response body, walking its records. With `verifyCrc`, a record whose checksum
 * (or header) is wrong is dropped and counted in `damagedSkipped`, never returned. Keys and values
 * are views into `body`. A count or lengths that disagree with the bytes throw
 * `TubeError('BAD_REQUEST')`, as does a bad record header when CRCs are not verified.
 */
export function decodeFetchResponse(body: Buffer, options: DecodeFetchResponseOptions): DecodedFetchResponse {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  need(0, responseHeaderBytes, end, 'header', 'response');
  const nextOffset = getU64(view, 0);
  const latestOffset = getU64(view, 8);
  if (!Number.isSafeInteger(nextOffset)) throw malformed('response', 'nextOffset is over 2^53 - 1');
  if (!Number.isSafeInteger(latestOffset)) throw malformed('response', 'latestOffset is over 2^53 - 1');
  const count = view.getUint32(16, true);
  let damagedSkipped = view.getUint32(20, true);
  const gapSkipped = view.getUint32(24, true);
  const recordBytes = view.getUint32(28, true);
  if (recordBytes !== end - responseHeaderBytes) {
    throw malformed(
      'response',
      `recordBytes ${recordBytes} does not match the ${end - responseHeaderBytes} bytes left`,
    );
  }
  // Each record takes at least a header, so a count the body cannot hold fails before any work.
  if (count > recordBytes / recordHeaderBytes) {
    throw malformed('response', `count ${count} cannot fit in ${recordBytes} record bytes`);
  }
  const messages: FetchedMessage[] = [];
  let at = responseHeaderBytes;
  for (let i = 0; i < count; i++) {
    need(at, recordHeaderBytes, end, `record ${i} header`, 'response');
    const length = recordLengthField(body, at);
    if (length < recordHeaderBytes || length > end - at) {
      throw malformed('response', `record ${i} length ${length} does not fit the ${end - at} bytes left`);
    }
    if (options.verifyCrc) {
      if (checkRecord(body, at, length) !== length) {
        damagedSkipped++;
        at += length;
        continue;
      }
    } else {
      checkHeader(view, at, length, i);
    }
    messages.push(toMessage(body, at));
    at += length;
  }
  if (at !== end) throw malformed('response', `${end - at} bytes follow record ${count - 1} of ${count}`);
  return { nextOffset, latestOffset, damagedSkipped, gapSkipped, messages };
}

/** The structural checks of `checkRecord` without the CRC, for decoding with `verifyCrc: false`. */
function checkHeader(view: DataView, at: number, length: number, i: number): void {
  if (view.getUint32(at, true) !== recordMagic) throw malformed('response', `record ${i} has a bad magic`);
  if (view.getUint8(at + 12) !== recordVersion)
    throw malformed('response', `record ${i} has an unknown version`);
  const keyLength = view.getUint32(at + 40, true);
  const attributesLength = view.getUint32(at + 44, true);
  if (recordHeaderBytes + keyLength + attributesLength > length) {
    throw malformed('response', `record ${i} key and attributes overrun its length ${length}`);
  }
}

function toMessage(body: Buffer, at: number): FetchedMessage {
  return toRecordMessage(decodeRecord(body, at));
}

function text(body: Buffer, start: number, end: number, what: string, side: Side): string {
  try {
    return utf8.decode(body.subarray(start, end));
  } catch (error) {
    throw malformed(side, `${what} is not UTF-8`, error);
  }
}

type Side = 'request' | 'response';

function need(at: number, bytes: number, end: number, what: string, side: Side): void {
  if (bytes > end - at) throw malformed(side, `${what} overruns the body (${end - at} bytes left)`);
}

function checkU32(value: number, what: string, side: Side): void {
  if (!Number.isInteger(value) || value < 0 || value > u32Max) {
    throw cannotEncode(side, `${what} must be an integer in [0, ${u32Max}], got ${value}`);
  }
}

function checkOffset(value: number, what: string, side: Side): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw cannotEncode(side, `${what} must be an integer in [0, 2^53 - 1], got ${value}`);
  }
}

function malformed(side: Side, message: string, cause?: unknown): TubeError {
  return new TubeError('BAD_REQUEST', `malformed FETCH ${side}: ${message}`, { cause });
}

function cannotEncode(side: Side, message: string): TubeError {
  return new TubeError('BAD_REQUEST', `FETCH ${side} cannot be encoded: ${message}`);
}
