// Broker-side partition leases from the consumer's side: claiming partitions before fetching them
// as a group member (CLAIM_PARTITIONS, grouped by the broker serving each), and releasing them after
// the last commit (RELEASE_PARTITIONS), so a partition never has two owners.
import { backoffMs, TubeError } from '../common/index.js';
import {
  callJson,
  claimPartitionsMessage,
  releasePartitionsMessage,
  type TopicPartition,
} from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { forEachBroker, partitionKey, topicsOf } from './partition-offsets.js';
import { delay } from './retry.js';

/** A consumer group member, as leases and owned fetches name it. */
export interface LeaseOwner {
  group: string;
  memberId: string;
}

/** A partition whose lease another member holds. */
export interface RefusedClaim extends TopicPartition {
  /** The member holding it, when the broker said. */
  holder?: string;
}

/** What one round of claims got. */
export interface ClaimOutcome {
  granted: TopicPartition[];
  refused: RefusedClaim[];
}

/** Claims every partition once, one request per broker (retrying retriable errors). */
export async function claimPartitions(
  cluster: ClusterClient,
  owner: LeaseOwner,
  partitions: readonly TopicPartition[],
): Promise<ClaimOutcome> {
  const outcome: ClaimOutcome = { granted: [], refused: [] };
  if (partitions.length === 0) return outcome;
  await cluster.withRetries(topicsOf(partitions), async () => {
    outcome.granted = [];
    outcome.refused = [];
    await forEachBroker(cluster, partitions, async (connection, _brokerId, chunk) => {
      const answer = await callJson(connection, claimPartitionsMessage, {
        group: owner.group,
        memberId: owner.memberId,
        partitions: chunk.map(({ topic, partition }) => ({ topic, partition })),
      });
      for (const { topic, partition, granted, holder } of answer.claims) {
        if (granted) outcome.granted.push({ topic, partition });
        else outcome.refused.push(holder === undefined ? { topic, partition } : { topic, partition, holder });
      }
    });
  });
  return outcome;
}

/** Options of {@link claimUntilGranted}. */
export interface ClaimUntilGrantedOptions {
  /** Stops the retries (partitions not granted by then are left alone). */
  signal: AbortSignal;
  /** Called with each batch of partitions as they are granted; awaited before the next round. */
  onGranted: (partitions: TopicPartition[]) => Promise<void>;
  /** Called once per refused partition per round, to log who holds it. */
  onRefused?: (refused: RefusedClaim[], attempt: number) => void;
}

/**
 * Claims the partitions, retrying those refused with a growing backoff (the previous owner's lease
 * may linger until its connection closes or the lease time passes) until all are granted or
 * `signal` aborts. Errors other than refusals (NOT_FOUND, a closed client) are retried too while
 * retriable, else thrown.
 */
export async function claimUntilGranted(
  cluster: ClusterClient,
  owner: LeaseOwner,
  partitions: readonly TopicPartition[],
  options: ClaimUntilGrantedOptions,
): Promise<void> {
  let waiting = [...partitions];
  for (let attempt = 1; waiting.length > 0 && !options.signal.aborted && !cluster.closed; attempt++) {
    let outcome: ClaimOutcome;
    try {
      outcome = await claimPartitions(cluster, owner, waiting);
    } catch (error) {
      if (!(error instanceof TubeError) || !error.retriable || cluster.closed) throw error;
      cluster.logger.warn(
        { err: error, group: owner.group, memberId: owner.memberId },
        'claim failed; retrying',
      );
      await delay(backoffMs(attempt));
      continue;
    }
    if (outcome.granted.length > 0) await options.onGranted(outcome.granted);
    const granted = new Set(outcome.granted.map(({ topic, partition }) => partitionKey(topic, partition)));
    waiting = waiting.filter(({ topic, partition }) => !granted.has(partitionKey(topic, partition)));
    if (waiting.length === 0 || options.signal.aborted) return;
    options.onRefused?.(outcome.refused, attempt);
    await abortableDelay(Math.min(backoffMs(attempt), 1000), options.signal);
  }
}

/** Releases the leases `owner` holds on the partitions (others' are left alone). */
export async function releasePartitions(
  cluster: ClusterClient,
  owner: LeaseOwner,
  partitions: readonly TopicPartition[],
): Promise<void> {
  if (partitions.length === 0) return;
  await cluster.withRetries(
    topicsOf(partitions),
    () =>
      forEachBroker(cluster, partitions, async (connection, _brokerId, chunk) => {
        await callJson(connection, releasePartitionsMessage, {
          group: owner.group,
          memberId: owner.memberId,
          partitions: chunk.map(({ topic, partition }) => ({ topic, partition })),
        });
      }),
    2,
  );
}

/** The error a client-side assignment fails with when another member holds a partition's lease. */
export function ownedByOther(group: string, refused: readonly RefusedClaim[]): TubeError {
  const named = refused
    .map(
      ({ topic, partition, holder }) =>
        `${topic}/${partition}${holder === undefined ? '' : ` (held by ${holder})`}`,
    )
    .join(', ');
  const first = refused[0];
  return new TubeError(
    'PARTITION_OWNED_BY_OTHER',
    `group "${group}": ${named} already owned by another consumer`,
    {
      details: {
        group,
        holder: first?.holder,
        partitions: refused.map(({ topic, partition }) => ({ topic, partition })),
      },
      hint: 'another consumer of this group reads these partitions: stop it, pick other partitions, or use another group',
    },
  );
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
