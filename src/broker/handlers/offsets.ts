// COMMIT_OFFSETS, FETCH_OFFSETS and LIST_OFFSETS: the JSON control messages over group offsets and
// the stored range. Every partition named must be served here, as for PRODUCE and FETCH.
import {
  commitOffsetsMessage,
  fetchOffsetsMessage,
  listOffsetsMessage,
  type Frame,
  type ListOffsetsResponse,
} from '../../protocol/index.js';
import type { BrokerContext } from '../context.js';

/** Throws unless this broker serves topic/partition and storage has it (NOT_FOUND, UNAVAILABLE). */
function checkServed(context: BrokerContext, topic: string, partition: number): void {
  context.hosting.check(topic, partition);
  // In standalone mode hosting passes everything; asking storage validates topic and partition.
  context.storage.latestOffset(topic, partition);
}

/** Stores a group's offsets; answers once they are fsynced. */
export async function handleCommitOffsets(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const request = commitOffsetsMessage.decodeRequest(frame.body);
  for (const each of request.offsets) checkServed(context, each.topic, each.partition);
  await context.storage.commitOffsets(
    request.offsets.map((each) => ({
      group: request.group,
      topic: each.topic,
      partition: each.partition,
      offset: each.offset,
    })),
  );
  return commitOffsetsMessage.encodeResponse({});
}

/** A group's committed offsets, null where it never committed. */
export function handleFetchOffsets(context: BrokerContext, frame: Frame): Buffer {
  const request = fetchOffsetsMessage.decodeRequest(frame.body);
  const offsets = request.partitions.map(({ topic, partition }) => {
    checkServed(context, topic, partition);
    return {
      topic,
      partition,
      offset: context.storage.committedOffset(request.group, topic, partition) ?? null,
    };
  });
  return fetchOffsetsMessage.encodeResponse({ offsets });
}

/** Earliest and latest offsets, and the first offset at or after a time when asked. */
export async function handleListOffsets(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const request = listOffsetsMessage.decodeRequest(frame.body);
  for (const each of request.partitions) checkServed(context, each.topic, each.partition);
  const { storage } = context;
  const offsets: ListOffsetsResponse['offsets'] = await Promise.all(
    request.partitions.map(async ({ topic, partition, timestampMs }) => {
      const entry = {
        topic,
        partition,
        earliest: storage.earliestOffset(topic, partition),
        latest: storage.latestOffset(topic, partition),
      };
      if (timestampMs === undefined) return entry;
      return { ...entry, offsetAtTimestamp: await storage.offsetForTimestamp(topic, partition, timestampMs) };
    }),
  );
  return listOffsetsMessage.encodeResponse({ offsets });
}
