// The batch section PRODUCE and PRODUCE_BATCHES share: one partition's messages. Internal to the
// protocol layer (not exported from index.ts); produce.ts and produce-batches.ts frame it.
//
//   section          = topicBytes topic partition messageCount *message
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
// Encoding is two steps so a request of many sections fills ONE allocation: measureSection
// validates and sizes each section, then encodeSections writes the request's header and every
// section into one block. Decoding returns views into the body, never copies.
import { TubeError } from '../../common/index.js';
import { getU64, setU64 } from '../../common/byte-view.js';

/** Limits a PRODUCE section obeys on both ends. */
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

/** One decoded message: key and value are views into the request body. Absent fields are omitted. */
export interface ProducedMessage {
  value: Buffer;
  key?: Buffer;
  timestamp?: number;
  streamId?: string;
  attributes?: Record<string, string>;
}

/**
 * Whose section this is, for error messages: `request` names the body (`PRODUCE request`), `batch`
 * the section's index when the request holds several (then messages read `batch 2 message 5 …`).
 */
export interface SectionLabel {
  readonly request: string;
  readonly batch?: number;
}

/** A section validated and sized by {@link measureSection}, ready for {@link encodeSections}. */
export interface MeasuredSection {
  readonly topic: Buffer;
  readonly partition: number;
  readonly messages: readonly ProduceMessage[];
  readonly parts: readonly Measured[];
  /** Bytes the section takes in the shared allocation: everything but values over 16 KiB. */
  readonly bytes: number;
}

/** The one allocation being filled, and the buffers already handed out before it. */
interface SectionWriter {
  readonly out: Buffer[];
  block: Buffer;
  view: DataView;
  at: number;
}

interface Measured {
  flags: number;
  key: Buffer | undefined;
  streamId: Buffer | undefined;
  attributes: Buffer | undefined;
  value: Buffer;
}

/** Fixed bytes of a section: topicBytes, partition and messageCount (the topic not counted). */
export const sectionFixedBytes = 2 + 4 + 4;
/** The fewest bytes a message takes: flags, streamIdBytes, attributesBytes, valueBytes. */
const messageBytesMin = 1 + 2 + 4 + 4;
const flagTimestamp = 0x01;
const flagKey = 0x02;
const flagsKnown = flagTimestamp | flagKey;
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

/**
 * Validates one section and measures the bytes it needs in the shared allocation. Throws
 * `TubeError('BAD_REQUEST')` (`<request> cannot be encoded: …`) for what the wire cannot carry.
 */
export function measureSection(
  topicName: string,
  partition: number,
  messages: readonly ProduceMessage[],
  label: SectionLabel,
): MeasuredSection {
  const topic = Buffer.from(topicName, 'utf8');
  if (topic.byteLength === 0 || topic.byteLength > produceLimits.topicBytesMax) {
    throw unencodable(label, `topic must be 1 to ${produceLimits.topicBytesMax} UTF-8 bytes`);
  }
  checkU32(partition, 'partition', label);
  if (messages.length > produceLimits.messageCountMax) {
    throw unencodable(
      label,
      `${messages.length} messages, more than the ${produceLimits.messageCountMax} allowed`,
    );
  }
  const parts: Measured[] = new Array<Measured>(messages.length);
  let bytes = sectionFixedBytes + topic.byteLength;
  for (let i = 0; i < messages.length; i++) {
    const part = measure(messages[i]!, i, label);
    parts[i] = part;
    bytes += messageBytesMin;
    if (part.flags & flagTimestamp) bytes += 8;
    if (part.key) bytes += 4 + part.key.byteLength;
    bytes += (part.streamId?.byteLength ?? 0) + (part.attributes?.byteLength ?? 0);
    if (part.value.byteLength <= valueCopyBytesMax) bytes += part.value.byteLength;
  }
  return { topic, partition, messages, parts, bytes };
}

/**
 * Encodes a whole request around measured sections into ONE allocation: `acks` and a zero
 * reserved byte, then (for PRODUCE_BATCHES, `counted`) the section count as a u16, then every
 * section back to back. Values over 16 KiB go out as buffers of their own, uncopied, between the
 * filled parts of the block. Returns the buffers to write, in order.
 */
export function encodeSections(
  acks: number,
  sections: readonly MeasuredSection[],
  counted: boolean,
): Buffer[] {
  const headerBytes = counted ? 4 : 2;
  let bytes = headerBytes;
  for (const section of sections) bytes += section.bytes;
  const block = Buffer.allocUnsafe(bytes);
  const writer: SectionWriter = {
    out: [],
    block,
    view: new DataView(block.buffer, block.byteOffset, block.byteLength),
    at: headerBytes,
  };
  writer.view.setUint8(0, acks);
  writer.view.setUint8(1, 0);
  if (counted) writer.view.setUint16(2, sections.length, true);
  for (const section of sections) writeSection(writer, section);
  // Everything handed out so far, then the filled rest of the block.
  if (writer.at > 0 || writer.out.length === 0) writer.out.push(writer.block.subarray(0, writer.at));
  return writer.out;
}

