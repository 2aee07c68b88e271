// The finalise passes that compare the corpus with an image set embedded by the run's scorer,
// through weft run on a scored image-caption corpus: DataComp's image-based clustering filter
// (reference images as a folder or as a weft OUT folder; one process equals two ranks + merge)
// and decontamination by embedding distance next to the pHash one. Expected values come from
// the scorer run again in the test over the stored images, not from the code under test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { parseConfig } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { loadScorer } from '../../scorer/scorer.ts';
import { dot, normalise } from '../../stages/curate/kmeans.ts';
import { parquetRows, readJson, shardRows } from '../helpers/out-dir.ts';
import { tinyReferenceScorer } from '../helpers/trained-reference.ts';

let root: string;
let scorer: string;
let imagesDir: string;
let referenceDir: string;
let evalDir: string;
let reference: string[];
const EVAL = ['img-00004', 'img-00021', 'img-00047'];

before(async () => {
  scorer = await tinyReferenceScorer();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-corpus-references-'));
  const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 80, swapFraction: 0, size: 64, seed: 23 });
  imagesDir = corpus.imagesDir;
  const names = (await fs.readdir(imagesDir)).filter((n) => n.startsWith('img-') && !n.endsWith('.txt'));
  const fileOf = (id: string) => names.find((n) => n.startsWith(`${id}.`))!;
  // Reference set: the corpus's pictures of circles (copies of their files).
  reference = [];
  referenceDir = path.join(root, 'reference', 'circles');
  await fs.mkdir(referenceDir, { recursive: true });
  for (const n of names.sort()) {
    const id = n.replace(/\.[a-z]+$/, '');
    const caption = await fs.readFile(path.join(imagesDir, `${id}.txt`), 'utf8');
    if (/circle/.test(caption) && reference.length < 4) {
      reference.push(id);
      await fs.copyFile(path.join(imagesDir, n), path.join(referenceDir, n));
      await fs.writeFile(path.join(referenceDir, `${id}.txt`), caption);
    }
  }
  // Eval set: enlarged WebP versions of three corpus pictures, two in a white frame (their pHash
  // moves by more than 6 bits, their content does not), one blurred (a pHash match).
  evalDir = path.join(root, 'eval');
  await fs.mkdir(evalDir, { recursive: true });
  for (const [i, id] of EVAL.entries()) {
    const image = sharp(path.join(imagesDir, fileOf(id)));
    (i < 2 ? image.extend({ top: 6, bottom: 6, left: 6, right: 6, background: '#ffffff' }) : image.blur(1.5));
    await image.resize({ width: 150 }).webp({ quality: 85 }).toFile(path.join(evalDir, `${id}-eval.webp`));
  }
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

function config(curate: Record<string, unknown>) {
  return parseConfig({
    name: 'references',
    source: { kind: 'image_text', path: imagesDir, rows_per_unit: 20 },
    decode: { image_size: 64 },
    score: { scorer, batch_size: 16 },
    curate,
  });
}

const clusters = { k: 6, seed: 3, seed_sample: 60 };

