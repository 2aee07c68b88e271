// Training math of the reference scorer's learned parts, with gradients written by hand:
//   image: z = x W + b (x: fixed pyramid features), u = z / |z|
//   text:  t = mean of word rows and bigram rows,        v = t / |t|
//   loss:  symmetric InfoNCE over the batch, logits = (u v^T - margin I) / temperature, with
//          optional hard-negative weights (InfoNceShape)
// plus AdamW. tests/stages/score/contrastive.test.ts checks every gradient against finite
// differences. This is the reference definition; the trainer runs the same formulas as an ONNX
// graph (onnx/contrastive-step.ts), which is about 20x faster than these plain loops.

export interface ContrastiveParams {
  featureSize: number;
  dim: number;
  /**
   * Width of the hidden layer of a non-linear image head, z = relu(x W1 + b1) W2 + b2; absent or 0:
   * the linear z = x W + b. With a hidden layer, projection holds W1 [featureSize, hidden] then
   * W2 [hidden, dim], and bias holds b1 [hidden] then b2 [dim].
   */
  hidden?: number;
  /** [featureSize, dim], or W1 then W2 (see hidden) */
  projection: Float32Array;
  /** [dim], or b1 then b2 */
  bias: Float32Array;
  /** [words, dim] */
  words: Float32Array;
  /** [bigram rows, dim] */
  bigrams: Float32Array;
}

/** One caption as the rows it averages: known word ids and known bigram rows. */
export interface CaptionRows {
  words: number[];
  bigrams: number[];
}

export interface ContrastiveBatch {
  /** [n, featureSize] pyramid features. */
  features: Float32Array;
  captions: CaptionRows[];
}

export function zerosLike(p: ContrastiveParams): ContrastiveParams {
  return {
    featureSize: p.featureSize,
    dim: p.dim,
    ...(p.hidden ? { hidden: p.hidden } : {}),
    projection: new Float32Array(p.projection.length),
    bias: new Float32Array(p.bias.length),
    words: new Float32Array(p.words.length),
    bigrams: new Float32Array(p.bigrams.length),
  };
}

/** Unnormalised image embeddings z = x W + b (or the hidden-layer head, see ContrastiveParams.hidden), [n, dim]. */
export function projectImages(p: ContrastiveParams, features: Float32Array, n: number): Float32Array {
  const { featureSize: F, dim: D } = p;
  const H = p.hidden ?? 0;
  if (!H) return linear(features, n, F, D, p.projection, p.bias);
  const h = linear(features, n, F, H, p.projection.subarray(0, F * H), p.bias.subarray(0, H)).map((v) => Math.max(0, v));
  return linear(h, n, H, D, p.projection.subarray(F * H), p.bias.subarray(H));
}

/** x [n, F] times W [F, D] plus b [D]. */
function linear(features: Float32Array, n: number, F: number, D: number, weight: Float32Array, bias: Float32Array): Float32Array {
  const z = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const zi = i * D;
    for (let d = 0; d < D; d++) z[zi + d] = bias[d];
    for (let f = 0; f < F; f++) {
      const x = features[i * F + f];
      if (x === 0) continue; // ReLU features are often exactly zero
      const wf = f * D;
      for (let d = 0; d < D; d++) z[zi + d] += x * weight[wf + d];
    }
  }
  return z;
}

/** Unnormalised text embeddings t = mean of rows, [n, dim]; a caption with no rows gives zeros. */
export function embedCaptions(p: ContrastiveParams, captions: CaptionRows[]): Float32Array {
  const D = p.dim;
  const t = new Float32Array(captions.length * D);
  captions.forEach((c, i) => {
    const count = c.words.length + c.bigrams.length;
    if (count === 0) return;
    const ti = i * D;
    for (const w of c.words) for (let d = 0; d < D; d++) t[ti + d] += p.words[w * D + d];
    for (const b of c.bigrams) for (let d = 0; d < D; d++) t[ti + d] += p.bigrams[b * D + d];
    for (let d = 0; d < D; d++) t[ti + d] /= count;
  });
  return t;
}

/** Row norms (floored, so a zero row stays zero after division) and the normalised rows. */
function normaliseRows(x: Float32Array, n: number, D: number): { unit: Float64Array; norms: Float64Array } {
  const unit = new Float64Array(n * D);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d] ** 2;
    norms[i] = Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < D; d++) unit[i * D + d] = x[i * D + d] / norms[i];
  }
  return { unit, norms };
}

