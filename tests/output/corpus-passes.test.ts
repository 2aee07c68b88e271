// The corpus passes end to end (weft run with curate.corpus on a scored image-caption corpus with
// injected near-duplicates): sidecars listed in the manifest, cluster ids, semantic duplicate
// marks and balance marks in index.parquet, the same for one process as for two ranks + merge,
// and the drop filters moving rows to rejects.parquet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as arrow from 'apache-arrow';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { parseConfig } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { filterOutDir } from '../../run/commands/filter.ts';
import { parquetRows, readJson } from '../helpers/out-dir.ts';
import { tinyReferenceScorer } from '../helpers/trained-reference.ts';

let root: string;
let scorer: string;
let imagesDir: string;
const DUPLICATES = ['img-00003', 'img-00010', 'img-00017', 'img-00024', 'img-00031'];

before(async () => {
  scorer = await tinyReferenceScorer();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-corpus-passes-'));
  const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 90, swapFraction: 0.2, size: 64, seed: 13 });
  imagesDir = corpus.imagesDir;
  // Near-duplicates: the same picture re-encoded as JPEG under another name (other bytes, so
  // exact dedup does not see them; the stored images differ by the JPEG round trips).
  const names = await fs.readdir(imagesDir);
  for (const id of DUPLICATES) {
    const file = names.find((n) => n.startsWith(`${id}.`) && !n.endsWith('.txt'))!;
    await sharp(path.join(imagesDir, file)).jpeg({ quality: 97 }).toFile(path.join(imagesDir, `zdup-${id}.jpg`));
    await fs.copyFile(path.join(imagesDir, `${id}.txt`), path.join(imagesDir, `zdup-${id}.txt`));
  }
  await fs.writeFile(path.join(root, 'entries.txt'), '# shapes\ncircle\nsquare\ntriangle\nstar\ndiamond\nhexagon\n');
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

function config(over: { semanticDrop?: boolean; balanceDrop?: boolean; seed?: number } = {}) {
  return parseConfig({
    name: 'corpus',
    source: { kind: 'image_text', path: imagesDir, rows_per_unit: 20 },
    decode: { image_size: 64 },
    score: { scorer, batch_size: 16 },
    curate: {
      corpus: {
        clusters: { k: 5, seed: over.seed ?? 1, seed_sample: 50 },
        semantic_dedup: { enabled: true, eps: 0.02, keep: 'first_id', drop: over.semanticDrop ?? false },
        balance: { enabled: true, entries_file: path.join(root, 'entries.txt'), t: 6, seed: 2, drop: over.balanceDrop ?? false },
      },
    },
  });
}

test('one process and two ranks + merge give the same clusters, duplicate marks and kept set', async () => {
  const loaded = { config: config(), baseDir: root };
  const single = path.join(root, 'single');
  await runPipeline({ loaded, outDir: single });
  const ranks = [0, 1].map((r) => path.join(root, `rank-${r}`));
  for (const [rank, dir] of ranks.entries()) await runPipeline({ loaded, outDir: dir, rank, worldSize: 2 });
  const merged = path.join(root, 'merged');
  await mergeOutDirs(ranks, merged);

  const one = await parquetRows(path.join(single, 'index.parquet'));
  const many = await parquetRows(path.join(merged, 'index.parquet'));
  assert.deepEqual(many, one);
  const manifest = await readJson(path.join(single, 'manifest.json'));
  assert.deepEqual((await readJson(path.join(merged, 'manifest.json'))).filters, manifest.filters);

  // Sidecars: one per unit, a row per kept sample, float16 embeddings of norm ~1, the same scores.
  assert.equal(manifest.sidecars.length, manifest.units.length);
  const byId = new Map(one.map((r) => [String(r.id), r]));
  for (const s of manifest.sidecars) {
    const t = arrow.tableFromIPC(await fs.readFile(path.join(single, s.path)));
    assert.equal(t.numRows, s.rows);
    const emb = t.getChild('image_embedding')!;
    assert.equal(String(emb.type), 'FixedSizeList[32]<Float16>');
    for (let i = 0; i < t.numRows; i++) {
      const v = [...emb.get(i)!] as number[];
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 5e-3, `norm ${norm}`);
      assert.equal(t.getChild('score')!.get(i), byId.get(String(t.getChild('id')!.get(i)))!.score_tiny_reference);
    }
  }

  // Clusters: every row has one of k ids and its distance.
  assert.ok(one.every((r) => Number(r.cluster_id) >= 0 && Number(r.cluster_id) < 5 && typeof r.cluster_distance === 'number'));
  assert.ok(new Set(one.map((r) => Number(r.cluster_id))).size > 1);
  // Every injected near-duplicate is marked, against a kept sample of its own cluster.
  for (const id of DUPLICATES) {
    const dup = byId.get(`zdup-${id}`)!;
    assert.ok(dup.semantic_duplicate_of, `zdup-${id} is marked`);
    const kept = byId.get(String(dup.semantic_duplicate_of))!;
    assert.equal(kept.semantic_duplicate_of, null, 'marked against a kept sample');
    assert.equal(kept.cluster_id, dup.cluster_id);
  }
  const marked = one.filter((r) => r.semantic_duplicate_of !== null).length;
  assert.equal(manifest.filters.find((f: any) => f.rule === 'semantic_dedup').marked, marked);
  assert.ok(marked < one.length / 2, `${marked} of ${one.length} marked`);

  // Balance: every row has a mark; some head-entry samples are not drawn; stats carry both distributions.
  assert.ok(one.every((r) => typeof r.balance_kept === 'boolean'));
  const rule = manifest.filters.find((f: any) => f.rule === 'balance');
  assert.ok(rule.head.some((h: any) => h.before > 6 && h.after < h.before));
  const stats = await readJson(path.join(single, 'stats.json'));
  assert.ok(stats.histograms['balance:entry_count_before'] && stats.histograms['balance:entry_count_after']);
  assert.ok(one.some((r) => r.balance_kept === false) && one.some((r) => r.balance_kept === true));
  // The report's Duplicates section counts the balance marks and the clusters of the index.
  const html = await fs.readFile(path.join(single, 'report.html'), 'utf8');
  const drawn = one.filter((r) => r.balance_kept === true).length;
  assert.ok(html.includes(`${drawn.toLocaleString('en-US')} of ${one.length.toLocaleString('en-US')} items in the index`), 'balance counts in the report');
  assert.match(html, /Clusters <small>column <code>cluster_id<\/code>/);
});

