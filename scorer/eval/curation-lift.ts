// Curation lift: does dropping the pairs a scorer rates worst make a better model?
//   1. swap the captions of `noisyFraction` of a clean training set (the noisy set);
//   2. score every noisy pair out of sample: k folds, each scored by a model trained on the others
//      (a model that has seen a pair has memorised it, noisy or not);
//   3. drop the lowest-scoring `dropFraction` and retrain on the rest (the curated set);
//   4. compare held-out image->text R@1 of models trained on the noisy, curated and clean sets.
// The lift is the share of the noisy-to-clean R@1 gap the curation recovers. The three compared
// models see the same number of samples (a fixed compute budget, as in DataComp): the curated
// set is smaller, so it is trained for proportionally more epochs. All models share one set of
// fixed image features; only the learned parts are refitted.
import { computeImageFeatures, fitReferenceScorer, type ImageFeatures, type ReferenceTrainingOptions, type TrainingPair } from '../reference-trainer.ts';
import { seededRandom } from '../onnx/random.ts';
import type { ReferenceScorerWeights } from '../onnx/reference-model.ts';
import { imageEmbeddingsFromFeatures, textEmbeddingsFromWeights } from './weights-embed.ts';
import { retrievalRecall } from './retrieval.ts';
import { auroc, noiseScores, swapCaptions } from './noisy-pairs.ts';

export interface CurationLiftOptions {
  noisyFraction?: number;
  dropFraction?: number;
  folds?: number;
  seed?: number;
  /** Trainer settings for every model trained here. */
  training?: ReferenceTrainingOptions;
  log?: (line: string) => void;
}

export interface CurationLiftResult {
  /** Held-out image->text R@1 of the model trained on each set. */
  recallAt1: { noisy: number; curated: number; clean: number };
  /** (curated - noisy) / (clean - noisy). */
  gapRecovered: number;
  /** Share of the dropped pairs whose caption had been swapped. */
  droppedPrecision: number;
  /** AUROC of the out-of-sample scores at finding the swapped pairs. */
  outOfSampleAuroc: number;
  train: number;
  test: number;
  swapped: number;
  dropped: number;
}

export async function curationLift(train: TrainingPair[], test: TrainingPair[], options: CurationLiftOptions = {}): Promise<CurationLiftResult> {
  const noisyFraction = options.noisyFraction ?? 0.4;
  const dropFraction = options.dropFraction ?? 0.4;
  const folds = options.folds ?? 3;
  const seed = options.seed ?? 1;
  const training = { seed, ...options.training };
  const log = options.log ?? (() => {});

  // Ids made unique across the two sets, which may come from corpora that name samples alike.
  train = train.map((p) => ({ ...p, id: `train:${p.id}` }));
  test = test.map((p) => ({ ...p, id: `test:${p.id}` }));
  const image = await computeImageFeatures([...train, ...test], training, log);
  const kept = new Set(image.kept.map((p) => p.id));
  if (kept.size !== train.length + test.length) log(`curation lift: ${train.length + test.length - kept.size} unreadable images left out`);
  const rowOf = new Map(image.kept.map((p, i) => [p.id, i]));
  const trainRows = train.filter((p) => kept.has(p.id)).map((p) => rowOf.get(p.id)!);
  const testRows = test.filter((p) => kept.has(p.id)).map((p) => rowOf.get(p.id)!);

  // The noisy set: the same images, a share of the training captions swapped.
  const swap = swapCaptions(trainRows.map((r) => image.kept[r].caption), noisyFraction, seed);
  const noisyCaptions = new Map(trainRows.map((r, i) => [r, swap.captions[i]]));
  const swappedRow = new Map(trainRows.map((r, i) => [r, swap.swapped[i]]));
  const noisy: ImageFeatures = { ...image, kept: image.kept.map((p, r) => (noisyCaptions.has(r) ? { ...p, caption: noisyCaptions.get(r)! } : p)) };

  // Out-of-sample scores by k-fold.
  const order = shuffled(trainRows, seededRandom(seed ^ 0xf01d));
  const score = new Map<number, number>();
  for (let f = 0; f < folds; f++) {
    const held = order.filter((_, i) => i % folds === f);
    const rest = order.filter((_, i) => i % folds !== f);
    log(`curation lift: fold ${f + 1}/${folds}, training on ${rest.length}, scoring ${held.length}`);
    const { weights } = await fitReferenceScorer(noisy, rest, training);
    const scores = pairScores(weights, noisy, held);
    held.forEach((r, i) => score.set(r, scores[i]));
  }
  const byScore = trainRows.slice().sort((a, b) => score.get(a)! - score.get(b)!);
  const dropCount = Math.round(trainRows.length * dropFraction);
  const dropped = byScore.slice(0, dropCount);
  const curatedRows = byScore.slice(dropCount);

  const epochs = training.epochs ?? 40;
  const recallOf = async (set: ImageFeatures, rows: number[], name: string) => {
    const sameSamples = Math.max(1, Math.round((epochs * trainRows.length) / rows.length));
    log(`curation lift: training on the ${name} set (${rows.length} pairs, ${sameSamples} epochs)`);
    const { weights } = await fitReferenceScorer(set, rows, { ...training, epochs: sameSamples });
    const images = imageEmbeddingsFromFeatures(weights, image.features, image.featureSize, testRows);
    const texts = textEmbeddingsFromWeights(weights, testRows.map((r) => image.kept[r].caption));
    return retrievalRecall(images, texts, [1]).imageToText[1];
  };
  const recallAt1 = {
    noisy: await recallOf(noisy, trainRows, 'noisy'),
    curated: await recallOf(noisy, curatedRows, 'curated'),
    clean: await recallOf(image, trainRows, 'clean'),
  };
  const gap = recallAt1.clean - recallAt1.noisy;
  return {
    recallAt1,
    gapRecovered: gap > 0 ? (recallAt1.curated - recallAt1.noisy) / gap : NaN,
    droppedPrecision: dropped.length ? dropped.filter((r) => swappedRow.get(r)).length / dropped.length : NaN,
    outOfSampleAuroc: auroc(noiseScores(trainRows.map((r) => score.get(r)!)), trainRows.map((r) => swappedRow.get(r)!)),
    train: trainRows.length,
    test: testRows.length,
    swapped: swap.swapped.filter(Boolean).length,
    dropped: dropped.length,
  };
}

/** Cosine of each row's image and caption under `weights`. */
function pairScores(weights: ReferenceScorerWeights, set: ImageFeatures, rows: number[]): number[] {
  const images = imageEmbeddingsFromFeatures(weights, set.features, set.featureSize, rows);
  const texts = textEmbeddingsFromWeights(weights, rows.map((r) => set.kept[r].caption));
  return images.map((a, i) => {
    let s = 0;
    for (let d = 0; d < a.length; d++) s += a[d] * texts[i][d];
    return s;
  });
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
