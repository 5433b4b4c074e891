// On-disk formats of the storage engine: golden bytes of a data record and an index entry, every
// documented field offset, single-bit-flip detection, and the CRC-32 against zlib's.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { crc32 } from '../../src/common/crc32.js';
import {
  entryDamaged,
  entryLength,
  entryPosition,
  entryStreamHash,
  entryTimestamp,
  indexEntryBytes,
  isIndexEntryValid,
  writeIndexEntry,
} from '../../src/storage/index-format.js';
import { parseSegmentFileName, segmentFileName } from '../../src/storage/segment-file.js';
import { streamHash } from '../../src/storage/message-encoding.js';
import {
  checkRecord,
  decodeRecord,
  recordBytes,
  recordHeaderBytes,
  recordLengthField,
  recordMagic,
  recordOffset,
  recordPartition,
  recordStreamHash,
  recordTimestamp,
  recordVersion,
  writeRecord,
  type EncodableMessage,
} from '../../src/common/record-format.js';

/** The fixed record of the golden test: every field non-zero where it can be, offset above 2^32. */
const goldenMessage: EncodableMessage = {
  key: Buffer.from('k1'),
  attributes: Buffer.from('$stream=s1,a=b'),
  value: Buffer.from([0x68, 0x69, 0x00, 0xff]),
  timestamp: 0x0123_4567_89ab,
  streamHash: streamHash('s1'),
};
const goldenPartition = 7;
const goldenOffset = 0x1_0000_0005;

// Derived once from writeRecord and checked field by field below (little-endian throughout).
const goldenRecordHex = [
  '54554231', //  0 magic "TUB1" (0x31425554 LE)
  '44000000', //  4 length 68
  '6e3e4809', //  8 crc32 of [12, 68)
  '01', //        12 version 1
  '00', //        13 flags 0
  '0000', //      14 reserved
  '07000000', //  16 partition 7
  '0500000001000000', // 20 offset lo 5, hi 1 (2^32 + 5)
  'ab89674523010000', // 28 timestamp 0x0123456789ab
  'c9b85108', //  36 streamHash FNV-1a("s1") = 0x0851b8c9
  '02000000', //  40 keyLength 2
  '0e000000', //  44 attributesLength 14
  '6b31', //      48 key "k1"
  '2473747265616d3d73312c613d62', // attributes "$stream=s1,a=b"
  '686900ff', //  value
].join('');

function goldenRecord(): Buffer {
  const buffer = Buffer.alloc(recordBytes(goldenMessage));
  const written = writeRecord(buffer, 0, goldenMessage, goldenPartition, goldenOffset);
  assert.equal(written, buffer.length);
  return buffer;
}

