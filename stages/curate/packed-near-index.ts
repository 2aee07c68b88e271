// The multi-index hashing of NearDuplicateIndex (phash.ts) for a fixed number of hashes, held
// in typed arrays: hashes as two 32-bit words, and per band a chained hash table (heads by
// bucket, next by position). The run-wide near pass (output/run-wide-marks.ts) builds one per
// block of rows and streams every earlier root past it: no BigInt, Map or array is made per
// hash or per lookup, so the pass leaves almost no garbage and its memory is a few typed
// arrays whatever the number of rows.
// A band's key is its value cut to 32 bits (only the single band of maxDistance 0 is wider):
// equal bands still give equal keys, and every candidate is checked on its full distance, so
// the lookup stays exact.
import { popcount32 } from '../decode/pixel-hash.ts';

export class PackedNearIndex {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly bands: { offset: number; mask: number }[] = [];
  private readonly heads: Int32Array[];
  private readonly next: Int32Array[];
  private readonly keys: Uint32Array[];
  private readonly bucketShift: number;
  /** Query stamp per position, so a hash found in several bands is visited once. */
  private readonly seen: Uint32Array;
  private stamp = 0;
  private count = 0;
  /** Distance of the hash `nearest` returned last (Infinity when it found none). */
  lastDistance = Infinity;

  constructor(
    readonly maxDistance: number,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > 32) {
      throw new Error(`pHash max distance must be an integer in [0, 32], got ${maxDistance}`);
    }
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`index capacity must be a positive integer, got ${capacity}`);
    const bandCount = maxDistance + 1;
    let offset = 0;
    for (let i = 0; i < bandCount; i++) {
      const width = Math.floor(64 / bandCount) + (i < 64 % bandCount ? 1 : 0);
      this.bands.push({ offset, mask: width >= 32 ? 0xffffffff : 2 ** width - 1 });
      offset += width;
    }
    const bits = Math.max(4, Math.ceil(Math.log2(capacity * 2)));
    this.bucketShift = 32 - bits;
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.seen = new Uint32Array(capacity);
    this.heads = this.bands.map(() => new Int32Array(2 ** bits).fill(-1));
    this.next = this.bands.map(() => new Int32Array(capacity));
    this.keys = this.bands.map(() => new Uint32Array(capacity));
  }

  get size(): number {
    return this.count;
  }

  /** Empties the index for reuse (the arrays are kept). */
  clear(): void {
    this.count = 0;
    for (const h of this.heads) h.fill(-1);
  }

  /** Adds a hash (high and low 32 bits); its position is the number of hashes before it. */
  add(hi: number, lo: number): number {
    if (this.count >= this.capacity) throw new Error(`PackedNearIndex: full at ${this.capacity} hashes`);
    const p = this.count++;
    this.hi[p] = hi;
    this.lo[p] = lo;
    for (let b = 0; b < this.bands.length; b++) {
      const key = this.bandKey(hi, lo, b);
      const bucket = this.bucket(key);
      this.keys[b][p] = key;
      this.next[b][p] = this.heads[b][bucket];
      this.heads[b][bucket] = p;
    }
    return p;
  }

  /** Calls `visit` once for every indexed hash within maxDistance bits, with its position and distance (in no set order). */
  forEachWithin(hi: number, lo: number, visit: (position: number, distance: number) => void): void {
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 1;
    }
    const stamp = this.stamp;
    for (let b = 0; b < this.bands.length; b++) {
      const key = this.bandKey(hi, lo, b);
      const keys = this.keys[b];
      const next = this.next[b];
      for (let p = this.heads[b][this.bucket(key)]; p !== -1; p = next[p]) {
        if (keys[p] !== key || this.seen[p] === stamp) continue;
        this.seen[p] = stamp;
        const distance = popcount32((this.hi[p] ^ hi) >>> 0) + popcount32((this.lo[p] ^ lo) >>> 0);
        if (distance <= this.maxDistance) visit(p, distance);
      }
    }
  }

  /** The nearest indexed hash within maxDistance (the earliest position on ties), or -1; its distance in `lastDistance`. */
  nearest(hi: number, lo: number): number {
    let best = -1;
    let bestDistance = Infinity;
    this.forEachWithin(hi, lo, (p, d) => {
      if (d < bestDistance || (d === bestDistance && p < best)) {
        best = p;
        bestDistance = d;
      }
    });
    this.lastDistance = bestDistance;
    return best;
  }

  /** Bits offset.. of the 64-bit hash hi:lo for band b, cut to 32 bits and masked to the band's width. */
  private bandKey(hi: number, lo: number, b: number): number {
    const { offset, mask } = this.bands[b];
    const v = offset === 0 ? lo : offset >= 32 ? hi >>> (offset - 32) : (lo >>> offset) | (hi << (32 - offset));
    return (v & mask) >>> 0;
  }

  private bucket(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.bucketShift;
  }
}
