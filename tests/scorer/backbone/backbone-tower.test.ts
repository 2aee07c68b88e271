// The reference scorer on the frozen nsfwjs backbone: the folder holds only the projection head,
// loadScorer joins it to the backbone, the joined model's embeddings are the trained projection of
// the cached backbone features, patch rows average to the pooled embedding, and the per-image
// feature cache is used on the second pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../../scorer/caption-folder.ts';
import { loadScorer } from '../../../scorer/scorer.ts';
import { writeReferenceScorer, VISION_HEAD_FILE } from '../../../scorer/onnx/reference-model.ts';
import { trainReferenceScorer, type TrainingPair } from '../../../scorer/reference-trainer.ts';
import { backbonePyramidFeatures, poolGrid } from '../../../scorer/backbone/backbone-tower.ts';
import { imageEmbeddingsFromFeatures } from '../../../scorer/eval/weights-embed.ts';
import { syntheticCorpus } from '../../../scorer/eval/corpora.ts';
import { colourShapePhrase } from '../../../scorer/eval/grounding-eval.ts';
import { fromFloat16Bits } from '../../../scorer/onnx/graph.ts';

let root: string;
let pairs: TrainingPair[];
const savedCache = process.env.WEFT_CACHE_DIR;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-backbone-tower-'));
  // A cache of its own, so the feature-cache counts below are this test's; the backbone
  // conversion itself is repeated into it (deterministic, checked by sha256).
  process.env.WEFT_CACHE_DIR = path.join(root, 'cache');
  const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 48, swapFraction: 0, size: 96, seed: 23 });
  const bad = new Set(corpus.bad.map((b) => b.id));
  pairs = (await readCaptionFolder(corpus.imagesDir)).filter((p) => !bad.has(p.id));
});

after(async () => {
  if (savedCache === undefined) delete process.env.WEFT_CACHE_DIR;
  else process.env.WEFT_CACHE_DIR = savedCache;
  await fs.rm(root, { recursive: true, force: true });
});

test('poolGrid averages each pyramid region, region-major and channel-minor', () => {
  const C = 2;
  const G = 2;
  // channel 0: 1 2 / 3 4; channel 1: 10 20 / 30 40
  const grid = Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]);
  assert.deepEqual([...poolGrid(grid, [1, 2], C, G)], [2.5, 25, 1, 10, 2, 20, 3, 30, 4, 40]);
  // A level that does not divide the grid: equal windows that overlap (3x3 into 2x2: windows of 2 at 0 and 1).
  assert.deepEqual([...poolGrid(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), [2], 1, 3)], [3, 4, 6, 7]);
  // The backbone's 7x7 into 3x3: windows of 3 at 0, 2 and 4.
  const ramp = Float32Array.from({ length: 49 }, (_, i) => i % 7);
  assert.deepEqual([...poolGrid(ramp, [3], 1, 7)], [1, 3, 5, 1, 3, 5, 1, 3, 5]);
  assert.throws(() => poolGrid(new Float32Array(1280 * 49), [4]), /does not split into a 4x4/);
});

