import type { DecodedRecord } from './record-format.js';

/** The attribute that carries a message's stream id (TubeMQ's `$msgType$`). */
export const streamAttribute = '$stream';

/** A stored record as readers see it, from the storage engine or from a fetch answer. */
export interface RecordMessage {
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | undefined;
  value: Buffer;
  streamId: string | undefined;
  attributes: Record<string, string>;
}

/** Splits a decoded record's attribute text into the stream id and the other `k=v` pairs. */
export function toRecordMessage(record: DecodedRecord): RecordMessage {
  const pairs: [string, string][] = [];
  let streamId: string | undefined;
  if (record.attributes !== '') {
    for (const pair of record.attributes.split(',')) {
      const separator = pair.indexOf('=');
      const key = separator < 0 ? pair : pair.slice(0, separator);
      const value = separator < 0 ? '' : pair.slice(separator + 1);
      if (key === streamAttribute) streamId = value;
      else pairs.push([key, value]);
    }
  }
  return {
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key,
    value: record.value,
    streamId,
    // fromEntries defines own properties, so a key like "__proto__" stays an attribute.
    attributes: Object.fromEntries(pairs),
  };
}
