// The `curate:` section: corpus-level passes run when the OUT folder is finalised, over what
// every unit stored (docs/curation.md). Each pass is off until configured; any pass that is on
// makes the units write their corpus sidecar (ids, captions, scores, embeddings).
//   corpus.clusters        spherical k-means over the stored image (or caption) embeddings
//   corpus.semantic_dedup  within each cluster, cosine to a kept sample > 1 - eps marks a duplicate
//   corpus.balance         MetaCLIP-style balancing over metadata entries matched in the captions
import { z } from 'zod';

const clustersSchema = z
  .object({
    /** Number of clusters; null turns clustering off (semantic_dedup needs it). */
    k: z.number().int().min(1).max(100_000).nullable().default(null),
    /** Which stored embedding to cluster. */
    embedding: z.enum(['image', 'text']).default('image'),
    seed: z.number().int().default(0),
    /** Lloyd iterations (passes over the sidecars) at most. */
    iterations: z.number().int().min(1).max(1000).default(10),
    /** Stop once no centroid moves by more than this (1 - cosine of old and new). */
    tolerance: z.number().min(0).default(1e-6),
    /** k-means++ seeds from this many samples, chosen by a seeded hash of their id. */
    seed_sample: z.number().int().min(1).max(1_000_000).default(20_000),
  })
  .strict();

const semanticDedupSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** A sample whose cosine to a kept sample of its cluster exceeds 1 - eps is a duplicate of it. */
    eps: z.number().gt(0).lt(2).default(0.01),
    /** Which sample of a group is kept: the highest score (ties: first id), or the first id. */
    keep: z.enum(['highest_score', 'first_id']).default('highest_score'),
    /** A cluster larger than this is split by 2-means bisection before comparing (cost per sample bounded by it). */
    max_group: z.number().int().min(2).max(1_000_000).default(500),
    /** Also leave marked duplicates out of index.parquet (reason semantic_duplicate); marks only by default. */
    drop: z.boolean().default(false),
  })
  .strict();

const balanceSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** A text file with one metadata entry per line; null derives entries from the captions. */
    entries_file: z.string().min(1).nullable().default(null),
    /** Derived entries: word n-grams of 1..ngram words ... */
    ngram: z.number().int().min(1).max(4).default(2),
    /** ... seen in at least this many captions. */
    min_count: z.number().int().min(1).default(5),
    /** MetaCLIP's t: an entry matched by `count` samples keeps each with probability min(1, t / count). */
    t: z.number().int().min(1).default(20_000),
    seed: z.number().int().default(0),
    /** Samples matching no entry: MetaCLIP leaves them out of the pool; true keeps them. */
    keep_unmatched: z.boolean().default(false),
    /** Also leave samples with balance_kept false out of index.parquet (reason balance_not_drawn). */
    drop: z.boolean().default(false),
  })
  .strict();

const decontaminateSchema = z
  .object({
    /** A folder of evaluation images; null: no decontamination. */
    eval_images: z.string().min(1).nullable().default(null),
    /** A sample within this many pHash bits (of 64) of an eval image is eval_contamination. */
    max_distance: z.number().int().min(0).max(32).default(6),
    /** Also at finalise: a sample whose image embedding (the run's scorer) has cosine >= this to
     *  an eval image's embedding is eval_contamination; null: pHash only. */
    embedding_min_cosine: z.number().gt(0).max(1).nullable().default(null),
    /** Drop contaminated samples (reason eval_contamination); false marks them in the index. */
    drop: z.boolean().default(true),
  })
  .strict();

const imageClusterFilterSchema = z
  .object({
    /** Reference images: a folder of images, or a weft OUT folder (its indexed images); null: off. */
    reference: z.string().min(1).nullable().default(null),
    /** Leave samples outside every reference image's cluster out of index.parquet (reason image_cluster_filter); false marks them. */
    drop: z.boolean().default(true),
  })
  .strict();

export const curateSchema = z
  .object({
    /** Eval-set decontamination, per sample after decoding (image_text, web). */
    decontaminate: decontaminateSchema.prefault({}),
    corpus: z
      .object({
        /** Store the embeddings in the sidecar even when no pass needs them. */
        store_embeddings: z.boolean().default(false),
        clusters: clustersSchema.prefault({}),
        semantic_dedup: semanticDedupSchema.prefault({}),
        balance: balanceSchema.prefault({}),
        /** DataComp's image-based filter: keep samples whose nearest centroid is a reference image's. */
        image_cluster_filter: imageClusterFilterSchema.prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type CurateConfig = z.infer<typeof curateSchema>;
export type CorpusConfig = CurateConfig['corpus'];
export type DecontaminateConfig = CurateConfig['decontaminate'];

/** Whether the units must write their corpus sidecar. */
export function corpusSidecarNeeded(c: CorpusConfig, d?: DecontaminateConfig): boolean {
  return corpusEmbeddingsNeeded(c, d) || c.balance.enabled;
}

/** Whether the sidecar must hold embeddings (the passes that read them, or store_embeddings). */
export function corpusEmbeddingsNeeded(c: CorpusConfig, d?: DecontaminateConfig): boolean {
  return c.store_embeddings || c.clusters.k !== null || c.semantic_dedup.enabled || c.image_cluster_filter.reference !== null || embeddingDecontamination(d);
}

/** Whether decontamination by embedding distance runs at finalise. */
export function embeddingDecontamination(d: DecontaminateConfig | undefined): boolean {
  return d !== undefined && d.eval_images !== null && d.embedding_min_cosine !== null;
}
