// Small real runs of every sample kind (image-text folder, web URL list over a real HTTP server,
// RGB-D TUM capture, video folder), for tests of what the shards and their readers look like.
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import parquet from 'parquetjs-lite';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { makeRgbdFixtures } from '../../run/fixtures/rgbd-fixtures.ts';
import { makeVideoFixtures } from '../../run/fixtures/video-fixtures.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { startStaticServer } from './static-server.ts';

export type KindName = 'image_text' | 'web' | 'rgbd' | 'video';
export const KIND_NAMES: KindName[] = ['image_text', 'web', 'rgbd', 'video'];

export interface KindRunOptions {
  seed?: number;
  /** Extra YAML lines appended to the config (e.g. `output: { arrow_format: file }`). */
  extraYaml?: string[];
  /** OUT folder name under `work` (default `out-<kind>`). */
  out?: string;
  /** Run as one rank of several (`weft run --rank/--world-size`). */
  rank?: number;
  worldSize?: number;
  /** RGB-D: sequences in the capture (one unit each; default 1). Video: clips of each kind, as makeVideoFixtures takes them. */
  rgbdSequences?: number;
  /** RGB-D: the `rgbd:` block's settings (default `max_registration_shift: 2`). */
  rgbdSettings?: string;
  video?: { delaysMs?: number[]; inSyncClips?: number; unrelatedClips?: number; clipSeconds?: number };
}

/** Runs a small fixture of `kind` under `work` and returns its OUT folder. An RGB-D or video fixture already in `work` is reused (so ranks see the same data). */
export async function runKind(kind: KindName, work: string, o: KindRunOptions = {}): Promise<string> {
  const seed = o.seed ?? 3;
  const extra = o.extraYaml ?? [];
  const run = async (lines: string[]) => {
    const config = path.join(work, `${o.out ?? kind}.yaml`);
    await writeFile(config, [...lines, ...extra].join('\n') + '\n');
    const summary = await runPipeline({ loaded: await loadConfigFile(config), outDir: path.join(work, o.out ?? `out-${kind}`), rank: o.rank, worldSize: o.worldSize });
    return summary.outDir;
  };
  if (kind === 'image_text') {
    const corpus = await makeDemoCorpus(path.join(work, 'corpus-it'), { count: 12, swapFraction: 0, size: 48, seed });
    return run([`name: it`, `source: { kind: image_text, path: ${JSON.stringify(path.relative(work, corpus.imagesDir))}, rows_per_unit: 5 }`, 'decode: { image_size: 48 }']);
  }
  if (kind === 'web') {
    const corpus = await makeDemoCorpus(path.join(work, 'corpus-web'), { count: 8, swapFraction: 0, size: 48, seed: seed + 1 });
    const names = (await readdir(corpus.imagesDir)).filter((f) => /^img-\d+\.(jpg|png)$/.test(f)).sort();
    const server = await startStaticServer({ folder: corpus.imagesDir });
    try {
      const schema = new parquet.ParquetSchema({ url: { type: 'UTF8' }, caption: { type: 'UTF8' } });
      const w = await parquet.ParquetWriter.openFile(schema, path.join(work, 'urls.parquet'));
      for (const [i, n] of names.entries()) await w.appendRow({ url: `${server.base}/${n}`, caption: `caption of web image ${i}` });
      await w.appendRow({ url: `${server.base}/missing.jpg`, caption: 'a missing image' });
      await w.close();
      return await run([
        'name: web',
        'source: { kind: web, path: urls.parquet, rows_per_unit: 4 }',
        'fetch: { allow_private_addresses: true, respect_robots_txt: false, retries: 0 }',
        'decode: { image_size: 48 }',
      ]);
    } finally {
      await server.close();
    }
  }
  if (kind === 'rgbd') {
    if (!existsSync(path.join(work, 'rgbd-data'))) await makeRgbdFixtures(path.join(work, 'rgbd-data'), { frames: 10, sequences: o.rgbdSequences ?? 1, width: 160, height: 120, layouts: ['tum'], seed, shiftedFraction: 0.2, maxInjectedShift: 4 });
    return run(['name: rgbd', 'source: { kind: rgbd, path: rgbd-data/tum, layout: tum }', `rgbd: { ${o.rgbdSettings ?? 'max_registration_shift: 2'} }`]);
  }
  if (!existsSync(path.join(work, 'video-data'))) await makeVideoFixtures(path.join(work, 'video-data'), { seed, delaysMs: [120], inSyncClips: 1, unrelatedClips: 0, clipSeconds: 3, ...o.video, demoVideos: 0, extras: false, width: 96, height: 72 });
  return run(['name: video', 'source: { kind: video, path: video-data, clip: { mode: fixed, length_s: 3 } }']);
}
