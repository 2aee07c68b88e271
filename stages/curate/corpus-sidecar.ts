// The corpus sidecar: what a unit stores for the corpus passes of finalise (curate.corpus), one
// Arrow IPC stream file per unit under OUT/sidecars/, listed in the unit's commit record and in
// manifest.sidecars. The shards are left as they are. Columns, one row per kept sample in shard
// order:
//   id, caption, score (the scorer's cosine, null without a scorer)
//   image_embedding, text_embedding: fixed_size_list<float16>[dim], the pooled L2-normalised
//     embeddings of the score stage (present when the config's passes need them)
// float16 halves the bytes; its rounding (about 1e-3 relative) is far below the 1 - eps cosine
// cuts the passes use, and readers renormalise.
import * as arrow from 'apache-arrow';
import { hf, type ColumnSpec, type KindSchema } from '../../schemas/kind-schema.ts';
import type { ScoredSample } from '../score/score-columns.ts';

export const CORPUS_SIDECAR_KIND = 'corpus';
export const SIDECAR_FOLDER = 'sidecars';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> float16 bits, rounding to nearest even (values past the range become infinities). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the right result.
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** float16 bits -> value, for every one of the 65536 bit patterns. */
export const FLOAT16_VALUES = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    t[h] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return t;
})();

/** The vector's values rounded to float16. apache-arrow's own float16 conversion misrounds
 *  values just below a power of two (0.1249 became 0.0625); values already exact in float16
 *  pass through it unchanged. */
export function toFloat16Values(v: Float32Array): number[] {
  return Array.from(v, (x) => FLOAT16_VALUES[float16Bits(x)]);
}

export const embeddingType = (dim: number) => new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float16(), false));

/** The sidecar schema; `dim` null: no embedding columns (balance alone needs only captions). */
export function corpusSidecarSchema(dim: number | null): KindSchema<ScoredSample> {
  const columns: ColumnSpec<ScoredSample>[] = [
    { name: 'id', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.id },
    { name: 'caption', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.caption },
    { name: 'score', type: new arrow.Float64(), nullable: true, hf: hf.float64, get: (s) => s.score ?? null },
  ];
  if (dim !== null) {
    const feature = { _type: 'Sequence', feature: { _type: 'Value', dtype: 'float16' }, length: dim };
    columns.push({ name: 'image_embedding', type: embeddingType(dim), nullable: true, hf: feature, get: (s) => (s.imageEmbedding ? toFloat16Values(s.imageEmbedding) : null) });
    columns.push({ name: 'text_embedding', type: embeddingType(dim), nullable: true, hf: feature, get: (s) => (s.textEmbedding ? toFloat16Values(s.textEmbedding) : null) });
  }
  // Rows are small (no media): larger batches read faster.
  return { kind: CORPUS_SIDECAR_KIND, columns, index: [], maxRowsPerBatch: 4096 };
}
