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
    columns.push({ name: 'image_embedding', type: embeddingType(dim), nullable: true, hf: feature, get: (s) => (s.imageEmbedding ? Array.from(s.imageEmbedding) : null) });
    columns.push({ name: 'text_embedding', type: embeddingType(dim), nullable: true, hf: feature, get: (s) => (s.textEmbedding ? Array.from(s.textEmbedding) : null) });
  }
  // Rows are small (no media): larger batches read faster.
  return { kind: CORPUS_SIDECAR_KIND, columns, index: [], maxRowsPerBatch: 4096 };
}
