// Limits carry their unit in the name (DESIGN.md §4), so a call site never guesses bytes vs KiB.
import { KiB, MiB } from './units.js';

/**
 * Largest message a topic accepts unless configured otherwise, in bytes.
 * @default 1 MiB (1048576)
 */
export const maxMessageBytesDefault = 1 * MiB;

/**
 * Ceiling for a topic's configured `maxMessageBytes`, in bytes.
 * @default 20 MiB (20971520)
 */
export const maxMessageBytesLimit = 20 * MiB;

/**
 * Largest protocol frame, in bytes: 16 MiB of body plus 64 KiB for headers and batch framing.
 * The decoder rejects a longer length prefix before allocating.
 * @default 16 MiB + 64 KiB (16842752)
 */
export const maxFrameBytes = 16 * MiB + 64 * KiB;

/**
 * Bytes a fetch returns per partition unless the consumer asks for less.
 * @default 1 MiB (1048576)
 */
export const fetchBytesMaxDefault = 1 * MiB;

/**
 * Longest topic name, in characters (TubeMQ's limit).
 * @default 64
 */
export const topicNameLengthMax = 64;

/**
 * Most partitions one topic may have.
 * @default 1024
 */
export const partitionsMax = 1024;

/**
 * Most storage instances ("stores") one topic may have on a broker.
 * @default 64
 */
export const storesMax = 64;

/**
 * Settings a new topic gets when its creator names none (TubeMQ's defaults: three partitions,
 * one store, seven days of retention, no size limit, no ack floor). Shared by the master, which
 * fills them in on CREATE_TOPIC, and storage, which applies them to a local topic.
 */
export const topicDefaults = {
  partitions: 3,
  stores: 1,
  retentionMs: 168 * 3600_000,
  retentionBytes: -1,
  ackFloor: 'memory',
} as const;
