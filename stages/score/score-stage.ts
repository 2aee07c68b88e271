// The score stage. Consumes decoded image-caption samples; emits them with `score` (the cosine
// of the scorer's pooled image and caption embeddings) and, with grounding on, `phrases` and
// `groundingRecall`. Drops: images the scorer cannot read (score_image_unreadable), pairs below
// the absolute threshold (score_below_threshold), pairs whose grounding recall is below
// min_recall (low_grounding_recall, stage `grounding`).
//
// Items are scored in batches of `batchSize`, in input order: the stage pulls at most one batch
// from upstream before yielding it, so backpressure holds. The score column is named after the
// scorer (`score_<id>`), and the stats keep a t-digest and a histogram named `score:<column>`
// (the keep_top cut is taken from the merged digest when the run is finalised).
import { rejectAt, type Stage, type StageContext } from '../../core/stage.ts';
import type { StageStats } from '../../core/stats.ts';
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
}

export function scoreStage<S extends ImageTextSample>(o: ScoreStageOptions): Stage<S, S & ScoreFields> {
  const batchSize = Math.max(1, o.batchSize);
  return async function* score(input, ctx) {
    const iterator = input[Symbol.asyncIterator]();
    let exhausted = false;
    const take = async (): Promise<S[]> => {
      const batch: S[] = [];
      while (batch.length < batchSize && !ctx.signal.aborted) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        batch.push(next.value);
      }
      return batch;
    };
    try {
      // While one batch is in the models, the next is pulled (and decoded upstream) and its
      // images preprocessed: at most two batches are held, scored and yielded strictly in order.
      let batch = await take();
      while (batch.length) {
        const scoring = scoreBatch(batch, o, ctx);
        scoring.catch(() => undefined); // surfaced when awaited below
        const next = exhausted || ctx.signal.aborted ? [] : await take();
        // Its images are decoded and normalised while this batch is in the models.
        o.scorer.prefetchImages(next.map((s) => s.image.bytes));
        yield* await scoring;
        batch = next;
      }
    } finally {
      if (!exhausted) await iterator.return?.();
    }
  };
}

async function scoreBatch<S extends ImageTextSample>(batch: S[], o: ScoreStageOptions, ctx: StageContext): Promise<(S & ScoreFields)[]> {
  const started = performance.now();
  const stage = ctx.stats.stage('score');
  stage.in += batch.length;
  // The towers run in their own worker threads: embed images and captions at the same time.
  // Patch and token embeddings only for grounding; a score needs the pooled ones alone.
  const detail = { detail: o.grounding !== null };
  const [images, texts] = await Promise.all([embedReadableImages(o.scorer, batch.map((s) => s.image.bytes), detail), o.scorer.embedTexts(batch.map((s) => s.caption), detail)]);
  for (const f of images.failed) {
    stage.dropped(f.reason);
    ctx.rejects.reject({ id: batch[f.index].id, kind: batch[f.index].kind, source: batch[f.index].source, stage: 'score', reason: f.reason, detail: f.detail });
  }
  const readable = batch.map((_, i) => i).filter((i) => images.pooled[i] !== null);
  const grounded = o.grounding && images.patches && texts.tokens ? await groundBatch(readable.map((i) => batch[i]), images.patches, o.scorer, o.grounding) : null;

  const sketch = ctx.stats.sketch(scoreStatName(o.column));
  const histogram = ctx.stats.histogram(scoreStatName(o.column), -1, 1, 40);
  const passed: { sample: S & ScoreFields; boxes: PhraseGrounding[] }[] = [];
  for (const [k, i] of readable.entries()) {
    const value = cosine(images.pooled[i]!, texts.pooled[i]);
    const sample: S & ScoreFields = { ...batch[i], score: value };
    if (grounded) {
      sample.phrases = grounded[k];
      sample.groundingRecall = groundingRecall(grounded[k], o.grounding!.phraseThreshold);
    }
    sketch.add(value);
    histogram.add(value);
    if (o.threshold !== null && value < o.threshold) {
      stage.dropped('score_below_threshold');
      ctx.rejects.reject({ id: sample.id, kind: sample.kind, source: sample.source, stage: 'score', reason: 'score_below_threshold', detail: `score ${value.toFixed(4)} < threshold ${o.threshold}` });
      await remember(ctx, highestDroppedSet(o.column), value, sample, o);
      continue;
    }
    passed.push({ sample, boxes: sample.phrases ?? [] });
  }
  stage.out += passed.length;
  stage.busyMs += performance.now() - started;

  const kept: (S & ScoreFields)[] = [];
  const minRecall = o.grounding?.minRecall ?? null;
  let groundingStats: StageStats | undefined;
  for (const { sample } of passed) {
    if (grounded && minRecall !== null) {
      groundingStats ??= ctx.stats.stage('grounding');
      groundingStats.in++;
      const recall = sample.groundingRecall;
      if (recall !== null && recall !== undefined && recall < minRecall) {
        rejectAt(ctx, 'grounding', sample, 'low_grounding_recall', `grounding recall ${recall.toFixed(3)} < min_recall ${minRecall} (phrases: ${sample.phrases!.map((p) => `${p.phrase} ${p.score.toFixed(3)}`).join(', ')})`);
        continue;
      }
      groundingStats.out++;
    }
    if (grounded) {
      const r = sample.groundingRecall;
      if (r !== null && r !== undefined) ctx.stats.histogram(scoreStatName(GROUNDING_RECALL_COLUMN), 0, 1, 20).add(r);
    }
    await remember(ctx, lowestKeptSet(o.column), -sample.score!, sample, o);
    kept.push(sample);
  }
  return kept;
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
