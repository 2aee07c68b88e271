// A small end-to-end training run: synthetic corpus -> trained reference scorer folder -> loadScorer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { buildVocab, retrievalRecall, trainReferenceScorer } from '../../scorer/reference-trainer.ts';
import { embedReadableImages, loadScorer } from '../../scorer/scorer.ts';

test('vocabulary: [PAD], [UNK], then words seen often enough, most frequent first', () => {
  assert.deepEqual(buildVocab(['A red circle.', 'a RED square', 'a blue star'], 2), ['[PAD]', '[UNK]', 'a', 'red']);
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
