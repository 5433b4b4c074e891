import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * The checksum of every record on the write and read paths. `@node-rs/crc32` (SIMD, prebuilt for
 * each platform) runs about twice zlib's speed on 1 KiB records here; where its binary is missing,
 * zlib's gives the same values.
 */
const largeInputCrc32: (buffer: Buffer) => number = (() => {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32(input: Buffer): number };
    return (buffer: Buffer) => native.crc32(buffer);
  } catch {
    return (buffer: Buffer) => zlibCrc32(buffer);
  }
})();

/**
 * CRC-32 (IEEE, the polynomial of zlib and TubeMQ). Inputs under {@link smallInputBytesMax} use
 * JavaScript tables four bytes at a time (slicing-by-4), because below ~100 bytes a native call's
 * overhead costs more than the checksum (research/ecosystem.md §3.1). All paths give one value.
 */
export function crc32(buffer: Buffer, start = 0, end = buffer.length): number {
  if (end - start < smallInputBytesMax) return crc32Small(buffer, start, end);
  return largeInputCrc32(start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end));
}

const smallInputBytesMax = 96;

/** Four 256-entry tables: table k maps a byte to its CRC after k further zero bytes. */
const tables = (() => {
  const all = new Int32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    all[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 4; k++)
      all[k * 256 + n] = (all[(k - 1) * 256 + n]! >>> 8) ^ all[all[(k - 1) * 256 + n]! & 0xff]!;
  }
  return all;
})();

function crc32Small(buffer: Buffer, start: number, end: number): number {
  let crc = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    crc ^= buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24);
    crc =
      tables[768 + (crc & 0xff)]! ^
      tables[512 + ((crc >>> 8) & 0xff)]! ^
      tables[256 + ((crc >>> 16) & 0xff)]! ^
      tables[crc >>> 24]!;
  }
  for (; i < end; i++) crc = tables[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
