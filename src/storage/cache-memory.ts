/** A region of cache memory that encoded batches are carved from. */
export interface Slab {
  readonly buffer: Buffer;
  /** Bytes handed out from the start. */
  used: number;
  /** Batches carved from it and not yet written to disk. */
  refs: number;
  /** A reader holds a view into it (a read served from the cache), so it must never be reused. */
  pinned: boolean;
}

/** Where a batch's bytes live: a view into a slab, or a buffer of its own when it is large. */
export interface CacheAllocation {
  buffer: Buffer;
  slab: Slab | undefined;
}

const slabBytes = 4 * 1024 * 1024;

/**
 * The memory cache's bytes, shared by every store of an engine. Batches are encoded straight into
 * slabs that are reused once their batches are written, so the write path neither allocates nor
 * page-faults fresh memory per batch and garbage stays low. `usedBytes` counts unflushed bytes
 * against `maxBytes`; past it, appends get BUSY.
 */
export class CacheMemory {
  usedBytes = 0;
  private current: Slab | undefined;
  private readonly free: Buffer[] = [];
  /** Enough free slabs to refill the whole budget, so a burst recycles instead of making garbage. */
  private readonly freeSlabsMax: number;

  constructor(readonly maxBytes: number) {
    this.freeSlabsMax = Math.ceil(maxBytes / slabBytes) + 1;
  }

  allocate(bytes: number): CacheAllocation {
    if (bytes > slabBytes / 2) return { buffer: Buffer.allocUnsafeSlow(bytes), slab: undefined };
    let slab = this.current;
    if (!slab || slab.used + bytes > slabBytes) {
      if (slab && slab.refs === 0 && !slab.pinned) this.recycle(slab.buffer);
      slab = {
        buffer: this.free.pop() ?? Buffer.allocUnsafeSlow(slabBytes),
        used: 0,
        refs: 0,
        pinned: false,
      };
      this.current = slab;
    }
    const buffer = slab.buffer.subarray(slab.used, slab.used + bytes);
    slab.used += bytes;
    slab.refs++;
    return { buffer, slab };
  }

  /** A batch carved from `slab` is on disk; the slab is reused once none of its batches is pending. */
  release(slab: Slab | undefined): void {
    if (!slab || --slab.refs > 0 || slab.pinned) return;
    if (slab === this.current) slab.used = 0;
    else this.recycle(slab.buffer);
  }

  private recycle(buffer: Buffer): void {
    if (this.free.length < this.freeSlabsMax) this.free.push(buffer);
  }
}
