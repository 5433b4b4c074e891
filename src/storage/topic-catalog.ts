import * as path from 'node:path';
import { TubeError } from '../common/errors.js';
import { mkdirDurable, writeFileAtomic, type FileIO } from '../common/file-io.js';
import { partitionsMax, storesMax } from '../common/limits.js';
import { checkTopicName } from '../common/topic-name.js';
import { defaultTopicConfig } from './options.js';
import { ackLevels, type AckLevel, type TopicConfig, type TopicInfo } from './types.js';

function checkInteger(value: number, name: string, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TubeError('BAD_REQUEST', `${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** Validates a full topic config, naming the first bad field. */
export function checkTopicConfig(config: TopicConfig): void {
  checkInteger(config.partitions, 'partitions', 1, partitionsMax);
  checkInteger(config.stores, 'stores', 1, Math.min(storesMax, config.partitions));
  checkInteger(config.retentionMs, 'retentionMs', -1, Number.MAX_SAFE_INTEGER);
  checkInteger(config.retentionBytes, 'retentionBytes', -1, Number.MAX_SAFE_INTEGER);
  checkAckLevel(config.ackFloor, 'ackFloor');
}

export function checkAckLevel(value: unknown, name: string): asserts value is AckLevel {
  if (!ackLevels.includes(value as AckLevel)) {
    throw new TubeError(
      'BAD_REQUEST',
      `${name} must be one of ${ackLevels.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
}

export function topicConfigWithDefaults(config: Partial<TopicConfig> = {}): TopicConfig {
  const merged = { ...defaultTopicConfig };
  for (const key of Object.keys(defaultTopicConfig) as (keyof TopicConfig)[]) {
    if (config[key] !== undefined) (merged as Record<string, unknown>)[key] = config[key];
  }
  return merged;
}

/** Where a topic's files live. */
export const topicDir = (dataDir: string, name: string) => path.join(dataDir, 'topics', name);

/** Persists a topic's settings as `topic.json`, replaced atomically. */
export async function saveTopicInfo(io: FileIO, dataDir: string, info: TopicInfo): Promise<void> {
  await mkdirDurable(io, topicDir(dataDir, info.name));
  await writeFileAtomic(
    io,
    path.join(topicDir(dataDir, info.name), 'topic.json'),
    Buffer.from(`${JSON.stringify(info, null, 2)}\n`),
  );
}

/** Every topic found under the data dir; a topic whose `topic.json` cannot be read is reported and left alone. */
export async function loadTopicInfos(
  io: FileIO,
  dataDir: string,
  onUnreadable: (dir: string, error: unknown) => void,
): Promise<TopicInfo[]> {
  const root = path.join(dataDir, 'topics');
  if (!(await io.exists(root))) return [];
  const infos: TopicInfo[] = [];
  for (const name of (await io.readdir(root)).sort()) {
    const file = path.join(root, name, 'topic.json');
    if (!(await io.exists(file))) continue;
    try {
      const info = JSON.parse((await io.readFile(file)).toString('utf8')) as TopicInfo;
      checkTopicName(info.name);
      checkTopicConfig(info);
      if (info.name !== name) throw new Error(`topic.json names ${info.name}`);
      infos.push(info);
    } catch (error) {
      onUnreadable(path.join(root, name), error);
    }
  }
  return infos;
}
