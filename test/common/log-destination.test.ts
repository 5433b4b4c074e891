// The daemons' log destination: a log that cannot be written costs counted log lines, never a
// thrown error, a blocked event loop or a lost or doubled byte; one line reports the drop once
// writing works again. Real writes to /dev/full (ENOSPC every time) and to files, plus an injected
// fs.write for short writes, EAGAIN and a write that never returns.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { droppedLinesMessage, LogDestination, type WriteFunction } from '../../src/common/log-destination.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-logdest-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let fileCounter = 0;

/** A fresh file opened for appending, as `--detach` opens the daemon's log. */
function openLogFile(): { fd: number; read: () => string } {
  const file = path.join(root, `log-${fileCounter++}.log`);
  const fd = fs.openSync(file, 'a');
  after(() => fs.closeSync(fd));
  return { fd, read: () => fs.readFileSync(file, 'utf8') };
}

const line = (i: number): string => `{"i":${i},"pad":"${'x'.repeat(40)}"}\n`;

function reportsIn(text: string): { dropped: number }[] {
  return text
    .split('\n')
    .filter((each) => each.includes(droppedLinesMessage))
    .map((each) => JSON.parse(each) as { msg: string; dropped: number });
}

/** Watches the event loop: how often it turned and its longest stall between turns. */
function watchLoop(): { turns: () => number; longestStallMs: () => number; stop: () => void } {
  let turns = 0;
  let longest = 0;
  let last = performance.now();
  let running = true;
  const spin = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  return { turns: () => turns, longestStallMs: () => longest, stop: () => (running = false) };
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('LogDestination', () => {
  test('on a full disk (/dev/full) it drops and counts lines without throwing or blocking, then reports them once', async () => {
    // Goal: ENOSPC costs log lines only, and the first write that works says how many. Method:
    // write to /dev/full through fs.write while an event-loop counter spins, then point the same
    // destination's writes at a real file and check the report comes once, before the new lines.
    const full = fs.openSync('/dev/full', 'w');
    after(() => fs.closeSync(full));
    const file = openLogFile();
    let target = full;
    const write: WriteFunction = (_fd, buffer, offset, length, position, callback) =>
      fs.write(target, buffer, offset, length, position, callback);
    const destination = new LogDestination({ write, retryDelayMs: 100 });

    const loop = watchLoop();
    const started = performance.now();
    for (let i = 0; i < 2000; i++) {
      destination.write(line(i));
      if (i % 100 === 0) await tick();
    }
    const writingMs = performance.now() - started;
    await until(() => destination.stats.droppedLines === 2000, 'all 2,000 lines dropped');
    loop.stop();
    // pino's SonicBoom sleeps 100 ms on the main thread per retry, and 100 writes come per turn.
    assert.ok(loop.turns() >= 20, `the event loop kept turning (${loop.turns()} turns)`);
    assert.ok(loop.longestStallMs() < 250, `the event loop stalled ${loop.longestStallMs().toFixed(0)} ms`);
    assert.ok(writingMs < 1000, `2,000 writes to a full disk took ${writingMs.toFixed(0)} ms`);
    assert.deepEqual(destination.stats, { writtenLines: 0, droppedLines: 2000, unreportedLines: 2000 });
    assert.equal(await destination.flush(1000), false, 'a flush that cannot write says so');

    target = file.fd;
    destination.write(line(2000));
    destination.write(line(2001));
    assert.equal(await destination.flush(1000), true);
    const text = file.read();
    const lines = text.split('\n');
    assert.equal(reportsIn(text).length, 1);
    assert.equal(reportsIn(text)[0]!.dropped, 2000);
    assert.match(
      lines[0]!,
      /"level":40,.*"msg":"log lines dropped while the log could not be written","dropped":2000\}$/,
    );
    assert.equal(lines.slice(1).join('\n'), line(2000) + line(2001));

    destination.write(line(2002));
    await sleep(250); // past the retry timer: nothing is reported twice
    assert.equal(await destination.flush(1000), true);
    assert.equal(reportsIn(file.read()).length, 1);
    assert.deepEqual(destination.stats, { writtenLines: 3, droppedLines: 2000, unreportedLines: 0 });
  });

  test('the retry timer reports dropped lines even when no new line comes', async () => {
    // Goal: a daemon that logged into a full disk and then went quiet still says what it lost.
    const full = fs.openSync('/dev/full', 'w');
    after(() => fs.closeSync(full));
    const file = openLogFile();
    let target = full;
    const destination = new LogDestination({
      retryDelayMs: 50,
      write: (_fd, buffer, offset, length, position, callback) =>
        fs.write(target, buffer, offset, length, position, callback),
    });
    for (let i = 0; i < 5; i++) destination.write(line(i));
    await until(() => destination.stats.droppedLines === 5, 'the lines dropped');
    target = file.fd;
    await until(() => file.read() !== '', 'the report');
    assert.deepEqual(
      reportsIn(file.read()).map((each) => each.dropped),
      [5],
    );
    assert.equal(file.read().split('\n').length, 2, 'only the report line');
  });

  test('short writes are completed: every byte once, in order, one write in flight', async () => {
    // Goal: fs.write may take fewer bytes than asked without an error; the rest must follow,
    // neither lost nor written twice, while new lines keep coming. Method: an fs.write that takes
    // at most 7 bytes per call into a real file, with lines written while writes are in flight.
    const file = openLogFile();
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    const destination = new LogDestination({
      write: (fd, buffer, offset, length, position, callback) => {
        calls++;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        fs.write(fd, buffer, offset, Math.min(length, 7), position, (error, n) => {
          inFlight--;
          callback(error, n);
        });
      },
      fd: file.fd,
    });
    let expected = '';
    for (let i = 0; i < 300; i++) {
      destination.write(line(i));
      expected += line(i);
      if (i % 10 === 0) await tick();
    }
    assert.equal(await destination.flush(10_000), true);
    assert.equal(file.read(), expected);
    assert.equal(maxInFlight, 1);
    assert.ok(calls >= Buffer.byteLength(expected) / 7, `${calls} calls of at most 7 bytes`);
    assert.deepEqual(destination.stats, { writtenLines: 300, droppedLines: 0, unreportedLines: 0 });
  });

  test('an error after a short write drops exactly the lines not written in full, and the report starts a new line', async () => {
    // Goal: the count is exact even when a line was torn, and the torn line does not swallow the
    // report. Method: line 0 goes alone and works; lines 1–3, queued meanwhile, go as one batch of
    // which the kernel takes 1.5 lines; the rest gets ENOSPC; then writes work again.
    const file = openLogFile();
    const lineBytes = Buffer.byteLength(line(0));
    let mode: 'once' | 'tear' | 'fail' | 'work' = 'once';
    const destination = new LogDestination({
      fd: file.fd,
      retryDelayMs: 1000,
      write: (fd, buffer, offset, length, position, callback) => {
        if (mode === 'fail') {
          process.nextTick(() => callback(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 0));
          return;
        }
        const take = mode === 'tear' ? Math.floor(lineBytes * 1.5) : length;
        mode = mode === 'once' ? 'tear' : mode === 'tear' ? 'fail' : mode;
        fs.write(fd, buffer, offset, take, position, callback);
      },
    });
    for (let i = 0; i < 4; i++) destination.write(line(i));
    await until(() => destination.stats.droppedLines === 2, 'lines 2 and 3 dropped');
    assert.deepEqual(destination.stats, { writtenLines: 2, droppedLines: 2, unreportedLines: 2 });

    mode = 'work';
    destination.write(line(4));
    assert.equal(await destination.flush(1000), true);
    const lines = file.read().split('\n');
    assert.equal(lines[0] + '\n', line(0));
    assert.equal(lines[1] + '\n', line(1));
    assert.equal(lines[2], line(2).slice(0, Math.floor(lineBytes * 0.5)), 'the torn half line, closed');
    assert.equal((JSON.parse(lines[3]!) as { dropped: number }).dropped, 2);
    assert.equal(lines[4] + '\n', line(4));
    assert.equal(lines.length, 6);
    assert.deepEqual(destination.stats, { writtenLines: 3, droppedLines: 2, unreportedLines: 0 });
  });

  test('EAGAIN (a full non-blocking pipe) keeps the lines and retries instead of dropping them', async () => {
    const file = openLogFile();
    let refusals = 5;
    const destination = new LogDestination({
      fd: file.fd,
      busyDelayMs: 5,
      write: (fd, buffer, offset, length, position, callback) => {
        if (refusals > 0) {
          refusals--;
          process.nextTick(() => callback(Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }), 0));
          return;
        }
        fs.write(fd, buffer, offset, length, position, callback);
      },
    });
    for (let i = 0; i < 10; i++) destination.write(line(i));
    assert.equal(await destination.flush(2000), true);
    assert.equal(file.read(), Array.from({ length: 10 }, (_, i) => line(i)).join(''));
    assert.deepEqual(destination.stats, { writtenLines: 10, droppedLines: 0, unreportedLines: 0 });
  });

  test('a write that never returns: the buffer stays bounded, flush gives up in time, the drop is reported later', async () => {
    // Goal: a stuck log (a hung disk, a reader that stopped on a blocking pipe) costs bounded
    // memory and a bounded wait at shutdown. Method: hold the first write's callback, write far
    // more than the buffer holds, flush with a short timeout, then release the write.
    const file = openLogFile();
    let release: (() => void) | undefined;
    const destination = new LogDestination({
      fd: file.fd,
      maxBufferedBytes: 10 * Buffer.byteLength(line(0)),
      write: (fd, buffer, offset, length, position, callback) => {
        if (release === undefined) {
          release = () => fs.write(fd, buffer, offset, length, position, callback);
          return;
        }
        fs.write(fd, buffer, offset, length, position, callback);
      },
    });
    for (let i = 0; i < 100; i++) destination.write(line(i));
    // 1 line in flight + 9 queued fill the 10-line buffer; the other 90 are dropped.
    assert.deepEqual(destination.stats, { writtenLines: 0, droppedLines: 90, unreportedLines: 90 });
    const started = Date.now();
    assert.equal(await destination.flush(100), false);
    assert.ok(Date.now() - started < 1000);

    release!();
    assert.equal(await destination.flush(1000), true);
    const lines = file.read().split('\n');
    assert.equal(lines[0] + '\n', line(0));
    assert.equal((JSON.parse(lines[1]!) as { dropped: number }).dropped, 90);
    assert.equal(lines.slice(2).join('\n'), Array.from({ length: 9 }, (_, i) => line(i + 1)).join(''));
  });

  test('pino writes through it, and logger.flush(callback) calls back', async () => {
    const file = openLogFile();
    const destination = new LogDestination({ fd: file.fd });
    const logger = createLogger({ name: 'daemon', level: 'info', destination });
    logger.info({ topic: 't' }, 'hello');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    const written = JSON.parse(file.read()) as Record<string, unknown>;
    assert.equal(written.msg, 'hello');
    assert.equal(written.topic, 't');
    assert.equal(written.name, 'daemon');
  });
});
