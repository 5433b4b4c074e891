// A consumer's stream filters (TubeMQ's msgType filters), checked before anything is sent: at most
// 500 stream ids per topic, each 1 to 256 UTF-8 bytes without control characters, and only for
// topics the consumer reads.
import { TubeError } from '../common/index.js';
import { streamIdBytesMax, streamIdsPerTopicMax } from '../protocol/index.js';

/**
 * Checks `filters` against `topics` and the limits; returns topic -> the set of stream ids (topics
 * without a filter, or with an empty list, are absent: every message). Throws BAD_REQUEST naming the
 * limit broken.
 */
export function resolveFilters(
  topics: readonly string[],
  filters: Readonly<Record<string, readonly string[]>> | undefined,
): Map<string, ReadonlySet<string>> {
  const resolved = new Map<string, ReadonlySet<string>>();
  if (filters === undefined) return resolved;
  if (typeof filters !== 'object' || filters === null) {
    throw new TubeError('BAD_REQUEST', 'filters must map topics to lists of stream ids');
  }
  for (const [topic, streamIds] of Object.entries(filters)) {
    if (!topics.includes(topic)) {
      throw new TubeError('BAD_REQUEST', `a filter is given for topic "${topic}", which is not subscribed`, {
        details: { topic },
      });
    }
    if (!Array.isArray(streamIds)) {
      throw new TubeError('BAD_REQUEST', `the filter of topic "${topic}" must be a list of stream ids`);
    }
    const unique = new Set<string>();
    for (const streamId of streamIds as unknown[]) {
      checkStreamId(topic, streamId);
      unique.add(streamId as string);
    }
    if (unique.size > streamIdsPerTopicMax) {
      throw new TubeError(
        'BAD_REQUEST',
        `the filter of topic "${topic}" has ${unique.size} stream ids; at most ${streamIdsPerTopicMax} are allowed per topic`,
        { details: { topic, count: unique.size, limit: streamIdsPerTopicMax } },
      );
    }
    if (unique.size > 0) resolved.set(topic, unique);
  }
  return resolved;
}

function checkStreamId(topic: string, streamId: unknown): void {
  const bytes = typeof streamId === 'string' ? Buffer.byteLength(streamId, 'utf8') : -1;
  if (bytes < 1 || bytes > streamIdBytesMax) {
    const shown = typeof streamId === 'string' ? JSON.stringify(streamId.slice(0, 40)) : String(streamId);
    throw new TubeError(
      'BAD_REQUEST',
      `stream id ${shown}${bytes > streamIdBytesMax ? '…' : ''} in the filter of topic "${topic}" is ${bytes < 0 ? 'not a string' : `${bytes} UTF-8 bytes`}; each must be 1 to ${streamIdBytesMax} UTF-8 bytes`,
      { details: { topic, limit: streamIdBytesMax } },
    );
  }
  if (
    [...(streamId as string)].some(
      (character) => character.charCodeAt(0) < 0x20 || character.charCodeAt(0) === 0x7f,
    )
  ) {
    throw new TubeError(
      'BAD_REQUEST',
      `stream id ${JSON.stringify(streamId)} in the filter of topic "${topic}" contains a control character`,
      { details: { topic } },
    );
  }
}
