// weft run with a scorer, end to end: score column and traceability in shards, index and
// manifest; absolute threshold and keep_top (cut at finalise from the merged t-digest, the same
// for one process and for two ranks + merge); then weft filter re-thresholds the stored scores.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { makeDemoCorpus, type DemoCorpusInfo } from '../../corpora/demo-corpus.ts';
import { parseConfig, type LoadedConfig } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { filterOutDir } from '../../run/commands/filter.ts';
import { idsInShards, parquetRows, readJson } from '../helpers/out-dir.ts';
import { tinyReferenceScorer } from '../helpers/trained-reference.ts';

const COLUMN = 'score_tiny_reference';
let root: string;
let corpus: DemoCorpusInfo;
let loaded: LoadedConfig;
let single: string;

before(async () => {
  const scorer = await tinyReferenceScorer();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-score-run-'));
  corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 60, swapFraction: 0.3, size: 64, seed: 8 });
  const config = parseConfig({
    name: 'scored',
    source: { kind: 'image_text', path: corpus.imagesDir, rows_per_unit: 20 },
    decode: { resize_mode: 'center_crop', image_size: 64 },
    score: { scorer, batch_size: 16, threshold: -0.2, keep_top: 0.6, grounding: { enabled: true, phrase_threshold: 0.1 } },
  });
  loaded = { config, baseDir: root };
  single = path.join(root, 'single');
  await runPipeline({ loaded, outDir: single });
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const shardTables = async (out: string) => {
  const manifest = await readJson(path.join(out, 'manifest.json'));
  return Promise.all(manifest.shards.map(async (s: any) => arrow.tableFromIPC(await fs.readFile(path.join(out, s.path)))));
};

test('scores land in shards and index with the scorer recorded; threshold and keep_top drop with reasons', async () => {
  const manifest = await readJson(path.join(single, 'manifest.json'));
  const [scorerEntry] = manifest.scorers;
  assert.equal(scorerEntry.id, 'tiny-reference');
  assert.match(scorerEntry.model_sha256, /^[0-9a-f]{64}$/);
  assert.match(scorerEntry.preprocessing_hash, /^[0-9a-f]{64}$/);
  const tables = await shardTables(single);
  const weft = JSON.parse(tables[0].schema.metadata.get('weft')!);
  assert.deepEqual(weft.scorers, [scorerEntry]);
  const hfFeatures = JSON.parse(tables[0].schema.metadata.get('huggingface')!).info.features;
  assert.deepEqual(hfFeatures[COLUMN], { _type: 'Value', dtype: 'float64' });
  assert.ok(tables[0].schema.fields.some((f: arrow.Field) => f.name === 'phrases'));

  const threshold = manifest.filters.find((f: any) => f.rule === 'threshold');
  assert.deepEqual(threshold, { column: COLUMN, rule: 'threshold', threshold: -0.2, stage: 'score', reason: 'score_below_threshold' });
  const keepTop = manifest.filters.find((f: any) => f.rule === 'keep_top');
  assert.equal(keepTop.column, COLUMN);
  assert.equal(keepTop.sketch, 't-digest');
  assert.equal(keepTop.fraction, 0.6);
  assert.equal(typeof keepTop.threshold, 'number');

  const index = await parquetRows(path.join(single, 'index.parquet'));
  const rejects = await parquetRows(path.join(single, 'rejects.parquet'));
  assert.equal(index.length, manifest.totals.kept);
  assert.equal(rejects.length, manifest.totals.dropped);
  assert.ok(index.every((r) => typeof r[COLUMN] === 'number' && (r[COLUMN] as number) >= keepTop.threshold));
  const cutRows = rejects.filter((r) => r.reason === 'score_below_top_fraction');
  assert.ok(cutRows.length > 0 && cutRows.every((r) => r.stage === 'keep_top'));
  assert.equal(keepTop.kept, index.length);
  assert.equal(keepTop.dropped, cutRows.length);
  // keep_top keeps about 60% of the scored pool (all pairs the scorer could read).
  assert.ok(Math.abs(index.length - 0.6 * keepTop.count) <= 2, `${index.length} of ${keepTop.count}`);
  for (const r of rejects.filter((x) => x.reason === 'score_below_threshold')) assert.match(String(r.detail), /< threshold -0\.2/);
  // Shards hold the scored pool: every kept pair plus those the keep_top cut left out of the index.
  const inShards = await idsInShards(single);
  assert.deepEqual(inShards.sort(), [...index.map((r) => String(r.id)), ...cutRows.map((r) => String(r.id))].sort());

  // The scores are meaningful: swapped captions are cut far more often than true ones.
  const keptIds = new Set(index.map((r) => String(r.id)));
  const swappedKept = corpus.swapped.filter((id) => keptIds.has(id)).length / corpus.swapped.length;
  const trueKept = [...keptIds].filter((id) => !corpus.swapped.includes(id)).length / (60 - corpus.swapped.length);
  assert.ok(swappedKept < trueKept - 0.3, `swapped kept ${swappedKept}, true kept ${trueKept}`);

  const stats = await readJson(path.join(single, 'stats.json'));
  assert.equal(stats.stages.keep_top.out, index.length);
  assert.equal(stats.kinds.image_text.kept, index.length);
  const html = await fs.readFile(path.join(single, 'report.html'), 'utf8');
  assert.ok(html.includes(`score:${COLUMN}`));
  assert.ok(html.includes('threshold'));
  assert.ok(html.includes('<rect x='), 'grounding boxes drawn on thumbnails');
});

