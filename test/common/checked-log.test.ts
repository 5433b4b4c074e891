// The self-checking JSON-lines log under group offsets and metadata: line codec, the scan that
// reports every line (good lines after a damaged one included), durable appends, cutting a torn
// tail, and the fail-closed latch after a failed write or sync, all on real files in a temp dir.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import {
  CheckedLog,
  decodeCheckedLine,
  encodeCheckedLine,
  scanCheckedLines,
} from '../../src/common/checked-log.js';
import { isTubeError } from '../../src/common/errors.js';
import { nodeFileIO, type FileIO } from '../../src/common/file-io.js';
import { errnoError, hookedFileIO, type HookedOperation } from '../helpers/hooked-io.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let fileCounter = 0;
const freshFile = () => path.join(root, `log-${fileCounter++}.log`);

/** What JSON can carry of a value (e.g. -0 becomes 0), the expected result of a round trip. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Appends each entry with its own append (one line per write), then closes. */
async function writeLog(filePath: string, entries: unknown[]): Promise<void> {
  const log = await CheckedLog.open(nodeFileIO, filePath, 0);
  for (const entry of entries) await log.append(entry);
  await log.close();
}

/** The decoded entries of a file's lines, undefined for a damaged one. */
const entriesOf = (filePath: string) =>
  scanCheckedLines(fs.readFileSync(filePath)).lines.map((line) => line.entry);

/** The real file system with every `operation` failing with `code` once armed. */
function failingIO(code: string, operation: HookedOperation) {
  let armed = false;
  const io: FileIO = hookedFileIO((each) => {
    if (armed && each === operation) throw errnoError(code);
  });
  return { io, arm: () => (armed = true), disarm: () => (armed = false) };
}

