// Trains the reference scorer (architecture in onnx/reference-model.ts) from image-caption
// pairs: fixed conv features (first layer from whitened image patches, two random layers), a
// learned per-region projection of their spatial pyramid, and learned word and bigram embeddings,
// fitted with symmetric InfoNCE and AdamW (stages/score/contrastive.ts). The fixed image part runs
// as an ONNX model built from the same graph code as the shipped one, so training and serving
// compute the same features.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../core/stage.ts';
import { buildFeatureModel, featureChannels, regionCount, wordTokenizerFiles, PAD, UNK, type ConvLayer, type ReferenceScorerWeights } from './onnx/reference-model.ts';
import { gaussian, seededRandom } from './onnx/random.ts';
import { imagePreprocessingFrom, preprocessImage, type ImagePreprocessing } from './clip-preprocess.ts';
import { TextTokenizer } from './clip-tokenizer.ts';
import { OnnxEncoder, floatTensor } from './onnx-encoder.ts';
import { AdamW, touchedRows, zerosLike, type CaptionRows, type ContrastiveParams, type TouchedRows } from './contrastive.ts';
import { ContrastiveStep } from './onnx/contrastive-step.ts';
import { float16Rounded, fromFloat16Bits } from './onnx/graph.ts';
import { cellsInBox, pyramidCells, type GroundingCase } from './grounding-loss.ts';
import { GroundingStep } from './onnx/grounding-step.ts';
import { choleskyWhitening, whitenRows, whitenedPatchFilters, zcaWhitening } from './whitening.ts';
import { BACKBONE_CHANNELS, BACKBONE_GRID, BACKBONE_INPUT } from './backbone/nsfwjs-mobilenet.ts';
import { distinctGroupBatches } from '../core/distinct-batches.ts';
import { BACKBONE_NAME, backboneFeatureSize, backbonePyramidFeatures } from './backbone/backbone-tower.ts';
import { charNgramBuckets, type CharNgramOptions } from './char-ngrams.ts';

export interface TrainingPair {
  id: string;
  image: Uint8Array;
  caption: string;
  /** A group such as the pair's k-means cluster (cluster_id), for distinctGroupBatches. */
  group?: number | null;
  /** The corpus or source the pair comes from, for domainBatches. */
  domain?: string;
  /** Known regions of the image (the synthetic corpus's objects), for the grounding loss. */
  regions?: TrainingRegion[];
}

export interface TrainingRegion {
  /** The region's phrase ("red circle"). */
  phrase: string;
  /** [x0, y0, x1, y1] in pixels of a side x side image. */
  box: [number, number, number, number];
  side: number;
}

export type ImageTower = 'random' | 'backbone';

export interface ReferenceTrainingOptions {
  /**
   * random: the fixed random conv stack at imageSize (64 px); backbone: the frozen nsfwjs
   * MobileNetV2 at 224 px (backbone/backbone-tower.ts), its 7x7 grid pooled into `pyramid`.
   */
  imageTower?: ImageTower;
  seed?: number;
  imageSize?: number;
  /** Output channels of the three conv layers. */
  channels?: [number, number, number];
  /** Max-pool window after each conv layer (1: none); the patch grid is imageSize / their product. */
  pools?: [number, number, number];
  pyramid?: number[];
  dim?: number;
  /** Width of a hidden relu layer in the image head (0: the linear projection). */
  hidden?: number;
  /**
   * Weight of the patch-level grounding loss (grounding-loss.ts: each region phrase against the
   * grid cells, InfoNCE over the cells) for pairs with `regions`; 0: none. Backbone tower, linear head.
   */
  groundingWeight?: number;
  /** Region phrases per step the grounding loss samples from the batch. */
  groundingPhrases?: number;
  /** Fraction of the epochs trained before the grounding loss is switched on (0: from the start). */
  groundingStart?: number;
  /**
   * Which projection rows the grounding loss trains. pooled: the 1x1 level's, which every cell
   * sees; all: every pyramid level's, each cell through the windows that hold it, as the exported
   * patch_embeds are (grounding-loss.ts pyramidCells), so finer levels cannot pull the patch rows
   * away from the phrases.
   */
  groundingLevels?: 'pooled' | 'all';
  epochs?: number;
  batchSize?: number;
  /** False-negative-aware batches: at most one pair of each `group` per batch where the groups
   *  allow (core/distinct-batches.ts), so near-identical pairs are not each other's negatives. */
  distinctGroupBatches?: boolean;
  /**
   * Batches of one `domain` each where it has a full batch of pairs (the rest pooled into mixed
   * batches): a pair's in-batch negatives are then captions of its own corpus, not the easy ones
   * of another (synthetic shapes against clip art).
   */
  domainBatches?: boolean;
  learningRate?: number;
  weightDecay?: number;
  /** InfoNCE temperature, clamped to [MIN_TEMPERATURE, MAX_TEMPERATURE]. */
  temperature?: number;
  /** Additive margin on the true pairs' cosines in InfoNCE (contrastive.ts InfoNceShape); 0: none. */
  margin?: number;
  /** Hard-negative weighting of InfoNCE's negatives, exp(hardness * logit) (contrastive.ts InfoNceShape); 0: none. */
  hardness?: number;
  /** Global L2 norm the gradient of one step is clipped to. */
  maxGradNorm?: number;
  /** Fraction of the steps spent in linear warm-up before the cosine decay. */
  warmupFraction?: number;
  /** Times a fold whose loss became non-finite is retried, each at half the learning rate. */
  retries?: number;
  /** Words and bigrams seen fewer times than this stay unknown. */
  minCount?: number;
  contextLength?: number;
  /**
   * Hashed character n-gram rows (char-ngrams.ts) averaged into each caption's text embedding
   * alongside its word and bigram rows; null: none. Measured in memory by scripts/lit-designs.ts:
   * the exported text tower has no n-gram lookup, so such weights cannot be written as a scorer folder.
   */
  charNgrams?: CharNgramOptions | null;
  /** Patches sampled for the whitening statistics. */
  whiteningPatches?: number;
  /**
   * Whitening of the standardised image features before the learned projection (whitening.ts
   * choleskyWhitening), with this shrinkage towards the identity; 0: standardisation alone. Folded
   * into the exported projection. Not with the grounding loss, which reads the cells standardised.
   */
  whitenFeatures?: number;
  threads?: number;
  log?: (line: string) => void;
}