/**
 * Writes a measured section at `writer.at`. A value over 16 KiB is handed out as its own buffer
 * (after what is filled so far), and writing continues in the rest of the block.
 */
function writeSection(writer: SectionWriter, section: MeasuredSection): void {
  let { block, view, at } = writer;
  const { messages, parts } = section;
  view.setUint16(at, section.topic.byteLength, true);
  at += 2 + section.topic.copy(block, at + 2);
  view.setUint32(at, section.partition, true);
  view.setUint32(at + 4, parts.length, true);
  at += 8;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
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
      writer.out.push(block.subarray(0, at), part.value);
      block = block.subarray(at);
      view = new DataView(block.buffer, block.byteOffset, block.byteLength);
      at = 0;
    }
  }
  writer.block = block;
  writer.view = view;
  writer.at = at;
}

/** A decoded section and the offset just past it. */
export interface DecodedSection {
  topic: string;
  partition: number;
  messages: ProducedMessage[];
  at: number;
}

/**
 * Decodes the section starting at `at` of `body` (`view` spans the body). Keys and values are
 * views into `body`; attributes are parsed into an object. Every declared length is checked
 * against the bytes left before anything is read. Throws `TubeError('BAD_REQUEST')`
 * (`malformed <request>: …`) naming the field, batch and message index.
 */
export function decodeSection(body: Buffer, view: DataView, at: number, label: SectionLabel): DecodedSection {
  const end = body.byteLength;
  need(at, 2, end, label, 'topicBytes');
  const topicBytes = view.getUint16(at, true);
  if (topicBytes === 0 || topicBytes > produceLimits.topicBytesMax) {
    throw malformed(label, `topicBytes ${topicBytes} is not in [1, ${produceLimits.topicBytesMax}]`);
  }
  at += 2;
  if (at + topicBytes + 8 > end) {
    throw malformed(label, `topicBytes ${topicBytes} overruns the ${end}-byte body`);
  }
  const topic = text(body, at, at + topicBytes, label, 'topic');
  at += topicBytes;
  const partition = view.getUint32(at, true);
  const messageCount = view.getUint32(at + 4, true);
  at += 8;
  if (messageCount > produceLimits.messageCountMax) {
    throw malformed(
      label,
      `messageCount ${messageCount} is over the ${produceLimits.messageCountMax} allowed`,
    );
  }
  // Each message takes at least 11 bytes, so a count the body cannot hold fails before any work.
  if (messageCount * messageBytesMin > end - at) {
    throw malformed(label, `messageCount ${messageCount} cannot fit in the ${end - at} bytes left`);
  }

  const messages: ProducedMessage[] = new Array<ProducedMessage>(messageCount);
  for (let i = 0; i < messageCount; i++) {
    need(at, 1, end, label, 'flags', i);
    const flags = view.getUint8(at);
    at += 1;
    if ((flags & ~flagsKnown) !== 0) {
      throw malformed(label, `message ${i} has unknown flags 0x${hex(flags)}`);
    }
    const message: ProducedMessage = { value: body };
    if (flags & flagTimestamp) {
      need(at, 8, end, label, 'timestamp', i);
      const timestamp = getU64(view, at);
      if (!Number.isSafeInteger(timestamp)) {
        throw malformed(label, `message ${i} timestamp is over 2^53 - 1`);
      }
      message.timestamp = timestamp;
      at += 8;
    }
    if (flags & flagKey) {
      const keyBytes = declared(view, at, 4, end, label, 'keyBytes', i);
      at += 4;
      message.key = body.subarray(at, at + keyBytes);
      at += keyBytes;
    }
    const streamIdBytes = declared(view, at, 2, end, label, 'streamIdBytes', i);
    at += 2;
    if (streamIdBytes > 0) message.streamId = text(body, at, at + streamIdBytes, label, 'streamId', i);
    at += streamIdBytes;
    const attributesBytes = declared(view, at, 4, end, label, 'attributesBytes', i);
    at += 4;
    if (attributesBytes > 0) {
      message.attributes = parseAttributes(
        text(body, at, at + attributesBytes, label, 'attributes', i),
        i,
        label,
      );
    }
    at += attributesBytes;
    const valueBytes = declared(view, at, 4, end, label, 'valueBytes', i);
    at += 4;
    message.value = body.subarray(at, at + valueBytes);
    at += valueBytes;
    messages[i] = message;
  }
  return { topic, partition, messages, at };
}

/** `TubeError('BAD_REQUEST', 'malformed <request>: [batch b ]<message>')`. */
export function malformed(label: SectionLabel, message: string, cause?: unknown): TubeError {
  return new TubeError('BAD_REQUEST', `malformed ${label.request}: ${where(label)}${message}`, {
    cause,
  });
}

