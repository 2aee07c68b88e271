// `weft run` on an RGB-D capture end to end: shards with 16-bit depth, registration columns in
// the index, and every dropped frame in rejects.parquet with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import sharp from 'sharp';
import { makeRgbdFixtures } from '../../scripts/make-rgbd-fixtures.ts';
import { loadConfigFile } from '../../pipeline/config.ts';
import { runPipeline } from '../../pipeline/executor.ts';
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
});
