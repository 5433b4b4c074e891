// COMMIT_OFFSETS, FETCH_OFFSETS and LIST_OFFSETS: the JSON control messages over group offsets and
// the stored range. Every partition named must be served here, as for PRODUCE and FETCH; commits
// are also checked against the partitions' leases (DESIGN.md §6).
import {
  commitOffsetsMessage,
  fetchOffsetsMessage,
  listOffsetsMessage,
  type Frame,
  type CommitOffsetsRequest,
  type ListOffsetsResponse,
} from '../../protocol/index.js';
import type { BrokerContext } from '../context.js';
import { ownedByOther } from '../partition-leases.js';
import { checkServed } from './check-served.js';

/**
 * Stores a group's offsets; answers once they are fsynced. Unless `force`, every entry must pass
 * the lease rules first (one failing entry fails the whole commit, nothing is stored):
 * with `memberId`, that member must hold the lease (410 when another does, 411 when nobody does,
 * and the lease is renewed); without it, nobody may hold one (an offline or admin commit).
 */
export async function handleCommitOffsets(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const request = commitOffsetsMessage.decodeRequest(frame.body);
  for (const each of request.offsets) checkServed(context, each.topic, each.partition);
  if (request.force !== true) checkLeases(context, request);
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

function checkLeases(context: BrokerContext, request: CommitOffsetsRequest): void {
  const { group, memberId } = request;
  for (const { topic, partition } of request.offsets) {
    if (memberId !== undefined) {
      context.leases.requireAndRenew(group, topic, partition, memberId);
      continue;
    }
    const held = context.leases.holderOf(group, topic, partition);
    if (held !== undefined) throw ownedByOther(group, topic, partition, held.memberId);
  }
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
      const state = storage.partitionState(topic, partition);
      const entry = {
        topic,
        partition,
        earliest: state.earliestOffset,
        latest: state.readableOffset,
        gapOffsets: state.gapOffsets,
        gaps: state.gaps,
      };
      if (timestampMs === undefined) return entry;
      return { ...entry, offsetAtTimestamp: await storage.offsetForTimestamp(topic, partition, timestampMs) };
    }),
  );
  return listOffsetsMessage.encodeResponse({ offsets });
}
