// Small real runs of every source kind, for tests that read what a run writes (the report in a
// browser, run-to-run diffs): the demo shapes corpus, a URL list served from 127.0.0.1, an
// RGB-D TUM capture and a folder of videos. Each goes through `runPipeline` like `weft run`.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { makeRgbdFixtures } from '../../run/fixtures/rgbd-fixtures.ts';
import { makeVideoFixtures } from '../../run/fixtures/video-fixtures.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { startStaticServer, type StaticServer } from './static-server.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The demo config (reference scorer, grounding, min_p_aligned) on a fresh corpus of `count` images in `work`. */
/** `edit` changes the config text (e.g. another threshold); a corpus already in `work` is reused. */
export async function demoRun(work: string, options: { count?: number; seed?: number; edit?: (yaml: string) => string; out?: string; rank?: number; worldSize?: number } = {}): Promise<string> {
  if (!existsSync(path.join(work, 'corpus', 'truth.json'))) await makeDemoCorpus(path.join(work, 'corpus'), { count: options.count ?? 48, seed: options.seed ?? 7 });
  const demo = await readFile(path.join(repo, 'fixtures', 'demo.yaml'), 'utf8');
  const yaml = (options.edit ?? ((y: string) => y))(demo.replace(/path: generated\/demo\/images/, 'path: corpus/images').replace(/rows_per_unit: \d+/, 'rows_per_unit: 24'));
  const config = path.join(work, `demo-${options.out ?? 'out'}.yaml`);
  await writeFile(config, yaml);
  const summary = await runPipeline({ loaded: await loadConfigFile(config), outDir: path.join(work, options.out ?? 'demo-out'), rank: options.rank, worldSize: options.worldSize });
  return summary.outDir;
}

/** A URL list (JSONL) of demo images, a missing URL and an HTML page, served by a real server on 127.0.0.1. */
export async function webRun(work: string): Promise<string> {
  const corpus = await makeDemoCorpus(path.join(work, 'web-corpus'), { count: 16, seed: 11, swapFraction: 0 });
  const names = (await readdir(corpus.imagesDir)).filter((f) => /^img-\d+\.(jpg|png)$/.test(f)).sort();
  const copy = await readFile(path.join(corpus.imagesDir, names[4]));
  const server: StaticServer = await startStaticServer({ folder: corpus.imagesDir, files: { '/page.jpg': Buffer.from('<!DOCTYPE html><p>not an image</p>'), '/copy-of-4.jpg': copy } });
  try {
    const rows: { url: string; caption: string }[] = [];
    for (const [i, f] of names.slice(0, 14).entries()) rows.push({ url: `${server.base}/${f}`, caption: i === 3 ? 'x' : await captionOf(corpus.imagesDir, f) });
    // The same URL again, in another unit, with the same caption: a URL sibling and a content duplicate.
    rows.push({ url: `${server.base}/${names[2]}`, caption: rows[2].caption });
    // The bytes of image 4 under another URL, in a later unit: a content duplicate.
    rows.push({ url: `${server.base}/copy-of-4.jpg`, caption: rows[4].caption });
    rows.push({ url: `${server.base}/gone.jpg`, caption: 'a picture that is not there' });
    rows.push({ url: `${server.base}/page.jpg`, caption: 'an html page instead of a picture' });
    await writeFile(path.join(work, 'urls.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await writeFile(
      path.join(work, 'web.yaml'),
      'name: web-report\nsource: { kind: web, path: urls.jsonl, url_column: url, caption_column: caption, rows_per_unit: 9 }\n' +
        'caption: { min_words: 2 }\nfetch: { retries: 0, allow_private_addresses: true, respect_robots_txt: false }\nscore: { scorer: reference, threshold: 0.3 }\n',
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'web.yaml')), outDir: path.join(work, 'web-out') });
    return summary.outDir;
  } finally {
    await server.close();
  }
}

async function captionOf(dir: string, file: string): Promise<string> {
  return (await readFile(path.join(dir, file.replace(/\.\w+$/, '.txt')), 'utf8').catch(() => 'a picture')).trim();
}

/** A TUM RGB-D sequence with shifted depth frames and dropped halves. */
export async function rgbdRun(work: string): Promise<string> {
  await makeRgbdFixtures(path.join(work, 'rgbd'), { frames: 14, width: 160, height: 120, layouts: ['tum'], seed: 5, shiftedFraction: 0.3, maxInjectedShift: 5 });
  await writeFile(path.join(work, 'rgbd.yaml'), 'name: rgbd-report\nsource: { kind: rgbd, path: rgbd/tum, layout: tum }\nrgbd: { max_registration_shift: 1 }\n');
  const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'rgbd.yaml')), outDir: path.join(work, 'rgbd-out') });
  return summary.outDir;
}

/** Flash-and-click clips with injected delays, one with unrelated audio, and the fixture's bad files. */
export async function videoRun(work: string): Promise<string> {
  await mkdir(path.join(work, 'video'), { recursive: true });
  await makeVideoFixtures(path.join(work, 'video'), { delaysMs: [-200, 160], inSyncClips: 1, unrelatedClips: 1, demoVideos: 0 });
  await writeFile(path.join(work, 'video.yaml'), 'name: video-report\nsource: { kind: video, path: video, clip: { mode: fixed, length_s: 10 } }\n');
  const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'video.yaml')), outDir: path.join(work, 'video-out') });
  return summary.outDir;
}
