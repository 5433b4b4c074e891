// The errors the client library raises itself (others come from the brokers and the master).
import { TubeError } from '../common/index.js';

/** A call on a closed producer, consumer or admin client's connections. */
export function clientClosed(): TubeError {
  return new TubeError('UNAVAILABLE', 'the client is closed');
}

/** A partition number the topic does not have. */
export function partitionNotFound(topic: string, partition: number, partitions: number): TubeError {
  return new TubeError(
    'NOT_FOUND',
    `partition ${partition} of topic "${topic}" does not exist (it has ${partitions})`,
    { details: { topic, partition, partitions } },
  );
}