export interface ReferenceTrainingResult {
  weights: ReferenceScorerWeights;
  /** Mean training loss per epoch. */
  losses: number[];
  steps: number;
  /** Learning rate of the fit that converged (the configured one halved once per retry). */
  learningRate: number;
  retries: number;
  /** Pairs left out because their image could not be read. */
  skipped: { id: string; reason: string; detail: string }[];
  /** Resolved options, for the training card. */
  options: Required<Omit<ReferenceTrainingOptions, 'log'>>;
}


const MEAN: [number, number, number] = [0.5, 0.5, 0.5];
const STD: [number, number, number] = [0.25, 0.25, 0.25];
const FIRST_KERNEL = 5;
/** Below 0.01 the logits of unit vectors span more than +-100 and one pair dominates every softmax. */
export const MIN_TEMPERATURE = 0.01;
export const MAX_TEMPERATURE = 1;
/**
 * A feature whose spread over the training images is below this fraction of the median spread is
 * treated as constant: it gets no weight. Standardising it would divide by almost zero, and one
 * image where it is not zero (an unseen image, another fold) would get an embedding far outside
 * float16 range once the standardisation is folded into the exported projection.
 */
const DEAD_FEATURE_SPREAD = 1e-3;
/** Float16 (how the projection is stored) is finite up to 65504. */
const FLOAT16_MAX = 65504;

/** A fit whose loss or weights stopped being finite numbers. */
export class TrainingDivergedError extends Error {}

type ResolvedOptions = Required<Omit<ReferenceTrainingOptions, 'log'>>;

export function resolveTrainingOptions(options: ReferenceTrainingOptions = {}): ResolvedOptions {
  const imageTower = options.imageTower ?? 'random';
  const backbone = imageTower === 'backbone';
  if (backbone && options.imageSize !== undefined && options.imageSize !== BACKBONE_INPUT) throw new Error(`the backbone image tower takes ${BACKBONE_INPUT} px images, not ${options.imageSize}`);
  if ((options.whitenFeatures ?? 0) > 0 && (options.groundingWeight ?? 0) > 0) throw new Error('whitenFeatures does not combine with the grounding loss (its cells are standardised, not whitened)');
  return {
    imageTower,
    seed: options.seed ?? 1,
    imageSize: backbone ? BACKBONE_INPUT : (options.imageSize ?? 64),
    channels: options.channels ?? ([32, 64, 128] as [number, number, number]),
    pools: options.pools ?? ([2, 2, 2] as [number, number, number]),
    // Finer levels of the 7x7 grid overlap (pyramid-window.ts); each region costs 1280 x dim weights.
    pyramid: options.pyramid ?? (backbone ? [1] : [1, 2, 4]),
    dim: options.dim ?? 256,
    hidden: options.hidden ?? 0,
    groundingWeight: options.groundingWeight ?? 0,
    groundingPhrases: options.groundingPhrases ?? 64,
    groundingStart: options.groundingStart ?? 0,
    groundingLevels: options.groundingLevels ?? 'pooled',
    epochs: options.epochs ?? 40,
    batchSize: options.batchSize ?? 256,
    distinctGroupBatches: options.distinctGroupBatches ?? false,
    domainBatches: options.domainBatches ?? false,
    learningRate: options.learningRate ?? 2e-3,
    weightDecay: options.weightDecay ?? 0.01,
    temperature: Math.min(MAX_TEMPERATURE, Math.max(MIN_TEMPERATURE, options.temperature ?? 0.07)),
    margin: options.margin ?? 0,
    hardness: options.hardness ?? 0,
    maxGradNorm: options.maxGradNorm ?? 5,
    warmupFraction: options.warmupFraction ?? 0.05,
    retries: options.retries ?? 3,
    minCount: options.minCount ?? 2,
    contextLength: options.contextLength ?? 32,
    charNgrams: options.charNgrams ?? null,
    whiteningPatches: options.whiteningPatches ?? 20000,
    whitenFeatures: options.whitenFeatures ?? 0,
    threads: options.threads ?? Math.min(4, os.availableParallelism()),
  };
}

