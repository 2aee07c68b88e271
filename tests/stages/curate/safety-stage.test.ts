// The safety stage in a real run: demo images and openclipart drawings classified by the
// converted nsfwjs MobileNetV2, five class columns and `nsfw` in shards and index, the same
// values as the classifier alone and on a second run, and max_nsfw dropping exactly the pairs
// above it with reason nsfw. (No NSFW data exists here: the cut is set inside the corpus' own
// range, so the plumbing is what is tested; the classifier's agreement with nsfwjs is in
// tests/stages/score/backbone-conversion.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { OPENCLIPART_ROOT, listSvgFiles, pickSubset, renderSvg } from '../../../corpora/openclipart-corpus.ts';
import { parseConfig } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { openSafetyClassifier } from '../../../stages/curate/safety-stage.ts';
import { parquetRows, readJson } from '../../helpers/out-dir.ts';

let root: string;
let images: string;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-safety-'));
  const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 24, swapFraction: 0, size: 96, seed: 9 });
  images = corpus.imagesDir;
  // Openclipart drawings next to the demo's shapes: another class (drawing) and other textures.
  for (const f of pickSubset(await listSvgFiles(OPENCLIPART_ROOT), 12)) {
    const name = `clip-${path.basename(f, '.svg').replace(/[^A-Za-z0-9]+/g, '-')}`;
    await fs.writeFile(path.join(images, `${name}.png`), await renderSvg(await fs.readFile(path.join(OPENCLIPART_ROOT, f)), 160));
    await fs.writeFile(path.join(images, `${name}.txt`), 'a drawing');
  }
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const run = async (name: string, safety: Record<string, unknown>) => {
  const config = parseConfig({ name, source: { kind: 'image_text', path: images, rows_per_unit: 20 }, decode: { resize_mode: 'center_crop', image_size: 128 }, safety });
  const out = path.join(root, name);
  await runPipeline({ loaded: { config, baseDir: root }, outDir: out });
  return out;
};

test('safety columns match the classifier; max_nsfw drops exactly the pairs above it; runs repeat', async (t) => {
  const first = await run('plain', { enabled: true });
  const index = await parquetRows(path.join(first, 'index.parquet'));
  assert.ok(index.length >= 30, `${index.length} pairs`);
  for (const r of index) {
    const classes = ['drawing', 'hentai', 'neutral', 'porn', 'sexy'].map((c) => r[`nsfw_${c}`] as number);
    assert.ok(classes.every((p) => p >= 0 && p <= 1));
    assert.ok(Math.abs(classes.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    assert.ok(Math.abs((r.nsfw as number) - (classes[1] + classes[3] + classes[4])) < 1e-5);
  }
  // The stage's values are the classifier's on the stored (decoded) images.
  const manifest = await readJson(path.join(first, 'manifest.json'));
  const arrow = await import('apache-arrow');
  const stored = new Map<string, Uint8Array>();
  for (const s of manifest.shards) {
    const table = arrow.tableFromIPC(await fs.readFile(path.join(first, s.path)));
    for (let i = 0; i < table.numRows; i++) stored.set(String(table.getChild('id')!.get(i)), table.getChild('image')!.get(i).bytes);
  }
  const classifier = await openSafetyClassifier(2);
  try {
    const ids = index.map((r) => String(r.id));
    const direct = await classifier.classify(ids.map((id) => stored.get(id)!));
    ids.forEach((id, i) => assert.ok(Math.abs((direct[i] as { nsfw: number }).nsfw - (index[i].nsfw as number)) < 1e-6, id));
  } finally {
    await classifier.close();
  }
  const stats = await readJson(path.join(first, 'stats.json'));
  assert.equal(Object.values(stats.counters['safety:class'] as Record<string, number>).reduce((a, b) => a + b, 0), index.length);
  assert.ok(stats.histograms['safety:nsfw']);
  const html = await fs.readFile(path.join(first, 'report.html'), 'utf8');
  assert.match(html, /safety:nsfw/);

  // A cut inside the corpus' own range.
  const values = index.map((r) => r.nsfw as number).sort((a, b) => a - b);
  const cut = values[Math.floor(values.length * 0.7)];
  const filtered = await run('filtered', { enabled: true, max_nsfw: cut });
  const kept = await parquetRows(path.join(filtered, 'index.parquet'));
  const dropped = (await parquetRows(path.join(filtered, 'rejects.parquet'))).filter((r) => r.reason === 'nsfw');
  const above = new Set(index.filter((r) => (r.nsfw as number) > cut).map((r) => String(r.id)));
  t.diagnostic(`nsfw range ${values[0]} .. ${values.at(-1)}, cut ${cut}: ${dropped.length} dropped`);
  assert.ok(above.size > 0);
  assert.deepEqual(new Set(dropped.map((r) => String(r.id))), above);
  assert.ok(dropped.every((r) => r.stage === 'safety' && /nsfw \d\.\d+ > max_nsfw .*drawing \d\.\d+/.test(String(r.detail))));
  assert.equal(kept.length, index.length - above.size);
  const repeat = new Map(kept.map((r) => [String(r.id), r.nsfw]));
  for (const r of index) if (repeat.has(String(r.id))) assert.equal(repeat.get(String(r.id)), r.nsfw, 'deterministic');
});

test('max_nsfw without enabled is a config error', () => {
  assert.throws(() => parseConfig({ name: 'x', source: { kind: 'image_text', path: '.' }, safety: { max_nsfw: 0.5 } }), /max_nsfw needs enabled: true/);
});
