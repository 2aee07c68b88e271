// A patch-level (region-phrase) contrastive loss for the backbone reference scorer: where a
// training image's regions are known (the synthetic corpus draws each object with its phrase
// and box), each phrase is compared with every cell of the image's grid and the cells inside
// the object's box are the positives of an InfoNCE over the cells:
//   z_c = x_c W + b (cell features through the same projection as the pooled features),
//   v = t / |t| (t: the phrase's mean word and bigram row), s_c = v . z_c,
//   loss = -log(sum_{c in box} exp s_c) + log(sum_c exp s_c), averaged over the phrases.
// The cells' norms act as the temperature (the global InfoNCE normalises z, so they are free).
// The bias cancels (the softmax over cells sums to one either way). Gradients are written by
// hand, as in contrastive.ts; tests/scorer/grounding-loss.test.ts checks them against finite
// differences.
import type { CaptionRows, ContrastiveParams } from './contrastive.ts';

export interface GroundingCase {
  /** Standardised cell features, cell-major [cells, featureSize]. */
  cells: Float32Array;
  /** Indices of the cells inside the object's box (at least one). */
  positives: number[];
  /** The phrase's word and bigram rows. */
  phrase: CaptionRows;
}

/**
 * Adds `weight` times the mean grounding loss of `cases` to `grads` (projection W and the phrase
 * rows; the bias gets none) and returns that weighted loss. Linear heads only.
 */
export function groundingLoss(p: ContrastiveParams, cases: GroundingCase[], weight: number, grads?: ContrastiveParams): number {
  if (p.hidden) throw new Error('the grounding loss needs a linear image head (hidden 0)');
  const { featureSize: F, dim: D } = p;
  const W = p.projection;
  let total = 0;
  const t = new Float64Array(D);
  const u = new Float64Array(F);
  const a = new Float64Array(F);
  for (const k of cases) {
    const count = k.phrase.words.length + k.phrase.bigrams.length;
    if (count === 0) continue;
    const cells = k.cells.length / F;
    t.fill(0);
    for (const w of k.phrase.words) for (let d = 0; d < D; d++) t[d] += p.words[w * D + d] / count;
    for (const b of k.phrase.bigrams) for (let d = 0; d < D; d++) t[d] += p.bigrams[b * D + d] / count;
    let norm = 0;
    for (let d = 0; d < D; d++) norm += t[d] * t[d];
    norm = Math.max(Math.sqrt(norm), 1e-12);
    // u = W v, so s_c = x_c . u (+ v . b, the same for every cell, left out).
    for (let f = 0; f < F; f++) {
      let s = 0;
      const row = f * D;
      for (let d = 0; d < D; d++) s += W[row + d] * t[d];
      u[f] = s / norm;
    }
    const s = new Float64Array(cells);
    for (let c = 0; c < cells; c++) {
      let v = 0;
      const at = c * F;
      for (let f = 0; f < F; f++) v += k.cells[at + f] * u[f];
      s[c] = v;
    }
    const max = Math.max(...s);
    let all = 0;
    for (let c = 0; c < cells; c++) all += Math.exp(s[c] - max);
    let inBox = 0;
    for (const c of k.positives) inBox += Math.exp(s[c] - max);
    const scale = weight / cases.length;
    total += scale * (Math.log(all) - Math.log(inBox));
    if (!grads) continue;
    // dL/ds_c = softmax over all cells - softmax over the box's cells.
    const g = new Float64Array(cells);
    for (let c = 0; c < cells; c++) g[c] = (Math.exp(s[c] - max) / all) * scale;
    for (const c of k.positives) g[c] -= (Math.exp(s[c] - max) / inBox) * scale;
    a.fill(0);
    for (let c = 0; c < cells; c++) {
      if (g[c] === 0) continue;
      const at = c * F;
      for (let f = 0; f < F; f++) a[f] += g[c] * k.cells[at + f];
    }
    // dW[f, d] += a_f v_d; dv = W^T a; back through v = t / |t| and the mean of rows.
    const dv = new Float64Array(D);
    for (let f = 0; f < F; f++) {
      const af = a[f];
      if (af === 0) continue;
      const row = f * D;
      for (let d = 0; d < D; d++) {
        grads.projection[row + d] += (af * t[d]) / norm;
        dv[d] += af * W[row + d];
      }
    }
    let vdv = 0;
    for (let d = 0; d < D; d++) vdv += (t[d] / norm) * dv[d];
    for (let d = 0; d < D; d++) dv[d] = (dv[d] - (t[d] / norm) * vdv) / norm / count;
    for (const w of k.phrase.words) for (let d = 0; d < D; d++) grads.words[w * D + d] += dv[d];
    for (const b of k.phrase.bigrams) for (let d = 0; d < D; d++) grads.bigrams[b * D + d] += dv[d];
  }
  return total;
}

/** Cells of a rows x cols grid over a side x side image whose centres lie in `box`; the cell holding the box's centre if none does. */
export function cellsInBox(box: [number, number, number, number], side: number, rows: number, cols: number): number[] {
  const [x0, y0, x1, y1] = box;
  const out: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const x = ((c + 0.5) * side) / cols;
      const y = ((r + 0.5) * side) / rows;
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1) out.push(r * cols + c);
    }
  if (out.length > 0) return out;
  const cx = Math.min(cols - 1, Math.max(0, Math.floor((((x0 + x1) / 2) * cols) / side)));
  const cy = Math.min(rows - 1, Math.max(0, Math.floor((((y0 + y1) / 2) * rows) / side)));
  return [cy * cols + cx];
}
