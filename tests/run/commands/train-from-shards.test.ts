// weft train-scorer's core on a real run's OUT: k-fold out-of-sample scores rank swapped
// captions below true ones, the scorer folder loads, and weft filter uses the score file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { parseConfig } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { filterOutDir } from '../../../run/commands/filter.ts';
import { foldOf, readShardPairs, trainScorerFromShards } from '../../../run/commands/train-from-shards.ts';
import { loadScorer } from '../../../scorer/scorer.ts';
import { parquetRows } from '../../helpers/out-dir.ts';
import { TINY } from '../../helpers/trained-reference.ts';

/** Probability that a random true pair outscores a random swapped one. */
function auroc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

test('folds come from a hash of the id: stable, and all folds used', () => {
  const ids = Array.from({ length: 200 }, (_, i) => `img-${i}`);
  assert.deepEqual(ids.map((id) => foldOf(id, 3, 1)), ids.map((id) => foldOf(id, 3, 1)));
  assert.deepEqual(new Set(ids.map((id) => foldOf(id, 3, 1))), new Set([0, 1, 2]));
});

test('k-fold cross-scoring from shards ranks swapped captions lower; weft filter --scores uses them', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-train-scorer-'));
  try {
    const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 180, swapFraction: 0.3, size: 64, seed: 3 });
    const config = parseConfig({ name: 'pool', source: { kind: 'image_text', path: corpus.imagesDir, rows_per_unit: 90 }, decode: { resize_mode: 'center_crop', image_size: 64 } });
    const out = path.join(root, 'out');
    await runPipeline({ loaded: { config, baseDir: root }, outDir: out });
    const pairs = await readShardPairs(out);
    assert.equal(pairs.length, 180);

    const model = path.join(root, 'model');
    const r = await trainScorerFromShards(out, model, { folds: 3, seed: 2, id: 'boot', training: TINY });
    assert.equal(r.column, 'oos_score_boot');
    assert.equal(r.scores.size, 180, 'every pair scored out of sample');
    const swapped = new Set(corpus.swapped);
    const trueScores = [...r.scores].filter(([id]) => !swapped.has(id)).map(([, s]) => s);
    const swappedScores = [...r.scores].filter(([id]) => swapped.has(id)).map(([, s]) => s);
    const a = auroc(trueScores, swappedScores);
    t.diagnostic(`out-of-sample AUROC true vs swapped: ${a.toFixed(3)} (${trueScores.length} true, ${swappedScores.length} swapped)`);
    assert.ok(a > 0.75, `AUROC ${a}`);

    const rows = await parquetRows(r.scoresFile);
    assert.equal(rows.length, 180);
    assert.ok(rows.every((x) => typeof x.oos_score_boot === 'number'));
    const scorer = await loadScorer(model, { threads: 1 });
    assert.equal(scorer.id, 'boot');
    await scorer.close();
    assert.match(await fs.readFile(path.join(model, 'TRAINING.md'), 'utf8'), /3-fold cross-scoring/);

    // Filtering on the out-of-sample scores drops mostly swapped pairs.
    const filtered = path.join(root, 'filtered');
    const f = await filterOutDir(out, filtered, { keepTop: 0.7, scoresFile: r.scoresFile });
    const index = await parquetRows(path.join(filtered, 'index.parquet'));
    assert.ok(index.every((x) => typeof x.oos_score_boot === 'number'), 'the score column is added to the index');
    const dropped = (await parquetRows(path.join(filtered, 'rejects.parquet'))).filter((x) => x.stage === 'filter');
    const precision = dropped.filter((x) => swapped.has(String(x.id))).length / dropped.length;
    t.diagnostic(`dropped ${dropped.length}, of which swapped ${precision.toFixed(2)}`);
    assert.ok(precision > 0.6, `precision ${precision}`);
    assert.equal(f.manifest.filters.at(-1)!.scores, 'oos-scores.parquet');
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
