// The shipped reference scorer (models/reference) loads through loadScorer like any export and
// ranks freshly generated synthetic pairs: each image's own caption above the others'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScorer } from '../../scorer/scorer.ts';
import { syntheticCorpus } from '../../scorer/eval/corpora.ts';
import { distinctScenes } from '../../scorer/eval/evaluate.ts';
import { retrievalRecall } from '../../scorer/eval/retrieval.ts';
import { bestPatch } from '../../scorer/eval/grounding-eval.ts';

const modelDir = fileURLToPath(new URL('../../models/reference', import.meta.url));

test('models/reference is small, documented and loads with patch and token embeddings', async () => {
  const names = await fs.readdir(modelDir);
  for (const f of ['vision_model.onnx', 'text_model.onnx', 'tokenizer.json', 'preprocessor_config.json', 'scorer.json', 'TRAINING.md']) assert.ok(names.includes(f), `${f} missing`);
  let bytes = 0;
  for (const f of names) bytes += (await fs.stat(path.join(modelDir, f))).size;
  assert.ok(bytes < 8e6, `models/reference is ${(bytes / 1e6).toFixed(1)} MB`);
  const tokenizer = JSON.parse(await fs.readFile(path.join(modelDir, 'tokenizer.json'), 'utf8'));
  assert.equal(tokenizer.model.type, 'WordLevel');

  const scorer = await loadScorer(modelDir, { threads: 1 });
  try {
    assert.equal(scorer.id, 'weft-reference');
    assert.equal(scorer.dim, 256);
    assert.match(scorer.modelSha256, /^[0-9a-f]{64}$/);
    const texts = await scorer.embedTexts(['a red circle']);
    // "a", "red", "circle": one token row each, their mean is the caption's embedding.
    const tokens = texts.tokens![0];
    assert.equal(tokens.ids.length, 3);
    const mean = new Float32Array(256);
    for (let t = 0; t < 3; t++) for (let d = 0; d < 256; d++) mean[d] += tokens.data[t * 256 + d] / 3;
    const norm = Math.hypot(...mean);
    mean.forEach((x, d) => assert.ok(Math.abs(x / norm - texts.pooled[0][d]) < 1e-4));
  } finally {
    await scorer.close();
  }
});

test('ranks generated synthetic pairs: own caption first, and finds the named shape', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-reference-'));
  const scorer = await loadScorer(modelDir, { threads: 1 });
  try {
    // A seed the scorer was not trained on.
    const pairs = distinctScenes(await syntheticCorpus(root, { count: 24, seed: 777 })).slice(0, 20);
    const images = await scorer.embedImages(pairs.map((p) => p.image));
    const texts = await scorer.embedTexts(pairs.map((p) => p.caption));
    const recall = retrievalRecall(images.pooled, texts.pooled);
    // Chance is 1/20 for R@1; the held-out figure is about 0.9 (TRAINING.md).
    assert.ok(recall.imageToText[1] >= 0.7, `image->text R@1 ${recall.imageToText[1]}`);
    assert.ok(recall.textToImage[1] >= 0.6, `text->image R@1 ${recall.textToImage[1]}`);

    // The score is the cosine: own pair above the pair with the next image's caption, for most pairs.
    const own = await scorer.score(pairs.map((p) => ({ image: p.image, text: p.caption })));
    const other = await scorer.score(pairs.map((p, i) => ({ image: p.image, text: pairs[(i + 1) % pairs.length].caption })));
    assert.ok(own.filter((s, i) => s > other[i]).length >= 18, `own caption higher for ${own.filter((s, i) => s > other[i]).length}/20`);

    // Patch embeddings: an 8x8 grid over the 64 px image; the single object's phrase peaks near it.
    const patches = images.patches!;
    assert.deepEqual(patches[0].grid, [8, 8]);
    const singles = pairs.filter((p) => p.objects!.length === 1);
    const phrases = (await scorer.embedTexts(singles.map((p) => `${p.objects![0].colour} ${p.objects![0].shape}`))).pooled;
    let near = 0;
    singles.forEach((p, k) => {
      const best = bestPatch(patches[pairs.indexOf(p)], phrases[k]);
      const [x0, y0, x1, y1] = p.objects![0].box;
      const cx = (best.col + 0.5) * 8;
      const cy = (best.row + 0.5) * 8;
      if (cx >= x0 - 8 && cx <= x1 + 8 && cy >= y0 - 8 && cy <= y1 + 8) near += 1;
    });
    assert.ok(singles.length >= 4 && near / singles.length >= 0.5, `best patch near the object for ${near}/${singles.length}`);
  } finally {
    await scorer.close();
    await fs.rm(root, { recursive: true, force: true });
  }
});