/** The fixed image part of a reference scorer and the pyramid features it gives a set of pairs. */
export interface ImageFeatures {
  /** Everything of the weights but the learned parts. */
  fixed: FixedImageWeights;
  /** [kept.length, featureSize], raw (not standardised). */
  features: Float32Array;
  featureSize: number;
  /** The readable pairs, in input order; features row i belongs to kept[i]. */
  kept: TrainingPair[];
  skipped: ReferenceTrainingResult['skipped'];
  /** With the grounding loss: the whole backbone grid (float16 bits, [49, 1280]) of each kept pair that has regions. */
  grids?: (Uint16Array | null)[];
  /**
   * Features of augmented views of the images (image-views.ts), each [kept.length, featureSize],
   * raw; a pair without views repeats its own row. Each epoch trains every pair on one of its rows
   * (the image or a view) drawn at random; the standardisation is the image rows'.
   */
  views?: Float32Array[];
}

export type FixedImageWeights = Pick<ReferenceScorerWeights, 'imageSize' | 'mean' | 'std' | 'convs' | 'pyramid' | 'backbone'>;

/**
 * Decoded, preprocessed pixels of pairs, kept across the trainings of one cross-scoring run (each
 * fold's model reads most of the same images; decoding is most of the feature time).
 */
export class PreprocessedImages {
  private readonly cache = new Map<TrainingPair, Promise<Float32Array>>();
  constructor(readonly preprocessing: ImagePreprocessing) {}

  /** The pair's pixels; rejects with the decoder's error for an unreadable image (every time). */
  get(pair: TrainingPair): Promise<Float32Array> {
    let pixels = this.cache.get(pair);
    if (!pixels) {
      pixels = preprocessImage(pair.image, this.preprocessing).then((r) => r.data);
      pixels.catch(() => {}); // a caller awaits it; this only marks it handled
      this.cache.set(pair, pixels);
    }
    return pixels;
  }
}

export async function trainReferenceScorer(pairs: TrainingPair[], options: ReferenceTrainingOptions = {}, decoded?: PreprocessedImages): Promise<ReferenceTrainingResult> {
  const o = resolveTrainingOptions(options);
  const log = options.log ?? (() => {});
  const image = await computeImageFeatures(pairs, o, log, decoded);
  const fitted = await fitReferenceScorer(image, image.kept.map((_, i) => i), o, log);
  return { ...fitted, skipped: image.skipped, options: o };
}

/** Builds the fixed conv layers (first from whitened patches of up to 2000 of `pairs`) and computes every readable pair's pyramid features. */
export async function computeImageFeatures(
  pairs: TrainingPair[],
  options: ReferenceTrainingOptions | ResolvedOptions,
  log: (line: string) => void = () => {},
  decoded: PreprocessedImages = new PreprocessedImages(referencePreprocessing(resolveTrainingOptions(options).imageSize)),
): Promise<ImageFeatures> {
  const o = resolveTrainingOptions(options);
  if (o.imageTower === 'backbone') {
    // Decoded 224 px pixels would be 600 kB an image; the per-image feature cache replaces them.
    const skipped: ReferenceTrainingResult['skipped'] = [];
    const fixed: FixedImageWeights = { imageSize: BACKBONE_INPUT, mean: [0, 0, 0], std: [1, 1, 1], convs: [], pyramid: o.pyramid, backbone: BACKBONE_NAME };
    const F = backboneFeatureSize(o.pyramid);
    if (o.groundingWeight <= 0) {
      const { features, kept } = await backbonePyramidFeatures(pairs, o.pyramid, { threads: o.threads, log }, skipped);
      return { fixed, features, featureSize: F, kept, skipped };
    }
    if (o.hidden) throw new Error('the grounding loss needs a linear image head (hidden 0)');
    // Grids (125 kB an image) only for the pairs with regions; the rest pooled alone, as without the loss.
    const withRegions = pairs.filter((p) => (p.regions?.length ?? 0) > 0);
    const plain = pairs.filter((p) => !((p.regions?.length ?? 0) > 0));
    const a = await backbonePyramidFeatures(withRegions, o.pyramid, { threads: o.threads, log, grids: true }, skipped);
    const b = await backbonePyramidFeatures(plain, o.pyramid, { threads: o.threads, log }, skipped);
    const row = new Map<TrainingPair, { from: Float32Array; at: number; grid: Uint16Array | null }>();
    a.kept.forEach((p, i) => row.set(p, { from: a.features, at: i, grid: a.grids![i] }));
    b.kept.forEach((p, i) => row.set(p, { from: b.features, at: i, grid: null }));
    const kept = pairs.filter((p) => row.has(p));
    const features = new Float32Array(kept.length * F);
    const grids = kept.map((p, i) => {
      const r = row.get(p)!;
      features.set(r.from.subarray(r.at * F, (r.at + 1) * F), i * F);
      return r.grid;
    });
    return { fixed, features, featureSize: F, kept, skipped, grids };
  }
  const random = seededRandom(o.seed);
  if (decoded.preprocessing.crop?.height !== o.imageSize) throw new Error(`decoded images are ${decoded.preprocessing.crop?.height} px; the model takes ${o.imageSize}`);
  const skipped: ReferenceTrainingResult['skipped'] = [];
  const convs = await fixedConvLayers(pairs.slice(0, 2000), decoded, o, random);
  const fixed: FixedImageWeights = { imageSize: o.imageSize, mean: MEAN, std: STD, convs, pyramid: o.pyramid };
  const { features, kept } = await pyramidFeatures(pairs, fixed as ReferenceScorerWeights, decoded, o.threads, skipped, log);
  return { fixed, features, featureSize: regionCount(o.pyramid) * featureChannels(fixed), kept, skipped };
}

export function referencePreprocessing(imageSize: number): ImagePreprocessing {
  return imagePreprocessingFrom({
    size: { shortest_edge: imageSize },
    crop_size: { height: imageSize, width: imageSize },
    image_mean: MEAN,
    image_std: STD,
  });
}

