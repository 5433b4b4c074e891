// CLAIM_PARTITIONS and RELEASE_PARTITIONS: a consumer group member takes and gives up partition
// leases (DESIGN.md §6). Every partition named must be served here; one bad entry fails the request
// before any lease changes.
import {
  claimPartitionsMessage,
  releasePartitionsMessage,
  type Frame,
  type Session,
} from '../../protocol/index.js';
import type { BrokerContext } from '../context.js';
import { checkServed } from './check-served.js';

/** Claims each partition for the member on this connection; answers granted or the holder, in order. */
export function handleClaimPartitions(context: BrokerContext, frame: Frame, session: Session): Buffer {
  const { group, memberId, partitions } = claimPartitionsMessage.decodeRequest(frame.body);
  for (const { topic, partition } of partitions) checkServed(context, topic, partition);
  const claims = partitions.map(({ topic, partition }) => {
    const result = context.leases.claim(group, topic, partition, memberId, session);
    return result.granted
      ? { topic, partition, granted: true }
      : { topic, partition, granted: false, holder: result.holder };
  });
  return claimPartitionsMessage.encodeResponse({ claims });
}

/** Releases the member's leases among the partitions named; others' leases are left alone. */
export function handleReleasePartitions(context: BrokerContext, frame: Frame): Buffer {
  const { group, memberId, partitions } = releasePartitionsMessage.decodeRequest(frame.body);
  for (const { topic, partition } of partitions) checkServed(context, topic, partition);
  for (const { topic, partition } of partitions) context.leases.release(group, topic, partition, memberId);
  return releasePartitionsMessage.encodeResponse({});
}
