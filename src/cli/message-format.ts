// How `tubemq consume` prints a message (ecosystem.md §5.3): the value alone by default, Kafka's
// tab-separated --print-* prefixes, kcat's --format tokens, or a kcat-like JSON envelope per line.
import { isUtf8 } from 'node:buffer';

/** The parts of a consumed message the formatters read. */
export interface PrintableMessage {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key?: Buffer | undefined;
  value: Buffer;
  streamId?: string | undefined;
  attributes: Record<string, string>;
}

/** Which prefixes `--print-*` asked for. */
export interface PrintOptions {
  printKey: boolean;
  printPartition: boolean;
  printOffset: boolean;
  printTimestamp: boolean;
}

/** Turns a message into its output line(s), newline included. */
export type MessageFormatter = (message: PrintableMessage) => string;

/** The formatter for the flags: `--json` wins, then `--format`, then the `--print-*` prefixes. */
export function messageFormatter(
  options: PrintOptions & { json: boolean; format?: string | undefined },
): MessageFormatter {
  if (options.json) return (message) => JSON.stringify(jsonEnvelope(message)) + '\n';
  if (options.format !== undefined) return compileFormat(options.format);
  return prefixFormatter(options);
}

/** Kafka's order: `Time:<ms>\tPartition:<p>\tOffset:<n>\t<key>\t<value>`. */
export function prefixFormatter(options: PrintOptions): MessageFormatter {
  const { printKey, printPartition, printOffset, printTimestamp } = options;
  if (!printKey && !printPartition && !printOffset && !printTimestamp) {
    return (message) => message.value.toString('utf8') + '\n';
  }
  return (message) => {
    let line = '';
    if (printTimestamp) line += `Time:${message.timestamp}\t`;
    if (printPartition) line += `Partition:${message.partition}\t`;
    if (printOffset) line += `Offset:${message.offset}\t`;
    if (printKey) line += `${message.key === undefined ? 'null' : message.key.toString('utf8')}\t`;
    return line + message.value.toString('utf8') + '\n';
  };
}

/**
 * Compiles a kcat `-f` format once: `%t` topic, `%p` partition, `%o` offset, `%T` timestamp (ms),
 * `%k` key, `%s` value, `%S` value size in bytes, `%h` attributes as `k=v,k=v`, `%%` a percent
 * sign; `\n`, `\t` and `\\` escapes. No newline is added (as in kcat).
 */
export function compileFormat(format: string): MessageFormatter {
  const parts: (string | ((message: PrintableMessage) => string))[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const char = format[i]!;
    const next = format[i + 1];
    if (char === '\\' && next !== undefined && 'nt\\'.includes(next)) {
      literal += next === 'n' ? '\n' : next === 't' ? '\t' : '\\';
      i++;
      continue;
    }
    if (char !== '%' || next === undefined) {
      literal += char;
      continue;
    }
    const token = tokens[next];
    if (next === '%') literal += '%';
    else if (token === undefined) literal += char + next;
    else {
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push(token);
    }
    i++;
  }
  if (literal !== '') parts.push(literal);
  return (message) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(message);
    return out;
  };
}

const tokens: Record<string, (message: PrintableMessage) => string> = {
  t: (message) => message.topic,
  p: (message) => String(message.partition),
  o: (message) => String(message.offset),
  T: (message) => String(message.timestamp),
  k: (message) => (message.key === undefined ? '' : message.key.toString('utf8')),
  s: (message) => message.value.toString('utf8'),
  S: (message) => String(message.value.length),
  h: (message) =>
    Object.entries(message.attributes)
      .map(([key, value]) => `${key}=${value}`)
      .join(','),
};

/** The `--json` envelope; a key or value that is not UTF-8 travels as base64 in `keyBase64`/`valueBase64`. */
export function jsonEnvelope(message: PrintableMessage): Record<string, unknown> {
  const envelope: Record<string, unknown> = {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
  };
  if (message.key === undefined) envelope.key = null;
  else if (isUtf8(message.key)) envelope.key = message.key.toString('utf8');
  else envelope.keyBase64 = message.key.toString('base64');
  if (isUtf8(message.value)) envelope.value = message.value.toString('utf8');
  else envelope.valueBase64 = message.value.toString('base64');
  if (message.streamId !== undefined) envelope.streamId = message.streamId;
  envelope.attributes = message.attributes;
  return envelope;
}