/** d(x/|x|) back to dx: (g - u (u . g)) / |x|, row by row. */
function normaliseBackward(unit: Float64Array, norms: Float64Array, grad: Float64Array, n: number, D: number): Float64Array {
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += unit[i * D + d] * grad[i * D + d];
    for (let d = 0; d < D; d++) out[i * D + d] = (grad[i * D + d] - unit[i * D + d] * dot) / norms[i];
  }
  return out;
}

/**
 * How the InfoNCE of a batch departs from the plain one (both 0: plain).
 * - margin: subtracted from each true pair's cosine before the temperature (additive margin, as
 *   in CosFace / AM-softmax), so a true pair must beat its negatives by that much cosine.
 * - hardness: each negative of a softmax (a row: one image against the batch's other captions; a
 *   column: one caption against the other images) is weighted by exp(hardness * logit), the weights
 *   normalised to mean 1 over that softmax's negatives and held constant in the gradient (hard
 *   negative weighting, after Robinson et al. 2021), so the negatives nearest the pair count most.
 *   Written as logits: a negative's logit gains (1 + hardness) * logit - log mean_k exp(hardness *
 *   logit_k); the gradient is then (softmax of those logits - I), as for the plain loss.
 */
export interface InfoNceShape {
  margin?: number;
  hardness?: number;
}

/**
 * The logits a softmax of InfoNCE reads, with hard-negative weighting (InfoNceShape.hardness) of
 * the negatives of row i (rows = true) or column i: base logits in `logits` [n, n], written to `out`.
 */
function hardLogits(logits: Float64Array, n: number, hardness: number, rows: boolean, out: Float64Array): void {
  const at = (i: number, j: number) => (rows ? i * n + j : j * n + i);
  for (let i = 0; i < n; i++) {
    if (hardness === 0 || n < 2) {
      for (let j = 0; j < n; j++) out[at(i, j)] = logits[at(i, j)];
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (j !== i) max = Math.max(max, hardness * logits[at(i, j)]);
    let sum = 0;
    for (let j = 0; j < n; j++) if (j !== i) sum += Math.exp(hardness * logits[at(i, j)] - max);
    const logMean = Math.log(sum / (n - 1)) + max;
    for (let j = 0; j < n; j++) {
      const l = logits[at(i, j)];
      out[at(i, j)] = j === i ? l : l + hardness * l - logMean;
    }
  }
}

/**
 * Symmetric InfoNCE loss of a batch; when `grads` is given, adds the loss gradient into it.
 * Pair i is (features row i, caption i); every other caption in the batch is a negative.
 * `shape` adds a margin or hard-negative weights (InfoNceShape); with hardness the gradient holds
 * the weights constant, so it is not the derivative of the returned loss in them.
 */
export function infoNce(p: ContrastiveParams, batch: ContrastiveBatch, temperature: number, grads?: ContrastiveParams, shape: InfoNceShape = {}): number {
  const n = batch.captions.length;
  const { featureSize: F, dim: D } = p;
  const margin = shape.margin ?? 0;
  const hardness = shape.hardness ?? 0;
  const img = normaliseRows(projectImages(p, batch.features, n), n, D);
  const txt = normaliseRows(embedCaptions(p, batch.captions), n, D);

  const logits = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += img.unit[i * D + d] * txt.unit[j * D + d];
      logits[i * n + j] = (i === j ? s - margin : s) / temperature;
    }
  const rowLogits = new Float64Array(n * n);
  const colLogits = new Float64Array(n * n);
  hardLogits(logits, n, hardness, true, rowLogits);
  hardLogits(logits, n, hardness, false, colLogits);

  // Row softmax (image -> texts) and column softmax (text -> images).
  const rowP = new Float64Array(n * n);
  const colP = new Float64Array(n * n);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, rowLogits[i * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += (rowP[i * n + j] = Math.exp(rowLogits[i * n + j] - max));
    for (let j = 0; j < n; j++) rowP[i * n + j] /= sum;
    loss -= Math.log(Math.max(rowP[i * n + i], 1e-300)) / (2 * n);
  }
  for (let j = 0; j < n; j++) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, colLogits[i * n + j]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (colP[i * n + j] = Math.exp(colLogits[i * n + j] - max));
    for (let i = 0; i < n; i++) colP[i * n + j] /= sum;
    loss -= Math.log(Math.max(colP[j * n + j], 1e-300)) / (2 * n);
  }
  if (!grads) return loss;
  if (p.hidden) throw new Error('infoNce writes gradients of the linear head only; the hidden-layer head trains through onnx/contrastive-step.ts');

  // dL/dlogits = (rowP - I + colP - I) / (2n); logits = (u v^T - margin I) / T.
  const dLogits = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) dLogits[i * n + j] = (rowP[i * n + j] + colP[i * n + j] - (i === j ? 2 : 0)) / (2 * n) / temperature;
  const dU = new Float64Array(n * D);
  const dV = new Float64Array(n * D);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const g = dLogits[i * n + j];
      if (g === 0) continue;
      for (let d = 0; d < D; d++) {
        dU[i * D + d] += g * txt.unit[j * D + d];
        dV[j * D + d] += g * img.unit[i * D + d];
      }
    }
  const dZ = normaliseBackward(img.unit, img.norms, dU, n, D);
  const dT = normaliseBackward(txt.unit, txt.norms, dV, n, D);

  // z = x W + b
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < D; d++) grads.bias[d] += dZ[i * D + d];
    for (let f = 0; f < F; f++) {
      const x = batch.features[i * F + f];
      if (x === 0) continue;
      const wf = f * D;
      for (let d = 0; d < D; d++) grads.projection[wf + d] += x * dZ[i * D + d];
    }
  }
  addTextGradients(batch.captions, dT, grads);
  return loss;
}

