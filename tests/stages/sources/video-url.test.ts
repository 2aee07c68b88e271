// Video URL lists end to end through `weft run`: videos served by a real HTTP server on
// 127.0.0.1, downloaded to temp files through the polite fetcher, probed, clipped and synced;
// every URL that cannot become clips is a reject with the fetcher's reason; temp files go.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeVideoFixtures, type VideoFixtureTruth } from '../../../run/fixtures/video-fixtures.ts';
import { loadConfigFile } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { parquetRows } from '../../helpers/out-dir.ts';
import { sniffVideoContainer } from '../../../stages/fetch/video-sniff.ts';

let work: string;
let truth: VideoFixtureTruth;
let server: http.Server;
let base: string;
const hits = new Map<string, number>();

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-video-url-'));
  truth = await makeVideoFixtures(path.join(work, 'data'), { seed: 3, delaysMs: [120], inSyncClips: 1, unrelatedClips: 0, clipSeconds: 3, extras: false });
  const files = Object.fromEntries(await Promise.all(truth.sync.map(async (c) => [path.basename(c.file), await readFile(path.join(work, 'data', c.file))] as const)));
  const good = files['delay_+120ms.mp4'];
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    hits.set(url, (hits.get(url) ?? 0) + 1);
    if (url === '/robots.txt') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('User-agent: *\nDisallow: /private/\n');
    if (url === '/redirect') return void res.writeHead(302, { location: '/v/insync-0.mp4' }).end();
    if (url === '/page.mp4') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body>' + 'x'.repeat(2000) + '</body></html>');
    if (url === '/noai.mp4') return void res.writeHead(200, { 'content-type': 'video/mp4', 'x-robots-tag': 'noai' }).end(good);
    if (url === '/private/secret.mp4') return void res.writeHead(200, { 'content-type': 'video/mp4' }).end(good);
    if (url === '/big.mp4') {
      // No Content-Length: the cap must hold while streaming.
      res.writeHead(200, { 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' });
      res.write(good);
      res.end(Buffer.alloc(good.length * 3));
      return;
    }
    const name = url.startsWith('/v/') ? url.slice(3) : '';
    if (files[name]) return void res.writeHead(200, { 'content-type': 'video/mp4' }).end(files[name]);
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(work, { recursive: true, force: true });
});

test('a URL list of videos: downloaded politely to temp files, clipped and synced; each failure a reject with its reason', async () => {
  const goodSize = (await readFile(path.join(work, 'data', 'sync', 'delay_+120ms.mp4'))).length;
  const rows = [
    ['url', 'note'],
    [`${base}/v/delay_+120ms.mp4`, 'good'],
    [`${base}/redirect`, 'redirects to a good one'],
    [`${base}/missing.mp4`, '404'],
    [`${base}/page.mp4`, 'html not a video'],
    [`${base}/noai.mp4`, 'X-Robots-Tag opt-out'],
    [`${base}/private/secret.mp4`, 'robots.txt disallows'],
    [`${base}/big.mp4`, 'over max_download_bytes'],
    ['', 'no url'],
  ];
  await writeFile(path.join(work, 'videos.csv'), rows.map((r) => r.join(',')).join('\n') + '\n');
  await writeFile(
    path.join(work, 'run.yaml'),
    [
      'name: video-urls',
      `source: { kind: video, path: videos.csv, max_download_bytes: ${goodSize * 2} }`,
      'fetch: { allow_private_addresses: true, per_host_rate: 1000, per_host_burst: 1000, retries: 0 }',
      '',
    ].join('\n'),
  );
  // Downloads go under the system temp folder; point it at an empty one to see them removed.
  const tmp = path.join(work, 'tmp');
  await mkdir(tmp);
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  let summary;
  try {
    summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'run.yaml')), outDir: path.join(work, 'out') });
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
  assert.deepEqual(await readdir(tmp), [], 'temp downloads removed');

  const index = await parquetRows(path.join(summary.outDir, 'index.parquet'));
  const kept = index.map((r) => String(r.source)).sort();
  assert.deepEqual(kept, [`${base}/redirect`, `${base}/v/delay_+120ms.mp4`]);
  const delayed = index.find((r) => r.source === `${base}/v/delay_+120ms.mp4`)!;
  assert.ok(Math.abs(Number(delayed.av_offset_ms) - 120) <= 40, `measured ${delayed.av_offset_ms} ms`);

  const rejects = await parquetRows(path.join(summary.outDir, 'rejects.parquet'));
  const reasonOf = (suffix: string) => rejects.filter((r) => String(r.source).endsWith(suffix)).map((r) => `${r.stage}/${r.reason}`);
  assert.deepEqual(reasonOf('/missing.mp4'), ['video_fetch/http_404']);
  assert.deepEqual(reasonOf('/page.mp4'), ['video_fetch/not_video']);
  assert.deepEqual(reasonOf('/noai.mp4'), ['video_fetch/opt_out']);
  assert.deepEqual(reasonOf('/private/secret.mp4'), ['video_fetch/opt_out']);
  assert.deepEqual(reasonOf('/big.mp4'), ['video_fetch/too_large']);
  assert.deepEqual(reasonOf('videos.csv:7'), ['video_fetch/bad_row']);
  assert.equal(rejects.length, 6);
  assert.equal(hits.get('/private/secret.mp4'), undefined, 'a disallowed URL is never requested');
  assert.equal(hits.get('/robots.txt'), 1, 'robots.txt fetched once per origin');

  const { tableFromIPC } = await import('apache-arrow');
  const manifest = JSON.parse(await readFile(path.join(summary.outDir, 'manifest.json'), 'utf8'));
  const table = tableFromIPC(await readFile(path.join(summary.outDir, manifest.shards[0].path)));
  const clip = table.get(0)!.toJSON() as { consent: string; video: string; frames: { length: number } };
  assert.equal(clip.consent, 'allowed');
  assert.ok(clip.video.startsWith(base));
  assert.ok(clip.frames.length > 0);
});

test('the container sniffer knows video containers and refuses pages and images', async () => {
  const mp4 = await readFile(path.join(work, 'data', truth.sync[0].file));
  assert.equal(sniffVideoContainer(mp4.subarray(0, 400)), 'mp4');
  assert.equal(sniffVideoContainer(Uint8Array.from([0x1a, 0x45, 0xdf, 0xa3, 0x01])), 'matroska');
  assert.equal(sniffVideoContainer(Buffer.from('<!DOCTYPE html><html>')), null);
  assert.equal(sniffVideoContainer(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46])), null);
});
