// Grounding accuracy on the synthetic corpus: for each drawn object, its colour-shape phrase
// ("red circle") is embedded by the text tower, compared by raw dot product with every patch
// embedding of the image, and counts as grounded when the best patch's centre lies inside the
// object's true box. The phrase embedding is the mean of its token embeddings (what text_embeds
// is before normalisation), so the best patch is the same as with token rows averaged by hand.
import type { DemoObject } from '../../corpora/demo-corpus.ts';
import type { PatchEmbeddings } from '../scorer.ts';

export interface GroundingCase {
  patches: PatchEmbeddings;
  /** Image side in pixels that the boxes refer to (the model sees the image resized to its input). */
  side: number;
  object: DemoObject;
  /** Embedding of the object's colour-shape phrase. */
  phrase: Float32Array;
}

/** Row and column of the patch with the highest dot product with `query`. */
export function bestPatch(patches: PatchEmbeddings, query: Float32Array): { row: number; col: number; score: number } {
  const [rows, cols] = patches.grid;
  const D = patches.dim;
  let best = { row: 0, col: 0, score: -Infinity };
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      let s = 0;
      const at = (r * cols + c) * D;
      for (let d = 0; d < D; d++) s += patches.data[at + d] * query[d];
      if (s > best.score) best = { row: r, col: c, score: s };
    }
  return best;
}

/** Whether the best patch's centre, in image pixels, lies inside the object's box. */
export function grounded(c: GroundingCase): boolean {
  const [rows, cols] = c.patches.grid;
  const best = bestPatch(c.patches, c.phrase);
  const x = ((best.col + 0.5) * c.side) / cols;
  const y = ((best.row + 0.5) * c.side) / rows;
  const [x0, y0, x1, y1] = c.object.box;
  return x >= x0 && x <= x1 && y >= y0 && y <= y1;
}

export function colourShapePhrase(o: DemoObject): string {
  return `${o.colour} ${o.shape}`;
}

export function groundingAccuracy(cases: GroundingCase[]): { accuracy: number; n: number } {
  const hits = cases.filter(grounded).length;
  return { accuracy: cases.length ? hits / cases.length : NaN, n: cases.length };
}
