// PRODUCE_BATCHES (opcode 19): the batches of several partitions, possibly of different topics,
// in one request, answered per batch. A producer writing to many partitions of one broker sends a
// few of these per round instead of one PRODUCE each. The hot write path, so hand-coded binary;
// the decoder returns views into the body, never copies.
//
//   produce-batches-request  = acks reserved batchCount *batch
//   acks                     = u8     ; 0 memory, 1 written, 2 fsync (as PRODUCE)
//   reserved                 = u8     ; 0
//   batchCount               = u16    ; 1 to 4096
//   batch                    = section; exactly PRODUCE's from topicBytes on (produce-section.ts):
//                              topicBytes topic partition messageCount *message
//
//   produce-batches-response = batchCount *outcome   ; one per request batch, in request order
//   batchCount               = u16    ; 1 to 4096
//   outcome                  = status (ok / error)
//   status                   = u8     ; 0 ok, 1 error
//   ok                       = baseOffset count      ; u64, u32: as a PRODUCE response
//   error                    = errorBytes errorBody  ; u32, then an ERROR frame's body (error.ts)
//
// All integers little-endian. Batches and outcomes sit back to back, and nothing may follow the
// last one. A malformed request is one BAD_REQUEST for the whole request.
import { TubeError } from '../../common/index.js';
import { decodeError, encodeError } from './error.js';
import { type ProduceAcks, decodeHeader, encodeAcks, readLanded, writeLanded } from './produce.js';
import * as shared from './produce-section.js';
import type { ProduceMessage, ProducedMessage, SectionLabel } from './produce-section.js';

/** Limits a PRODUCE_BATCHES request obeys on both ends (each batch also obeys `produceLimits`). */
export const produceBatchesLimits = {
  /** Batches in one request, and outcomes in its response. */
  batchCountMax: 4096,
} as const;

/** A PRODUCE_BATCHES request as the encoder takes it: one ack level for every batch. */
export interface ProduceBatchesRequest {
  acks: ProduceAcks;
  batches: readonly { topic: string; partition: number; messages: readonly ProduceMessage[] }[];
}

/** A decoded PRODUCE_BATCHES request; its buffers view the body, so they live as long as it does. */
export interface DecodedProduceBatchesRequest {
  acks: ProduceAcks;
  batches: { topic: string; partition: number; messages: ProducedMessage[] }[];
}

/** What became of one batch: where it landed, or why it did not. */
export type ProduceBatchOutcome =
  { baseOffset: number; count: number; error?: undefined } | { error: TubeError };

/** acks, reserved and batchCount. */
const headerBytes = 1 + 1 + 2;
/** A batch takes at least its fixed fields and a 1-byte topic. */
const batchBytesMin = shared.sectionFixedBytes + 1;
const statusOk = 0;
const statusError = 1;
/** status, then baseOffset and count. */
const okBytes = 1 + 8 + 4;
/** status and errorBytes. */
const errorFixedBytes = 1 + 4;
const requestLabel: SectionLabel = { request: 'PRODUCE_BATCHES request' };
const responseLabel: SectionLabel = { request: 'PRODUCE_BATCHES response' };

/**
 * Encodes a PRODUCE_BATCHES request body as the buffers to write: one allocation holds the header,
 * every batch's headers and the values up to 16 KiB; larger values pass through uncopied as their
 * own buffers. Throws `TubeError('BAD_REQUEST')` for a request the wire cannot carry.
 */
export function encodeProduceBatchesRequest(request: ProduceBatchesRequest): Buffer[] {
  const acks = encodeAcks(request.acks, requestLabel);
  const { batches } = request;
  checkBatchCount(batches.length, requestLabel);
  const sections: shared.MeasuredSection[] = new Array<shared.MeasuredSection>(batches.length);
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!;
    sections[b] = shared.measureSection(batch.topic, batch.partition, batch.messages, {
      request: requestLabel.request,
      batch: b,
    });
  }
  return shared.encodeSections(acks, sections, true);
}

/**
 * Decodes a PRODUCE_BATCHES request body. Keys and values are views into `body` (no copies).
 * Throws `TubeError('BAD_REQUEST')` (`malformed PRODUCE_BATCHES request: batch b message i …`).
 */
export function decodeProduceBatchesRequest(body: Buffer): DecodedProduceBatchesRequest {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  if (end < headerBytes) {
    throw shared.malformed(requestLabel, `${end} bytes, fewer than the ${headerBytes} fixed`);
  }
  const acks = decodeHeader(view, requestLabel);
  const batchCount = view.getUint16(2, true);
  if (batchCount === 0 || batchCount > produceBatchesLimits.batchCountMax) {
    throw shared.malformed(
      requestLabel,
      `batchCount ${batchCount} is not in [1, ${produceBatchesLimits.batchCountMax}]`,
    );
  }
  if (batchCount * batchBytesMin > end - headerBytes) {
    throw shared.malformed(
      requestLabel,
      `batchCount ${batchCount} cannot fit in the ${end - headerBytes} bytes left`,
    );
  }
  const batches: DecodedProduceBatchesRequest['batches'] = new Array<
    DecodedProduceBatchesRequest['batches'][number]
  >(batchCount);
  let at = headerBytes;
  for (let b = 0; b < batchCount; b++) {
    const section = shared.decodeSection(body, view, at, { request: requestLabel.request, batch: b });
    batches[b] = { topic: section.topic, partition: section.partition, messages: section.messages };
    at = section.at;
  }
  if (at !== end) throw shared.malformed(requestLabel, `${end - at} bytes follow the last batch`);
  return { acks, batches };
}

