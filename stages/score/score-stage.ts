// The score stage. Consumes decoded image-caption samples; emits them with `score` (the cosine
// of the scorer's pooled image and caption embeddings) and, with grounding on, `phrases` and
// `groundingRecall`. Drops: images the scorer cannot read (score_image_unreadable), pairs below
// the absolute threshold (score_below_threshold), pairs whose grounding recall is below
// min_recall (low_grounding_recall, stage `grounding`).
//
// Items are scored in batches of `batchSize`, in input order (core's batchMapStage: at most two
// batches held, so backpressure holds). The score column is named after the
// scorer (`score_<id>`), and the stats keep a t-digest and a histogram named `score:<column>`
// (the keep_top cut is taken from the merged digest when the run is finalised). With
// `keepEmbeddings` each scored sample also carries its pooled embeddings, which the kind writes
// to the unit's corpus sidecar (corpus-sidecar.ts) so corpus passes never rerun the model.
import { batchMapStage, compose, drop, filterStage, isDrop, type Drop, type Stage, type StageContext } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import type { ImagePreprocessing } from '../../scorer/clip-preprocess.ts';
import { cosine, embedReadableImages, type PatchEmbeddings, type Scorer, type TokenEmbeddings } from '../../scorer/scorer.ts';
import { nounPhrases } from '../../scorer/noun-phrases.ts';
import { bestRegion, cellsToPixels, groundingRecall, phraseVector, type Box, type PhraseGrounding } from '../../scorer/grounding.ts';
import { GROUNDING_RECALL_COLUMN, highestDroppedSet, lowestKeptSet, scoredExample, scoreStatName, type ScoreFields, type ScoredSample } from './score-columns.ts';

export interface GroundingOptions {
  /** The scorer's resize and crop, to put boxes in image pixels. */
  geometry: ImagePreprocessing;
  phraseThreshold: number;
  minRecall: number | null;
  maxPhrases: number;
}

export interface ScoreStageOptions {
  scorer: Scorer;
  /** Shard and index column of the score (scoreColumnName(scorer.id)). */
  column: string;
  batchSize: number;
  threshold: number | null;
  grounding: GroundingOptions | null;
  /** Lowest-scored kept and highest-scored dropped pairs kept for the report. */
  reportExamples?: number;
  /** Hand on the pooled image and caption embeddings (for the corpus sidecar, curate.corpus). */
  keepEmbeddings?: boolean;
}

export function scoreStage<S extends ImageTextSample>(o: ScoreStageOptions): Stage<S, S & ScoreFields> {
  const minRecall = o.grounding?.minRecall ?? null;
  const checksRecall = o.grounding !== null && minRecall !== null;
  // While one batch is in the models the next is pulled (and decoded upstream) and its images
  // preprocessed: at most two batches are held, scored and yielded strictly in order.
  const scoring = batchMapStage<S, S & ScoreFields>('score', (batch, ctx) => scoreBatch(batch, o, ctx, !checksRecall), {
    batchSize: o.batchSize,
    prefetch: (next) => o.scorer.prefetchImages(next.map((s) => s.image.bytes)),
  });
  if (!checksRecall) return scoring;
  const grounding = filterStage<S & ScoreFields>('grounding', async (sample, ctx) => {
    const recall = sample.groundingRecall;
    if (recall !== null && recall !== undefined && recall < minRecall!) {
      return drop('low_grounding_recall', `grounding recall ${recall.toFixed(3)} < min_recall ${minRecall} (phrases: ${sample.phrases!.map((p) => `${p.phrase} ${p.score.toFixed(3)}`).join(', ')})`, { value: recall, threshold: minRecall! });
    }
    await recordKept(ctx, sample, o);
    return true;
  });
  return compose(scoring, grounding);
}

