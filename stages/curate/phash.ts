// Perceptual hash and near-duplicate marking. Exact dedup (content-dedup.ts) misses the same
// picture re-encoded, resized or slightly re-coloured by another site; a perceptual hash maps
// those to nearby 64-bit values, and samples within `maxDistance` bits of an earlier one are
// marked (kept, with `nearDupOf` naming it) so a training run or an audit can decide.
// The hash itself is stages/decode/pixel-hash.ts.
//
// Marking: the first sample of a cluster is its root; a later sample within maxDistance of a
// root points at the nearest root (the earliest on ties) and does not become a root itself,
// so chains never form and the result depends only on input order. Roots are indexed by
// multi-index hashing: with maxDistance + 1 bands of the 64 bits, two hashes within
// maxDistance bits agree exactly on at least one band (pigeonhole), so the candidate lookup
// is exact, not approximate.
import * as arrow from 'apache-arrow';
import { mapStage, type Stage } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { hf, type ColumnSpec, type IndexColumnSpec } from '../../schemas/kind-schema.ts';
import { hammingDistance, parsePhash, perceptualHash, phashHex, type PixelHashed } from '../decode/pixel-hash.ts';

export interface NearMatch {
  id: string;
  distance: number;
}

/** Roots seen so far, indexed for exact lookup within maxDistance bits. */
export class NearDuplicateIndex {
  private readonly bands: { shift: bigint; mask: bigint }[] = [];
  /** Per band: band value -> positions in `roots`. */
  private readonly buckets: Map<bigint, number[]>[];
  private readonly roots: { id: string; hash: bigint }[] = [];

  constructor(readonly maxDistance: number) {
    if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > 32) {
      throw new Error(`pHash max distance must be an integer in [0, 32], got ${maxDistance}`);
    }
    const count = maxDistance + 1;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const width = Math.floor(64 / count) + (i < 64 % count ? 1 : 0);
      this.bands.push({ shift: BigInt(offset), mask: (1n << BigInt(width)) - 1n });
      offset += width;
    }
    this.buckets = this.bands.map(() => new Map());
  }

  /**
   * The nearest root within maxDistance (earliest on ties), or undefined, in which case the
   * hash becomes a root under `id`.
   */
  matchOrAdd(id: string, hash: bigint): NearMatch | undefined {
    const match = this.match(hash);
    if (!match) this.add(id, hash);
    return match;
  }

  /** The nearest root within maxDistance (earliest on ties), or undefined; adds nothing. */
  match(hash: bigint): NearMatch | undefined {
    let best: { position: number; id: string; distance: number } | undefined;
    for (const root of this.within(hash)) {
      if (!best || root.distance < best.distance || (root.distance === best.distance && root.position < best.position)) best = root;
    }
    return best ? { id: best.id, distance: best.distance } : undefined;
  }

  /** Makes the hash a root under `id` (later than every root so far). */
  add(id: string, hash: bigint): void {
    const position = this.roots.length;
    this.roots.push({ id, hash });
    for (let b = 0; b < this.bands.length; b++) {
      const value = this.bandValue(hash, b);
      const list = this.buckets[b].get(value);
      if (list) list.push(position);
      else this.buckets[b].set(value, [position]);
    }
  }

  /** Positions of the roots that share a band with the hash and lie within maxDistance, with their distances. */
  within(hash: bigint): { position: number; id: string; distance: number }[] {
    const out: { position: number; id: string; distance: number }[] = [];
    const checked = new Set<number>();
    for (let b = 0; b < this.bands.length; b++) {
      for (const position of this.buckets[b].get(this.bandValue(hash, b)) ?? []) {
        if (checked.has(position)) continue;
        checked.add(position);
        const distance = hammingDistance(hash, this.roots[position].hash);
        if (distance <= this.maxDistance) out.push({ position, id: this.roots[position].id, distance });
      }
    }
    return out;
  }

  private bandValue(hash: bigint, band: number): bigint {
    const { shift, mask } = this.bands[band];
    return (hash >> shift) & mask;
  }
}