/**
 * Encodes a PRODUCE_BATCHES response body, one outcome per request batch in request order; an
 * error outcome carries exactly the body {@link encodeError} makes for an ERROR frame.
 * Throws `TubeError('BAD_REQUEST')` for outcomes the wire cannot carry.
 */
export function encodeProduceBatchesResponse(outcomes: readonly ProduceBatchOutcome[]): Buffer {
  checkBatchCount(outcomes.length, responseLabel);
  const errorBodies: (Buffer | undefined)[] = new Array<Buffer | undefined>(outcomes.length);
  let bytes = 2;
  for (let b = 0; b < outcomes.length; b++) {
    const outcome = outcomes[b]!;
    if (outcome.error === undefined) {
      bytes += okBytes;
    } else {
      const errorBody = encodeError(outcome.error);
      errorBodies[b] = errorBody;
      bytes += errorFixedBytes + errorBody.byteLength;
    }
  }
  const body = Buffer.allocUnsafe(bytes);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  view.setUint16(0, outcomes.length, true);
  let at = 2;
  for (let b = 0; b < outcomes.length; b++) {
    const outcome = outcomes[b]!;
    const errorBody = errorBodies[b];
    if (outcome.error === undefined) {
      view.setUint8(at, statusOk);
      writeLanded(view, at + 1, outcome, { request: responseLabel.request, batch: b });
      at += okBytes;
    } else {
      view.setUint8(at, statusError);
      view.setUint32(at + 1, errorBody!.byteLength, true);
      at += errorFixedBytes + errorBody!.copy(body, at + errorFixedBytes);
    }
  }
  return body;
}

/**
 * Decodes a PRODUCE_BATCHES response body. Throws `TubeError('BAD_REQUEST')` when its framing is
 * malformed (count, status, lengths, trailing bytes); an error body that is itself malformed
 * becomes that batch's BAD_REQUEST outcome (`malformed error body: …`), as {@link decodeError} does
 * for an ERROR frame.
 */
export function decodeProduceBatchesResponse(body: Buffer): ProduceBatchOutcome[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.byteLength;
  if (end < 2) throw malformedResponse(`${end} bytes, fewer than the 2 fixed`);
  const batchCount = view.getUint16(0, true);
  if (batchCount === 0 || batchCount > produceBatchesLimits.batchCountMax) {
    throw malformedResponse(`batchCount ${batchCount} is not in [1, ${produceBatchesLimits.batchCountMax}]`);
  }
  const outcomes: ProduceBatchOutcome[] = new Array<ProduceBatchOutcome>(batchCount);
  let at = 2;
  for (let b = 0; b < batchCount; b++) {
    if (at >= end) throw malformedResponse(`batch ${b} status overruns the body (0 bytes left)`);
    const status = view.getUint8(at);
    if (status === statusOk) {
      if (okBytes > end - at) {
        throw malformedResponse(`batch ${b} outcome overruns the body (${end - at - 1} bytes left)`);
      }
      const { baseOffset, count } = readLanded(view, at + 1, { request: responseLabel.request, batch: b });
      outcomes[b] = { baseOffset, count };
      at += okBytes;
    } else if (status === statusError) {
      if (errorFixedBytes > end - at) {
        throw malformedResponse(`batch ${b} errorBytes overruns the body (${end - at - 1} bytes left)`);
      }
      const errorBytes = view.getUint32(at + 1, true);
      at += errorFixedBytes;
      if (errorBytes > end - at) {
        throw malformedResponse(
          `batch ${b} errorBytes ${errorBytes} overruns the body (${end - at} bytes left)`,
        );
      }
      outcomes[b] = { error: decodeError(body.subarray(at, at + errorBytes)) };
      at += errorBytes;
    } else {
      throw malformedResponse(`batch ${b} status ${status} is not 0 or 1`);
    }
  }
  if (at !== end) throw malformedResponse(`${end - at} bytes follow the last batch`);
  return outcomes;
}

function checkBatchCount(count: number, label: SectionLabel): void {
  if (count === 0 || count > produceBatchesLimits.batchCountMax) {
    throw shared.unencodable(label, `${count} batches, not 1 to ${produceBatchesLimits.batchCountMax}`);
  }
}

function malformedResponse(message: string): TubeError {
  return shared.malformed(responseLabel, message);
}