/**
 * Learns the projection and the word and bigram rows from the pairs `rows` of `image` (their
 * features and captions): vocabulary and bigrams from those captions only, features standardised
 * for training and the standardisation folded into the exported projection. A fit whose loss
 * becomes non-finite stops at that step and starts again at half the learning rate, up to
 * `retries` times; after that it fails with the step and learning rates tried.
 */
export async function fitReferenceScorer(
  image: ImageFeatures,
  rows: number[],
  options: ReferenceTrainingOptions | ResolvedOptions,
  log: (line: string) => void = () => {},
): Promise<FitResult> {
  const o = resolveTrainingOptions(options);
  const tried: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const learningRate = o.learningRate / 2 ** attempt;
    try {
      const fit = await fitOnce(image, rows, { ...o, learningRate }, log);
      return { ...fit, learningRate, retries: attempt };
    } catch (err) {
      if (!(err instanceof TrainingDivergedError)) throw err;
      tried.push(`${learningRate.toPrecision(3)}: ${err.message}`);
      if (attempt >= o.retries) throw new TrainingDivergedError(`training diverged at every learning rate tried (${tried.join('; ')})`);
      log(`${err.message}; retrying at learning rate ${(learningRate / 2).toPrecision(3)}`);
    }
  }
}

export interface FitResult {
  weights: ReferenceScorerWeights;
  losses: number[];
  steps: number;
  /** The learning rate of the fit that converged, and how many halvings it took. */
  learningRate: number;
  retries: number;
}

