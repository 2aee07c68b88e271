// The evaluation's shortcut (embeddings straight from weights and cached features, used for the
// k-fold and curation models) agrees with the exported ONNX towers loaded through loadScorer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { syntheticCorpus } from '../../../scorer/eval/corpora.ts';
import { computeImageFeatures, fitReferenceScorer } from '../../../scorer/reference-trainer.ts';
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
