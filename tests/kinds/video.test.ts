// `weft run` on a folder of videos end to end: clips with recovered AV offsets in the shards and
// index, every bad file in rejects.parquet with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { makeVideoFixtures } from '../../run/fixtures/video-fixtures.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { parquetRows, readJson } from '../helpers/out-dir.ts';

test('video folder through weft run: AV offsets as data, bad files as rejects', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-video-run-'));
  const truth = await makeVideoFixtures(path.join(work, 'data'), { delaysMs: [-200, 160], inSyncClips: 1, unrelatedClips: 1, demoVideos: 0 });
  await writeFile(path.join(work, 'video.yaml'), 'name: video-test\nsource: { kind: video, path: data, clip: { mode: fixed, length_s: 10 } }\n');
  const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'video.yaml')), outDir: path.join(work, 'out') });
  const index = await parquetRows(path.join(summary.outDir, 'index.parquet'));
  const rejects = await parquetRows(path.join(summary.outDir, 'rejects.parquet'));

  for (const clip of truth.sync.filter((c) => c.delay_ms !== null)) {
    const row = index.find((r) => String(r.source).endsWith(clip.file));
    assert.ok(row, `${clip.file} kept`);
    assert.ok(Math.abs(Number(row.av_offset_ms) - clip.delay_ms!) <= 40, `${clip.file}: measured ${row.av_offset_ms} ms, injected ${clip.delay_ms} ms`);
  }
  for (const clip of truth.sync.filter((c) => c.delay_ms === null)) {
    assert.ok(rejects.some((r) => String(r.source).endsWith(clip.file) && r.reason === 'low_sync_confidence'), `${clip.file} (unrelated audio) rejected`);
  }
  for (const bad of truth.bad) {
    assert.ok(rejects.some((r) => String(r.source).endsWith(bad.file) && r.reason === bad.reason && r.stage === bad.stage), `${bad.file}: ${bad.stage}/${bad.reason}`);
  }

  const manifest = await readJson(path.join(summary.outDir, 'manifest.json'));
  const table = arrow.tableFromIPC(await readFile(path.join(summary.outDir, manifest.shards[0].path)));
  const clip = table.get(0)!.toJSON() as any;
  assert.ok(clip.frames.length > 0);
  assert.ok(clip.frames.get(0).image.bytes.byteLength > 100);
  assert.equal(clip.sampling_rate, 16000);
  assert.equal(String.fromCharCode(...clip.audio.bytes.subarray(0, 4)), 'RIFF');

  // Outputs name videos relative to the source root: nothing depends on where the data sits.
  for (const r of [...index, ...rejects]) assert.ok(!path.isAbsolute(String(r.source)) && !String(r.source).includes(work), String(r.source));
  assert.ok(!clip.video.includes(work));
  // Tool messages (ffprobe, ffmpeg) quote the input's absolute path; the reject details do not.
  assert.ok(rejects.some((r) => r.reason === 'probe_failed'), 'a probe failure among the bad files');
  for (const r of rejects) assert.ok(!String(r.detail).includes(work), `detail names no machine path: ${r.detail}`);

  // The report's video section: offset and confidence histograms, worst clips as filmstrips with both signals.
  const html = await readFile(path.join(summary.outDir, 'report.html'), 'utf8');
  const video = html.slice(html.indexOf('<section id="video">'), html.indexOf('</section>', html.indexOf('<section id="video">')));
  assert.ok(video.length > 0, 'report has a video section');
  assert.match(video, /video\.av_offset_ms <small>histogram, 6 values, 31 bins/);
  assert.match(video, /video\.av_confidence <small>histogram, 6 values/);
  assert.match(video, /low_sync_confidence/);
  const strips = video.match(/aria-label="filmstrip with motion and audio onset signals"/g) ?? [];
  assert.ok(strips.length >= 4, `${strips.length} filmstrips`);
  assert.ok((video.match(/<polyline /g) ?? []).length >= 2 * strips.length);
  assert.ok((video.match(/<image href="data:image\/jpeg;base64,/g) ?? []).length >= 4 * strips.length);
  // The caption gives the offset refined to a fraction of a frame: within half a frame (20 ms) of the -200 ms injected.
  assert.match(video, /offset -(1[89]\d|20\d|21\d|220) ms/);
});

test('videos_per_unit packs several videos into one unit and its shards; unit_bytes closes packs by file bytes; samples unchanged', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-video-pack-'));
  try {
    await makeVideoFixtures(path.join(work, 'data'), { seed: 4, delaysMs: [120, -80], inSyncClips: 2, unrelatedClips: 0, demoVideos: 0, extras: false, clipSeconds: 3, width: 96, height: 72 });
    const run = async (name: string, extra: string, ranks: { rank?: number; worldSize?: number; config?: string } = {}) => {
      const config = ranks.config ?? name;
      await writeFile(path.join(work, `${config}.yaml`), `name: pack\nsource: { kind: video, path: data, clip: { mode: fixed, length_s: 3 }${extra} }\n`);
      const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, `${config}.yaml`)), outDir: path.join(work, name), rank: ranks.rank, worldSize: ranks.worldSize });
      return { manifest: await readJson(path.join(summary.outDir, 'manifest.json')), index: await parquetRows(path.join(summary.outDir, 'index.parquet')) };
    };
    const single = await run('single', '');
    const packed = await run('packed', ', videos_per_unit: 3');
    assert.equal(single.manifest.units.length, 4);
    assert.equal(single.manifest.shards.length, 4, 'one shard per video without packing');
    assert.equal(packed.manifest.units.length, 2, '4 videos in packs of 3');
    assert.equal(packed.manifest.shards.length, 2);
    const strip = (rows: Record<string, unknown>[]) => rows.map((r) => ({ id: r.id, source: r.source, av_offset_ms: r.av_offset_ms, start: r.start }));
    assert.deepEqual(strip(packed.index), strip(single.index), 'the same clips with the same measurements');
    assert.equal(packed.manifest.shards.reduce((a: number, s: any) => a + s.rows, 0), single.index.length);
    // Packs keep the resume and merge guarantees: a pack whose commit is gone is redone alone,
    // to the same shard bytes; two ranks merged equal one process.
    const shardsOf = (m: any) => m.shards.map((x: any) => [x.path, x.sha256, x.rows]);
    await rm(path.join(work, 'packed', 'completions', `${packed.manifest.units[1].id}.json`));
    const resumed = await run('packed', ', videos_per_unit: 3');
    assert.deepEqual(shardsOf(resumed.manifest), shardsOf(packed.manifest), 'the redone pack wrote the same shards');
    assert.deepEqual(strip(resumed.index), strip(packed.index));
    const r0 = await run('rank0', ', videos_per_unit: 3', { rank: 0, worldSize: 2, config: 'ranks' });
    const r1 = await run('rank1', ', videos_per_unit: 3', { rank: 1, worldSize: 2, config: 'ranks' });
    assert.equal(r0.manifest.units.length + r1.manifest.units.length, 2);
    await mergeOutDirs([path.join(work, 'rank0'), path.join(work, 'rank1')], path.join(work, 'merged'));
    const merged = await readJson(path.join(work, 'merged', 'manifest.json'));
    assert.deepEqual(shardsOf(merged), shardsOf(packed.manifest), 'two ranks merged: the same packed shards as one process');
    assert.deepEqual(strip(await parquetRows(path.join(work, 'merged', 'index.parquet'))), strip(packed.index));
    // By bytes: a cap below one video's size gives one video per unit again.
    const tiny = await run('bytes', ', videos_per_unit: 10, unit_bytes: 1');
    assert.equal(tiny.manifest.units.length, 4);
    assert.deepEqual(strip(tiny.index), strip(single.index));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
