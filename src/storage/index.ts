// The storage engine's public face: everything above it (broker, tests, benches) imports from here.
export { StorageEngine, type StorageStats, type OpenReport, type PartitionState } from './storage-engine.js';
export type { GapCause } from './offset-ledger.js';
export type { StorageOptions, StorageLogger } from './options.js';
export { defaultTopicConfig } from './options.js';
export type { GroupOffsetCommit } from './group-offsets.js';
export { GroupOffsetStore } from './group-offsets.js';
export { streamHash } from './message-encoding.js';
export { decodeRecord, checkRecord, recordLengthField, recordHeaderBytes } from '../common/record-format.js';
export * from './types.js';
