// Where a daemon's log lines go. pino's own destination (SonicBoom) retries a failed write in a
// loop on the main thread and then emits an 'error' nobody handles: a full log disk first froze a
// broker, then killed it. Logs are worth less than serving, so here a write error costs log lines,
// never the daemon: lines are dropped and counted, and one line says how many once writing works.
import { write as fsWrite } from 'node:fs';
import { hostname } from 'node:os';
import { createLogger, type Logger } from './logger.js';

/** `fs.write(fd, buffer, offset, length, position, callback)`, the one call this module makes. */
export type WriteFunction = (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: null,
  callback: (error: NodeJS.ErrnoException | null, bytesWritten: number) => void,
) => void;

/** Options of a {@link LogDestination}. */
export interface LogDestinationOptions {
  /** The file descriptor written to. @default 1 (stdout: the `--detach` log file, a terminal or a pipe) */
  fd?: number;
  /** Bytes held while the fd is slow or failing; lines beyond are dropped and counted. @default 2 MiB */
  maxBufferedBytes?: number;
  /** After a write error, retry this soon even if no new line comes (ms, at most 1000). @default 1000 */
  retryDelayMs?: number;
  /** How long to wait before writing again after EAGAIN or a write of 0 bytes (ms). @default 50 */
  busyDelayMs?: number;
  /** `name` on the "dropped" line. @default 'log' */
  name?: string;
  /** Replaces `fs.write` (tests inject short writes and errors here). */
  write?: WriteFunction;
}

/** Counts since a {@link LogDestination} was made. */
export interface LogDestinationStats {
  /** Lines written in full. */
  writtenLines: number;
  /** Lines dropped (write errors, a full buffer). */
  droppedLines: number;
  /** Dropped lines not yet reported by a "dropped" line. */
  unreportedLines: number;
}

/** The `msg` of the line that reports dropped lines. */
export const droppedLinesMessage = 'log lines dropped while the log could not be written';

const newline = 0x0a;
const defaultMaxBufferedBytes = 2 * 1024 * 1024;

/** One write(2) call's worth of bytes and what they hold. */
interface Batch {
  buffer: Buffer;
  /** Bytes of `buffer` already written. */
  offset: number;
  /** Where the report line ends (0 without one); once written, its count is reported. */
  reportEnd: number;
  reportCount: number;
  /** Where the log lines begin (after a newline closing a torn line and the report line). */
  linesStart: number;
  lines: number;
}

/**
 * A pino destination for daemons: asynchronous writes to a file descriptor through a bounded
 * buffer, one write in flight, everything queued meanwhile batched into the next. `write` never
 * throws and never blocks; a write error drops what is buffered (counted) and writing is tried
 * again on the next line or after `retryDelayMs`; the first write that works starts with one line
 * `{"msg":"log lines dropped while the log could not be written","dropped":N}`. EAGAIN (a
 * non-blocking pipe or terminal that is full) keeps the lines and retries instead.
 */
export class LogDestination {
  readonly #fd: number;
  readonly #maxBufferedBytes: number;
  readonly #retryDelayMs: number;
  readonly #busyDelayMs: number;
  readonly #name: string;
  readonly #write: WriteFunction;

  #pending: string[] = [];
  /** Bytes of pending lines and of the unwritten rest of the batch in flight. */
  #bufferedBytes = 0;
  #inFlight: Batch | undefined;
  /** Bytes written so far end inside a line, so the next write starts by closing it. */
  #tornLine = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #flushWaiters: ((written: boolean) => void)[] = [];
  #writtenLines = 0;
  #droppedLines = 0;
  #unreportedLines = 0;

  constructor(options: LogDestinationOptions = {}) {
    this.#fd = options.fd ?? 1;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? defaultMaxBufferedBytes;
    this.#retryDelayMs = Math.min(options.retryDelayMs ?? 1000, 1000);
    this.#busyDelayMs = options.busyDelayMs ?? 50;
    this.#name = options.name ?? 'log';
    this.#write = options.write ?? fsWrite;
  }

  /** Queues one line (pino passes each with its newline). Never throws, never waits. */
  write(line: string): void {
    try {
      const text = line.endsWith('\n') ? line : line + '\n';
      const bytes = Buffer.byteLength(text);
      if (this.#bufferedBytes + bytes > this.#maxBufferedBytes) {
        this.#drop(1);
        return;
      }
      this.#pending.push(text);
      this.#bufferedBytes += bytes;
      this.#startWrite();
    } catch {
      // Out of memory for a string, most likely: still not worth the daemon.
      this.#drop(1);
    }
  }

  /**
   * Best effort for a clean shutdown: resolves true once every line so far is written (and any
   * "dropped" line too), false if a write failed or `timeoutMs` passed first. Never rejects. Also
   * takes pino's `logger.flush(callback)` form, calling back when done either way.
   */
  flush(timeoutMs?: number): Promise<boolean>;
  flush(callback: (error?: Error) => void): void;
  flush(arg?: number | ((error?: Error) => void)): Promise<boolean> | void {
    if (typeof arg === 'function') {
      void this.flush().then(() => arg());
      return;
    }
    const timeoutMs = arg ?? 2000;
    if (this.#idle()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      // Referenced on purpose: a flush awaited while nothing else keeps the loop alive must still
      // end, rather than Node exiting mid-await.
      const timer = setTimeout(() => settle(false), timeoutMs);
      const settle = (written: boolean): void => {
        clearTimeout(timer);
        this.#flushWaiters = this.#flushWaiters.filter((waiter) => waiter !== settle);
        resolve(written);
      };
      this.#flushWaiters.push(settle);
      // A "dropped" line waiting for its retry timer is worth one more try now.
      if (this.#inFlight === undefined) this.#startWrite();
    });
  }