test('the drop filters leave marked rows out of the index and give them reject rows', async () => {
  const marks = await parquetRows(path.join(root, 'single', 'index.parquet'));
  const out = path.join(root, 'dropped');
  await runPipeline({ loaded: { config: config({ semanticDrop: true, balanceDrop: true }), baseDir: root }, outDir: out });
  const index = await parquetRows(path.join(out, 'index.parquet'));
  const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
  const dups = marks.filter((r) => r.semantic_duplicate_of !== null).map((r) => String(r.id)).sort();
  const notDrawn = marks.filter((r) => r.semantic_duplicate_of === null && r.balance_kept === false).map((r) => String(r.id)).sort();
  assert.deepEqual(rejects.filter((r) => r.reason === 'semantic_duplicate').map((r) => String(r.id)).sort(), dups);
  assert.ok(rejects.filter((r) => r.reason === 'semantic_duplicate').every((r) => r.stage === 'semantic_dedup'));
  assert.deepEqual(rejects.filter((r) => r.reason === 'balance_not_drawn').map((r) => String(r.id)).sort(), notDrawn);
  assert.equal(index.length, marks.length - dups.length - notDrawn.length);
  const manifest = await readJson(path.join(out, 'manifest.json'));
  assert.equal(manifest.totals.kept, index.length);
  const stats = await readJson(path.join(out, 'stats.json'));
  assert.deepEqual(stats.stages.semantic_dedup.dropped, { semantic_duplicate: dups.length });
  assert.equal(stats.stages.balance.dropped.balance_not_drawn, notDrawn.length);
});

test('weft filter carries the sidecar rows of the pairs it keeps, and the filtered OUT runs the corpus passes on them', async () => {
  const from = path.join(root, 'single');
  const to = path.join(root, 'filtered');
  // Leaves out every sample whose id ends in 1, 4 or 7: a selection unrelated to the passes.
  await filterOutDir(from, to, { where: "regexp_matches(id, '[147]$') = false" });
  const index = await parquetRows(path.join(to, 'index.parquet'));
  const original = await parquetRows(path.join(from, 'index.parquet'));
  assert.ok(index.length > 0 && index.length < original.length);
  const manifest = await readJson(path.join(to, 'manifest.json'));
  const sidecarRows = async (dir: string, entries: { path: string }[]) => {
    const rows = new Map<string, { caption: string; score: number | null; image: number[]; text: number[] }>();
    for (const e of entries) {
      const t = arrow.tableFromIPC(await fs.readFile(path.join(dir, e.path)));
      for (let i = 0; i < t.numRows; i++) rows.set(String(t.getChild('id')!.get(i)), { caption: t.getChild('caption')!.get(i), score: t.getChild('score')!.get(i), image: [...t.getChild('image_embedding')!.get(i)!], text: [...t.getChild('text_embedding')!.get(i)!] });
    }
    return rows;
  };
  const carried = await sidecarRows(to, manifest.sidecars);
  const before = await sidecarRows(from, (await readJson(path.join(from, 'manifest.json'))).sidecars);
  assert.deepEqual([...carried.keys()].sort(), index.map((r) => String(r.id)).sort(), 'one sidecar row per kept pair');
  for (const [id, row] of carried) assert.deepEqual(row, before.get(id), `${id}: the same caption, score and float16 embeddings`);
  assert.equal(manifest.sidecars.reduce((n: number, e: { rows: number }) => n + e.rows, 0), index.length);
  // The filtered OUT's finalise clustered and deduplicated its own selection.
  assert.ok(index.every((r) => Number(r.cluster_id) >= 0 && Number(r.cluster_id) < 5));
  const ids = new Set(index.map((r) => String(r.id)));
  for (const r of index) if (r.semantic_duplicate_of !== null) assert.ok(ids.has(String(r.semantic_duplicate_of)), 'marked against a pair of the selection');
  const pairs = DUPLICATES.filter((id) => ids.has(id) && ids.has(`zdup-${id}`));
  assert.ok(pairs.length > 0);
  for (const id of pairs) assert.equal(index.find((r) => r.id === `zdup-${id}`)!.semantic_duplicate_of, id);
});
