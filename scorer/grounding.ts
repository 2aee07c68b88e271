// Phrase grounding: which image region a noun phrase of the caption refers to.
//
// A phrase's vector is the sum of its token embeddings (special and padding tokens left out);
// its similarity map over the image is the raw dot product with every patch embedding (the
// reference scorer's projection and pooling are linear, so patches and tokens share the joint
// space). The best region is the 4-connected group of patches around the best patch whose
// similarity is above the midpoint between the map's mean and its maximum; the phrase's score
// is the cosine of the phrase vector and the region's mean embedding, so it does not depend on
// the model's scale. Boxes are in the pixels of the stored image: patch cells are mapped back
// through the scorer's resize and centre crop.
import fs from 'node:fs/promises';
import { locateScorerFiles } from './scorer-registry.ts';
import { imagePreprocessingFrom, type ImagePreprocessing } from './clip-preprocess.ts';
import { cosine, type PatchEmbeddings, type TokenEmbeddings } from './scorer.ts';

export type Box = [number, number, number, number];

export interface PhraseGrounding {
  phrase: string;
  /** [x0, y0, x1, y1] in pixels of the stored image. */
  box: Box;
  score: number;
}

/** The image preprocessing of the scorer in `dir`, to map patch cells back to image pixels. */
export async function scorerImageGeometry(dir: string): Promise<ImagePreprocessing> {
  const files = await locateScorerFiles(dir);
  const json = files.preprocessor ? JSON.parse(await fs.readFile(files.preprocessor, 'utf8')) : {};
  return imagePreprocessingFrom(json);
}

/** Sum of the token rows that carry meaning: not special ids, not all-zero rows (padding, unknown words). */
export function phraseVector(tokens: TokenEmbeddings, specialIds: ReadonlySet<number>): Float32Array | null {
  const v = new Float32Array(tokens.dim);
  let used = 0;
  tokens.ids.forEach((id, t) => {
    if (specialIds.has(id)) return;
    const row = tokens.data.subarray(t * tokens.dim, (t + 1) * tokens.dim);
    if (!row.some((x) => x !== 0)) return;
    for (let d = 0; d < tokens.dim; d++) v[d] += row[d];
    used++;
  });
  return used ? v : null;
}

/** Best region of a phrase, in patch cells: [col0, row0, col1, row1) and its score. */
export function bestRegion(phrase: Float32Array, patches: PatchEmbeddings): { cells: Box; score: number } {
  const [rows, cols] = patches.grid;
  const dim = patches.dim;
  const n = rows * cols;
  const sim = new Float64Array(n);
  let best = 0;
  let mean = 0;
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += phrase[d] * patches.data[p * dim + d];
    sim[p] = s;
    mean += s / n;
    if (s > sim[best]) best = p;
  }
  const cut = (mean + sim[best]) / 2;
  const inRegion = new Uint8Array(n);
  const stack = [best];
  inRegion[best] = 1;
  let [c0, r0, c1, r1] = [cols, rows, 0, 0];
  const region = new Float32Array(dim);
  while (stack.length) {
    const p = stack.pop()!;
    const r = Math.floor(p / cols);
    const c = p % cols;
    c0 = Math.min(c0, c);
    r0 = Math.min(r0, r);
    c1 = Math.max(c1, c + 1);
    r1 = Math.max(r1, r + 1);
    for (let d = 0; d < dim; d++) region[d] += patches.data[p * dim + d];
    for (const [dr, dc] of [[-1, 0], [1, 0], [0, -1], [0, 1]]) {
      const rr = r + dr;
      const cc = c + dc;
      if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
      const q = rr * cols + cc;
      if (!inRegion[q] && sim[q] >= cut) {
        inRegion[q] = 1;
        stack.push(q);
      }
    }
  }
  return { cells: [c0, r0, c1, r1], score: cosine(phrase, region) };
}

/**
 * Maps a box in patch cells of a `grid` back to pixels of a `width` x `height` image that the
 * scorer resized and centre-cropped as `p` says.
 */
export function cellsToPixels(cells: Box, grid: [number, number], width: number, height: number, p: ImagePreprocessing): Box {
  let sx = 1;
  let sy = 1;
  if (p.resize && 'shortestEdge' in p.resize) sx = sy = p.resize.shortestEdge / Math.min(width, height);
  else if (p.resize) [sx, sy] = [p.resize.width / width, p.resize.height / height];
  const rw = width * sx;
  const rh = height * sy;
  const cw = p.crop?.width ?? rw;
  const ch = p.crop?.height ?? rh;
  const offX = (rw - cw) / 2;
  const offY = (rh - ch) / 2;
  const [rows, cols] = grid;
  const x = (c: number) => clamp((offX + (c * cw) / cols) / sx, width);
  const y = (r: number) => clamp((offY + (r * ch) / rows) / sy, height);
  return [x(cells[0]), y(cells[1]), x(cells[2]), y(cells[3])];
}

const clamp = (v: number, hi: number) => Math.round(Math.min(hi, Math.max(0, v)) * 10) / 10;

/** Share of phrases whose score passes `threshold`; null when there is no phrase to ground. */
export function groundingRecall(phrases: PhraseGrounding[], threshold: number): number | null {
  if (phrases.length === 0) return null;
  return phrases.filter((p) => p.score >= threshold).length / phrases.length;
}
