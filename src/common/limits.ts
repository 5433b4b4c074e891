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