async function fitOnce(
  image: ImageFeatures,
  rows: number[],
  o: ResolvedOptions,
  log: (line: string) => void,
): Promise<{ weights: ReferenceScorerWeights; losses: number[]; steps: number }> {
  // A different stream from the conv layers' one, so refits on subsets share the features.
  const random = seededRandom(o.seed * 7919 + 17);
  const F = image.featureSize;
  const n = rows.length;
  if (n < 2) throw new Error(`need at least 2 pairs to train, got ${n}`);
  const features = new Float32Array(n * F);
  rows.forEach((r, i) => features.set(image.features.subarray(r * F, (r + 1) * F), i * F));
  const { mean: fMean, std: fStd, live } = standardise(features, n, F);
  const whitening = o.whitenFeatures > 0 ? choleskyWhitening(features, n, F, o.whitenFeatures) : null;
  if (whitening) whitenRows(features, n, F, whitening);
  const views = (image.views ?? []).map((v) => {
    const x = new Float32Array(n * F);
    rows.forEach((r, i) => x.set(v.subarray(r * F, (r + 1) * F), i * F));
    for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) x[i * F + f] = live[f] ? (x[i * F + f] - fMean[f]) / fStd[f] : 0;
    if (whitening) whitenRows(x, n, F, whitening);
    return x;
  });
  const sources = [features, ...views];
  // Its own stream, so the batches are those of the same fit without views.
  const viewRandom = seededRandom(o.seed * 7919 + 29);
  const viewOf = new Uint8Array(n);

  // Words and bigrams, tokenised exactly as the exported tokenizer will.
  const texts = rows.map((r) => image.kept[r].caption);
  const vocab = buildVocab(texts, o.minCount);
  const files = wordTokenizerFiles(vocab, o.contextLength);
  const tokenizer = new TextTokenizer({ tokenizer: files.tokenizer, config: files.tokenizerConfig });
  const idRows = texts.map((c) => knownIds(tokenizer, c, o.contextLength));
  const bigrams = buildBigrams(idRows, vocab.length, o.minCount);
  const bigramIndex = new Map(bigrams.map(([a, b], i) => [a * vocab.length + b, i + 1]));
  const ngrams = o.charNgrams ? { options: o.charNgrams, known: new Set(vocab), offset: bigrams.length + 1 } : null;
  const textRows = (text: string, ids: number[]) => withCharNgrams(captionRows(ids, vocab.length, bigramIndex), text, o.contextLength, ngrams);
  const captions: CaptionRows[] = idRows.map((ids, i) => textRows(texts[i], ids));
  log(`${n} pairs, ${F} image features, ${vocab.length} words, ${bigrams.length} bigrams${ngrams ? `, ${ngrams.options.buckets} character n-gram rows` : ''}`);

  const H = o.hidden;
  // The first layer's width: the joint space, or the hidden layer (He initialisation before the relu).
  const width = H || o.dim;
  const projection = H ? new Float32Array(F * H + H * o.dim) : gaussian(random, F * o.dim, 1 / Math.sqrt(F));
  if (H) {
    projection.set(gaussian(random, F * H, Math.sqrt(2 / F)), 0);
    projection.set(gaussian(random, H * o.dim, 1 / Math.sqrt(H)), F * H);
  }
  const params: ContrastiveParams = {
    featureSize: F,
    dim: o.dim,
    ...(H ? { hidden: H } : {}),
    projection,
    bias: new Float32Array(H + o.dim),
    words: gaussian(random, vocab.length * o.dim, 0.1),
    // The n-gram rows follow the bigram rows in one table, so the step, the optimiser and the clipping treat them alike.
    bigrams: gaussian(random, (bigrams.length + 1 + (ngrams?.options.buckets ?? 0)) * o.dim, 0.1),
  };
  const optimiser = new AdamW(params, { lr: o.learningRate, weightDecay: o.weightDecay });
  // A constant feature's row stays zero (its standardised input is zero, so it gets no gradient).
  for (let f = 0; f < F; f++) if (!live[f]) params.projection.fill(0, f * width, (f + 1) * width);
  const groups = rows.map((r) => image.kept[r].group ?? null);
  if (o.distinctGroupBatches && groups.every((g) => g === null)) throw new Error('distinctGroupBatches: no training pair has a group (cluster id)');
  const grounding = o.groundingWeight > 0 ? groundingData(image, rows, o, (phrase) => textRows(phrase, knownIds(tokenizer, phrase, o.contextLength)), fMean, fStd, live) : null;
  if (grounding) log(`grounding loss: ${grounding.regions.length} regions of ${grounding.pairs} pairs, weight ${o.groundingWeight}, ${o.groundingPhrases} phrases a step`);
  const step = await ContrastiveStep.open(F, o.dim, o.temperature, o.threads, H, { margin: o.margin, hardness: o.hardness });
  // The grounding loss trains the pooled 1x1 level's rows (the first BACKBONE_CHANNELS), which
  // every cell sees, or with groundingLevels 'all' every level's (its cells are then whole pyramid rows).
  const groundedRows = o.groundingLevels === 'all' ? F : BACKBONE_CHANNELS;
  const groundingStep = grounding ? await GroundingStep.open(groundedRows, o.dim, o.threads) : null;
  const pooledRows = (p: ContrastiveParams): ContrastiveParams => (F === groundedRows ? p : { ...p, featureSize: groundedRows, projection: p.projection.subarray(0, groundedRows * o.dim) });
  const order = Array.from({ length: n }, (_, i) => i);
  const batchSize = Math.min(o.batchSize, n);
  if (o.distinctGroupBatches && o.domainBatches) throw new Error('distinctGroupBatches and domainBatches do not combine');
  const domains = rows.map((r) => image.kept[r].domain ?? '');
  const stepsPerEpoch = o.domainBatches ? domainBatchList(order, batchSize, domains).length : Math.max(1, Math.floor(n / batchSize));
  const totalSteps = stepsPerEpoch * o.epochs;
  const losses: number[] = [];
  const grads = zerosLike(params);
  const batchFeatures = new Float32Array(batchSize * F);
  let done = 0;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      shuffle(order, random);
      if (views.length) for (let i = 0; i < n; i++) viewOf[i] = Math.floor(viewRandom() * sources.length);
      // Full batches come first, so the first stepsPerEpoch of them are full.
      const distinct = o.distinctGroupBatches ? distinctGroupBatches(order, batchSize, (i) => groups[i]) : o.domainBatches ? { batches: domainBatchList(order, batchSize, domains), relaxed: 0 } : null;
      if (distinct && o.distinctGroupBatches && epoch === 0) log(`group-distinct batches: ${distinct.relaxed} of ${n} pairs share a group with another pair of their batch`);
      let sum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const batch = distinct ? distinct.batches[s] : order.slice(s * batchSize, (s + 1) * batchSize);
        batch.forEach((r, i) => batchFeatures.set(sources[viewOf[r]].subarray(r * F, (r + 1) * F), i * F));
        const batchCaptions = batch.map((r) => captions[r]);
        const cases = grounding && epoch >= Math.floor(o.groundingStart * o.epochs) ? grounding.cases(batch, random) : [];
        const touched = touchedRows([...batchCaptions, ...cases.map((c) => c.phrase)]);
        grads.projection.fill(0);
        grads.bias.fill(0);
        clearRows(grads.words, touched.words, o.dim);
        clearRows(grads.bigrams, touched.bigrams, o.dim);
        const loss = (await step.run(params, { features: batchFeatures, captions: batchCaptions }, grads)) + (groundingStep && cases.length ? await groundingStep.run(pooledRows(params), cases, o.groundingWeight, pooledRows(grads)) : 0);
        if (!Number.isFinite(loss)) throw new TrainingDivergedError(`loss is ${loss} at step ${done + 1} of ${totalSteps} (epoch ${epoch + 1})`);
        sum += loss;
        clipGradientNorm(grads, touched, o.maxGradNorm);
        optimiser.step(grads, learningRateAt(done, totalSteps, o.learningRate, o.warmupFraction), touched);
        done += 1;
      }
      losses.push(sum / stepsPerEpoch);
      log(`epoch ${epoch + 1}/${o.epochs} loss ${losses[epoch].toFixed(4)}`);
    }
  } finally {
    await step.close();
    await groundingStep?.close();
  }

  // Fold the whitening first: (s Z) W = s (Z W), Z upper triangular.
  if (whitening) {
    const w = params.projection.subarray(0, F * width);
    const zw = new Float64Array(F * width);
    for (let j = 0; j < F; j++)
      for (let k = j; k < F; k++) {
        const z = whitening[j * F + k];
        if (z === 0) continue;
        for (let d = 0; d < width; d++) zw[j * width + d] += z * w[k * width + d];
      }
    w.set(zw);
  }
  // Fold the feature standardisation into the (first) projection: ((x - m) / s) W + b = x (W / s) + (b - (m / s) W).
  const folded = new Float32Array(F * width);
  const bias = Float32Array.from(params.bias.subarray(0, width));
  for (let f = 0; f < F; f++) {
    if (!live[f]) continue;
    for (let d = 0; d < width; d++) {
      folded[f * width + d] = params.projection[f * width + d] / fStd[f];
      bias[d] -= (fMean[f] / fStd[f]) * params.projection[f * width + d];
    }
  }
  assertStorable('projection', folded);
  assertStorable('projection bias', bias);
  const head = H ? { hidden: H, weight: params.projection.slice(F * H), bias: params.bias.slice(H) } : null;
  if (head) {
    assertStorable('head output weights', head.weight);
    assertStorable('head output bias', head.bias);
  }
  assertStorable('word embeddings', params.words);
  assertStorable('bigram embeddings', params.bigrams);
  // The large tables are stored as float16 (reference-model.ts); rounded here, every user of
  // these weights (export, the evaluation's in-process embeddings) sees the same values.
  const bigramValues = (bigrams.length + 1) * o.dim;
  const weights: ReferenceScorerWeights = {
    ...image.fixed,
    dim: o.dim,
    projection: float16Rounded(folded),
    projectionBias: bias,
    ...(head ? { head: { ...head, weight: float16Rounded(head.weight) } } : {}),
    vocab,
    wordEmbeddings: float16Rounded(params.words),
    bigrams,
    bigramEmbeddings: float16Rounded(params.bigrams.slice(0, bigramValues)),
    ...(ngrams ? { charNgrams: ngrams.options, ngramEmbeddings: float16Rounded(params.bigrams.slice(bigramValues)) } : {}),
    contextLength: o.contextLength,
  };
  return { weights, losses, steps: done };
}

