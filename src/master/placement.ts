// Which broker serves each partition of a new topic. Round-robin over brokers sorted by id: simple,
// even, and the same answer for the same inputs, so a person can predict it.
import { TubeError } from '../common/index.js';

/** What placement needs to know about one broker. */
export interface PlacementCandidate {
  brokerId: number;
  online: boolean;
}

/**
 * Places `partitions` partitions: partition p goes to `brokers[p % n]`, brokers sorted by id.
 *
 * With `requested` ids, only those are used, and each must be known (else BAD_REQUEST) and online
 * (else UNAVAILABLE); without, every online broker is used. No broker to use → UNAVAILABLE.
 * @returns `placement[p]`, the broker id of partition p.
 */
export function placePartitions(
  partitions: number,
  candidates: readonly PlacementCandidate[],
  requested?: readonly number[],
): number[] {
  const byId = new Map(candidates.map((candidate) => [candidate.brokerId, candidate]));
  let chosen: number[];
  if (requested === undefined) {
    chosen = candidates.filter((candidate) => candidate.online).map((candidate) => candidate.brokerId);
    if (chosen.length === 0) {
      throw new TubeError('UNAVAILABLE', 'no broker is online', {
        hint: 'start a broker with `tubemq broker start --master <master host:port>`',
      });
    }
  } else {
    chosen = [...new Set(requested)];
    for (const brokerId of chosen) {
      const candidate = byId.get(brokerId);
      if (candidate === undefined) {
        throw new TubeError('BAD_REQUEST', `broker ${brokerId} is not registered`, {
          details: { brokerId },
          hint: 'see the registered brokers with `tubemq broker list`',
        });
      }
      if (!candidate.online) {
        throw new TubeError('UNAVAILABLE', `broker ${brokerId} is offline`, {
          details: { brokerId },
          hint: 'start that broker, or leave it out of --brokers',
        });
      }
    }
  }
  chosen.sort((a, b) => a - b);
  return Array.from({ length: partitions }, (_, partition) => chosen[partition % chosen.length]!);
}
