// The self-checking JSON-lines log under group offsets and metadata: line codec, durability,
// group commit, torn tails and garbage, all on real files in a temp dir.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { CheckedLog, decodeCheckedLine, encodeCheckedLine } from '../../src/common/checked-log.js';
import { nodeFileIO } from '../../src/common/file-io.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tubemq-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let fileCounter = 0;
const freshFile = () => path.join(root, `log-${fileCounter++}.log`);

/** What JSON can carry of a value (e.g. -0 becomes 0), the expected result of a round trip. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

async function writeLog(filePath: string, entries: unknown[]): Promise<void> {
  const { log } = await CheckedLog.open(nodeFileIO, filePath);
  await log.append(entries);
  await log.close();
}

async function replay(filePath: string) {
  const { log, replay: result } = await CheckedLog.open(nodeFileIO, filePath);
  await log.close();
  return result;
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
  test('appends are durable and replayed on reopen, also across several sessions', async () => {
    // Goal: what was acknowledged comes back. Method: append, close, reopen (twice), compare the replay.
    {
      const file = freshFile();
      const first = [{ n: 1 }, { n: 2, s: 'two' }];
      const second = [{ n: 3 }];
      const { log, replay: empty } = await CheckedLog.open(nodeFileIO, file);
      assert.deepEqual(empty, { entries: [], truncatedBytes: 0 });
      await log.append(first);
      assert.equal(log.bytes, fs.statSync(file).size);
      await log.close();
      const reopened = await CheckedLog.open(nodeFileIO, file);
      assert.deepEqual(reopened.replay, { entries: first, truncatedBytes: 0 });
      await reopened.log.append(second);
      await reopened.log.close();
      assert.deepEqual(await replay(file), { entries: [...first, ...second], truncatedBytes: 0 });
      assert.equal(
        fs.readFileSync(file, 'utf8'),
        [...first, ...second].map((entry) => encodeCheckedLine(entry)).join(''),
      );
    }
  });

  test('concurrent appends all resolve and replay in call order', async () => {
    // Goal: group commit keeps every entry and its order. Method: 300 appends without awaiting, then reopen.
    const file = freshFile();
    const { log } = await CheckedLog.open(nodeFileIO, file);
    const expected: unknown[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const batch =
        i % 7 === 0
          ? [
              { i, part: 0 },
              { i, part: 1 },
            ]
          : [{ i }];
      expected.push(...batch);
      pending.push(log.append(batch));
      if (i % 50 === 0) pending.push(log.append([]));
    }
    await Promise.all(pending);
    await log.close();
    assert.deepEqual(await replay(file), { entries: expected, truncatedBytes: 0 });
  });

  test('a torn last line (cut at every byte inside it) replays the good prefix and reports truncatedBytes', async () => {
    // Goal: a crash mid-write loses only the torn line. Method: cut a copy of a real log at each byte of its last line.
    const source = freshFile();
    const entries = [{ a: 1 }, { b: 'deux' }, { c: ['trois', 3, 'ü'] }];
    await writeLog(source, entries);
    const full = fs.readFileSync(source);
    const lastLineStart = full.lastIndexOf(0x0a, full.length - 2) + 1;
    assert.ok(lastLineStart > 0);
    for (let cut = lastLineStart; cut < full.length; cut++) {
      const file = freshFile();
      fs.writeFileSync(file, full.subarray(0, cut));
      const { log, replay: result } = await CheckedLog.open(nodeFileIO, file);
      assert.deepEqual(result.entries, entries.slice(0, 2), `cut at ${cut}`);
      assert.equal(result.truncatedBytes, cut - lastLineStart, `cut at ${cut}`);
      assert.equal(fs.statSync(file).size, lastLineStart, `file cut back at ${cut}`);
      assert.equal(log.bytes, lastLineStart);
      // Appending after the cut continues a clean log.
      await log.append([{ after: cut }]);
      await log.close();
      assert.deepEqual(await replay(file), {
        entries: [...entries.slice(0, 2), { after: cut }],
        truncatedBytes: 0,
      });
    }
  });

  test('garbage after good lines is cut, including good-looking lines after it', async () => {
    // Goal: only the good prefix is trusted. Method: append different garbage tails to a good log, reopen each.
    const good = [{ k: 1 }, { k: 2 }];
    const prefix = Buffer.from(good.map((entry) => encodeCheckedLine(entry)).join(''));
    const damagedLine = Buffer.from(encodeCheckedLine({ k: 3 }).replace('"k":3', '"k":4'));
    const tails: Buffer[] = [
      Buffer.from('garbage'),
      Buffer.from('garbage\n'),
      Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x0a]),
      Buffer.alloc(4096, 0),
      Buffer.concat([damagedLine, Buffer.from(encodeCheckedLine({ k: 5 }))]),
      Buffer.from(`\n${encodeCheckedLine({ k: 6 })}`),
    ];
    for (const [i, tail] of tails.entries()) {
      const file = freshFile();
      fs.writeFileSync(file, Buffer.concat([prefix, tail]));
      const { log, replay: result } = await CheckedLog.open(nodeFileIO, file);
      assert.deepEqual(result, { entries: good, truncatedBytes: tail.length }, `tail ${i}`);
      assert.equal(fs.statSync(file).size, prefix.length, `tail ${i}`);
      await log.append([{ k: 'next' }]);
      await log.close();
      assert.deepEqual((await replay(file)).entries, [...good, { k: 'next' }], `tail ${i}`);
    }
  });

  test('a flipped bit in a middle line of a log file stops the replay before that line', async () => {
    // Goal: a damaged entry is never replayed. Method: flip each bit of line 2 (newline included) of a 3-line file, reopen.
    const entries = [{ seq: 1, offset: 10 }, { seq: 2, group: 'g', offset: 20 }, { seq: 3 }];
    const lines = entries.map((entry) => Buffer.from(encodeCheckedLine(entry)));
    const full = Buffer.concat(lines);
    const start = lines[0]!.length;
    const failures: string[] = [];
    for (let bit = start * 8; bit < (start + lines[1]!.length) * 8; bit++) {
      const damaged = Buffer.from(full);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      const file = freshFile();
      fs.writeFileSync(file, damaged);
      const result = await replay(file);
      if (result.entries.length !== 1 || result.truncatedBytes !== full.length - start) {
        failures.push(
          `bit ${bit - start * 8} of line 2: replayed ${JSON.stringify(result.entries)}, cut ${result.truncatedBytes}`,
        );
      }
    }
    assert.deepEqual(failures, []);
  });

  test('reset empties the log and later appends replay alone', async () => {
    // Goal: compaction's reset leaves a usable empty log. Method: append, reset, append, reopen.
    const file = freshFile();
    const { log } = await CheckedLog.open(nodeFileIO, file);
    await log.append([{ old: 1 }, { old: 2 }]);
    const racing = log.append([{ old: 3 }]);
    await log.reset();
    await racing;
    assert.equal(log.bytes, 0);
    await log.append([{ fresh: 1 }]);
    await log.close();
    assert.deepEqual(await replay(file), { entries: [{ fresh: 1 }], truncatedBytes: 0 });
  });
});
