// A small end-to-end training run: synthetic corpus -> trained reference scorer folder -> loadScorer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { buildVocab, domainBatchList, retrievalRecall, trainReferenceScorer } from '../../scorer/reference-trainer.ts';
import { embedReadableImages, loadScorer } from '../../scorer/scorer.ts';

test('vocabulary: [PAD], [UNK], then words seen often enough, most frequent first', () => {
  assert.deepEqual(buildVocab(['A red circle.', 'a RED square', 'a blue star'], 2), ['[PAD]', '[UNK]', 'a', 'red']);
});

test('domain batches: full batches of one domain each, remainders pooled into mixed ones, interleaved by position', () => {
  // 0-9 domain a, 10-15 domain b, 16-17 domain c (too few for a batch of its own).
  const domains = Array.from({ length: 18 }, (_, i) => (i < 10 ? 'a' : i < 16 ? 'b' : 'c'));
  const order = [0, 10, 1, 11, 2, 16, 3, 12, 4, 13, 5, 17, 6, 14, 7, 15, 8, 9];
  const batches = domainBatchList(order, 3, domains);
  assert.deepEqual(batches, [[0, 1, 2], [10, 11, 12], [16, 17, 9], [3, 4, 5], [13, 14, 15], [6, 7, 8]]);
  for (const b of batches.filter((b) => !b.includes(16))) assert.equal(new Set(b.map((i) => domains[i])).size, 1, `batch ${b}`);
  // Fewer pairs than one batch: one batch of them all.
  assert.deepEqual(domainBatchList([2, 0, 1], 4, ['a', 'b', 'a']), [[2, 0, 1]]);
});

test('a short training run learns the synthetic pairs and exports a scorer that reproduces it', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-train-'));
  try {
    const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 160, swapFraction: 0, size: 64, seed: 4 });
    const pairs = await readCaptionFolder(corpus.imagesDir);
    const result = await trainReferenceScorer(pairs, {
      seed: 4,
      channels: [8, 16, 16],
      dim: 32,
      epochs: 25,
      batchSize: 64,
      learningRate: 5e-3,
      whiteningPatches: 2000,
      threads: 1,
    });
    // Unreadable files of the corpus are left out with a reason, not fatal.
    assert.ok(result.skipped.some((s) => s.id === 'bomb' && s.reason === 'image_unreadable'));
    assert.ok(result.losses.at(-1)! < result.losses[0] * 0.6, `loss ${result.losses[0].toFixed(3)} -> ${result.losses.at(-1)!.toFixed(3)}`);

    const dir = path.join(root, 'reference');
    await writeReferenceScorer(dir, result.weights, { id: 'reference-test' });
    const scorer = await loadScorer(dir, { threads: 1 });
    try {
      const images = await embedReadableImages(scorer, pairs.map((p) => p.image));
      const kept = pairs.map((_, i) => i).filter((i) => images.pooled[i] !== null);
      assert.deepEqual(images.failed.map((f) => pairs[f.index].id).sort(), result.skipped.map((s) => s.id).sort());
      const texts = await scorer.embedTexts(kept.map((i) => pairs[i].caption));
      const recall = retrievalRecall(kept.map((i) => images.pooled[i]!), texts.pooled);
      t.diagnostic(`training-set recall over ${kept.length} pairs: image->text R@1 ${recall.imageToText[1].toFixed(2)}, text->image R@1 ${recall.textToImage[1].toFixed(2)}`);
      // Chance is 1/160 for R@1; a wrong export (features, standardisation fold, tokenizer) lands near it.
      assert.ok(recall.imageToText[5] > 0.3, `image->text R@5 ${recall.imageToText[5]}`);
      assert.ok(recall.textToImage[5] > 0.3, `text->image R@5 ${recall.textToImage[5]}`);
    } finally {
      await scorer.close();
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