  /** Lines written and dropped so far. */
  get stats(): LogDestinationStats {
    return {
      writtenLines: this.#writtenLines,
      droppedLines: this.#droppedLines,
      unreportedLines: this.#unreportedLines,
    };
  }

  #idle(): boolean {
    return this.#inFlight === undefined && this.#pending.length === 0 && this.#unreportedLines === 0;
  }

  #drop(lines: number): void {
    this.#droppedLines += lines;
    this.#unreportedLines += lines;
  }

  #startWrite(): void {
    if (this.#inFlight !== undefined) return;
    if (this.#idle()) {
      this.#settleFlushes(true);
      return;
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const parts: string[] = [];
    if (this.#tornLine) parts.push('\n');
    const prefixBytes = this.#tornLine ? 1 : 0;
    const reportCount = this.#unreportedLines;
    let reportEnd = 0;
    if (reportCount > 0) {
      const report = this.#reportLine(reportCount);
      parts.push(report);
      reportEnd = prefixBytes + Buffer.byteLength(report);
    }
    const lines = this.#pending.length;
    parts.push(...this.#pending);
    this.#pending = [];
    const buffer = Buffer.from(parts.join(''));
    this.#bufferedBytes = buffer.length;
    this.#inFlight = {
      buffer,
      offset: 0,
      reportEnd,
      reportCount,
      linesStart: Math.max(prefixBytes, reportEnd),
      lines,
    };
    this.#issue();
  }

  #issue(): void {
    const batch = this.#inFlight!;
    try {
      this.#write(
        this.#fd,
        batch.buffer,
        batch.offset,
        batch.buffer.length - batch.offset,
        null,
        (error, n) => this.#written(batch, error, n),
      );
    } catch (error) {
      // fs.write throws at once on arguments it rejects (a closed fd object, a bad fd number).
      this.#written(batch, error as NodeJS.ErrnoException, 0);
    }
  }

  #written(batch: Batch, error: NodeJS.ErrnoException | null, bytesWritten: number): void {
    if (error === null && bytesWritten > 0) {
      batch.offset += bytesWritten;
      this.#bufferedBytes -= bytesWritten;
      if (batch.reportCount > 0 && batch.offset >= batch.reportEnd) {
        this.#unreportedLines -= batch.reportCount;
        batch.reportCount = 0;
      }
      // A short write is not an error: the kernel took what fitted; the rest goes next.
      if (batch.offset < batch.buffer.length) {
        this.#issue();
        return;
      }
      this.#tornLine = false;
      this.#writtenLines += batch.lines;
      this.#inFlight = undefined;
      this.#startWrite();
      return;
    }
    if (error === null || error.code === 'EAGAIN' || error.code === 'EBUSY') {
      // The reader is slow, not gone: keep the bytes and try again shortly (new lines queue meanwhile).
      setTimeout(() => this.#issue(), this.#busyDelayMs).unref();
      return;
    }
    this.#fail(batch);
  }

  /** Any other error (ENOSPC, EIO, EPIPE, EBADF…): drop what is buffered and count it. */
  #fail(batch: Batch): void {
    // Every log line ends in a newline, so a line not written in full is a newline not written.
    let lostOfBatch = 0;
    for (let i = Math.max(batch.offset, batch.linesStart); i < batch.buffer.length; i++) {
      if (batch.buffer[i] === newline) lostOfBatch++;
    }
    if (batch.offset > 0) this.#tornLine = batch.buffer[batch.offset - 1] !== newline;
    this.#writtenLines += batch.lines - lostOfBatch;
    this.#drop(lostOfBatch + this.#pending.length);
    this.#pending = [];
    this.#bufferedBytes = 0;
    this.#inFlight = undefined;
    this.#settleFlushes(false);
    // The next line tries again; this timer reports the drop even if no line comes. Unreferenced:
    // a log must never keep a process alive.
    this.#retryTimer = setTimeout(() => this.#startWrite(), this.#retryDelayMs).unref();
  }

  #settleFlushes(written: boolean): void {
    for (const settle of [...this.#flushWaiters]) settle(written);
  }

  #reportLine(dropped: number): string {
    const line = {
      level: 40,
      time: Date.now(),
      pid: process.pid,
      hostname: hostname(),
      name: this.#name,
      msg: droppedLinesMessage,
      dropped,
    };
    return JSON.stringify(line) + '\n';
  }
}

/** The one destination of a daemon process: every daemon logger shares fd 1 and its drop count. */
let daemonDestination: LogDestination | undefined;

/**
 * The logger of a daemon (`master start`, `broker start`, `start`): JSON lines on stdout through a
 * {@link LogDestination}, so a log that cannot be written (a full disk under `--detach`'s log file, a
 * gone reader) costs log lines, counted and reported later, never the daemon's service or life.
 */
export function createDaemonLogger(name: string): Logger {
  daemonDestination ??= new LogDestination();
  return createLogger({ name, destination: daemonDestination });
}

/**
 * Best-effort write-out of daemon loggers' lines before exit: resolves true when all were written,
 * false if some could not be or `timeoutMs` passed first. Never rejects, never waits past
 * `timeoutMs`.
 */
export function flushDaemonLogs(timeoutMs: number): Promise<boolean> {
  return daemonDestination?.flush(timeoutMs) ?? Promise.resolve(true);
}
