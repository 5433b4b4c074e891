// Option-value parsers for commander. They run while the command line is parsed, before any action
// loads the client, so they import nothing but commander: a bad value is a usage error (exit 2)
// that names the option and the rule, and `tubemq --help` stays fast.
import { InvalidArgumentError } from 'commander';
import { isTopicName } from '../common/topic-name.js';

/** Where a consumer starts: a named position or an offset. */
export type OffsetSpec = 'earliest' | 'latest' | number;

/** A topic name: the rule the master applies, checked before anything connects. */
export function parseTopicName(text: string): string {
  if (!isTopicName(text)) {
    throw new InvalidArgumentError(
      "expected 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
  }
  return text;
}

/** A consumer group name: the rule the master applies (1-255 UTF-8 bytes, no control characters). */
export function parseGroupName(text: string): string {
  const hasControl = [...text].some((character) => {
    const code = character.charCodeAt(0);
    return code < 0x20 || code === 0x7f;
  });
  if (text === '' || Buffer.byteLength(text, 'utf8') > 255 || hasControl) {
    throw new InvalidArgumentError('expected 1-255 UTF-8 bytes without control characters');
  }
  return text;
}

/** A non-negative integer a JavaScript number holds exactly. */
export function parseNonNegativeInt(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError('expected a non-negative integer');
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError('expected a non-negative integer');
  return value;
}

/** An integer ≥ 1. */
export function parsePositiveInt(text: string): number {
  const value = parseNonNegativeIntOr(text, 'expected a positive integer');
  if (value < 1) throw new InvalidArgumentError('expected a positive integer');
  return value;
}

/** A TCP port to bind: 0 (any free port) to 65535. */
export function parseBindPort(text: string): number {
  const value = parseNonNegativeIntOr(text, 'expected a port from 0 (any free port) to 65535');
  if (value > 0xffff) throw new InvalidArgumentError('expected a port from 0 (any free port) to 65535');
  return value;
}

/** A broker id: 1 to 2^32-1. */
export function parseBrokerId(text: string): number {
  const value = parseNonNegativeIntOr(text, 'expected a broker id from 1 to 4294967295');
  if (value < 1 || value > 0xffff_ffff)
    throw new InvalidArgumentError('expected a broker id from 1 to 4294967295');
  return value;
}

/** `earliest`, `latest` or an offset. */
export function parseOffset(text: string): OffsetSpec {
  const trimmed = text.trim();
  if (trimmed === 'earliest' || trimmed === 'latest') return trimmed;
  return parseNonNegativeIntOr(trimmed, 'expected earliest, latest or a non-negative integer');
}

/** `P:N,P:N` → partition → offset (TubeMQ's bound consumption). */
export function parsePartitionOffsets(text: string): Map<number, number> {
  const rule = 'expected PARTITION:OFFSET[,PARTITION:OFFSET...], e.g. 0:100,1:250';
  const result = new Map<number, number>();
  const parts = text.split(',').filter((part) => part.trim() !== '');
  if (parts.length === 0) throw new InvalidArgumentError(rule);
  for (const part of parts) {
    const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (match === null) throw new InvalidArgumentError(rule);
    const partition = Number(match[1]);
    const offset = Number(match[2]);
    if (!Number.isSafeInteger(offset) || partition > 1023) throw new InvalidArgumentError(rule);
    if (result.has(partition)) throw new InvalidArgumentError(`partition ${partition} is given twice`);
    result.set(partition, offset);
  }
  return result;
}

/** A topic and, optionally, some of its partitions: `T` or `T:P,P` (Kafka's `--topic` of reset-offsets). */
export interface TopicScope {
  topic: string;
  partitions?: number[];
}

/** `T` or `T:P,P,...`, collected into a list when `--topic` repeats. */
export function collectTopicScope(text: string, previous: TopicScope[] = []): TopicScope[] {
  const rule = 'expected TOPIC or TOPIC:PARTITION[,PARTITION...], e.g. orders or orders:0,2';
  const at = text.indexOf(':');
  const topic = parseTopicName(at < 0 ? text.trim() : text.slice(0, at).trim());
  if (at < 0) return [...previous, { topic }];
  const parts = text
    .slice(at + 1)
    .split(',')
    .map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => !/^\d+$/.test(part) || Number(part) > 1023)) {
    throw new InvalidArgumentError(rule);
  }
  const partitions = [...new Set(parts.map(Number))].sort((a, b) => a - b);
  return [...previous, { topic, partitions }];
}

/** A signed integer, e.g. `-5` or `+10` (`--shift-by`). */
export function parseSignedInt(text: string): number {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (!/^[+-]?\d+$/.test(trimmed) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError('expected a whole number such as -5 or +10');
  }
  return value;
}

/**
 * `id1,id2,...` → stream ids, in order without repeats. Only the shape is checked here; the limits
 * (how many, how long) are checked by the command, which names them.
 */
export function parseStreamIds(text: string): string[] {
  const ids = text.split(',').map((id) => id.trim());
  if (ids.some((id) => id === '')) {
    throw new InvalidArgumentError('expected stream ids separated by commas, e.g. clicks,views');
  }
  return [...new Set(ids)];
}

/** `1,2,3` → broker ids. */
export function parseBrokerList(text: string): number[] {
  const parts = text.split(',').filter((part) => part.trim() !== '');
  if (parts.length === 0) throw new InvalidArgumentError('expected broker ids, e.g. 1,2');
  return parts.map((part) => parseBrokerId(part));
}

/** One of the three ack levels. */
export function parseAcks(text: string): 'memory' | 'written' | 'fsync' {
  if (text === 'memory' || text === 'written' || text === 'fsync') return text;
  throw new InvalidArgumentError('expected memory, written or fsync');
}

/**
 * A master list `host:port[,host:port...]`. Checked here only for shape (the client parses it
 * again), so a typo is a usage error rather than a connection failure.
 */
export function parseAddressList(text: string): string {
  const parts = text.split(',').filter((part) => part.trim() !== '');
  const shape = /^(\[[^\]]+\]|[^:[\]\s]+):(\d{1,5})$/;
  const ok =
    parts.length > 0 &&
    parts.every((part) => {
      const match = shape.exec(part.trim());
      const port = Number(match?.[2]);
      return match !== null && port >= 1 && port <= 0xffff;
    });
  if (!ok) throw new InvalidArgumentError('expected host:port[,host:port...], e.g. 127.0.0.1:8715');
  return parts.map((part) => part.trim()).join(',');
}

/** A time: epoch milliseconds or an ISO 8601 date. */
export function parseTime(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return parseNonNegativeInt(trimmed);
  const ms = Date.parse(trimmed);
  if (Number.isNaN(ms) || ms < 0) {
    throw new InvalidArgumentError('expected epoch milliseconds or an ISO date, e.g. 2024-05-01T12:00:00Z');
  }
  return ms;
}

/** `key=value`, collected into a map when the option repeats. */
export function collectKeyValue(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [text.slice(0, at).trim()]: text.slice(at + 1).trim() };
}

/** The separator of `--parse-key`: one or more characters; `\t` is accepted as a tab. */
export function parseSeparator(text: string): string {
  const value = text.replace(/\\t/g, '\t');
  if (value === '') throw new InvalidArgumentError('expected a non-empty separator');
  return value;
}

function parseNonNegativeIntOr(text: string, rule: string): number {
  try {
    return parseNonNegativeInt(text);
  } catch {
    throw new InvalidArgumentError(rule);
  }
}
