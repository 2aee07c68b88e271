// Cross-scoring at a realistic size: over 1,000 pairs, every fold of three seeds trains to a
// falling loss and scores its held-out pairs with finite embeddings. The model is smaller than
// the defaults (32 px, narrow convs, few epochs) to keep the test short, with the default
// learning rate, temperature and batch size; at this size the trainer before the
// dead-feature and clipping fixes already exported non-finite weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { imageFolds, trainScorerFromPairs } from '../../run/commands/train-from-shards.ts';
import type { TrainingPair } from '../../scorer/reference-trainer.ts';

const SMALL = { imageSize: 32, channels: [8, 16, 32] as [number, number, number], dim: 64, epochs: 3, whiteningPatches: 2000, threads: 2 };

function auroc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

for (const seed of [1, 2, 3]) {
  test(`1,000+ pairs, seed ${seed}: every fold converges and scores out of sample with finite embeddings`, async (t) => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-converge-'));
    try {
      const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 1010, swapFraction: 0.15, size: 40 + 8 * seed, seed: 20 + seed });
      const pairs: TrainingPair[] = await readCaptionFolder(corpus.imagesDir);
      assert.ok(pairs.length >= 1000, `${pairs.length} pairs`);
      const r = await trainScorerFromPairs(pairs, 'demo', path.join(root, 'model'), { folds: 5, seed, training: SMALL });
      assert.equal(r.folds.length, 6, 'five fold models and the final one');
      for (const f of r.folds) {
        assert.ok(f.losses.every(Number.isFinite), `fold ${f.fold}: losses ${f.losses}`);
        assert.ok(f.losses.at(-1)! < f.losses[0], `fold ${f.fold}: loss ${f.losses[0]} -> ${f.losses.at(-1)}`);
      }
      const readable = pairs.length - r.skipped.length;
      assert.equal(r.scores.size, readable, 'every readable pair is scored out of sample');
      assert.ok([...r.scores.values()].every((s) => Number.isFinite(s) && Math.abs(s) <= 1 + 1e-6));
      const swapped = new Set(corpus.swapped);
      const scores = [...r.scores];
      const a = auroc(scores.filter(([id]) => !swapped.has(id)).map(([, s]) => s), scores.filter(([id]) => swapped.has(id)).map(([, s]) => s));
      t.diagnostic(`seed ${seed}: ${pairs.length} pairs, out-of-sample AUROC ${a.toFixed(3)}, retries ${r.folds.map((f) => f.retries).join(',')}, losses ${r.folds.map((f) => `${f.losses[0].toFixed(2)}->${f.losses.at(-1)!.toFixed(2)}`).join(' ')}`);
      assert.ok(a > 0.6, `AUROC ${a}`);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
}

test('folds group pairs by image bytes: an image with two captions is in one fold', () => {
  const image = (k: number) => Uint8Array.from([k, k >> 8, 7, 9]);
  const pairs: TrainingPair[] = [];
  for (let k = 0; k < 300; k++) {
    pairs.push({ id: `a-${k}`, image: image(k), caption: 'one' });
    pairs.push({ id: `b-${k}`, image: image(k), caption: 'two' });
  }
  const folds = imageFolds(pairs, 5, 3);
  for (let k = 0; k < 300; k++) assert.equal(folds[2 * k], folds[2 * k + 1]);
  assert.deepEqual(new Set(folds), new Set([0, 1, 2, 3, 4]));
  assert.deepEqual(folds, imageFolds([...pairs].reverse(), 5, 3).reverse(), 'independent of order');
});
