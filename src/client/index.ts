// The client library's public face: Admin, Producer and Consumer, and the shapes they take and return.
export { Admin } from './admin.js';
export type { CreateTopicOptions, GroupPartitionOffsets, PartitionOffsets } from './admin.js';
export type { OffsetGap } from './partition-offsets.js';
export { Producer } from './producer.js';
export type { ProducerOptions, SendOptions, SendResult } from './producer.js';
export { Consumer } from './consumer.js';
export type { BoundStart, ConsumerOptions, PartitionPosition, PollOptions } from './consumer-options.js';
export type { ConsumedMessage, ConsumerStart, StartAtTimestamp } from './consumed-message.js';
export type { PartitionAssignment } from './assignment.js';
export type { MessageHandler, RunOptions } from './push-runner.js';
export type { ClientOptions } from './options.js';
export { masterPortDefault } from './options.js';
export { murmur2, partitionForKey } from './partitioner.js';
export type {
  Address,
  BrokerInfo,
  ClusterStatusResponse,
  ProduceAcks,
  TopicDescription,
  TopicPartition,
} from '../protocol/index.js';