/**
 * The final pass over all units: rows in canonical order (unit id, then row) -> id of a
 * near duplicate -> id of its root. Roots and samples without a near duplicate are absent.
 */
export function markNearDuplicates(rows: Iterable<{ id: string; phash: string; urlSiblingOf?: string | null }>, maxDistance: number): Map<string, string> {
  const index = new NearDuplicateIndex(maxDistance);
  const marks = new Map<string, string>();
  for (const row of rows) {
    // A URL sibling takes its leader's mark (or none) instead of matching the leader itself.
    if (row.urlSiblingOf) {
      const leaderMark = marks.get(row.urlSiblingOf);
      if (leaderMark !== undefined) marks.set(row.id, leaderMark);
      continue;
    }
    const match = index.matchOrAdd(row.id, parsePhash(row.phash));
    if (match) marks.set(row.id, match.id);
  }
  return marks;
}

export type PhashedSample = ImageTextSample & {
  /** 16 hex digits. */
  phash: string;
  /** Id of the earlier sample of this unit it nearly duplicates, or null. */
  nearDupOf: string | null;
  /** Hamming distance to nearDupOf, or null. */
  nearDupDistance: number | null;
};


export interface PhashStageOptions {
  maxDistance: number;
  /** Images hashed at once. */
  concurrency: number;
}

const PHASH_STAGE = 'phash';

/**
 * Consumes decoded samples, emits them with `phash` and `nearDupOf` (marking within the unit;
 * markNearDuplicates does the whole run). Drops `phash_failed` when the stored image cannot
 * be decoded again, which would mean a bug upstream. Counts `near_dup/marked`.
 */
export function phashStage<S extends ImageTextSample>(options: PhashStageOptions): Stage<S, S & PhashedSample> {
  const hashing = mapStage<S & PixelHashed, S & { phashValue: bigint }>(
    PHASH_STAGE,
    // The decode stage hashes the pixels it holds; only images it stored unchanged
    // (skip_reencode) or too large to hold raw are decoded again here.
    async (sample) => ({ ...sample, phashValue: sample.pixelHash ?? (await perceptualHash(sample.image.bytes)) }),
    { concurrency: options.concurrency, errorReason: 'phash_failed' },
  );
  return async function* (input, ctx) {
    const index = new NearDuplicateIndex(options.maxDistance);
    // A URL sibling (another caption of the same download) is not matched against its leader:
    // it takes the leader's own mark, so a filter on near_dup_of keeps or drops all captions of one image together.
    const marksOfLeaders = new Map<string, { id: string; distance: number } | undefined>();
    // Marking runs here, in input order, so it does not depend on which hash finished first.
    for await (const { phashValue, pixelHash: _pixelHash, ...sample } of hashing(input, ctx) as AsyncIterable<S & PixelHashed & { phashValue: bigint }>) {
      const leader = sample.fetched?.urlSiblingOf;
      let match: { id: string; distance: number } | undefined;
      if (leader !== undefined && marksOfLeaders.has(leader)) match = marksOfLeaders.get(leader);
      else {
        match = index.matchOrAdd(sample.id, phashValue);
        marksOfLeaders.set(sample.id, match);
      }
      if (match) ctx.stats.count('near_dup', 'marked');
      yield { ...(sample as unknown as S), phash: phashHex(phashValue), nearDupOf: match?.id ?? null, nearDupDistance: match?.distance ?? null };
    }
  };
}

/** Shard columns to append to the image_text schema when the phash stage runs. */
export const phashColumns: ColumnSpec<PhashedSample>[] = [
  { name: 'phash', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.phash },
  { name: 'near_dup_of', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.nearDupOf },
];

/** index.parquet columns, so the final pass and SQL audits can read them. */
export const phashIndexColumns: IndexColumnSpec<PhashedSample>[] = [
  { name: 'phash', type: 'UTF8', get: (s) => s.phash },
  { name: 'near_dup_of', type: 'UTF8', get: (s) => s.nearDupOf },
];
