/** Ranges kept per segment; past this the oldest are forgotten (they get checked again on read). */
const rangesMax = 64;

/**
 * Byte ranges of a data segment whose records are known to carry correct checksums: written by
 * this process (checksummed as they were encoded) or already checked by an earlier read or by
 * recovery. A read inside them checks record headers only, so tailing consumers and the second
 * of many consumer groups do not pay for a CRC again. Clients re-check CRCs end to end.
 */
export class VerifiedRanges {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  /** Whether [start, end) lies inside one verified range. */
  covers(start: number, end: number): boolean {
    let low = 0;
    let high = this.starts.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.starts[middle]! > start) high = middle - 1;
      else if (this.ends[middle]! < start) low = middle + 1;
      else return end <= this.ends[middle]!;
    }
    return false;
  }

  /** Marks [start, end) verified, merging with touching ranges. */
  add(start: number, end: number): void {
    if (end <= start) return;
    let at = 0;
    while (at < this.starts.length && this.ends[at]! < start) at++;
    let mergedStart = start;
    let mergedEnd = end;
    let remove = 0;
    while (at + remove < this.starts.length && this.starts[at + remove]! <= end) {
      mergedStart = Math.min(mergedStart, this.starts[at + remove]!);
      mergedEnd = Math.max(mergedEnd, this.ends[at + remove]!);
      remove++;
    }
    this.starts.splice(at, remove, mergedStart);
    this.ends.splice(at, remove, mergedEnd);
    if (this.starts.length > rangesMax) {
      this.starts.shift();
      this.ends.shift();
    }
  }
}
