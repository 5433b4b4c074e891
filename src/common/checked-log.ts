import { crc32 } from './crc32.js';
import { openDurable, type FileHandleIO, type FileIO } from './file-io.js';

/*
 * A log of JSON lines that check themselves: `<crc32 as 8 hex digits> <json>\n`, the CRC taken
 * over the JSON's UTF-8 bytes. Readable with `cut -c10-`, and a torn or flipped line is caught.
 */

/** Encodes one entry as a checked line. */
export function encodeCheckedLine(entry: unknown): string {
  const json = JSON.stringify(entry);
  return `${crc32(Buffer.from(json)).toString(16).padStart(8, '0')} ${json}\n`;
}

/** Decodes one line (without its newline); undefined when it is damaged. */
export function decodeCheckedLine(line: string): unknown {
  if (line.length < 10 || line[8] !== ' ') return undefined;
  const json = line.slice(9);
  // Compare the text exactly: parseInt would accept flipped case, a leading space or a stray character.
  if (line.slice(0, 8) !== crc32(Buffer.from(json)).toString(16).padStart(8, '0')) return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/** What replaying a log found. */
export interface ReplayResult {
  entries: unknown[];
  /** Bytes after the last good line, cut off (a torn tail or damage). */
  truncatedBytes: number;
}

/**
 * An append-only log of checked lines with group commit: appends that arrive while a write and
 * fdatasync run are written together by the next one, and each resolves only once durable.
 */
export class CheckedLog {
  private queued: string[] = [];
  private queuedWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private writing = false;

  private constructor(
    private readonly handle: FileHandleIO,
    private size: number,
  ) {}

  /** Opens (creating) the log, replays its good prefix and cuts anything after it. */
  static async open(io: FileIO, filePath: string): Promise<{ log: CheckedLog; replay: ReplayResult }> {
    const handle = await openDurable(io, filePath);
    const size = await handle.size();
    const content = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const count = await handle.read(content, done, size - done, done);
      if (count === 0) break;
      done += count;
    }
    const entries: unknown[] = [];
    let good = 0;
    while (good < done) {
      const newline = content.indexOf(0x0a, good);
      if (newline < 0 || newline >= done) break;
      const entry = decodeCheckedLine(content.toString('utf8', good, newline));
      if (entry === undefined) break;
      entries.push(entry);
      good = newline + 1;
    }
    if (good < size) {
      await handle.truncate(good);
      await handle.datasync();
    }
    return { log: new CheckedLog(handle, good), replay: { entries, truncatedBytes: size - good } };
  }

  /** Appends entries; resolves once they are written and fdatasync'd. */
  append(entries: readonly unknown[]): Promise<void> {
    for (const entry of entries) this.queued.push(encodeCheckedLine(entry));
    return new Promise((resolve, reject) => {
      this.queuedWaiters.push({ resolve, reject });
      if (!this.writing) void this.writeQueued();
    });
  }

  private async writeQueued(): Promise<void> {
    this.writing = true;
    while (this.queuedWaiters.length > 0) {
      const lines = this.queued.splice(0);
      const waiters = this.queuedWaiters.splice(0);
      if (lines.length === 0) {
        for (const waiter of waiters) waiter.resolve();
        continue;
      }
      try {
        const bytes = Buffer.from(lines.join(''));
        await this.handle.writev([bytes], this.size);
        await this.handle.datasync();
        this.size += bytes.length;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of waiters)
          waiter.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.writing = false;
  }

  /** Empties the log (after its content went into a snapshot). Waits for queued writes first. */
  async reset(): Promise<void> {
    if (this.writing) await this.append([]).catch(() => undefined);
    await this.handle.truncate(0);
    await this.handle.datasync();
    this.size = 0;
  }

  get bytes(): number {
    return this.size;
  }

  async close(): Promise<void> {
    if (this.writing) await this.append([]).catch(() => undefined);
    await this.handle.close();
  }
}