/** One output or Drop per item of the batch. `final`: no later step can drop the kept ones. */
async function scoreBatch<S extends ImageTextSample>(batch: S[], o: ScoreStageOptions, ctx: StageContext, final: boolean): Promise<(S & ScoreFields | Drop)[]> {
  // The towers run in their own worker threads: embed images and captions at the same time.
  // Patch and token embeddings only for grounding; a score needs the pooled ones alone.
  const detail = { detail: o.grounding !== null };
  const [images, texts] = await Promise.all([embedReadableImages(o.scorer, batch.map((s) => s.image.bytes), detail), o.scorer.embedTexts(batch.map((s) => s.caption), detail)]);
  const results: (S & ScoreFields | Drop)[] = batch.map(() => drop('score_image_unreadable'));
  for (const f of images.failed) results[f.index] = drop(f.reason, f.detail);
  const readable = batch.map((_, i) => i).filter((i) => images.pooled[i] !== null);
  const grounded = o.grounding && images.patches && texts.tokens ? await groundBatch(readable.map((i) => batch[i]), images.patches, o.scorer, o.grounding) : null;

  const sketch = ctx.stats.sketch(scoreStatName(o.column));
  const histogram = ctx.stats.histogram(scoreStatName(o.column), -1, 1, 40);
  for (const [k, i] of readable.entries()) {
    const value = cosine(images.pooled[i]!, texts.pooled[i]);
    const sample: S & ScoreFields = { ...batch[i], score: value };
    if (o.keepEmbeddings) {
      sample.imageEmbedding = images.pooled[i]!;
      sample.textEmbedding = texts.pooled[i];
    }
    if (grounded) {
      sample.phrases = grounded[k];
      sample.groundingRecall = groundingRecall(grounded[k], o.grounding!.phraseThreshold);
    }
    sketch.add(value);
    histogram.add(value);
    if (o.threshold !== null && value < o.threshold) {
      results[i] = drop('score_below_threshold', `score ${value.toFixed(4)} < threshold ${o.threshold}`, { score: value, threshold: o.threshold });
      await remember(ctx, highestDroppedSet(o.column), value, sample, o);
      continue;
    }
    results[i] = sample;
  }
  if (final) for (const r of results) if (!isDrop(r)) await recordKept(ctx, r, o);
  return results;
}

/** What the report keeps of a pair that made it through scoring: its grounding recall and, if
 *  it ranks among the lowest scored, the example. */
async function recordKept(ctx: StageContext, sample: ScoredSample, o: ScoreStageOptions): Promise<void> {
  const r = sample.groundingRecall;
  if (o.grounding && r !== null && r !== undefined) ctx.stats.histogram(scoreStatName(GROUNDING_RECALL_COLUMN), 0, 1, 20).add(r);
  await remember(ctx, lowestKeptSet(o.column), -sample.score!, sample, o);
}

/** Adds a report example (thumbnail, caption, score, grounding boxes) when it ranks in the set. */
async function remember(ctx: StageContext, set: string, rank: number, sample: ScoredSample, o: ScoreStageOptions): Promise<void> {
  const k = o.reportExamples ?? 8;
  if (k <= 0) return;
  const top = ctx.stats.worstSet(set, k);
  if (!top.wouldKeep(rank, sample.id)) return;
  top.add(rank, sample.id, await scoredExample(sample));
}

async function groundBatch(samples: ImageTextSample[], patches: (PatchEmbeddings | null)[], scorer: Scorer, g: GroundingOptions): Promise<PhraseGrounding[][]> {
  const readablePatches = patches.filter((p): p is PatchEmbeddings => p !== null);
  const phrases = samples.map((s) => nounPhrases(s.caption, g.maxPhrases));
  const flat = phrases.flat();
  const [embedded, empty] = await Promise.all([flat.length ? scorer.embedTexts(flat) : Promise.resolve({ pooled: [], tokens: [] as TokenEmbeddings[] }), scorer.embedTexts([''])]);
  // Ids of the empty text are the tokenizer's specials (CLIP's start and end tokens).
  const specials = new Set(empty.tokens?.[0]?.ids ?? []);
  let next = 0;
  return samples.map((s, k) =>
    phrases[k].flatMap((phrase) => {
      const tokens = embedded.tokens![next++];
      const v = phraseVector(tokens, specials);
      if (!v) return [];
      const region = bestRegion(v, readablePatches[k]);
      const box: Box = cellsToPixels(region.cells, readablePatches[k].grid, s.width, s.height, g.geometry);
      return [{ phrase, box, score: round(region.score) }];
    }),
  );
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;
