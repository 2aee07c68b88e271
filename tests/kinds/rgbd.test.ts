// `weft run` on an RGB-D capture end to end: shards with 16-bit depth, registration columns in
// the index, and every dropped frame in rejects.parquet with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import sharp from 'sharp';
import { makeRgbdFixtures } from '../../run/fixtures/rgbd-fixtures.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { parquetRows, readJson } from '../helpers/out-dir.ts';

test('an RGB-D TUM sequence runs through weft run into rgbd shards, index and rejects', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-rgbd-run-'));
  const truth = await makeRgbdFixtures(path.join(work, 'data'), { frames: 14, width: 160, height: 120, layouts: ['tum'], seed: 5, shiftedFraction: 0.3, maxInjectedShift: 5 });
  const seq = truth.tum!.sequences[0];
  const configPath = path.join(work, 'rgbd.yaml');
  await writeFile(configPath, 'name: rgbd-test\nsource: { kind: rgbd, path: data/tum, layout: tum }\nrgbd: { max_registration_shift: 1 }\n');
  const summary = await runPipeline({ loaded: await loadConfigFile(configPath), outDir: path.join(work, 'out') });
  const out = summary.outDir;

  const manifest = await readJson(path.join(out, 'manifest.json'));
  const index = await parquetRows(path.join(out, 'index.parquet'));
  const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
  assert.ok(index.length > 0, 'some pairs kept');
  assert.equal(index.length, manifest.totals.kept);
  for (const col of ['skew_ms', 'reg_dx', 'reg_dy', 'reg_confidence', 'valid_ratio']) assert.ok(col in index[0], `index has ${col}`);

  // Frames with a clearly injected shift are rejected as misregistered; no pair is kept with one.
  const shifted = seq.frames.filter((f) => f.rgb && f.depth && Math.max(Math.abs(f.shift.dx), Math.abs(f.shift.dy)) >= 3);
  assert.ok(shifted.length > 0, 'the fixture has shifted frames');
  const keptSources = new Set(index.map((r) => String(r.source)));
  for (const f of shifted) assert.ok(![...keptSources].some((s) => s.includes(path.basename(f.rgb!))), `${f.rgb} shifted by (${f.shift.dx},${f.shift.dy}) was kept`);
  assert.ok(rejects.some((r) => r.reason === 'misregistered'));
  const droppedHalves = seq.frames.filter((f) => !f.rgb || !f.depth).length;
  if (droppedHalves > 0) assert.ok(rejects.some((r) => r.reason === 'unpaired'));

  // Shards: rgb and depth media structs; depth decodes as 16-bit grey.
  const table = arrow.tableFromIPC(await readFile(path.join(out, manifest.shards[0].path)));
  const row = table.get(0)!.toJSON() as any;
  const depth = await sharp(row.depth.bytes).metadata();
  assert.equal(depth.depth, 'ushort');
  assert.equal(depth.width, 160);
  assert.ok(JSON.parse(table.schema.metadata.get('huggingface')!).info.features.depth);

  // Outputs name files relative to the source root: nothing depends on where the data sits.
  for (const r of [...index, ...rejects]) {
    assert.ok(!path.isAbsolute(String(r.source)) && String(r.source).startsWith(`${seq.name}/`), `source ${r.source}`);
  }
  for (const f of ['manifest.json', 'stats.json', 'report.html']) {
    assert.ok(!(await readFile(path.join(out, f), 'utf8')).includes(work), `${f} holds the machine path ${work}`);
  }
  assert.ok(!JSON.stringify(rejects).includes(work), 'rejects hold a machine path');

  // Stats for the report's RGB-D section: every pair that reached the quality check is counted.
  const stats = await readJson(path.join(out, 'stats.json'));
  const checked = stats.stages.rgbd_quality.in;
  const skewCount = (h: any) => h.bins.reduce((a: number, b: number) => a + b, 0) + h.under + h.over;
  assert.equal(skewCount(stats.histograms['rgbd.skew_ms']), checked);
  assert.equal(skewCount(stats.histograms['rgbd.valid_ratio']), checked);
  assert.deepEqual([stats.histograms['rgbd.skew_ms'].lo, stats.histograms['rgbd.skew_ms'].hi], [-20, 20]);
  const shiftCounts = Object.values(stats.counters['rgbd.shift_px'] as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.ok(shiftCounts > 0 && shiftCounts <= checked);
  // Worst shifts hold the dropped misregistered pairs, each with an overlay picture.
  const worst = stats.worst['rgbd.largest_shift'].items;
  assert.ok(worst.some((e: any) => e.item.reason === 'misregistered' && e.item.verdict === 'dropped'));
  for (const e of worst) assert.match(e.item.thumb, /^data:image\/jpeg;base64,/);
  // The least confident kept pairs: only kept ones, lowest confidence first.
  const unsure = stats.worst['rgbd.lowest_confidence_kept'].items;
  assert.ok(unsure.length > 0);
  for (const e of unsure) assert.match(e.item.verdict, /^kept/);
  for (const e of unsure) assert.match(e.item.thumb, /^data:image\/jpeg;base64,/);
  // Pictures are made at the end of the unit, for the examples the report shows: every kept
  // example and every dropped pair that reached registration has one.
  const keptExamples = stats.examples['kept:rgbd'].items;
  assert.ok(keptExamples.length > 0);
  for (const e of keptExamples) assert.match(e.item.thumb, /^data:image\/jpeg;base64,/);
  const droppedMisregistered = Object.entries(stats.examples).filter(([name]) => name.includes('misregistered')).flatMap(([, set]: [string, any]) => set.items);
  assert.ok(droppedMisregistered.length > 0, Object.keys(stats.examples).join(', '));
  for (const e of droppedMisregistered) assert.match(e.item.thumb, /^data:image\/jpeg;base64,/);
  const unsureConfidences = unsure.map((e: any) => Number(/confidence (\d\.\d+)/.exec(e.item.caption)![1]));
  // Captions round to 2 decimals; the set's lowest is the lowest of all kept rows.
  assert.ok(Math.abs(Math.min(...unsureConfidences) - Math.min(...index.map((r) => Number(r.reg_confidence)))) <= 0.005, unsureConfidences.join(','));

  const report = await readFile(path.join(out, 'report.html'), 'utf8');
  const section = report.slice(report.indexOf('<section id="rgbd">'), report.indexOf('<section id="examples">'));
  assert.ok(section.length > 0, 'report has an RGB-D section');
  assert.equal((section.match(/<circle class="shift-dot/g) ?? []).length, Object.keys(stats.counters['rgbd.shift_px']).length);
  assert.match(section, /<img src="data:image\/jpeg;base64,/);
  assert.match(section, /misregistered/);
  assert.match(section, /kept pairs with the lowest registration confidence/);
});

test('registration in worker threads and on the main thread give the same index and rejects', async () => {
  // The default pool depends on the CPU count (none on 2 CPUs), so both paths are run explicitly.
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-rgbd-workers-'));
  await makeRgbdFixtures(path.join(work, 'data'), { frames: 10, width: 160, height: 120, layouts: ['tum'], seed: 9, shiftedFraction: 0.4, maxInjectedShift: 5 });
  const runWith = async (workers: number) => {
    const configPath = path.join(work, `rgbd-${workers}.yaml`);
    await writeFile(configPath, `name: rgbd-workers\nsource: { kind: rgbd, path: data/tum, layout: tum, registration_workers: ${workers} }\n`);
    const summary = await runPipeline({ loaded: await loadConfigFile(configPath), outDir: path.join(work, `out-${workers}`) });
    return { index: await parquetRows(path.join(summary.outDir, 'index.parquet')), rejects: await parquetRows(path.join(summary.outDir, 'rejects.parquet')) };
  };
  const inWorkers = await runWith(2);
  const onMain = await runWith(0);
  assert.ok(inWorkers.index.length > 0 && inWorkers.rejects.length > 0, 'the capture has kept and dropped pairs');
  assert.deepEqual(inWorkers.index, onMain.index);
  assert.deepEqual(inWorkers.rejects, onMain.rejects);
});