test('backbone scorer: head-only folder, joined at load, embeddings equal the trained projection of the cached features', async () => {
  const broken: TrainingPair = { id: 'broken', image: new TextEncoder().encode('not an image'), caption: 'a red circle' };
  const skipped: { id: string; reason: string; detail: string }[] = [];
  const first = await backbonePyramidFeatures([...pairs, broken], [1], { threads: 2 }, skipped);
  assert.equal(first.computed, pairs.length);
  assert.equal(first.kept.length, pairs.length);
  assert.deepEqual(skipped.map((s) => [s.id, s.reason]), [['broken', 'image_unreadable']]);
  const again = await backbonePyramidFeatures(pairs, [1], { threads: 2 }, []);
  assert.equal(again.computed, 0, 'second pass reads every image from the cache');
  assert.deepEqual(again.features, first.features);
  // The other designs' pyramids were cached from the same backbone run.
  const otherPyramid = await backbonePyramidFeatures(pairs, [1, 2], { threads: 2 }, []);
  assert.equal(otherPyramid.computed, 0, 'the [1, 2] rows come from the cache the [1] pass wrote');
  assert.equal(otherPyramid.features.length, pairs.length * 5 * 1280);
  for (let i = 0; i < pairs.length; i++)
    for (let c = 0; c < 1280; c += 97) assert.ok(Math.abs(otherPyramid.features[i * 5 * 1280 + c] - first.features[i * 1280 + c]) < 1e-6, 'the 1x1 level of [1, 2] is the [1] row');

  const result = await trainReferenceScorer(pairs, { imageTower: 'backbone', dim: 32, epochs: 15, batchSize: 16, learningRate: 5e-3, threads: 2 });
  assert.equal(result.weights.backbone, 'nsfwjs-mobilenet-v2');
  assert.equal(result.weights.convs.length, 0);
  assert.ok(result.losses.every(Number.isFinite));
  assert.ok(result.losses.at(-1)! < result.losses[0], `loss ${result.losses[0]} -> ${result.losses.at(-1)}`);
  const dir = path.join(root, 'scorer');
  await writeReferenceScorer(dir, result.weights, { id: 'tiny-backbone' });
  const names = await fs.readdir(dir);
  assert.ok(names.includes(VISION_HEAD_FILE) && !names.includes('vision_model.onnx'), names.join(', '));
  const head = await fs.stat(path.join(dir, VISION_HEAD_FILE));
  assert.ok(head.size < 1280 * 32 * 2 + 20_000, `head is ${head.size} bytes: only the projection`);

  const scorer = await loadScorer(dir);
  try {
    assert.equal(scorer.modelFiles[0].path, `${VISION_HEAD_FILE}+nsfwjs-mobilenet-v2`);
    const sample = pairs.slice(0, 6);
    const out = await scorer.embedImages(sample.map((p) => p.image));
    const w = result.weights;
    const F = 1280;
    for (let i = 0; i < sample.length; i++) {
      // The expected embedding: the cached pooled features through the trained projection.
      const x = first.features.subarray(i * F, (i + 1) * F);
      const e = new Float64Array(w.dim);
      for (let d = 0; d < w.dim; d++) {
        let s = w.projectionBias[d];
        for (let f = 0; f < F; f++) s += x[f] * w.projection[f * w.dim + d];
        e[d] = s;
      }
      const norm = Math.hypot(...e);
      const got = out.pooled[i];
      const cos = e.reduce((a, v, d) => a + (v / norm) * got[d], 0);
      assert.ok(cos > 0.9999, `image ${i}: cosine ${cos} between the joined model and the projection`);
      // Patch rows are in the joint space: their mean is the pooled (unnormalised) embedding.
      const patches = out.patches![i];
      assert.deepEqual(patches.grid, [7, 7]);
      const mean = new Float64Array(w.dim);
      for (let p = 0; p < 49; p++) for (let d = 0; d < w.dim; d++) mean[d] += patches.data[p * w.dim + d] / 49;
      for (let d = 0; d < w.dim; d++) assert.ok(Math.abs(mean[d] - e[d]) < 1e-3 * (1 + Math.abs(e[d])), `patch mean ${mean[d]} vs ${e[d]}`);
    }
  } finally {
    await scorer.close();
  }
});

test('backbone scorer with a hidden relu layer: the joined model gives the two-layer head of the cached features', async () => {
  const { features, kept } = await backbonePyramidFeatures(pairs, [1], { threads: 2 }, []);
  const result = await trainReferenceScorer(pairs, { imageTower: 'backbone', dim: 8, hidden: 16, epochs: 10, batchSize: 16, learningRate: 5e-3, threads: 2 });
  assert.equal(result.weights.head?.hidden, 16);
  assert.ok(result.losses.at(-1)! < result.losses[0], `loss ${result.losses[0]} -> ${result.losses.at(-1)}`);
  const dir = path.join(root, 'scorer-hidden');
  await writeReferenceScorer(dir, result.weights, { id: 'tiny-backbone-hidden' });
  const scorer = await loadScorer(dir);
  try {
    const sample = kept.slice(0, 6);
    const out = await scorer.embedImages(sample.map((p) => p.image));
    const expected = imageEmbeddingsFromFeatures(result.weights, features, 1280, sample.map((_, i) => i));
    for (let i = 0; i < sample.length; i++) {
      const cos = expected[i].reduce((a, v, d) => a + v * out.pooled[i][d], 0);
      assert.ok(cos > 0.9999, `image ${i}: cosine ${cos} between the joined model and relu(x W1 + b1) W2 + b2`);
    }
    assert.deepEqual(out.patches![0].grid, [7, 7]);
  } finally {
    await scorer.close();
  }
});

