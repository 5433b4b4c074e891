// Which partitions this broker serves. The master decides (BROKER_ASSIGNMENT); in standalone mode
// every topic in local storage is served. Checked on every request, so it is two map lookups.
import { TubeError, topicNotFound } from '../common/index.js';
import type { BrokerAssignment } from '../protocol/index.js';

interface HostedTopic {
  partitions: number;
  hosted: ReadonlySet<number>;
}

/** The hosting check: answers "may this broker serve topic/partition?" or throws why not. */
export class Hosting {
  /** undefined: standalone, storage alone decides (it throws NOT_FOUND for an unknown topic). */
  #topics: Map<string, HostedTopic> | undefined;
  readonly #brokerId: number;
  readonly #topicExists: (topic: string) => boolean;

  /**
   * @param standalone serve everything in storage, with no assignment
   * @param topicExists whether local storage has the topic, to tell NOT_FOUND from UNAVAILABLE
   */
  constructor(brokerId: number, standalone: boolean, topicExists: (topic: string) => boolean) {
    this.#brokerId = brokerId;
    this.#topics = standalone ? undefined : new Map();
    this.#topicExists = topicExists;
  }

  /** Replaces what is served with `assignment` (only the topics in `applied`, which storage has). */
  set(assignment: BrokerAssignment, applied: ReadonlySet<string>): void {
    const topics = new Map<string, HostedTopic>();
    for (const topic of assignment.topics) {
      if (!applied.has(topic.name)) continue;
      topics.set(topic.name, { partitions: topic.partitions, hosted: new Set(topic.hostedPartitions) });
    }
    this.#topics = topics;
  }

  /** Whether this broker serves topic/partition now (standalone: whatever storage has). */
  serves(topic: string, partition: number): boolean {
    const topics = this.#topics;
    return topics === undefined || topics.get(topic)?.hosted.has(partition) === true;
  }

  /**
   * Throws NOT_FOUND for a topic neither assigned nor stored here, and UNAVAILABLE (retriable:
   * the client refreshes its metadata) for a partition another broker serves.
   */
  check(topic: string, partition: number): void {
    const topics = this.#topics;
    if (topics === undefined) return;
    const hosted = topics.get(topic);
    if (hosted?.hosted.has(partition)) return;
    if (hosted === undefined && !this.#topicExists(topic)) {
      throw topicNotFound(topic);
    }
    if (hosted !== undefined && (partition >= hosted.partitions || partition < 0)) {
      throw new TubeError(
        'NOT_FOUND',
        `topic ${topic} has no partition ${partition} (it has ${hosted.partitions})`,
        {
          details: { topic, partition },
        },
      );
    }
    throw new TubeError(
      'UNAVAILABLE',
      `partition ${topic}/${partition} is not served by broker ${this.#brokerId}`,
      {
        details: { topic, partition, brokerId: this.#brokerId },
      },
    );
  }
}