test('image_cluster_filter keeps the samples in a reference image\'s cluster, with a folder or an OUT as reference; ranks + merge equal one process', async () => {
  const marksOut = path.join(root, 'marks');
  await runPipeline({ loaded: { config: config({ corpus: { clusters, image_cluster_filter: { reference: referenceDir, drop: false } } }), baseDir: root }, outDir: marksOut });
  const marks = await parquetRows(path.join(marksOut, 'index.parquet'));
  assert.equal(marks.length, 80);
  // The reference images are corpus files, so their own rows' clusters are the reference clusters.
  const referenceClusters = new Set(marks.filter((r) => reference.includes(String(r.id))).map((r) => Number(r.cluster_id)));
  for (const r of marks) assert.equal(r.reference_cluster, referenceClusters.has(Number(r.cluster_id)), String(r.id));
  const inside = marks.filter((r) => r.reference_cluster === true).map((r) => String(r.id)).sort();
  assert.ok(inside.length > 0 && inside.length < marks.length, `${inside.length} of ${marks.length} in reference clusters`);
  const rule = (await readJson(path.join(marksOut, 'manifest.json'))).filters.find((f: any) => f.rule === 'image_cluster_filter');
  assert.equal(rule.reference_images, reference.length);
  assert.equal(rule.reference_clusters, referenceClusters.size);

  // Dropping (the default): the others leave the index as image_cluster_filter rejects.
  const dropOut = path.join(root, 'drop');
  await runPipeline({ loaded: { config: config({ corpus: { clusters, image_cluster_filter: { reference: referenceDir } } }), baseDir: root }, outDir: dropOut });
  const kept = await parquetRows(path.join(dropOut, 'index.parquet'));
  assert.deepEqual(kept.map((r) => String(r.id)).sort(), inside);
  const rejects = (await parquetRows(path.join(dropOut, 'rejects.parquet'))).filter((r) => r.reason === 'image_cluster_filter');
  assert.equal(rejects.length, marks.length - inside.length);
  assert.ok(rejects.every((r) => r.stage === 'image_cluster_filter' && /nearest centroid \d+ is no reference image's/.test(String(r.detail))));
  const stats = await readJson(path.join(dropOut, 'stats.json'));
  assert.equal(stats.stages.image_cluster_filter.dropped.image_cluster_filter, rejects.length);

  // The reference as a weft OUT folder (a run over the reference images) selects the same.
  const refOut = path.join(root, 'reference-out');
  await runPipeline({ loaded: { config: parseConfig({ source: { kind: 'image_text', path: referenceDir }, decode: { image_size: 64 } }), baseDir: root }, outDir: refOut });
  const fromOut = path.join(root, 'from-out');
  await runPipeline({ loaded: { config: config({ corpus: { clusters, image_cluster_filter: { reference: refOut } } }), baseDir: root }, outDir: fromOut });
  assert.deepEqual((await parquetRows(path.join(fromOut, 'index.parquet'))).map((r) => String(r.id)).sort(), inside);

  // Two ranks + merge (the merge embeds the reference set again) give the same index.
  const loaded = { config: config({ corpus: { clusters, image_cluster_filter: { reference: referenceDir } } }), baseDir: root };
  const ranks = [0, 1].map((r) => path.join(root, `rank-${r}`));
  for (const [rank, dir] of ranks.entries()) await runPipeline({ loaded, outDir: dir, rank, worldSize: 2 });
  await mergeOutDirs(ranks, path.join(root, 'merged'));
  assert.deepEqual(await parquetRows(path.join(root, 'merged', 'index.parquet')), kept);
});

test('embedding decontamination: cosine to an eval image at or above embedding_min_cosine is eval_contamination, beside pHash', async () => {
  const minCosine = 0.93;
  const marksOut = path.join(root, 'eval-marks');
  await runPipeline({ loaded: { config: config({ decontaminate: { eval_images: evalDir, embedding_min_cosine: minCosine, drop: false } }), baseDir: root }, outDir: marksOut });
  const marks = await parquetRows(path.join(marksOut, 'index.parquet'));
  // Expected: the scorer over the stored image bytes and the eval files, max cosine per sample.
  const model = await loadScorer(scorer);
  const evalFiles = (await fs.readdir(evalDir)).sort();
  const evalVectors = (await model.embedImages(await Promise.all(evalFiles.map((f) => fs.readFile(path.join(evalDir, f)))), { detail: false })).pooled.map((v) => normalise(Float32Array.from(v)));
  const stored = await shardRows(marksOut, ['id', 'image']);
  const vectors = (await model.embedImages(stored.map((r) => (r.image as { bytes: Uint8Array }).bytes), { detail: false })).pooled.map((v) => normalise(Float32Array.from(v)));
  await model.close();
  const expected = new Map(stored.map((r, i) => {
    const sims = evalVectors.map((e) => dot(vectors[i], e));
    const best = sims.indexOf(Math.max(...sims));
    return [String(r.id), { cosine: sims[best], name: evalFiles[best] }];
  }));
  for (const r of marks) {
    const e = expected.get(String(r.id))!;
    assert.ok(Math.abs(Number(r.eval_embedding_cosine) - e.cosine) < 5e-3, `${r.id}: ${r.eval_embedding_cosine} vs ${e.cosine}`);
    if (Math.abs(e.cosine - minCosine) > 5e-3) assert.equal(r.eval_embedding_match, e.cosine >= minCosine ? e.name : null, String(r.id));
  }
  // Each eval image's own source is matched to it; the framed copies escape pHash, the blurred one does not.
  for (const id of EVAL) assert.equal(marks.find((r) => r.id === id)!.eval_embedding_match, `${id}-eval.webp`);
  const matched = marks.filter((r) => r.eval_embedding_match !== null);
  assert.ok(matched.length < marks.length / 2, `${matched.length} of ${marks.length} matched`);
  assert.deepEqual(EVAL.map((id) => marks.find((r) => r.id === id)!.eval_contamination), [null, null, `${EVAL[2]}-eval.webp`]);

  // drop (the default): pHash matches go at the decontaminate stage, embedding matches at finalise.
  const dropOut = path.join(root, 'eval-drop');
  await runPipeline({ loaded: { config: config({ decontaminate: { eval_images: evalDir, embedding_min_cosine: minCosine } }), baseDir: root }, outDir: dropOut });
  const kept = await parquetRows(path.join(dropOut, 'index.parquet'));
  const rejects = (await parquetRows(path.join(dropOut, 'rejects.parquet'))).filter((r) => r.reason === 'eval_contamination');
  const contaminated = marks.filter((r) => r.eval_contamination !== null || r.eval_embedding_match !== null).map((r) => String(r.id)).sort();
  assert.deepEqual(rejects.map((r) => String(r.id)).sort(), contaminated);
  assert.ok(rejects.filter((r) => r.stage === 'decontaminate_embedding').every((r) => /image embedding cosine 0\.9\d+ >= 0\.93 to eval image img-\d+-eval\.webp/.test(String(r.detail))));
  const stageOf = (id: string) => rejects.find((r) => r.id === id)?.stage;
  assert.deepEqual(EVAL.map(stageOf), ['decontaminate_embedding', 'decontaminate_embedding', 'decontaminate']);
  assert.equal(kept.length, marks.length - contaminated.length);
  const manifest = await readJson(path.join(dropOut, 'manifest.json'));
  assert.equal(manifest.totals.kept, kept.length);
});

test('config: image_cluster_filter needs image clusters; embedding_min_cosine needs eval_images', () => {
  assert.throws(() => config({ corpus: { image_cluster_filter: { reference: referenceDir } } }), /image_cluster_filter compares image clusters/);
  assert.throws(() => config({ corpus: { clusters: { k: 3, embedding: 'text' }, image_cluster_filter: { reference: referenceDir } } }), /image_cluster_filter compares image clusters/);
  assert.throws(() => config({ decontaminate: { embedding_min_cosine: 0.9 } }), /embedding_min_cosine compares samples with the eval images/);
});
