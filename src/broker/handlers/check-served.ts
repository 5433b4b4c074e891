// The check every partition-naming control message makes, as PRODUCE and FETCH do.
import type { BrokerContext } from '../context.js';

/** Throws unless this broker serves topic/partition and storage has it (NOT_FOUND, UNAVAILABLE). */
export function checkServed(context: BrokerContext, topic: string, partition: number): void {
  context.hosting.check(topic, partition);
  // In standalone mode hosting passes everything; asking storage validates topic and partition.
  context.storage.latestOffset(topic, partition);
}
