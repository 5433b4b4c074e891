// LIST_GROUP_OFFSETS and DELETE_GROUP_OFFSETS: the group admin's view of the offsets committed on
// this broker (`group list`, `group describe`, `group delete` through the master).
import {
  deleteGroupOffsetsMessage,
  listGroupOffsetsMessage,
  type Frame,
  type ListGroupOffsetsResponse,
} from '../../protocol/index.js';
import type { BrokerContext } from '../context.js';

/**
 * Offsets committed here for partitions this broker serves now (a partition moved away keeps its old
 * offsets on disk, but its new broker is the one to ask), sorted by group, topic and partition.
 */
export function handleListGroupOffsets(context: BrokerContext, frame: Frame): Buffer {
  const request = listGroupOffsetsMessage.decodeRequest(frame.body);
  const filter = request.group === undefined ? {} : { group: request.group };
  const offsets: ListGroupOffsetsResponse['offsets'] = context.storage
    .listCommittedOffsets(filter)
    .filter((each) => context.hosting.serves(each.topic, each.partition))
    .map(({ group, topic, partition, offset }) => ({ group, topic, partition, offset }))
    .sort((a, b) => compare(a.group, b.group) || compare(a.topic, b.topic) || a.partition - b.partition);
  return listGroupOffsetsMessage.encodeResponse({ offsets });
}

/** Forgets every offset of the group stored here; answers once that is durable, with the count. */
export async function handleDeleteGroupOffsets(context: BrokerContext, frame: Frame): Promise<Buffer> {
  const { group } = deleteGroupOffsetsMessage.decodeRequest(frame.body);
  const deleted = await context.storage.deleteGroupOffsets(group);
  return deleteGroupOffsetsMessage.encodeResponse({ deleted });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
