// A small learned classifier of scene-boundary candidates: per candidate (a possible hard cut, a
// possible dissolve) the detector's own signals as a feature vector, standardised, through a
// one-hidden-layer perceptron (or a logistic regression when it has no hidden units) to the
// probability that the candidate is a true boundary. Weights live in scene-boundary-model.json,
// written by scripts/train-scene-boundary-model.ts from the fixture family's tuning seeds.
// Training is plain full-batch gradient descent (Adam) from a seeded start: the same data give
// the same weights.
import { readFileSync } from 'node:fs';
import { mulberry32 } from '../../core/random.ts';

export interface ClassifierWeights {
  features: string[];
  mean: number[];
  std: number[];
  /** hidden[j]: weights of hidden unit j over the standardised features; empty for a logistic regression. */
  hidden: number[][];
  hiddenBias: number[];
  /** Output weights over the hidden units (or over the features when there are none). */
  out: number[];
  outBias: number;
  /** Accept a candidate when its probability is at least this. */
  threshold: number;
}

export interface BoundaryModel {
  /** What the weights were trained on, for the reader of the JSON. */
  trainedOn: string;
  hard: ClassifierWeights;
  dissolve: ClassifierWeights;
}

export function loadBoundaryModel(file: string | URL = new URL('./scene-boundary-model.json', import.meta.url)): BoundaryModel {
  return JSON.parse(readFileSync(file, 'utf8')) as BoundaryModel;
}

let shipped: BoundaryModel | undefined;
/** The model in the repository, read once. */
export function shippedBoundaryModel(): BoundaryModel {
  shipped ??= loadBoundaryModel();
  return shipped;
}

/**
 * A classifier's input from a candidate's full feature vector (`x`, in the order of `all`):
 * the features it was trained on (`wanted`), by name, so a model may use a subset of what the detector computes.
 */
export function selectFeatures(wanted: readonly string[], all: readonly string[], x: number[]): number[] {
  return wanted.map((name) => {
    const k = all.indexOf(name);
    if (k < 0) throw new Error(`the scene-boundary model wants feature ${name}, which the detector does not compute`);
    return x[k];
  });
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-Math.max(-40, Math.min(40, z))));

export function predict(w: ClassifierWeights, x: number[]): number {
  const z = x.map((v, k) => (v - w.mean[k]) / w.std[k]);
  if (w.hidden.length === 0) return sigmoid(w.outBias + z.reduce((a, v, k) => a + v * w.out[k], 0));
  let s = w.outBias;
  for (let j = 0; j < w.hidden.length; j++) {
    let h = w.hiddenBias[j];
    for (let k = 0; k < z.length; k++) h += w.hidden[j][k] * z[k];
    s += w.out[j] * Math.tanh(h);
  }
  return sigmoid(s);
}

export interface TrainOptions {
  hiddenUnits: number;
  epochs: number;
  learningRate: number;
  /** L2 penalty on the weights (not the biases). */
  l2: number;
  seed: number;
  /** Weight of the positive examples' loss over the negatives'. */
  positiveWeight?: number;
}

/** Fits the classifier to (x, y) by full-batch Adam on the weighted cross-entropy. */
export function trainClassifier(features: string[], xs: number[][], ys: number[], o: TrainOptions): ClassifierWeights {
  const d = features.length;
  const n = xs.length;
  const mean = features.map((_, k) => xs.reduce((a, x) => a + x[k], 0) / Math.max(1, n));
  const std = features.map((_, k) => Math.sqrt(xs.reduce((a, x) => a + (x[k] - mean[k]) ** 2, 0) / Math.max(1, n)) || 1);
  const zs = xs.map((x) => x.map((v, k) => (v - mean[k]) / std[k]));
  const rng = mulberry32(o.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const H = o.hiddenUnits;
  // Parameters as one flat vector: [hidden (H x d), hiddenBias (H), out (H or d), outBias].
  const outLen = H > 0 ? H : d;
  const size = H * d + H + outLen + 1;
  const p = new Float64Array(size);
  for (let i = 0; i < H * d; i++) p[i] = gauss() / Math.sqrt(d);
  for (let i = H * d + H; i < H * d + H + outLen; i++) p[i] = H > 0 ? gauss() / Math.sqrt(H) : 0;
  const isWeight = (i: number) => i < H * d || (i >= H * d + H && i < size - 1);
  const m = new Float64Array(size);
  const v = new Float64Array(size);
  const pw = o.positiveWeight ?? 1;
  const totalWeight = ys.reduce((a, y) => a + (y ? pw : 1), 0);
  const hidden = new Float64Array(H);
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const g = new Float64Array(size);
    for (let s = 0; s < n; s++) {
      const z = zs[s];
      let out = p[size - 1];
      if (H > 0) {
        for (let j = 0; j < H; j++) {
          let h = p[H * d + j];
          for (let k = 0; k < d; k++) h += p[j * d + k] * z[k];
          hidden[j] = Math.tanh(h);
          out += p[H * d + H + j] * hidden[j];
        }
      } else for (let k = 0; k < d; k++) out += p[H * d + H + k] * z[k];
      const err = ((sigmoid(out) - ys[s]) * (ys[s] ? pw : 1)) / totalWeight;
      g[size - 1] += err;
      if (H > 0) {
        for (let j = 0; j < H; j++) {
          g[H * d + H + j] += err * hidden[j];
          const back = err * p[H * d + H + j] * (1 - hidden[j] ** 2);
          g[H * d + j] += back;
          for (let k = 0; k < d; k++) g[j * d + k] += back * z[k];
        }
      } else for (let k = 0; k < d; k++) g[H * d + H + k] += err * z[k];
    }
    for (let i = 0; i < size; i++) {
      const gi = g[i] + (isWeight(i) ? o.l2 * p[i] : 0);
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.999 * v[i] + 0.001 * gi * gi;
      p[i] -= (o.learningRate * (m[i] / (1 - 0.9 ** epoch))) / (Math.sqrt(v[i] / (1 - 0.999 ** epoch)) + 1e-8);
    }
  }
  const round = (x: number) => Number(x.toPrecision(6));
  return {
    features,
    mean: mean.map(round),
    std: std.map(round),
    hidden: Array.from({ length: H }, (_, j) => Array.from(p.subarray(j * d, (j + 1) * d), round)),
    hiddenBias: Array.from(p.subarray(H * d, H * d + H), round),
    out: Array.from(p.subarray(H * d + H, H * d + H + outLen), round),
    outBias: round(p[size - 1]),
    threshold: 0.5,
  };
}