test('backbone scorer with overlapping 3x3 windows of the grid: the joined model gives the projection of the cached [1, 3] pyramid rows', async () => {
  const { features, kept } = await backbonePyramidFeatures(pairs, [1, 3], { threads: 2 }, []);
  assert.equal(features.length, kept.length * 10 * 1280);
  const result = await trainReferenceScorer(pairs, { imageTower: 'backbone', pyramid: [1, 3], dim: 8, epochs: 6, batchSize: 16, learningRate: 5e-3, threads: 2 });
  assert.ok(result.losses.at(-1)! < result.losses[0], `loss ${result.losses[0]} -> ${result.losses.at(-1)}`);
  const dir = path.join(root, 'scorer-p13');
  await writeReferenceScorer(dir, result.weights, { id: 'tiny-backbone-p13' });
  const scorer = await loadScorer(dir);
  try {
    const sample = kept.slice(0, 6);
    const out = await scorer.embedImages(sample.map((p) => p.image));
    const expected = imageEmbeddingsFromFeatures(result.weights, features, 10 * 1280, sample.map((_, i) => i));
    for (let i = 0; i < sample.length; i++) {
      const cos = expected[i].reduce((a, v, d) => a + v * out.pooled[i][d], 0);
      assert.ok(cos > 0.9999, `image ${i}: cosine ${cos} between the joined model and the [1, 3] pyramid projection`);
    }
  } finally {
    await scorer.close();
  }
});

test('whole grids: cached on request from the same backbone run, their cells average to the pooled rows; the grounding loss trains on regions', async () => {
  const corpus = await syntheticCorpus(path.join(root, 'regions'), { count: 32, seed: 31 });
  const withRegions: TrainingPair[] = corpus.map((p) => ({ ...p, regions: (p.objects ?? []).map((o) => ({ phrase: colourShapePhrase(o), box: o.box, side: p.side ?? 64 })) }));
  const first = await backbonePyramidFeatures(withRegions, [1], { threads: 2, grids: true }, []);
  assert.ok(first.computed > 0);
  assert.equal(first.grids!.length, first.kept.length);
  const again = await backbonePyramidFeatures(withRegions, [1], { threads: 2, grids: true }, []);
  assert.equal(again.computed, 0, 'grids and pooled rows both read from the cache');
  for (let i = 0; i < 3; i++) {
    const cells = fromFloat16Bits(first.grids![i]);
    for (const c of [0, 100, 1279]) {
      let mean = 0;
      for (let k = 0; k < 49; k++) mean += cells[k * 1280 + c] / 49;
      const pooled = first.features[i * 1280 + c];
      assert.ok(Math.abs(mean - pooled) < 2e-3 * (1 + pooled), `image ${i} channel ${c}: cell mean ${mean}, pooled ${pooled}`);
    }
  }
  const logs: string[] = [];
  const result = await trainReferenceScorer(withRegions, { imageTower: 'backbone', dim: 16, epochs: 8, batchSize: 16, learningRate: 5e-3, threads: 2, groundingWeight: 1, log: (l) => logs.push(l) });
  assert.ok(logs.some((l) => /grounding loss: \d+ regions of 32 pairs/.test(l)), logs.join('\n'));
  assert.ok(result.losses.every(Number.isFinite));
  assert.ok(result.losses.at(-1)! < result.losses[0], `loss ${result.losses[0]} -> ${result.losses.at(-1)}`);
  await assert.rejects(trainReferenceScorer(withRegions, { imageTower: 'backbone', dim: 8, hidden: 8, epochs: 1, threads: 2, groundingWeight: 1 }), /linear image head/);
  // With a 3x3 level after the pooled one (the loss trains the pooled rows), switched on for the second half of the epochs only.
  const late = await trainReferenceScorer(withRegions, { imageTower: 'backbone', pyramid: [1, 3], dim: 16, epochs: 8, batchSize: 16, learningRate: 5e-3, threads: 2, groundingWeight: 1, groundingStart: 0.5 });
  assert.ok(late.losses.every(Number.isFinite));
  // The grounding loss adds to the epoch losses from epoch 5 on.
  assert.ok(late.losses[4] > late.losses[3], `losses ${late.losses.map((l) => l.toFixed(3))}`);
  await assert.rejects(trainReferenceScorer(withRegions, { imageTower: 'backbone', pyramid: [3], dim: 8, epochs: 1, threads: 2, groundingWeight: 1 }), /pooled 1x1 level first/);
  // On every level's rows (groundingLevels 'all'): a 2x2 level of overlapping windows, its cells whole pyramid rows.
  const all = await trainReferenceScorer(withRegions, { imageTower: 'backbone', pyramid: [1, 2], dim: 16, epochs: 8, batchSize: 16, learningRate: 5e-3, threads: 2, groundingWeight: 1, groundingLevels: 'all' });
  assert.ok(all.losses.every(Number.isFinite));
  assert.ok(all.losses.at(-1)! < all.losses[0], `loss ${all.losses[0]} -> ${all.losses.at(-1)}`);
  assert.equal(all.options.groundingLevels, 'all');
});
