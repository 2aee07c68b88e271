// The designs of the backbone reference scorer that scripts/lit-designs.ts compares, the shape of
// their results in designs.json, and the training record scripts/train-reference-scorer.ts keeps
// (training.json), shared by the two scripts.
import type { ReferenceTrainingOptions, ReferenceTrainingResult } from '../scorer/reference-trainer.ts';
import type { Bar } from '../scorer/eval/evaluate.ts';
import type { ViewOptions } from '../scorer/image-views.ts';

export interface LitDesign {
  label: string;
  /** Training options on top of { imageTower: 'backbone' }. */
  options: ReferenceTrainingOptions;
  /** Render size of the synthetic corpora, training and held-out (default 64, upscaled by the backbone's preprocessing to 224). */
  syntheticSize?: number;
  /** Augmented views of the openclipart training images (image-views.ts), one drawn per pair and epoch. */
  views?: ViewOptions;
}

/** The designs measured. */
export const DESIGNS: Record<string, LitDesign> = {
  'base-e10': { label: 'pooled 1x1 head, 10 epochs', options: { epochs: 10 } },
  'ground1-e10': { label: 'pooled head + patch-level grounding loss (weight 1), 10 epochs', options: { epochs: 10, groundingWeight: 1 } },
  'ground3-e10': { label: 'pooled head + patch-level grounding loss (weight 3), 10 epochs', options: { epochs: 10, groundingWeight: 3 } },
  'ground0.3-e10': { label: 'pooled head + patch-level grounding loss (weight 0.3), 10 epochs', options: { epochs: 10, groundingWeight: 0.3 } },
  'ground1-p16': { label: 'pooled head + grounding loss (weight 1, 16 phrases a step), 40 epochs', options: { groundingWeight: 1, groundingPhrases: 16 } },
  'ground3-p16': { label: 'pooled head + grounding loss (weight 3, 16 phrases a step), 40 epochs', options: { groundingWeight: 3, groundingPhrases: 16 } },
  'ground1-p16-lr5e-3': { label: 'grounding loss (weight 1, 16 phrases a step), lr 0.005, 40 epochs', options: { groundingWeight: 1, groundingPhrases: 16, learningRate: 5e-3 } },
  base: { label: 'pooled 1x1 head, 40 epochs (224 px + 8000 synthetic)', options: {} },
  ground1: { label: 'pooled head + patch-level grounding loss (weight 1), 40 epochs', options: { groundingWeight: 1 } },
  ground3: { label: 'pooled head + patch-level grounding loss (weight 3), 40 epochs', options: { groundingWeight: 3 } },
  'ground1-lr5e-3': { label: 'grounding loss (weight 1), lr 0.005, 40 epochs', options: { groundingWeight: 1, learningRate: 5e-3 } },
  'ground1-e80': { label: 'grounding loss (weight 1), 80 epochs', options: { groundingWeight: 1, epochs: 80 } },
  'lr5e-3': { label: 'pooled head, lr 0.005, 40 epochs', options: { learningRate: 5e-3 } },
  e80: { label: 'pooled head, 80 epochs', options: { epochs: 80 } },
  'e20': { label: 'pooled head, 20 epochs', options: { epochs: 20 } },
  'lr7e-4-e10': { label: 'pooled head, lr 0.0007 (3x lower), 10 epochs', options: { epochs: 10, learningRate: 7e-4 } },
  'lr6e-3-e10': { label: 'pooled head, lr 0.006 (3x higher), 10 epochs', options: { epochs: 10, learningRate: 6e-3 } },
  't0.03-e10': { label: 'pooled head, temperature 0.03, 10 epochs', options: { epochs: 10, temperature: 0.03 } },
  't0.15-e10': { label: 'pooled head, temperature 0.15, 10 epochs', options: { epochs: 10, temperature: 0.15 } },
  'b1024-e10': { label: 'pooled head, batch 1024 (lr 0.004), 10 epochs', options: { epochs: 10, batchSize: 1024, learningRate: 4e-3 } },
  'ground0.1-e10': { label: 'pooled head + grounding loss (weight 0.1), 10 epochs', options: { epochs: 10, groundingWeight: 0.1 } },
  'ground0.1-lr6e-3-e10': { label: 'pooled head + grounding loss (weight 0.1), lr 0.006, 10 epochs', options: { epochs: 10, groundingWeight: 0.1, learningRate: 6e-3 } },
  'ground1-late-e10': { label: 'pooled head + grounding loss (weight 1) in the last 30% of epochs only, 10 epochs', options: { epochs: 10, groundingWeight: 1, groundingStart: 0.7 } },
  'p12-e10': { label: 'pyramid 1x1 + 2x2 (overlapping 4x4 windows of the 7x7 grid), 10 epochs', options: { epochs: 10, pyramid: [1, 2] } },
  'domain-e10': { label: 'pooled head, batches of one corpus each (harder in-batch negatives), 10 epochs', options: { epochs: 10, domainBatches: true } },
  'p13-domain-e10': { label: 'pyramid 1x1 + 3x3, batches of one corpus each, 10 epochs', options: { epochs: 10, pyramid: [1, 3], domainBatches: true } },
  'p13-ground1-late-e10': { label: 'pyramid 1x1 + 3x3, grounding loss (weight 1) in the last 30% of epochs, 10 epochs', options: { epochs: 10, pyramid: [1, 3], groundingWeight: 1, groundingStart: 0.7 } },
  'p13-domain-ground1-late-e10': { label: 'pyramid 1x1 + 3x3, one-corpus batches, grounding loss (weight 1) in the last 30% of epochs, 10 epochs', options: { epochs: 10, pyramid: [1, 3], domainBatches: true, groundingWeight: 1, groundingStart: 0.7 } },
  's224-ground0.1-e10': { label: 'synthetic corpora rendered at 224 px, grounding loss (weight 0.1), 10 epochs', options: { epochs: 10, groundingWeight: 0.1 }, syntheticSize: 224 },
  's224-e10': { label: 'synthetic corpora rendered at 224 px, pooled head, 10 epochs', options: { epochs: 10 }, syntheticSize: 224 },
  's224-white0.1-e10': { label: 'synthetic at 224 px, pooled head on whitened features (shrinkage 0.1), 10 epochs', options: { epochs: 10, whitenFeatures: 0.1 }, syntheticSize: 224 },
  's224-p12-ground0.1': { label: 'synthetic at 224 px, pyramid 1x1 + 2x2, grounding loss (weight 0.1), 40 epochs', options: { pyramid: [1, 2], groundingWeight: 0.1 }, syntheticSize: 224 },
  'p12-ground0.1-e10': { label: 'pyramid 1x1 + 2x2 (overlapping 4x4 windows of the 7x7 grid), grounding loss (weight 0.1), 10 epochs', options: { epochs: 10, pyramid: [1, 2], groundingWeight: 0.1 } },
  'p12-ground0.1-all-e10': { label: 'pyramid 1x1 + 2x2, grounding loss (weight 0.1) on every level\'s rows (each cell through its windows), 10 epochs', options: { epochs: 10, pyramid: [1, 2], groundingWeight: 0.1, groundingLevels: 'all' } },
  'p12-ground0.1-all': { label: 'pyramid 1x1 + 2x2, grounding loss (weight 0.1) on every level\'s rows, 40 epochs', options: { pyramid: [1, 2], groundingWeight: 0.1, groundingLevels: 'all' } },
  'p12-ground0.1': { label: 'pyramid 1x1 + 2x2, grounding loss (weight 0.1), 40 epochs', options: { pyramid: [1, 2], groundingWeight: 0.1 } },
  'p13-e10': { label: 'pyramid 1x1 + 3x3 (overlapping 3x3 windows of the 7x7 grid), 10 epochs', options: { epochs: 10, pyramid: [1, 3] } },
  // InfoNCE's shape (contrastive.ts InfoNceShape) on the grounding-weight-0.3 design, the best swap AUROC / AP so far.
  'ground0.3-margin0.1-e10': { label: 'grounding loss (weight 0.3), InfoNCE margin 0.1 on the true pairs, 10 epochs', options: { epochs: 10, groundingWeight: 0.3, margin: 0.1 } },
  'ground0.3-margin0.2-e10': { label: 'grounding loss (weight 0.3), InfoNCE margin 0.2, 10 epochs', options: { epochs: 10, groundingWeight: 0.3, margin: 0.2 } },
  'ground0.3-hard0.5-e10': { label: 'grounding loss (weight 0.3), hard-negative weights exp(0.5 logit), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, hardness: 0.5 } },
  'ground0.3-hard1-e10': { label: 'grounding loss (weight 0.3), hard-negative weights exp(logit), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, hardness: 1 } },
  'ground0.3-margin0.1-hard0.5-e10': { label: 'grounding loss (weight 0.3), margin 0.1 and hard-negative weights exp(0.5 logit), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, margin: 0.1, hardness: 0.5 } },
  // Hashed character n-gram rows in the text tower (char-ngrams.ts), on the same design: unseen
  // words and other forms of known ones share rows with the training captions.
  'ground0.3-ngram35-e10': { label: 'grounding loss (weight 0.3), text tower + hashed character 3-5-grams of every word (65536 rows), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, charNgrams: { buckets: 65536, min: 3, max: 5, words: 'all' } } },
  'ground0.3-ngram35-unk-e10': { label: 'grounding loss (weight 0.3), text tower + hashed character 3-5-grams of unknown words only (65536 rows), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, charNgrams: { buckets: 65536, min: 3, max: 5, words: 'unknown' } } },
  'ground0.3-ngram3-e10': { label: 'grounding loss (weight 0.3), text tower + hashed character trigrams of every word (16384 rows), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, charNgrams: { buckets: 16384, min: 3, max: 3, words: 'all' } } },
  // Augmented views of the openclipart training images through the frozen backbone (image-views.ts).
  'ground0.3-views2-e10': { label: 'grounding loss (weight 0.3), 2 augmented views of each openclipart drawing (crop side 0.7-1, mirrored half the time), 10 epochs', options: { epochs: 10, groundingWeight: 0.3 }, views: { count: 2, minScale: 0.7, flip: 0.5 } },
  'ground0.3-views2-margin0.1-e10': { label: 'grounding loss (weight 0.3), InfoNCE margin 0.1, 2 augmented views of each openclipart drawing (crop side 0.7-1, mirrored half the time), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, margin: 0.1 }, views: { count: 2, minScale: 0.7, flip: 0.5 } },
  'ground0.3-views2-e20': { label: 'grounding loss (weight 0.3), 2 augmented views of each openclipart drawing (crop side 0.7-1, mirrored half the time), 20 epochs', options: { epochs: 20, groundingWeight: 0.3 }, views: { count: 2, minScale: 0.7, flip: 0.5 } },
  'ground0.3-mirror-margin0.1-e10': { label: 'grounding loss (weight 0.3), InfoNCE margin 0.1, each openclipart drawing also mirrored (1 view, no crop), 10 epochs', options: { epochs: 10, groundingWeight: 0.3, margin: 0.1 }, views: { count: 1, minScale: 1, flip: 1 } },
  'ground0.3-mirror-e10': { label: 'grounding loss (weight 0.3), each openclipart drawing also mirrored (1 view, no crop), 10 epochs', options: { epochs: 10, groundingWeight: 0.3 }, views: { count: 1, minScale: 1, flip: 1 } },
  'ground0.3-views4-e10': { label: 'grounding loss (weight 0.3), 4 augmented views of each openclipart drawing (crop side 0.7-1, mirrored half the time), 10 epochs', options: { epochs: 10, groundingWeight: 0.3 }, views: { count: 4, minScale: 0.7, flip: 0.5 } },
};

export interface DesignResult {
  name: string;
  label: string;
  options: ReferenceTrainingOptions;
  syntheticSize?: number;
  views?: ViewOptions;
  bars: Bar[];
  met: number;
  seconds: number;
  losses: number[];
}

/** One run of scripts/blend-designs.ts: two scorer folders' cosines blended at each weight w (of the first). */
export interface BlendResult {
  name: string;
  label: string;
  a: string;
  b: string;
  /** Whose patch grid the grounding bar reads. */
  patches: 'a' | 'b';
  mirror: { a: boolean; b: boolean };
  results: { weight: number; label: string; bars: Bar[]; met: number }[];
}

export interface TrainingRecord {
  sources: string[];
  skipped: number;
  options: ReferenceTrainingResult['options'];
  losses: number[];
  steps: number;
  trainSeconds: number;
  words: number;
  bigrams: number;
  mean: [number, number, number];
  std: [number, number, number];
}
