import { crc32 } from './crc32.js';
import { TubeError } from './errors.js';
import { type FileHandleIO, type FileIO } from './file-io.js';

/*
 * A log of JSON lines that check themselves: `<crc32 as 8 hex digits> <json>\n`, the CRC taken
 * over the JSON's UTF-8 bytes. Readable with `cut -c10-`, and a torn or flipped line is caught.
 *
 * The writer puts exactly one line in each write and syncs it before the next one starts. So a
 * power loss can tear at most the last line (a disk may keep any sectors of an unsynced write, with
 * holes of zeros between them, but the write holds one newline only, at its end), and damage
 * anywhere else is damage of something that was already durable. Readers rely on this to tell a
 * torn tail, which is dropped, from lost acknowledged data, which must not be dropped silently.
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

/** One newline-terminated line of a checked-lines file. */
export interface ScannedLine {
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** Length in bytes, the newline included. */
  bytes: number;
  /** The decoded entry; undefined when the line fails its check (damaged). */
  entry: unknown;
}

/** Everything in a checked-lines file: each line, good or damaged, and what follows the last newline. */
export interface ScannedLines {
  lines: ScannedLine[];
  /** Bytes after the last newline: a write that was cut short, or damage. */
  unterminatedBytes: number;
  /** The file's size. */
  size: number;
}

/** Splits `content` into lines and checks each; never stops at a damaged one. */
export function scanCheckedLines(content: Buffer): ScannedLines {
  const lines: ScannedLine[] = [];
  let start = 0;
  for (;;) {
    const newline = content.indexOf(0x0a, start);
    if (newline < 0) break;
    lines.push({
      offset: start,
      bytes: newline + 1 - start,
      entry: decodeCheckedLine(content.toString('utf8', start, newline)),
    });
    start = newline + 1;
  }
  return { lines, unterminatedBytes: content.length - start, size: content.length };
}

/**
 * The error a failed write or sync of a durable log turns into: STORAGE_FULL (507) for a full disk
 * or quota, UNAVAILABLE (503) otherwise. Either way the log takes no more writes until a restart,
 * and the hint says so.
 */
export function logWriteError(error: unknown, filePath: string): TubeError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  const details = { file: filePath, errno: code };
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new TubeError('STORAGE_FULL', `the disk is full: cannot write ${filePath}`, {
      cause: error,
      details,
      hint: 'free disk space, then restart the daemon: this log takes no more writes until a restart',
    });
  }
  return new TubeError('UNAVAILABLE', `disk error writing ${filePath}: ${reason}`, {
    cause: error,
    details,
    hint: 'check the disk, then restart the daemon: this log takes no more writes until a restart',
  });
}

/**
 * An append-only log of checked lines, one line per {@link CheckedLog.append}, each written and
 * fdatasync'd before it resolves. Group commit is the caller's: it puts everything waiting into
 * one entry. A failed write or sync fails the log for good (fail closed): the bytes of the failed
 * line are cut off if the disk still allows it, and every later append is refused with the same
 * error, so that nothing the caller was told failed can become durable by a later write.
 */
export class CheckedLog {
  private appending = false;
  private failure: TubeError | undefined;
  private closed = false;

  private constructor(
    private readonly handle: FileHandleIO,
    private size: number,
  ) {}

  /**
   * Opens (creating) the log for appending after its first `validBytes` bytes; anything after them
   * (a torn tail the caller decided to drop) is cut off durably first.
   */
  static async open(io: FileIO, filePath: string, validBytes: number): Promise<CheckedLog> {
    const handle = await io.open(filePath, { create: true });
    try {
      const size = await handle.size();
      if (size < validBytes)
        throw new Error(`${filePath} has ${size} bytes, fewer than the ${validBytes} already read`);
      if (size > validBytes) {
        await handle.truncate(validBytes);
        await handle.datasync();
      }
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    return new CheckedLog(handle, validBytes);
  }

  /**
   * Appends `entry` as one line; resolves once it is written and fdatasync'd. One append at a time:
   * the caller waits for each before the next (that is what keeps a torn write to the last line).
   */
  async append(entry: unknown): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.appending) throw new Error(`${this.handle.path}: append while another append runs`);
    this.appending = true;
    const bytes = Buffer.from(encodeCheckedLine(entry));
    try {
      await this.handle.writev([bytes], this.size);
      await this.handle.datasync();
      this.size += bytes.length;
    } catch (error) {
      this.failure = logWriteError(error, this.handle.path);
      // The line may be (partly) in the page cache and reach the disk later; cut it off while the
      // disk still takes a truncate. If it does not, the next open sees a torn last line at worst.
      await this.handle.truncate(this.size).catch(() => undefined);
      await this.handle.datasync().catch(() => undefined);
      throw this.failure;
    } finally {
      this.appending = false;
    }
  }

  /** The error that stopped the log, if one did. */
  get failed(): TubeError | undefined {
    return this.failure;
  }

  /** Bytes in the log. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Closes the file; a second call does nothing (closing a descriptor twice could close another
   * file that reused its number). Writes nothing: every append was already synced or failed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
