// Which partition a message goes to: the one named, else the key's hash, else round-robin. The hash
// is Kafka's murmur2 (the same key lands on the same partition as with Kafka's default
// partitioner), so keyed data keeps its order within one partition.

/** murmur2 of `bytes` as Kafka computes it (seed 0x9747b28c), a signed 32-bit integer. */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    const at = i * 4;
    let k = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = words * 4;
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= bytes[tail + 2]! << 16;
    if (rest >= 2) h ^= bytes[tail + 1]! << 8;
    h ^= bytes[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a key among `partitions`: Kafka's `toPositive(murmur2(key)) % partitions`. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/** Picks partitions for messages of one producer: keyed by hash, unkeyed round-robin per topic. */
export class Partitioner {
  readonly #counters = new Map<string, number>();

  /**
   * The partition for a message of `topic`, which has `partitions` partitions. Unkeyed messages
   * rotate over the partitions from a random start, so producers started together spread out.
   */
  choose(topic: string, partitions: number, key: Uint8Array | undefined): number {
    if (key !== undefined) return partitionForKey(key, partitions);
    const next = this.#counters.get(topic) ?? Math.floor(Math.random() * partitions);
    this.#counters.set(topic, (next + 1) % 0x7fffffff);
    return next % partitions;
  }
}