describe('checked line codec', () => {
  test('the line format is "<crc32 hex8> <json>\\n" with the CRC over the JSON bytes', () => {
    // Goal: the documented format. Method: encode one entry and take it apart by hand.
    const line = encodeCheckedLine({ a: 1, b: 'é' });
    const json = '{"a":1,"b":"é"}';
    assert.equal(line, `${zlib.crc32(Buffer.from(json)).toString(16).padStart(8, '0')} ${json}\n`);
    assert.deepEqual(decodeCheckedLine(line.slice(0, -1)), { a: 1, b: 'é' });
  });

  test('property: encode then decode returns the entry', () => {
    // Goal: any JSON value survives a round trip. Method: fast-check over JSON values, decode without the newline.
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const line = encodeCheckedLine(value);
        assert.ok(line.endsWith('\n'));
        assert.equal(line.indexOf('\n'), line.length - 1, 'one line only');
        assert.deepStrictEqual(decodeCheckedLine(line.slice(0, -1)), viaJson(value));
      }),
      { numRuns: 500 },
    );
  });

  test('a flipped bit anywhere in a line is rejected (exhaustive over the bits of fixed lines)', () => {
    // Goal: damage is never accepted as an entry. Method: flip every bit of the UTF-8 bytes of several lines, decode as the log does.
    const entries: unknown[] = [
      { seq: 1, group: 'g', topic: 't', partition: 0, offset: 42 },
      { seq: 2, group: 'orders', topic: 'payments', partition: 7, offset: 123456 },
      'plain string',
      [1, 2, 3],
      { nested: { deep: [true, false, null] } },
    ];
    const accepted: string[] = [];
    for (const entry of entries) {
      const bytes = Buffer.from(encodeCheckedLine(entry).slice(0, -1));
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const damaged = Buffer.from(bytes);
        damaged[bit >> 3]! ^= 1 << (bit & 7);
        const text = damaged.toString('utf8');
        if (decodeCheckedLine(text) !== undefined) accepted.push(JSON.stringify(text));
      }
    }
    assert.deepEqual(accepted, [], `damaged lines accepted:\n${accepted.join('\n')}`);
  });

  test('property: a flipped bit in a line of any entry is rejected', () => {
    // Goal: the same for arbitrary entries. Method: fast-check over JSON values and a bit position of the line.
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, bitSeed) => {
        const bytes = Buffer.from(encodeCheckedLine(value).slice(0, -1));
        const bit = bitSeed % (bytes.length * 8);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const text = bytes.toString('utf8');
        assert.equal(decodeCheckedLine(text), undefined, `accepted ${JSON.stringify(text)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('malformed lines are rejected', () => {
    // Goal: nothing but a whole, matching line decodes. Method: a list of hand-made bad lines.
    const good = encodeCheckedLine({ x: 1 }).slice(0, -1);
    for (const bad of [
      '',
      ' ',
      good.slice(0, 9),
      good.slice(1),
      good.slice(0, -1),
      `${good}x`,
      good.replace(' ', '\t'),
      `${'0'.repeat(8)} {"x":1}`,
      `zzzzzzzz ${good.slice(9)}`,
      `${good.slice(0, 8)}  ${good.slice(9)}`,
    ]) {
      assert.equal(decodeCheckedLine(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('CheckedLog', () => {
  test('appends are durable, one line each, and a reopen continues after them', async () => {
    // Goal: what was acknowledged is on disk, in order. Method: append, close, reopen at the end, append, read back.
    const file = freshFile();
    const first = [{ n: 1 }, { n: 2, s: 'two' }];
    await writeLog(file, first);
    assert.equal(fs.readFileSync(file, 'utf8'), first.map((entry) => encodeCheckedLine(entry)).join(''));
    const size = fs.statSync(file).size;
    const reopened = await CheckedLog.open(nodeFileIO, file, size);
    assert.equal(reopened.bytes, size);
    await reopened.append({ n: 3 });
    await reopened.close();
    assert.deepEqual(entriesOf(file), [...first, { n: 3 }]);
  });

  test('one append at a time: a second while one runs is refused and writes nothing', async () => {
    // Goal: the caller's group commit keeps one line per write (what keeps a tear to the last line).
    const file = freshFile();
    const log = await CheckedLog.open(nodeFileIO, file, 0);
    const first = log.append({ a: 1 });
    await assert.rejects(log.append({ b: 2 }), /another append runs/);
    await first;
    await log.close();
    assert.deepEqual(entriesOf(file), [{ a: 1 }]);
  });

  test('open cuts everything after the bytes the caller kept, durably, and appends continue there', async () => {
    // Goal: a torn tail the caller dropped is gone before the next line goes in.
    const file = freshFile();
    const good = Buffer.from(encodeCheckedLine({ k: 1 }));
    fs.writeFileSync(file, Buffer.concat([good, Buffer.from('0badc0de {"k":')]));
    const log = await CheckedLog.open(nodeFileIO, file, good.length);
    assert.equal(fs.statSync(file).size, good.length);
    await log.append({ k: 2 });
    await log.close();
    assert.deepEqual(entriesOf(file), [{ k: 1 }, { k: 2 }]);
    await assert.rejects(CheckedLog.open(nodeFileIO, file, 10_000), /fewer than/);
  });

  for (const [code, what, name] of [
    ['ENOSPC', 'writev', 'STORAGE_FULL'],
    ['EIO', 'datasync', 'UNAVAILABLE'],
  ] as const) {
    test(`a failed ${what} (${code}) latches the log: ${name}, later appends refused, the line cut off`, async () => {
      // Goal: fail closed. Method: fail one append, then let the disk work again: the log must
      // still refuse, and the failed line's bytes (written, when the sync fails) must be cut off.
      const file = freshFile();
      const { io, arm, disarm } = failingIO(code, what);
      const log = await CheckedLog.open(io, file, 0);
      await log.append({ kept: 1 });
      arm();
      const failed = await log.append({ failed: 2 }).then(
        () => assert.fail('the append should fail'),
        (error: unknown) => error,
      );
      assert.ok(isTubeError(failed, name), String(failed));
      assert.match(failed.hint ?? '', /restart/);
      assert.equal(failed.details.file, file);
      assert.equal(log.failed, failed);
      disarm(); // the disk works again; the log must still refuse
      await assert.rejects(log.append({ later: 3 }), (error) => error === failed);
      await log.close();
      assert.deepEqual(entriesOf(file), [{ kept: 1 }]);
      assert.equal(fs.statSync(file).size, encodeCheckedLine({ kept: 1 }).length);
    });
  }
});

describe('scanCheckedLines', () => {
  test('a torn last line (cut at every byte inside it) shows as bytes after the last newline', async () => {
    // Goal: a crash mid-write is visible as such. Method: cut a copy of a real log at each byte of its last line.
    const source = freshFile();
    const entries = [{ a: 1 }, { b: 'deux' }, { c: ['trois', 3, 'ü'] }];
    await writeLog(source, entries);
    const full = fs.readFileSync(source);
    const lastLineStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    for (let cut = lastLineStart; cut < full.length; cut++) {
      const scan = scanCheckedLines(full.subarray(0, cut));
      assert.deepEqual(
        scan.lines.map((line) => line.entry),
        entries.slice(0, 2),
        `cut at ${cut}`,
      );
      assert.equal(scan.unterminatedBytes, cut - lastLineStart, `cut at ${cut}`);
      assert.equal(scan.size, cut);
    }
  });

  test('every line is reported with its offset and length, good lines after damaged ones included', () => {
    // Goal: damage never hides what follows it (the caller decides; nothing is cut here). Method:
    // good, damaged, good, garbage, good lines, then unterminated bytes.
    const parts = [
      encodeCheckedLine({ k: 1 }),
      encodeCheckedLine({ k: 3 }).replace('"k":3', '"k":4'),
      encodeCheckedLine({ k: 5 }),
      'garbage\n',
      encodeCheckedLine({ k: 6 }),
      '\0\0\0',
    ];
    const scan = scanCheckedLines(Buffer.from(parts.join('')));
    let offset = 0;
    const expected = parts.slice(0, 5).map((part, index) => {
      const line = {
        offset,
        bytes: Buffer.byteLength(part),
        entry: [{ k: 1 }, undefined, { k: 5 }, undefined, { k: 6 }][index],
      };
      offset += line.bytes;
      return line;
    });
    assert.deepEqual(scan.lines, expected);
    assert.equal(scan.unterminatedBytes, 3);
  });

  test('a flipped bit in a middle line marks only that line damaged', () => {
    // Goal: a damaged entry is never returned, and its neighbours are. Method: flip each bit of
    // line 2 (newline included) of a 3-line file.
    const entries = [{ seq: 1, offset: 10 }, { seq: 2, group: 'g', offset: 20 }, { seq: 3 }];
    const lines = entries.map((entry) => Buffer.from(encodeCheckedLine(entry)));
    const full = Buffer.concat(lines);
    const start = lines[0]!.length;
    const failures: string[] = [];
    for (let bit = start * 8; bit < (start + lines[1]!.length) * 8; bit++) {
      const damaged = Buffer.from(full);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      const scan = scanCheckedLines(damaged);
      const good = scan.lines.filter((line) => line.entry !== undefined).map((line) => line.entry);
      // A flipped newline merges lines 2 and 3 into one damaged line: line 3 is then damaged too.
      const newlineFlipped = bit >= (start + lines[1]!.length - 1) * 8;
      const expected = newlineFlipped ? [entries[0]] : [entries[0], entries[2]];
      if (JSON.stringify(good) !== JSON.stringify(expected))
        failures.push(`bit ${bit - start * 8}: ${JSON.stringify(good)}`);
    }
    assert.deepEqual(failures, []);
  });
});
