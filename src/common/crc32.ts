import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * CRC-32 (IEEE, the polynomial of zlib and TubeMQ). Large inputs go to zlib; inputs under
 * {@link smallInputBytesMax} use a JavaScript table, because below ~100 bytes the native call's
 * overhead costs more than the checksum (research/ecosystem.md §3.1). Both give the same value.
 */
export function crc32(buffer: Buffer, start = 0, end = buffer.length): number {
  if (end - start < smallInputBytesMax) return crc32Small(buffer, start, end);
  return zlibCrc32(start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end));
}

const smallInputBytesMax = 96;

const table = (() => {
  const entries = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    entries[n] = c;
  }
  return entries;
})();

function crc32Small(buffer: Buffer, start: number, end: number): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = table[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