function flipBit(buffer: Buffer, bit: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

const messageArbitrary: fc.Arbitrary<EncodableMessage> = fc.record({
  key: fc.option(
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    {
      nil: undefined,
    },
  ),
  attributes: fc.option(
    fc
      .stringMatching(/^[a-z]{1,8}=[a-z0-9]{0,8}(,[a-z]{1,8}=[a-z0-9]{0,8}){0,3}$/)
      .map((text) => Buffer.from(text)),
    { nil: undefined },
  ),
  value: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  streamHash: fc.integer({ min: 0, max: 0xffff_ffff }),
});

describe('data record format', () => {
  test('golden bytes of one record', () => {
    // Goal: the record layout never changes by accident. Method: encode fixed fields, compare to a frozen hex literal.
    assert.equal(goldenRecord().toString('hex'), goldenRecordHex);
  });

  test('every field sits at the offset documented in record-format.ts', () => {
    // Goal: the header comment is the truth. Method: read each documented offset of the golden record by hand.
    const record = goldenRecord();
    const keyLength = goldenMessage.key!.length;
    const attributesLength = goldenMessage.attributes!.length;
    assert.equal(recordHeaderBytes, 48);
    assert.equal(record.readUInt32LE(0), 0x31425554);
    assert.equal(record.toString('latin1', 0, 4), 'TUB1');
    assert.equal(record.readUInt32LE(0), recordMagic);
    assert.equal(record.readUInt32LE(4), record.length);
    assert.equal(record.readUInt32LE(8), zlib.crc32(record.subarray(12, record.length)));
    assert.equal(record.readUInt8(12), 1);
    assert.equal(recordVersion, 1);
    assert.equal(record.readUInt8(13), 0);
    assert.equal(record.readUInt16LE(14), 0);
    assert.equal(record.readUInt32LE(16), goldenPartition);
    assert.equal(record.readUInt32LE(20), goldenOffset % 2 ** 32);
    assert.equal(record.readUInt32LE(24), Math.floor(goldenOffset / 2 ** 32));
    assert.equal(record.readUInt32LE(28), goldenMessage.timestamp % 2 ** 32);
    assert.equal(record.readUInt32LE(32), Math.floor(goldenMessage.timestamp / 2 ** 32));
    assert.equal(record.readUInt32LE(36), goldenMessage.streamHash);
    assert.equal(record.readUInt32LE(36), 0x0851b8c9);
    assert.equal(record.readUInt32LE(40), keyLength);
    assert.equal(record.readUInt32LE(44), attributesLength);
    assert.deepEqual(record.subarray(48, 48 + keyLength), goldenMessage.key);
    assert.equal(
      record.toString('utf8', 48 + keyLength, 48 + keyLength + attributesLength),
      '$stream=s1,a=b',
    );
    assert.deepEqual(record.subarray(48 + keyLength + attributesLength), goldenMessage.value);
    // The accessors read the same places.
    assert.equal(recordLengthField(record, 0), record.length);
    assert.equal(recordPartition(record, 0), goldenPartition);
    assert.equal(recordOffset(record, 0), goldenOffset);
    assert.equal(recordTimestamp(record, 0), goldenMessage.timestamp);
    assert.equal(recordStreamHash(record, 0), goldenMessage.streamHash);
  });

  test('decodeRecord and checkRecord read the golden record back, also at an offset inside a larger buffer', () => {
    // Goal: decode is the inverse of encode. Method: decode the golden record alone and embedded between other bytes.
    const record = goldenRecord();
    const embedded = Buffer.concat([Buffer.alloc(13, 0xaa), record, Buffer.alloc(9, 0x55)]);
    for (const [buffer, at] of [
      [record, 0],
      [embedded, 13],
    ] as const) {
      assert.equal(checkRecord(buffer, at), record.length);
      const decoded = decodeRecord(buffer, at);
      assert.equal(decoded.partition, goldenPartition);
      assert.equal(decoded.offset, goldenOffset);
      assert.equal(decoded.timestamp, goldenMessage.timestamp);
      assert.equal(decoded.streamHash, goldenMessage.streamHash);
      assert.deepEqual(decoded.key, goldenMessage.key);
      assert.equal(decoded.attributes, '$stream=s1,a=b');
      assert.deepEqual(decoded.value, goldenMessage.value);
    }
  });

  test('checkRecord rejects a record cut short', () => {
    // Goal: a torn record is never taken as whole. Method: offer every shorter prefix of the golden record.
    const record = goldenRecord();
    for (let available = 0; available < record.length; available++) {
      assert.equal(checkRecord(record, 0, available), 0, `available ${available}`);
      assert.equal(checkRecord(record.subarray(0, available), 0), 0, `prefix ${available}`);
    }
  });

  test('checkRecord rejects every single-bit flip of the golden record', () => {
    // Goal: magic, lengths, header and CRC together catch any one flipped bit. Method: exhaustive over all bits.
    const record = goldenRecord();
    for (let bit = 0; bit < record.length * 8; bit++) {
      assert.equal(checkRecord(flipBit(record, bit), 0), 0, `bit ${bit} (byte ${bit >> 3}) flipped`);
    }
  });

  test('property: any record round-trips and any single-bit flip of it is rejected', () => {
    // Goal: the same for arbitrary contents. Method: fast-check over messages, partitions, offsets and a bit position.
    fc.assert(
      fc.property(
        messageArbitrary,
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.nat(),
        (message, partition, offset, bitSeed) => {
          const buffer = Buffer.alloc(recordBytes(message));
          assert.equal(writeRecord(buffer, 0, message, partition, offset), buffer.length);
          assert.equal(checkRecord(buffer, 0), buffer.length);
          const decoded = decodeRecord(buffer, 0);
          assert.equal(decoded.partition, partition);
          assert.equal(decoded.offset, offset);
          assert.equal(decoded.timestamp, message.timestamp);
          assert.equal(decoded.streamHash, message.streamHash);
          assert.deepEqual(decoded.key, message.key);
          assert.equal(decoded.attributes, message.attributes?.toString('utf8') ?? '');
          assert.deepEqual(decoded.value, message.value);
          const bit = bitSeed % (buffer.length * 8);
          assert.equal(checkRecord(flipBit(buffer, bit), 0), 0, `bit ${bit} flipped`);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('index entry format', () => {
  const position = 0x2_0000_0011;
  const length = 123;
  const hash = 0xdeadbeef;
  const timestamp = 0x0123_4567_89ab;
  // Derived once from writeIndexEntry and checked field by field below.
  const goldenEntryHex = [
    '1100000002000000', //  0 position lo 0x11, hi 2
    '7b000000', //          8 length 123
    'efbeadde', //         12 streamHash 0xdeadbeef
    'ab89674523010000', // 16 timestamp 0x0123456789ab
    '4958', //             24 magic 0x5849 ("IX")
    '01', //               26 version 1
    '00', //               27 flags
    '38952f7e', //         28 crc32 of [0, 28)
  ].join('');

  function goldenEntry(damaged = false): Buffer {
    const entry = Buffer.alloc(indexEntryBytes);
    writeIndexEntry(entry, 0, position, length, hash, timestamp, damaged ? 'damaged' : 'record');
    return entry;
  }

  test('golden bytes and documented offsets of one index entry', () => {
    // Goal: the 32-byte entry layout is stable and matches its comment. Method: frozen hex plus reads at each offset.
    const entry = goldenEntry();
    assert.equal(indexEntryBytes, 32);
    assert.equal(entry.toString('hex'), goldenEntryHex);
    assert.equal(entry.readUInt32LE(0), position % 2 ** 32);
    assert.equal(entry.readUInt32LE(4), Math.floor(position / 2 ** 32));
    assert.equal(entry.readUInt32LE(8), length);
    assert.equal(entry.readUInt32LE(12), hash);
    assert.equal(entry.readUInt32LE(16), timestamp % 2 ** 32);
    assert.equal(entry.readUInt32LE(20), Math.floor(timestamp / 2 ** 32));
    assert.equal(entry.readUInt16LE(24), 0x5849);
    assert.equal(entry.toString('latin1', 24, 26), 'IX');
    assert.equal(entry.readUInt8(26), 1);
    assert.equal(entry.readUInt8(27), 0);
    assert.equal(entry.readUInt32LE(28), zlib.crc32(entry.subarray(0, 28)));
    assert.ok(isIndexEntryValid(entry, 0));
    assert.equal(entryPosition(entry, 0), position);
    assert.equal(entryLength(entry, 0), length);
    assert.equal(entryStreamHash(entry, 0), hash);
    assert.equal(entryTimestamp(entry, 0), timestamp);
    assert.equal(entryDamaged(entry, 0), false);
  });

  test('the damaged flag is bit 0 of byte 27 and is covered by the CRC', () => {
    // Goal: a damaged mark cannot be lost or forged silently. Method: write with damaged=true, compare to the plain entry.
    const plain = goldenEntry();
    const damaged = goldenEntry(true);
    assert.equal(damaged.readUInt8(27), 1);
    assert.equal(entryDamaged(damaged, 0), true);
    assert.ok(isIndexEntryValid(damaged, 0));
    assert.deepEqual(damaged.subarray(0, 27), plain.subarray(0, 27));
    assert.notEqual(damaged.readUInt32LE(28), plain.readUInt32LE(28));
  });

  test('isIndexEntryValid rejects every single-bit flip, at any position in a buffer', () => {
    // Goal: a flipped bit in an entry is caught. Method: exhaustive over the 256 bits, entry placed at byte 64 of a buffer.
    for (const damaged of [false, true]) {
      const buffer = Buffer.alloc(indexEntryBytes * 3, 0x77);
      writeIndexEntry(buffer, 64, position, length, hash, timestamp, damaged ? 'damaged' : 'record');
      assert.ok(isIndexEntryValid(buffer, 64));
      for (let bit = 0; bit < indexEntryBytes * 8; bit++) {
        assert.equal(isIndexEntryValid(flipBit(buffer, 64 * 8 + bit), 64), false, `bit ${bit} flipped`);
      }
    }
  });

  test('property: random entries round-trip and reject any flipped bit', () => {
    // Goal: the same for arbitrary field values. Method: fast-check over fields and a bit position.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.boolean(),
        fc.integer({ min: 0, max: indexEntryBytes * 8 - 1 }),
        (entryPositionValue, entryLengthValue, entryHash, entryTime, damaged, bit) => {
          const entry = Buffer.alloc(indexEntryBytes);
          writeIndexEntry(
            entry,
            0,
            entryPositionValue,
            entryLengthValue,
            entryHash,
            entryTime,
            damaged ? 'damaged' : 'record',
          );
          assert.ok(isIndexEntryValid(entry, 0));
          assert.equal(entryPosition(entry, 0), entryPositionValue);
          assert.equal(entryLength(entry, 0), entryLengthValue);
          assert.equal(entryStreamHash(entry, 0), entryHash);
          assert.equal(entryTimestamp(entry, 0), entryTime);
          assert.equal(entryDamaged(entry, 0), damaged);
          assert.equal(isIndexEntryValid(flipBit(entry, bit), 0), false);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('segment file names are 20-digit bases and parse back', () => {
    // Goal: TubeMQ's naming. Method: format and parse a few bases, reject foreign names.
    assert.equal(segmentFileName(0, 'data'), '00000000000000000000.data');
    assert.equal(segmentFileName(4096, 'index'), '00000000000000004096.index');
    assert.equal(parseSegmentFileName('00000000000000004096.index', 'index'), 4096);
    assert.equal(parseSegmentFileName('00000000000000004096.index', 'data'), undefined);
    assert.equal(parseSegmentFileName('4096.data', 'data'), undefined);
    assert.equal(parseSegmentFileName('00000000000000004096.data.tmp', 'data'), undefined);
  });
});

describe('crc32', () => {
  test('known check value of "123456789"', () => {
    // Goal: it is CRC-32/IEEE. Method: the standard check value 0xCBF43926 on both paths (short input and padded).
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    const long = Buffer.concat([Buffer.alloc(200, 0x20), Buffer.from('123456789')]);
    assert.equal(crc32(long, 200), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  test('equals zlib.crc32 for random buffers of every length 0..300, whole and as a sub-range', () => {
    // Goal: the JS table path (< 96 bytes) and the zlib path agree with zlib. Method: every length, random bytes, random start.
    let seed = 0x12345678;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 16;
    };
    for (let length = 0; length <= 300; length++) {
      for (let round = 0; round < 4; round++) {
        const before = random() % 17;
        const after = random() % 5;
        const buffer = Buffer.alloc(before + length + after);
        for (let i = 0; i < buffer.length; i++) buffer[i] = random() & 0xff;
        const body = buffer.subarray(before, before + length);
        const expected = zlib.crc32(Buffer.from(body));
        assert.equal(crc32(Buffer.from(body)), expected, `whole buffer of ${length}`);
        assert.equal(crc32(buffer, before, before + length), expected, `range of ${length} at ${before}`);
        assert.equal(crc32(body), expected, `view of ${length}`);
      }
    }
  });

  test('property: equals zlib.crc32 on arbitrary byte ranges', () => {
    // Goal: no input makes the two paths disagree. Method: fast-check over bytes and a sub-range.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const buffer = Buffer.from(bytes);
        const start = buffer.length === 0 ? 0 : a % (buffer.length + 1);
        const end = start + (buffer.length - start === 0 ? 0 : b % (buffer.length - start + 1));
        assert.equal(crc32(buffer, start, end), zlib.crc32(buffer.subarray(start, end)));
      }),
      { numRuns: 1000 },
    );
  });
});