/** Linear warm-up over the first `warmupFraction` of the steps, then cosine decay to zero. */
export function learningRateAt(step: number, totalSteps: number, peak: number, warmupFraction: number): number {
  const warmup = Math.max(1, Math.round(totalSteps * warmupFraction));
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = (step - warmup) / Math.max(1, totalSteps - warmup);
  return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Scales the step's gradient (projection, bias and the embedding rows the batch touched) so its
 * global L2 norm is at most `maxNorm`; returns the norm before clipping. A non-finite norm is a
 * divergence.
 */
export function clipGradientNorm(grads: ContrastiveParams, touched: TouchedRows, maxNorm: number): number {
  const D = grads.dim;
  let sq = 0;
  for (const v of grads.projection) sq += v * v;
  for (const v of grads.bias) sq += v * v;
  for (const key of ['words', 'bigrams'] as const)
    for (const r of touched[key]) for (let d = r * D; d < (r + 1) * D; d++) sq += grads[key][d] ** 2;
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm)) throw new TrainingDivergedError(`gradient norm is ${norm}`);
  if (norm <= maxNorm) return norm;
  const scale = maxNorm / norm;
  const scaleAll = (a: Float32Array, from = 0, to = a.length) => {
    for (let i = from; i < to; i++) a[i] *= scale;
  };
  scaleAll(grads.projection);
  scaleAll(grads.bias);
  for (const key of ['words', 'bigrams'] as const) for (const r of touched[key]) scaleAll(grads[key], r * D, (r + 1) * D);
  return norm;
}

/** Every exported value must be finite and inside float16 range (the large tables are stored as float16). */
function assertStorable(what: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || Math.abs(v) > FLOAT16_MAX) throw new TrainingDivergedError(`${what} value ${i} is ${v}, outside float16 range`);
  }
}

function clearRows(table: Float32Array, rows: Iterable<number>, dim: number): void {
  for (const r of rows) table.fill(0, r * dim, (r + 1) * dim);
}

async function fixedConvLayers(
  pairs: TrainingPair[],
  decoded: PreprocessedImages,
  o: { imageSize: number; channels: [number, number, number]; pools: [number, number, number]; whiteningPatches: number },
  random: () => number,
): Promise<ConvLayer[]> {
  const size = 3 * FIRST_KERNEL * FIRST_KERNEL;
  const side = o.imageSize;
  const images: Float32Array[] = [];
  for (const pair of pairs) {
    try {
      images.push(await decoded.get(pair));
    } catch {
      // unreadable images are counted when features are computed
    }
  }
  if (images.length === 0) throw new Error('no readable training image');
  const count = o.whiteningPatches;
  const patches = new Float32Array(count * size);
  for (let i = 0; i < count; i++) {
    const img = images[Math.floor(random() * images.length)];
    const y = Math.floor(random() * (side - FIRST_KERNEL + 1));
    const x = Math.floor(random() * (side - FIRST_KERNEL + 1));
    // Conv weight layout: [in channel, ky, kx].
    for (let c = 0; c < 3; c++)
      for (let ky = 0; ky < FIRST_KERNEL; ky++)
        for (let kx = 0; kx < FIRST_KERNEL; kx++) patches[i * size + (c * FIRST_KERNEL + ky) * FIRST_KERNEL + kx] = img[c * side * side + (y + ky) * side + x + kx];
  }
  const zca = zcaWhitening(patches, count, size, 0.1);
  // Filters from patches with some contrast, so that flat background does not fill the bank.
  const [c1, c2, c3] = o.channels;
  const chosen = new Float32Array(c1 * size);
  for (let f = 0, tries = 0; f < c1; tries++) {
    const i = Math.floor(random() * count);
    const patch = patches.subarray(i * size, (i + 1) * size);
    const m = patch.reduce((a, v) => a + v, 0) / size;
    const spread = Math.sqrt(patch.reduce((a, v) => a + (v - m) ** 2, 0) / size);
    if (spread < 0.2 && tries < 100 * c1) continue;
    chosen.set(patch, f * size);
    f += 1;
  }
  const first = whitenedPatchFilters(zca, chosen, c1);
  const he = (inC: number, outC: number, k: number) => gaussian(random, outC * inC * k * k, Math.sqrt(2 / (inC * k * k)));
  return [
    { inChannels: 3, outChannels: c1, kernel: FIRST_KERNEL, weight: first.weight, bias: first.bias, pool: o.pools[0] },
    { inChannels: c1, outChannels: c2, kernel: 3, weight: he(c1, c2, 3), bias: new Float32Array(c2), pool: o.pools[1] },
    { inChannels: c2, outChannels: c3, kernel: 3, weight: he(c2, c3, 3), bias: new Float32Array(c3), pool: o.pools[2] },
  ];
}

