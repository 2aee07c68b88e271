// Noun phrases with compromise, and the geometry of phrase grounding on hand-made embeddings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nounPhrases } from '../../scorer/noun-phrases.ts';
import { bestRegion, cellsToPixels, groundingRecall, phraseVector } from '../../scorer/grounding.ts';
import { imagePreprocessingFrom } from '../../scorer/clip-preprocess.ts';

test('noun phrases: adjectives and nouns, no determiners or punctuation, once each, capped', () => {
  assert.deepEqual(nounPhrases('A large red circle at the top left and a small blue square in the center.'), ['large red circle', 'small blue square']);
  // Phrases that only say where, or that it is a picture, are not grounded.
  assert.deepEqual(nounPhrases('a photo of a blue circle on the right'), ['blue circle']);
  assert.deepEqual(nounPhrases('a green star in the bottom right corner next to the middle of a yellow hexagon'), ['green star', 'yellow hexagon']);
  assert.deepEqual(nounPhrases('the left side'), []);
  assert.deepEqual(nounPhrases('a small yellow hexagon near the bottom on a white background'), ['small yellow hexagon', 'white background']);
  assert.deepEqual(nounPhrases('a red circle and a red circle'), ['red circle']);
  assert.deepEqual(nounPhrases('a red circle, a blue star and a green square', 2), ['red circle', 'blue star']);
  assert.deepEqual(nounPhrases(''), []);
});

test('the best region is the connected group of high-similarity patches around the best one', () => {
  // A 4x4 grid of 2-d patch embeddings: a 2x2 block at rows 1-2, cols 2-3 points along x.
  const grid: [number, number] = [4, 4];
  const data = new Float32Array(16 * 2);
  for (let p = 0; p < 16; p++) data.set([0, 1], p * 2);
  for (const [r, c] of [[1, 2], [1, 3], [2, 2], [2, 3]]) data.set([1, 0], (r * 4 + c) * 2);
  data.set([1, 0], 0); // a lone matching patch far away: not connected, not in the box
  data.set([1.2, 0], (1 * 4 + 3) * 2); // the best patch
  const region = bestRegion(Float32Array.from([1, 0]), { grid, dim: 2, data });
  assert.deepEqual(region.cells, [2, 1, 4, 3]);
  assert.ok(Math.abs(region.score - 1) < 1e-6, 'region mean points along the phrase');
});

test('cells map back through shortest-edge resize and centre crop to stored-image pixels', () => {
  const p = imagePreprocessingFrom({ size: { shortest_edge: 64 }, crop_size: { height: 64, width: 64 } });
  // 128x64 image: the shortest edge is already 64; the centre crop takes x 32..96.
  assert.deepEqual(cellsToPixels([0, 0, 8, 8], [8, 8], 128, 64, p), [32, 0, 96, 64]);
  assert.deepEqual(cellsToPixels([0, 0, 4, 4], [8, 8], 64, 64, p), [0, 0, 32, 32]);
  // 256x256 image seen at 64 px: each cell is 32 px.
  assert.deepEqual(cellsToPixels([1, 2, 3, 4], [8, 8], 256, 256, p), [32, 64, 96, 128]);
});

test('phrase vectors leave out special and all-zero rows; recall is the share of phrases passing', () => {
  const tokens = { ids: [49406, 5, 7, 49407], dim: 2, data: Float32Array.from([9, 9, 1, 0, 0, 0, 9, 9]) };
  assert.deepEqual([...phraseVector(tokens, new Set([49406, 49407]))!], [1, 0]);
  assert.equal(phraseVector({ ids: [1], dim: 2, data: new Float32Array(2) }, new Set()), null);
  const g = (score: number) => ({ phrase: 'x', box: [0, 0, 1, 1] as [number, number, number, number], score });
  assert.equal(groundingRecall([g(0.3), g(0.05), g(0.2)], 0.1), 2 / 3);
  assert.equal(groundingRecall([], 0.1), null);
});
