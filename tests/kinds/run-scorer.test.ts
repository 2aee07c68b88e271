// The named scorer settings resolve to the shipped folders, and the backbone one loads through
// loadScorer (its head joined to the converted nsfwjs backbone) with a 7x7 patch grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REFERENCE_BACKBONE_SCORER_DIR, REFERENCE_SCORER_DIR, scorerDir } from '../../kinds/run-scorer.ts';
import { loadScorer } from '../../scorer/scorer.ts';

test('reference and reference-random name the random-feature model, reference-backbone the backbone one', () => {
  assert.equal(scorerDir('reference', '/cfg'), REFERENCE_SCORER_DIR);
  assert.equal(scorerDir('reference-random', '/cfg'), REFERENCE_SCORER_DIR);
  assert.equal(scorerDir('reference-backbone', '/cfg'), REFERENCE_BACKBONE_SCORER_DIR);
  assert.equal(scorerDir('models/mine', '/cfg'), path.resolve('/cfg', 'models/mine'));
});

test('the shipped backbone scorer loads and ranks its own captions first', async () => {
  const scorer = await loadScorer(REFERENCE_BACKBONE_SCORER_DIR);
  try {
    assert.equal(scorer.id, 'weft-reference-backbone');
    assert.equal(scorer.modelFiles[0].path, 'vision_head.onnx+nsfwjs-mobilenet-v2');
    const { makeDemoCorpus } = await import('../../corpora/demo-corpus.ts');
    const { readCaptionFolder } = await import('../../scorer/caption-folder.ts');
    const os = await import('node:os');
    const fs = await import('node:fs/promises');
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-run-scorer-'));
    try {
      const corpus = await makeDemoCorpus(root, { count: 12, swapFraction: 0, size: 64, seed: 31 });
      const bad = new Set(corpus.bad.map((b) => b.id));
      const pairs = (await readCaptionFolder(corpus.imagesDir)).filter((p) => !bad.has(p.id)).slice(0, 8);
      const images = await scorer.embedImages(pairs.map((p) => p.image));
      assert.deepEqual(images.patches![0].grid, [7, 7]);
      const texts = await scorer.embedTexts(pairs.map((p) => p.caption));
      // Mean cosine of true pairs above that of all other pairings: the model aligns something.
      let own = 0;
      let other = 0;
      for (let i = 0; i < pairs.length; i++)
        for (let j = 0; j < pairs.length; j++) {
          const c = images.pooled[i].reduce((a, v, d) => a + v * texts.pooled[j][d], 0);
          if (i === j) own += c / pairs.length;
          else other += c / (pairs.length * (pairs.length - 1));
        }
      assert.ok(own > other, `true pairs ${own.toFixed(3)}, other pairings ${other.toFixed(3)}`);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  } finally {
    await scorer.close();
  }
});