async function pyramidFeatures(
  pairs: TrainingPair[],
  w: ReferenceScorerWeights,
  decoded: PreprocessedImages,
  threads: number,
  skipped: ReferenceTrainingResult['skipped'],
  log: (line: string) => void,
): Promise<{ features: Float32Array; kept: TrainingPair[] }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-features-'));
  const file = path.join(dir, 'features.onnx');
  await fs.writeFile(file, buildFeatureModel(w));
  const encoder = await OnnxEncoder.open(file, { threads });
  const F = regionCount(w.pyramid) * featureChannels(w);
  const plane = 3 * w.imageSize * w.imageSize;
  const chunks: Float32Array[] = [];
  const kept: TrainingPair[] = [];
  try {
    for (let start = 0; start < pairs.length; start += 128) {
      const batch: Float32Array[] = [];
      for (const pair of pairs.slice(start, start + 128)) {
        try {
          batch.push(await decoded.get(pair));
          kept.push(pair);
        } catch (err) {
          skipped.push({ id: pair.id, reason: 'image_unreadable', detail: errorMessage(err) });
        }
      }
      if (batch.length === 0) continue;
      const pixels = new Float32Array(batch.length * plane);
      batch.forEach((b, i) => pixels.set(b, i * plane));
      const out = await encoder.run({ pixel_values: floatTensor(pixels, [batch.length, 3, w.imageSize, w.imageSize]) }, ['pyramid_features']);
      chunks.push(out.pyramid_features.data as Float32Array);
      if ((start / 128) % 10 === 9) log(`features: ${kept.length}/${pairs.length}`);
    }
  } finally {
    await encoder.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  const features = new Float32Array(kept.length * F);
  let offset = 0;
  for (const c of chunks) {
    features.set(c, offset);
    offset += c.length;
  }
  return { features, kept };
}

/**
 * Standardises features in place; returns the statistics to fold back later and which features
 * vary at all (a constant one, see DEAD_FEATURE_SPREAD, is set to zero).
 */
export function standardise(x: Float32Array, n: number, F: number): { mean: Float64Array; std: Float64Array; live: Uint8Array } {
  const mean = new Float64Array(F);
  const std = new Float64Array(F);
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) mean[f] += x[i * F + f] / n;
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) std[f] += (x[i * F + f] - mean[f]) ** 2 / n;
  for (let f = 0; f < F; f++) std[f] = Math.sqrt(std[f]);
  const positive = [...std].filter((s) => s > 0).sort((a, b) => a - b);
  const floor = positive.length > 0 ? positive[Math.floor(positive.length / 2)] * DEAD_FEATURE_SPREAD : Infinity;
  const live = new Uint8Array(F);
  for (let f = 0; f < F; f++) live[f] = std[f] > floor ? 1 : 0;
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) x[i * F + f] = live[f] ? (x[i * F + f] - mean[f]) / std[f] : 0;
  return { mean, std, live };
}

/** The Whitespace pre-tokenizer's split (\w+|[^\w\s]+) after NFKC and lower-casing. */
export function words(caption: string): string[] {
  return caption.normalize('NFKC').toLowerCase().match(/\w+|[^\w\s]+/gu) ?? [];
}

