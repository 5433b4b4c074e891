// What the master keeps durable (DESIGN.md §6): topics with their placement, the brokers it has
// ever seen, the metadata version, and consumer groups' bound sessions. This file is the data and its change log format only; the
// files are handled by meta-store.ts.
import { z } from 'zod';
import {
  brokerIdSchema,
  groupNameSchema,
  hostSchema,
  offsetSchema,
  portSchema,
  topicDescriptionSchema,
} from '../protocol/index.js';
import type { TopicDescription } from '../protocol/index.js';

/** The master's durable metadata, in memory. */
export interface MetaState {
  /** Grows by one with every change; brokers report the version they have applied. */
  version: number;
  topics: Map<string, TopicDescription>;
  brokers: Map<number, KnownBroker>;
  /** Bound sessions (precise offset reset) by group name. */
  groupSessions: Map<string, GroupSessionRecord>;
}

const knownBrokerSchema = z.object({
  brokerId: brokerIdSchema,
  host: hostSchema,
  port: portSchema,
  /** When it first registered, ms since the epoch. */
  registeredAtMs: offsetSchema,
});

/** A broker the master has seen register: where it said it listens and when it first came. */
export type KnownBroker = z.infer<typeof knownBrokerSchema>;

/** Most session keys a group remembers having moved past (older ones are forgotten). */
export const pastSessionKeysMax = 64;

const groupSessionRecordSchema = z.object({
  group: groupNameSchema,
  /** The current session key. */
  sessionKey: z.string().min(1),
  /** Whether its offsets were committed on the brokers (they are applied once per key). */
  applied: z.boolean(),
  /** Keys the group has moved past, oldest first, at most {@link pastSessionKeysMax}. */
  pastKeys: z.array(z.string()),
});

/** A group's bound session as the master keeps it: joins with a past key get STALE_SESSION. */
export type GroupSessionRecord = z.infer<typeof groupSessionRecordSchema>;

// Each change carries the version it brings the state to, so replay gives the same version
// whatever was compacted before.
const metaChangeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('topic-created'), version: offsetSchema, topic: topicDescriptionSchema }),
  z.object({ type: z.literal('broker-saved'), version: offsetSchema, broker: knownBrokerSchema }),
  // Group sessions are no broker's business, so they leave the metadata version alone.
  z.object({ type: z.literal('group-session-saved'), session: groupSessionRecordSchema }),
  z.object({ type: z.literal('group-session-deleted'), group: groupNameSchema }),
]);

/** One logged change (a line of meta.wal). */
export type MetaChange = z.infer<typeof metaChangeSchema>;

const snapshotSchema = z.object({
  version: offsetSchema,
  topics: z.array(topicDescriptionSchema),
  brokers: z.array(knownBrokerSchema),
  // Absent in snapshots written before consumer groups existed.
  groupSessions: z.array(groupSessionRecordSchema).default([]),
});

/** The state before the first change. */
export function initialMetaState(): MetaState {
  return { version: 0, topics: new Map(), brokers: new Map(), groupSessions: new Map() };
}

/** Applies one change in place (also during replay, so it must be deterministic). */
export function applyMetaChange(state: MetaState, change: MetaChange): void {
  switch (change.type) {
    case 'topic-created':
      state.topics.set(change.topic.name, change.topic);
      state.version = Math.max(state.version, change.version);
      break;
    case 'broker-saved':
      state.brokers.set(change.broker.brokerId, change.broker);
      state.version = Math.max(state.version, change.version);
      break;
    case 'group-session-saved':
      state.groupSessions.set(change.session.group, change.session);
      break;
    case 'group-session-deleted':
      state.groupSessions.delete(change.group);
      break;
  }
}

/** The state as the JSON of meta.json. */
export function serializeMetaState(state: MetaState): z.infer<typeof snapshotSchema> {
  return {
    version: state.version,
    topics: [...state.topics.values()],
    brokers: [...state.brokers.values()],
    groupSessions: [...state.groupSessions.values()],
  };
}

/** Rebuilds the state from meta.json; throws (a damaged snapshot) when it does not validate. */
export function deserializeMetaState(json: unknown): MetaState {
  const snapshot = snapshotSchema.parse(json);
  return {
    version: snapshot.version,
    topics: new Map(snapshot.topics.map((topic) => [topic.name, topic])),
    brokers: new Map(snapshot.brokers.map((broker) => [broker.brokerId, broker])),
    groupSessions: new Map(snapshot.groupSessions.map((session) => [session.group, session])),
  };
}

/** Validates a change read back from meta.wal; undefined when it is not one this code writes. */
export function readMetaChange(json: unknown): MetaChange | undefined {
  const result = metaChangeSchema.safeParse(json);
  return result.success ? result.data : undefined;
}
