// The checks a message passes when send() is called, so an invalid message is refused alone instead
// of failing the batch it would have joined; the same rules as the PRODUCE encoder.
import { TubeError } from '../common/index.js';
import type { ProduceMessage } from '../protocol/index.js';

const u16Max = 0xffff;
const u32Max = 0xffff_ffff;
// Per-message bytes on the wire besides key, value, stream id and attributes (flags, lengths, timestamp).
const messageOverheadBytes = 1 + 8 + 4 + 2 + 4 + 4;

/** Throws BAD_REQUEST naming the first field of `message` (or the partition) the wire cannot carry. */
export function checkMessageFields(message: ProduceMessage, partition: number | undefined): void {
  if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition > u32Max)) {
    throw new TubeError('BAD_REQUEST', `partition must be a non-negative integer, got ${partition}`);
  }
  const { timestamp, streamId, attributes } = message;
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) {
    throw new TubeError('BAD_REQUEST', `timestamp must be an integer in [0, 2^53 - 1], got ${timestamp}`);
  }
  if (
    streamId !== undefined &&
    (typeof streamId !== 'string' || Buffer.byteLength(streamId, 'utf8') > u16Max)
  ) {
    throw new TubeError('BAD_REQUEST', `streamId must be a string of at most ${u16Max} UTF-8 bytes`);
  }
  if (attributes !== undefined) {
    for (const [key, value] of Object.entries(attributes)) {
      if (key === '' || /[,=]/.test(key) || typeof value !== 'string' || /[,=]/.test(value)) {
        throw new TubeError(
          'BAD_REQUEST',
          `attribute ${JSON.stringify(key)}: keys must be non-empty strings and neither keys nor values may contain ',' or '='`,
        );
      }
    }
  }
}

/** Bytes a message costs on the wire and in buffer memory (attributes counted by their text). */
export function messageBytes(message: ProduceMessage): number {
  let bytes = messageOverheadBytes + (message.value as Buffer).byteLength;
  if (message.key !== undefined) bytes += (message.key as Buffer).byteLength;
  if (message.streamId !== undefined) bytes += message.streamId.length * 3;
  if (message.attributes !== undefined) {
    for (const [key, value] of Object.entries(message.attributes))
      bytes += (key.length + value.length) * 3 + 2;
  }
  return bytes;
}