test('two ranks + merge get the same keep_top cut and selection as one process', async () => {
  const ranks = [path.join(root, 'rank0'), path.join(root, 'rank1')];
  for (const [rank, out] of ranks.entries()) await runPipeline({ loaded, outDir: out, rank, worldSize: 2 });
  const merged = path.join(root, 'merged');
  await mergeOutDirs(ranks, merged);
  const a = await readJson(path.join(single, 'manifest.json'));
  const b = await readJson(path.join(merged, 'manifest.json'));
  assert.deepEqual(b.filters, a.filters);
  assert.deepEqual(b.totals.kept, a.totals.kept);
  const ids = async (out: string) => (await parquetRows(path.join(out, 'index.parquet'))).map((r) => r.id);
  assert.deepEqual(await ids(merged), await ids(single));
});

test('weft filter re-thresholds stored scores into a complete, consistent OUT', async () => {
  const out2 = path.join(root, 'filtered');
  const r = await filterOutDir(single, out2, { keepTop: 0.5 });
  const before = await parquetRows(path.join(single, 'index.parquet'));
  const index = await parquetRows(path.join(out2, 'index.parquet'));
  const rejects = await parquetRows(path.join(out2, 'rejects.parquet'));
  const rule = r.manifest.filters.at(-1)!;
  assert.equal(rule.rule, 'keep_top');
  assert.equal(rule.materialised, true);
  assert.equal(rule.count, before.length);
  assert.ok(Math.abs(index.length - before.length / 2) <= 2);
  // Shards hold exactly the index rows, and index rows point at their rows.
  const inShards = await idsInShards(out2);
  assert.deepEqual([...inShards].sort(), index.map((x) => String(x.id)).sort());
  assert.equal(r.manifest.totals.kept, index.length);
  assert.equal(r.manifest.shards.reduce((a, s) => a + s.rows, 0), index.length);
  const tables = await shardTables(out2);
  const byPath = new Map(r.manifest.shards.map((s, i) => [s.path, tables[i]]));
  for (const row of index) {
    const t = byPath.get(String(row.shard))!;
    assert.equal(t.getChild('id')!.get(Number(row.row)), row.id);
    assert.equal(t.getChild(COLUMN)!.get(Number(row.row)), row[COLUMN]);
    assert.ok((row[COLUMN] as number) >= Number(rule.threshold));
  }
  assert.ok(tables[0].getChild('phrases')!.get(0).length >= 0, 'nested columns survive the rewrite');
  // Every pair is accounted for: old rejects (incl. OUT's keep_top cut) + newly filtered + kept.
  const oldRejects = await parquetRows(path.join(single, 'rejects.parquet'));
  assert.equal(rejects.length, oldRejects.length + (before.length - index.length));
  assert.equal(rejects.filter((x) => x.stage === 'filter').length, before.length - index.length);
  assert.equal(r.manifest.totals.dropped, rejects.length);

  // An absolute threshold through the same path; OUT2 can be filtered again.
  const out3 = path.join(root, 'filtered-again');
  const cut = Number(rule.threshold) + 0.05;
  const r3 = await filterOutDir(out2, out3, { threshold: cut });
  const index3 = await parquetRows(path.join(out3, 'index.parquet'));
  assert.equal(index3.length, index.filter((x) => (x[COLUMN] as number) >= cut).length);
  assert.equal(r3.manifest.filters.at(-1)!.rule, 'threshold');
  await assert.rejects(filterOutDir(out2, out3, { threshold: 0 }), /not empty/);
});

test('preset datacomp_basic: non-English, short and small-image pairs are rejected with reasons; lang is an index column', async () => {
  const dir = path.join(root, 'langs');
  await fs.mkdir(dir, { recursive: true });
  const sharp = (await import('sharp')).default;
  const pairs: [string, string, number, number][] = [
    ['en-1', 'A red circle on a white background in the middle', 240, 240],
    ['en-2', 'Photograph of a wooden table with two chairs', 300, 220],
    ['de-1', 'Ein roter Kreis auf einem weißen Hintergrund in der Mitte', 240, 240],
    ['fr-1', 'Un cercle rouge sur un fond blanc au milieu de l\'image', 240, 240],
    ['en-short', 'red circle', 240, 240],
    ['en-small', 'A small red circle on a white background', 120, 120],
    ['en-wide', 'A long thin banner with a red circle on a white background', 900, 240],
  ];
  for (const [id, caption, w, h] of pairs) {
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 250, g: 250, b: 250 } } }).png().toFile(path.join(dir, `${id}.png`));
    await fs.writeFile(path.join(dir, `${id}.txt`), caption);
  }
  const out = path.join(root, 'langs-out');
  await runPipeline({ loaded: { config: parseConfig({ source: { kind: 'image_text', path: dir }, preset: 'datacomp_basic', decode: { image_size: 64 } }), baseDir: root }, outDir: out });
  const index = await parquetRows(path.join(out, 'index.parquet'));
  assert.deepEqual(index.map((r) => [r.id, r.lang]), [['en-1', 'eng'], ['en-2', 'eng']]);
  assert.ok(index.every((r) => typeof r.lang_confidence === 'number'));
  const rejects = new Map((await parquetRows(path.join(out, 'rejects.parquet'))).map((r) => [r.id, `${r.stage}/${r.reason}`]));
  assert.equal(rejects.get('de-1'), 'caption_language/language');
  assert.equal(rejects.get('fr-1'), 'caption_language/language');
  assert.equal(rejects.get('en-short'), 'caption/caption_too_few_words');
  assert.match(String(rejects.get('en-small')), /decode\/.*small/);
  assert.match(String(rejects.get('en-wide')), /decode\/.*aspect/);
});
