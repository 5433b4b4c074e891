// What the master said about topics and brokers, kept until something suggests it is stale: clients
// refresh a topic on first use and again after a retriable error (a broker moved, a partition was
// reassigned). Concurrent refreshes of one topic share a single METADATA request.
import { topicNotFound } from '../common/index.js';
import { metadataMessage, type BrokerInfo, type TopicDescription } from '../protocol/index.js';
import type { MasterLink } from './master-link.js';

/** Cached topic descriptions and broker addresses, refreshed on demand. */
export class MetadataCache {
  readonly #master: MasterLink;
  readonly #topics = new Map<string, TopicDescription>();
  readonly #brokers = new Map<number, BrokerInfo>();
  readonly #loading = new Map<string, Promise<TopicDescription>>();

  constructor(master: MasterLink) {
    this.#master = master;
  }

  /** The topic as last seen, without asking the master. */
  cached(topic: string): TopicDescription | undefined {
    return this.#topics.get(topic);
  }

  /** The topic, from the cache or else from the master. Rejects NOT_FOUND for an unknown topic. */
  topic(topic: string): Promise<TopicDescription> {
    const cached = this.#topics.get(topic);
    return cached === undefined ? this.refresh(topic) : Promise.resolve(cached);
  }

  /** Asks the master about `topic` again (joining a request already in flight). */
  refresh(topic: string): Promise<TopicDescription> {
    const loading = this.#loading.get(topic);
    if (loading !== undefined) return loading;
    const pending = this.#load(topic).finally(() => this.#loading.delete(topic));
    this.#loading.set(topic, pending);
    return pending;
  }

  /** Names of the topics cached. */
  topicNames(): string[] {
    return [...this.#topics.keys()];
  }

  /** A broker as last seen in any metadata answer. */
  broker(brokerId: number): BrokerInfo | undefined {
    return this.#brokers.get(brokerId);
  }

  /** Remembers topics and brokers learned elsewhere (e.g. from LIST_TOPICS or CREATE_TOPIC). */
  remember(topics: readonly TopicDescription[], brokers: readonly BrokerInfo[] = []): void {
    for (const topic of topics) this.#topics.set(topic.name, topic);
    for (const broker of brokers) this.#brokers.set(broker.brokerId, broker);
  }

  async #load(topic: string): Promise<TopicDescription> {
    const answer = await this.#master.call(metadataMessage, { topics: [topic] });
    this.remember(answer.topics, answer.brokers);
    const description = answer.topics.find((each) => each.name === topic);
    if (description === undefined) {
      // The master answers NOT_FOUND itself; this covers one that leaves the topic out instead.
      throw topicNotFound(topic);
    }
    return description;
  }
}
