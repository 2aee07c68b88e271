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
import { pyramidWindow } from './pyramid-window.ts';

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

/**
 * The cells of one image as rows of the whole pyramid feature vector [side * side, C * regions],
 * standardised with the pooled features' statistics (`mean`, `std`, `live` of every pyramid
 * feature), so the grounding loss trains every level's projection rows, not only the 1x1 level's:
 *   e_c[window r, f] = (scale * [c in r] * x_c[f] - mean[r, f]) / std[r, f],  scale = side^2 / k^2,
 * k the window side (pyramid-window.ts). e_c . W is then the cell's patch embedding as the exported
 * head computes it (patch_embeds: (G / k)^2 * x_c W[window] summed over the windows holding c),
 * up to a term that is the same for every cell and cancels in the softmax over the cells; and the
 * cells average to the pooled standardised features. A dead feature (live 0) stays 0.
 * `grid` is raw and cell-major [side * side, C].
 */
export function pyramidCells(grid: Float32Array, side: number, channels: number, pyramid: number[], mean: ArrayLike<number>, std: ArrayLike<number>, live: ArrayLike<number>): Float32Array {
  const C = channels;
  const cells = side * side;
  const F = pyramid.reduce((n, level) => n + level * level, 0) * C;
  if (grid.length !== cells * C) throw new Error(`grid has ${grid.length} values; expected ${side} x ${side} x ${C}`);
  if (mean.length !== F || std.length !== F || live.length !== F) throw new Error(`statistics of ${mean.length} features; the pyramid [${pyramid}] has ${F}`);
  const out = new Float32Array(cells * F);
  let first = 0;
  for (const level of pyramid) {
    const { kernel: k, stride } = pyramidWindow(side, level);
    const scale = cells / (k * k);
    for (let ry = 0; ry < level; ry++)
      for (let rx = 0; rx < level; rx++) {
        const offset = first + (ry * level + rx) * C;
        for (let y = 0; y < side; y++)
          for (let x = 0; x < side; x++) {
            const c = y * side + x;
            const inside = y >= ry * stride && y < ry * stride + k && x >= rx * stride && x < rx * stride + k;
            for (let f = 0; f < C; f++) {
              const j = offset + f;
              if (!live[j]) continue;
              out[c * F + j] = ((inside ? scale * grid[c * C + f] : 0) - mean[j]) / std[j];
            }
          }
      }
    first += level * level * C;
  }
  return out;
}