/** Adds the gradient of t = mean of rows: each caption's dL/dt, divided by its row count, to every row it averages. */
export function addTextGradients(captions: CaptionRows[], dT: ArrayLike<number>, grads: ContrastiveParams): void {
  const D = grads.dim;
  captions.forEach((c, i) => {
    const count = c.words.length + c.bigrams.length;
    if (count === 0) return;
    for (const w of c.words) for (let d = 0; d < D; d++) grads.words[w * D + d] += dT[i * D + d] / count;
    for (const b of c.bigrams) for (let d = 0; d < D; d++) grads.bigrams[b * D + d] += dT[i * D + d] / count;
  });
}

/** Embedding rows a batch touches: the only rows whose gradient is not zero. */
export interface TouchedRows {
  words: Iterable<number>;
  bigrams: Iterable<number>;
}

export function touchedRows(captions: CaptionRows[]): TouchedRows {
  const words = new Set<number>();
  const bigrams = new Set<number>();
  for (const c of captions) {
    for (const w of c.words) words.add(w);
    for (const b of c.bigrams) bigrams.add(b);
  }
  return { words, bigrams };
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay; not applied to the bias. */
  weightDecay?: number;
}

/** AdamW over the four parameter arrays of ContrastiveParams. */
export class AdamW {
  private readonly m: ContrastiveParams;
  private readonly v: ContrastiveParams;
  private t = 0;

  constructor(private readonly params: ContrastiveParams, private readonly options: AdamWOptions) {
    this.m = zerosLike(params);
    this.v = zerosLike(params);
  }

  /**
   * One update. With `rows`, the embedding tables are updated only in the rows the batch touched
   * (as sparse Adam does for embeddings): a vocabulary of thousands of words and bigrams would
   * otherwise cost more per step than the batch itself. Untouched rows keep their moments.
   */
  step(grads: ContrastiveParams, lr = this.options.lr, rows?: TouchedRows): void {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = this.options;
    this.t += 1;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    const b1 = 1 - beta1;
    const b2 = 1 - beta2;
    const stepSize = lr / c1;
    const rootC2 = Math.sqrt(c2);
    const update = (key: 'projection' | 'bias' | 'words' | 'bigrams', from: number, to: number) => {
      const w = this.params[key];
      const g = grads[key];
      const m = this.m[key];
      const v = this.v[key];
      const shrink = 1 - lr * (key === 'bias' ? 0 : weightDecay);
      for (let i = from; i < to; i++) {
        const gi = g[i];
        const mi = (m[i] = beta1 * m[i] + b1 * gi);
        const vi = (v[i] = beta2 * v[i] + b2 * gi * gi);
        // w - lr * (m^ / (sqrt(v^) + eps) + decay * w)
        w[i] = shrink * w[i] - (stepSize * mi) / (Math.sqrt(vi) / rootC2 + eps);
      }
    };
    update('projection', 0, this.params.projection.length);
    update('bias', 0, this.params.bias.length);
    for (const key of ['words', 'bigrams'] as const) {
      if (!rows) update(key, 0, this.params[key].length);
      else for (const r of rows[key]) update(key, r * this.params.dim, (r + 1) * this.params.dim);
    }
  }
}
