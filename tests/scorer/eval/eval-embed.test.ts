// The evaluation's shortcut (embeddings straight from weights and cached features, used for the
// k-fold and curation models) agrees with the exported ONNX towers loaded through loadScorer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { syntheticCorpus } from '../../../scorer/eval/corpora.ts';
import { syntheticDir, syntheticTestPairs } from '../../../scorer/eval/evaluate.ts';
import { computeImageFeatures, fitReferenceScorer, resolveTrainingOptions, standardise } from '../../../scorer/reference-trainer.ts';
import { choleskyWhitening } from '../../../scorer/whitening.ts';
import { writeReferenceScorer } from '../../../scorer/onnx/reference-model.ts';
import { imageEmbeddingsFromFeatures, textEmbeddingsFromWeights } from '../../../scorer/eval/weights-embed.ts';
import { loadScorer } from '../../../scorer/scorer.ts';

test('weights-embed gives the embeddings of the exported scorer', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-eval-embed-'));
  try {
    const pairs = await syntheticCorpus(path.join(root, 'corpus'), { count: 24, seed: 5 });
    assert.equal(pairs.length, 24);
    assert.ok(pairs.every((p) => p.objects && p.objects.length > 0 && p.side === 64));
    const options = { seed: 5, channels: [4, 8, 8] as [number, number, number], dim: 8, epochs: 2, batchSize: 8, whiteningPatches: 500, threads: 1 };
    const image = await computeImageFeatures(pairs, options);
    const rows = pairs.map((_, i) => i);
    const { weights } = await fitReferenceScorer(image, rows.slice(0, 16), options);
    await writeReferenceScorer(path.join(root, 'model'), weights, { id: 'embed-test' });

    const scorer = await loadScorer(path.join(root, 'model'), { threads: 1 });
    try {
      const exported = await scorer.embedImages(pairs.map((p) => p.image));
      const captions = [...pairs.map((p) => p.caption), 'words never seen zzz', 'red circle'];
      const exportedTexts = await scorer.embedTexts(captions);
      const images = imageEmbeddingsFromFeatures(weights, image.features, image.featureSize, rows);
      const texts = textEmbeddingsFromWeights(weights, captions);
      const close = (a: Float32Array, b: Float32Array, what: string) => a.forEach((x, d) => assert.ok(Math.abs(x - b[d]) < 1e-4, `${what}[${d}]: ${x} vs ${b[d]}`));
      images.forEach((e, i) => close(e, exported.pooled[i], `image ${i}`));
      texts.forEach((e, i) => close(e, exportedTexts.pooled[i], `text ${i}`));
    } finally {
      await scorer.close();
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('whitened features fold into the exported projection: at learning rate 0 it is diag(1/std) Z W0 of the plain fit', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-eval-white-'));
  try {
    const pairs = await syntheticCorpus(path.join(root, 'corpus'), { count: 24, seed: 6 });
    const options = { seed: 6, channels: [4, 8, 8] as [number, number, number], dim: 8, epochs: 1, batchSize: 8, whiteningPatches: 500, threads: 1, learningRate: 0 };
    const image = await computeImageFeatures(pairs, options);
    const rows = pairs.map((_, i) => i);
    const F = image.featureSize;
    const D = options.dim;
    const plain = (await fitReferenceScorer(image, rows, options)).weights;
    const white = (await fitReferenceScorer(image, rows, { ...options, whitenFeatures: 0.1 })).weights;
    // Shrinkage 1 whitens with the identity: the plain fit again.
    const identity = (await fitReferenceScorer(image, rows, { ...options, whitenFeatures: 1 })).weights;
    assert.deepEqual(Array.from(identity.projection), Array.from(plain.projection));
    assert.throws(() => resolveAndFitWithGrounding(), /grounding/);

    const x = Float32Array.from(image.features);
    const { std, live } = standardise(x, rows.length, F);
    const Z = choleskyWhitening(x, rows.length, F, 0.1);
    let checked = 0;
    for (let f = 0; f < F; f++) {
      if (!live[f]) continue;
      for (let d = 0; d < D; d++) {
        let want = 0;
        for (let k = f; k < F; k++) if (live[k]) want += Z[f * F + k] * plain.projection[k * D + d] * std[k];
        want /= std[f];
        const got = white.projection[f * D + d];
        assert.ok(Math.abs(got - want) < 2e-3 * Math.max(1, Math.abs(want)), `projection[${f}, ${d}]: ${got} vs ${want}`);
        checked++;
      }
    }
    assert.ok(checked > F, `${checked} projection entries checked`);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }

  function resolveAndFitWithGrounding() {
    resolveTrainingOptions({ whitenFeatures: 0.1, groundingWeight: 1 });
  }
});

test('synthetic held-out pairs at another render size: the same scenes and captions, boxes scaled, cached apart', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-eval-size-'));
  try {
    const small = await syntheticTestPairs(root, 7, 6);
    const large = await syntheticTestPairs(root, 7, 6, 224);
    assert.notEqual(syntheticDir(root, 7, 8), syntheticDir(root, 7, 8, 224));
    assert.equal(large.length, small.length);
    const scale = 224 / 64;
    small.forEach((p, i) => {
      const q = large[i];
      assert.equal(q.caption, p.caption);
      assert.equal(p.side, 64);
      assert.equal(q.side, 224);
      assert.deepEqual(q.objects!.map((o) => `${o.size} ${o.colour} ${o.shape} ${o.position}`), p.objects!.map((o) => `${o.size} ${o.colour} ${o.shape} ${o.position}`));
      // Boxes are whole pixels at each size: the same relative box within a pixel or two of the larger side.
      q.objects!.forEach((o, k) => o.box.forEach((v, j) => assert.ok(Math.abs(v - p.objects![k].box[j] * scale) <= 2 * scale, `box ${i}.${k}[${j}]: ${v} vs ${p.objects![k].box[j]} x ${scale}`)));
      assert.notDeepEqual(q.image, p.image);
    });
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
