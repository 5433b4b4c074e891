// `tubemq topic create|list|describe`, through the master.
import { Admin } from '../../client/index.js';
import type { TopicDescription } from '../../protocol/index.js';
import { UsageError } from '../exit.js';
import { clientOptions, type Invocation } from '../invocation.js';
import { isoTime, printResult, status, writeOut } from '../output.js';

type AckLevel = 'memory' | 'written' | 'fsync';

/** Topic settings from `--config key=value` (Kafka-style names). */
export function topicConfig(config: Record<string, string> | undefined): {
  retentionMs?: number;
  retentionBytes?: number;
  ackFloor?: AckLevel;
} {
  const result: { retentionMs?: number; retentionBytes?: number; ackFloor?: AckLevel } = {};
  for (const [key, value] of Object.entries(config ?? {})) {
    if (key === 'retention.ms' || key === 'retention.bytes') {
      const number = Number(value);
      if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(number) || number < -1) {
        throw new UsageError(`--config ${key}=${value}: expected -1 (no limit) or a non-negative integer`);
      }
      if (key === 'retention.ms') result.retentionMs = number;
      else result.retentionBytes = number;
    } else if (key === 'ack.floor') {
      if (value !== 'memory' && value !== 'written' && value !== 'fsync') {
        throw new UsageError(`--config ack.floor=${value}: expected memory, written or fsync`);
      }
      result.ackFloor = value;
    } else {
      throw new UsageError(`--config ${key}: unknown setting`, {
        hint: 'known settings: retention.ms, retention.bytes, ack.floor',
      });
    }
  }
  return result;
}

/** `tubemq topic create <topic>`. */
export async function topicCreate(invocation: Invocation): Promise<number> {
  const name = invocation.args[0] as string;
  const { options, globals } = invocation;
  const settings = {
    partitions: options.partitions as number,
    ...(options.stores === undefined ? {} : { stores: options.stores as number }),
    ...(options.brokers === undefined ? {} : { brokers: options.brokers as number[] }),
    ...topicConfig(options.config as Record<string, string> | undefined),
    ifNotExists: options.ifNotExists === true,
  };
  const admin = new Admin(clientOptions(globals));
  try {
    const result = await admin.createTopic(name, settings);
    if (globals.json) {
      await writeOut(JSON.stringify(result, null, 2) + '\n');
    } else if (result.created) {
      await writeOut(`Created topic ${name} with ${result.topic.partitions} partitions.\n`);
    } else {
      status(globals, `Topic ${name} already exists (${result.topic.partitions} partitions); left as it is.`);
    }
    return 0;
  } finally {
    await admin.close();
  }
}

/** `tubemq topic list`. */
export async function topicList(invocation: Invocation): Promise<number> {
  const admin = new Admin(clientOptions(invocation.globals));
  try {
    const topics = await admin.listTopics();
    await printResult(invocation.globals, topics, () => ({
      headers: ['TOPIC', 'PARTITIONS', 'STORES', 'RETENTION-MS', 'RETENTION-BYTES', 'ACK-FLOOR', 'BROKERS'],
      rows: topics.map((topic) => [
        topic.name,
        topic.partitions,
        topic.stores,
        topic.retentionMs,
        topic.retentionBytes,
        topic.ackFloor,
        brokersOf(topic).join(','),
      ]),
    }));
    return 0;
  } finally {
    await admin.close();
  }
}

/** `tubemq topic describe <topic>`: settings, then one row per partition with its broker. */
export async function topicDescribe(invocation: Invocation): Promise<number> {
  const name = invocation.args[0] as string;
  const { globals } = invocation;
  const admin = new Admin(clientOptions(globals));
  try {
    const topic = await admin.describeTopic(name);
    if (globals.json) {
      await writeOut(JSON.stringify(topic, null, 2) + '\n');
      return 0;
    }
    const brokers = new Map((await admin.listBrokers()).map((broker) => [broker.brokerId, broker]));
    // Offsets come from the brokers; one that does not answer leaves its rows without them.
    const offsets = new Map(
      (await admin.listOffsets(name).catch(() => [])).map((each) => [each.partition, each]),
    );
    await writeOut(
      `Topic: ${topic.name}\tPartitions: ${topic.partitions}\tStores: ${topic.stores}\t` +
        `RetentionMs: ${topic.retentionMs}\tRetentionBytes: ${topic.retentionBytes}\tAckFloor: ${topic.ackFloor}\t` +
        `Created: ${isoTime(topic.createdAtMs)}\n\n`,
    );
    await printResult(globals, topic, () => ({
      headers: [
        'TOPIC',
        'PARTITION',
        'BROKER-ID',
        'BROKER-ADDRESS',
        'BROKER-STATE',
        'EARLIEST',
        'LATEST',
        'GAP-OFFSETS',
        'LAST-GAP',
      ],
      rows: topic.placement.map((brokerId, partition) => {
        const broker = brokers.get(brokerId);
        const range = offsets.get(partition);
        const lastGap = range?.gaps.at(-1);
        return [
          topic.name,
          partition,
          brokerId,
          broker === undefined ? null : `${broker.host}:${broker.port}`,
          broker?.state ?? 'unknown',
          range?.earliest ?? null,
          range?.latest ?? null,
          range?.gapOffsets ?? null,
          lastGap === undefined ? null : `${lastGap.from}-${lastGap.to - 1} (${lastGap.cause})`,
        ];
      }),
    }));
    return 0;
  } finally {
    await admin.close();
  }
}

function brokersOf(topic: TopicDescription): number[] {
  return [...new Set(topic.placement)].sort((a, b) => a - b);
}