/** `TubeError('BAD_REQUEST', '<request> cannot be encoded: [batch b ]<message>')`. */
export function unencodable(label: SectionLabel, message: string): TubeError {
  return new TubeError('BAD_REQUEST', `${label.request} cannot be encoded: ${where(label)}${message}`);
}

/** Throws unless `value` is an integer in [0, 2^32 - 1]. */
export function checkU32(value: number, what: string, label: SectionLabel): void {
  if (!Number.isInteger(value) || value < 0 || value > u32Max) {
    throw unencodable(label, `${what} must be an integer in [0, ${u32Max}], got ${value}`);
  }
}

function where(label: SectionLabel): string {
  return label.batch === undefined ? '' : `batch ${label.batch} `;
}

function measure(message: ProduceMessage, i: number, label: SectionLabel): Measured {
  if (message === null || typeof message !== 'object' || message.value === undefined) {
    throw unencodable(label, `message ${i} needs a value`);
  }
  let flags = 0;
  if (message.timestamp !== undefined) {
    if (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0) {
      throw unencodable(label, `message ${i} timestamp must be an integer in [0, 2^53 - 1]`);
    }
    flags |= flagTimestamp;
  }
  const key = message.key === undefined ? undefined : bytesOf(message.key, `message ${i} key`, label);
  if (key) flags |= flagKey;
  const streamId =
    message.streamId === undefined || message.streamId === ''
      ? undefined
      : Buffer.from(message.streamId, 'utf8');
  if (streamId && streamId.byteLength > u16Max) {
    throw unencodable(label, `message ${i} streamId is over ${u16Max} UTF-8 bytes`);
  }
  return {
    flags,
    key,
    streamId,
    attributes: encodeAttributes(message.attributes, i, label),
    value: bytesOf(message.value, `message ${i} value`, label),
  };
}

function bytesOf(value: Buffer | string, what: string, label: SectionLabel): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) {
    if (value.byteLength > u32Max) throw unencodable(label, `${what} is over ${u32Max} bytes`);
    return value;
  }
  throw unencodable(label, `${what} must be a string or Buffer`);
}

function encodeAttributes(
  attributes: Readonly<Record<string, string>> | undefined,
  i: number,
  label: SectionLabel,
): Buffer | undefined {
  if (attributes === undefined) return undefined;
  let textForm = '';
  for (const [key, value] of Object.entries(attributes)) {
    if (key === '' || /[,=]/.test(key) || typeof value !== 'string' || /[,=]/.test(value)) {
      throw unencodable(
        label,
        `message ${i} attribute ${JSON.stringify(key)}: keys must be non-empty strings and neither keys nor values may contain ',' or '='`,
      );
    }
    textForm += textForm === '' ? `${key}=${value}` : `,${key}=${value}`;
  }
  return textForm === '' ? undefined : Buffer.from(textForm, 'utf8');
}

function parseAttributes(textForm: string, i: number, label: SectionLabel): Record<string, string> {
  const pairs: [string, string][] = [];
  for (const pair of textForm.split(',')) {
    const separator = pair.indexOf('=');
    if (separator <= 0 || pair.indexOf('=', separator + 1) >= 0) {
      throw malformed(label, `message ${i} attribute ${JSON.stringify(pair)} is not k=v`);
    }
    pairs.push([pair.slice(0, separator), pair.slice(separator + 1)]);
  }
  // fromEntries defines own properties, so a key like "__proto__" stays an attribute.
  return Object.fromEntries(pairs);
}

/** `field`, or `message i field`: error text is built only when there is an error. */
function named(field: string, i: number | undefined): string {
  return i === undefined ? field : `message ${i} ${field}`;
}

function text(
  body: Buffer,
  start: number,
  end: number,
  label: SectionLabel,
  field: string,
  i?: number,
): string {
  try {
    return utf8.decode(body.subarray(start, end));
  } catch (error) {
    throw malformed(label, `${named(field, i)} is not UTF-8`, error);
  }
}

function need(at: number, bytes: number, end: number, label: SectionLabel, field: string, i?: number): void {
  if (bytes > end - at) {
    throw malformed(label, `${named(field, i)} overruns the body (${end - at} bytes left)`);
  }
}

/**
 * Reads the u16 or u32 length (`size` bytes) at `at` and checks that both it and the bytes it
 * declares fit before `end`; returns the declared length.
 */
function declared(
  view: DataView,
  at: number,
  size: 2 | 4,
  end: number,
  label: SectionLabel,
  field: string,
  i: number,
): number {
  need(at, size, end, label, field, i);
  const bytes = size === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
  if (bytes > end - at - size) {
    throw malformed(
      label,
      `message ${i} ${field} ${bytes} overruns the body (${end - at - size} bytes left)`,
    );
  }
  return bytes;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