/** [PAD], [UNK], then every word seen at least `minCount` times, most frequent first. */
export function buildVocab(captions: string[], minCount: number): string[] {
  const counts = new Map<string, number>();
  for (const c of captions) for (const w of words(c)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const kept = [...counts].filter(([w, k]) => k >= minCount && w !== PAD.toLowerCase() && w !== UNK.toLowerCase());
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return [PAD, UNK, ...kept.map(([w]) => w)];
}

/** Token ids as the text tower sees them: cut to the context length, 0/1 for padding/unknown. */
function knownIds(tokenizer: TextTokenizer, caption: string, contextLength: number): number[] {
  return tokenizer.encodeOne(caption).slice(0, contextLength);
}

function buildBigrams(idRows: number[][], vocabSize: number, minCount: number): Array<[number, number]> {
  const counts = new Map<number, number>();
  for (const ids of idRows)
    for (let i = 0; i + 1 < ids.length; i++) if (ids[i] > 1 && ids[i + 1] > 1) counts.set(ids[i] * vocabSize + ids[i + 1], (counts.get(ids[i] * vocabSize + ids[i + 1]) ?? 0) + 1);
  const kept = [...counts].filter(([, k]) => k >= minCount).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return kept.map(([key]) => [Math.floor(key / vocabSize), key % vocabSize]);
}

/** Known word ids and known bigram rows of one caption, as the exported text tower counts them. */
export function captionRows(ids: number[], vocabSize: number, bigramIndex: Map<number, number>): CaptionRows {
  const words = ids.filter((id) => id > 1);
  const bigrams: number[] = [];
  for (let i = 0; i + 1 < ids.length; i++) {
    if (ids[i] <= 1 || ids[i + 1] <= 1) continue;
    const row = bigramIndex.get(ids[i] * vocabSize + ids[i + 1]);
    if (row !== undefined) bigrams.push(row);
  }
  return { words, bigrams };
}

/**
 * A caption's rows plus its character n-gram rows (char-ngrams.ts) where the model has them: the
 * n-grams of its first `contextLength` words, as rows `offset` + bucket of the bigram table.
 */
export function withCharNgrams(rows: CaptionRows, caption: string, contextLength: number, ngrams: { options: CharNgramOptions; known: Set<string>; offset: number } | null): CaptionRows {
  if (!ngrams) return rows;
  const buckets = charNgramBuckets(words(caption).slice(0, contextLength), ngrams.options, (w) => ngrams.known.has(w));
  return { words: rows.words, bigrams: [...rows.bigrams, ...buckets.map((b) => ngrams.offset + b)] };
}

/**
 * Full batches of `order` (already shuffled) whose pairs share a domain, then mixed batches of
 * the remainders, in an order that interleaves the domains' batches by position in `order`.
 * A domain with no full batch of its own only appears in the mixed ones; at least one batch.
 */
export function domainBatchList(order: number[], batchSize: number, domains: string[]): number[][] {
  const byDomain = new Map<string, number[]>();
  for (const i of order) {
    const list = byDomain.get(domains[i]);
    if (list) list.push(i);
    else byDomain.set(domains[i], [i]);
  }
  const batches: number[][] = [];
  const rest: number[] = [];
  for (const list of byDomain.values()) {
    const full = Math.floor(list.length / batchSize);
    for (let b = 0; b < full; b++) batches.push(list.slice(b * batchSize, (b + 1) * batchSize));
    rest.push(...list.slice(full * batchSize));
  }
  const position = new Map(order.map((i, k) => [i, k]));
  rest.sort((a, b) => position.get(a)! - position.get(b)!);
  for (let b = 0; b + batchSize <= rest.length; b += batchSize) batches.push(rest.slice(b, b + batchSize));
  if (batches.length === 0) batches.push(order.slice(0, batchSize));
  // Interleave: by the position in `order` of each batch's first pair.
  return batches.sort((a, b) => position.get(a[0])! - position.get(b[0])!);
}

function shuffle<T>(a: T[], random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

/** Kept here for callers of the trainer; the evaluation's own definition. */
export { retrievalRecall } from './eval/retrieval.ts';

/**
 * The grounding loss's data: the regions of the training rows with a grid (their phrases as word
 * and bigram rows, their positive cells) and a sampler of up to `groundingPhrases` cases of a batch,
 * cells standardised as the pooled features are (a cell's standardised features average to the pooled ones):
 * the 1x1 level's features, or with groundingLevels 'all' the whole pyramid row of each cell (pyramidCells).
 */
function groundingData(
  image: ImageFeatures,
  rows: number[],
  o: ResolvedOptions,
  /** A phrase's rows, as the text tower averages them. */
  textRows: (phrase: string) => CaptionRows,
  mean: Float64Array,
  std: Float64Array,
  live: Uint8Array,
) {
  const F = BACKBONE_CHANNELS;
  if (o.pyramid[0] !== 1) throw new Error(`the grounding loss needs the backbone's pooled 1x1 level first in the pyramid, got [${o.pyramid}]`);
  const half = fromFloat16Bits(Uint16Array.from({ length: 65536 }, (_, i) => i));
  const phrases = new Map<string, CaptionRows>();
  const regions: { row: number; phrase: CaptionRows; positives: number[] }[] = [];
  const byRow = new Map<number, number[]>();
  let pairs = 0;
  rows.forEach((r, i) => {
    const grid = image.grids?.[r];
    const list = image.kept[r].regions ?? [];
    if (!grid || list.length === 0) return;
    pairs += 1;
    for (const region of list) {
      let phrase = phrases.get(region.phrase);
      if (!phrase) phrases.set(region.phrase, (phrase = textRows(region.phrase)));
      if (phrase.words.length + phrase.bigrams.length === 0) continue;
      byRow.set(i, [...(byRow.get(i) ?? []), regions.length]);
      regions.push({ row: r, phrase, positives: cellsInBox(region.box, region.side, BACKBONE_GRID, BACKBONE_GRID) });
    }
  });
  // The 1x1 level's rows alone (its statistics are the first F), or every level's.
  const levels = o.groundingLevels === 'all' ? o.pyramid : [1];
  const rowsOf = levels === o.pyramid ? mean.length : F;
  const standardised = (grid: Uint16Array) => pyramidCells(Float32Array.from(grid, (h) => half[h]), BACKBONE_GRID, F, levels, mean.subarray(0, rowsOf), std.subarray(0, rowsOf), live.subarray(0, rowsOf));
  return {
    regions,
    pairs,
    /** Up to groundingPhrases regions of the batch's rows (indices into `rows`), at random. */
    cases(batch: number[], random: () => number): GroundingCase[] {
      const pool = batch.flatMap((i) => byRow.get(i) ?? []);
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      const chosen = pool.slice(0, o.groundingPhrases);
      const decoded = new Map<number, Float32Array>();
      return chosen.map((k) => {
        const region = regions[k];
        let x = decoded.get(region.row);
        if (!x) decoded.set(region.row, (x = standardised(image.grids![region.row]!)));
        return { cells: x, positives: region.positives, phrase: region.phrase };
      });
    },
  };
}
