// Which partitions a consumer reads. Now always a static list (every partition of the topics, or the
// ones named); master-balanced groups (issue 5) plug in as another source that announces changes.
import { TubeError } from '../common/index.js';
import type { TopicPartition } from '../protocol/index.js';
import type { ClusterClient } from './cluster-client.js';
import { partitionNotFound } from './client-errors.js';

/** A source of the partitions one consumer reads. */
export interface AssignmentSource {
  /** The partitions to read now. Rejects NOT_FOUND for an unknown topic or partition. */
  assign(): Promise<TopicPartition[]>;
  /** Registers for later changes; a static source never calls the listener. */
  onChange(listener: (partitions: TopicPartition[]) => void): void;
  /** Leaves (a balanced group would deregister here). */
  close(): Promise<void>;
}

/** Every partition of the topics, or only the ones named per topic (client-side assignment). */
export class StaticAssignment implements AssignmentSource {
  readonly #cluster: ClusterClient;
  readonly #topics: readonly string[];
  readonly #only: Readonly<Record<string, readonly number[]>> | undefined;

  constructor(
    cluster: ClusterClient,
    topics: readonly string[],
    only?: Readonly<Record<string, readonly number[]>>,
  ) {
    this.#cluster = cluster;
    this.#topics = topics;
    this.#only = only;
  }

  async assign(): Promise<TopicPartition[]> {
    if (this.#only !== undefined) {
      for (const topic of Object.keys(this.#only)) {
        if (!this.#topics.includes(topic)) {
          throw new TubeError(
            'BAD_REQUEST',
            `partitions are given for topic "${topic}", which is not subscribed`,
          );
        }
      }
    }
    const assigned: TopicPartition[] = [];
    for (const topic of this.#topics) {
      const description = await this.#cluster.metadata.refresh(topic);
      const named = this.#only?.[topic];
      const partitions =
        named !== undefined
          ? [...new Set(named)]
          : Array.from({ length: description.partitions }, (_, partition) => partition);
      for (const partition of partitions) {
        if (!Number.isInteger(partition) || partition < 0 || partition >= description.partitions) {
          throw partitionNotFound(topic, partition, description.partitions);
        }
        assigned.push({ topic, partition });
      }
    }
    return assigned;
  }

  onChange(_listener: (partitions: TopicPartition[]) => void): void {}

  async close(): Promise<void> {}
}
