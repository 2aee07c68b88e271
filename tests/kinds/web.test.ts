// `weft run` on a URL list served by a real HTTP server on 127.0.0.1: downloads, faults,
// consent, URL dedup (one download per URL), exact and near-duplicate marking across units,
// and the openclipart real-data corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import parquet from 'parquetjs-lite';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { makeOpenclipartCorpus } from '../../corpora/openclipart-corpus.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { parquetRows, readJson, shardRows } from '../helpers/out-dir.ts';
import { startStaticServer } from '../helpers/static-server.ts';

async function writeUrlList(file: string, rows: { url: string; caption: string; license: string }[]) {
  const schema = new parquet.ParquetSchema({ url: { type: 'UTF8' }, caption: { type: 'UTF8' }, license: { type: 'UTF8' } });
  const w = await parquet.ParquetWriter.openFile(schema, file);
  for (const r of rows) await w.appendRow(r);
  await w.close();
}

test('web source: faults, consent, one download per URL, exact and near duplicates across units', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-web-'));
  const corpus = await makeDemoCorpus(path.join(work, 'corpus'), { count: 14, seed: 21, swapFraction: 0 });
  const names = (await readdir(corpus.imagesDir)).filter((f) => /^img-\d+\.(jpg|png)$/.test(f)).sort();
  const imageFile = (i: number) => names[i];
  const bytesOf = (i: number) => readFile(path.join(corpus.imagesDir, imageFile(i)));
  const requests = new Map<string, number>();
  const reencoded = await sharp(await bytesOf(2)).jpeg({ quality: 70 }).toBuffer();
  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    requests.set(url, (requests.get(url) ?? 0) + 1);
    const [, route, file] = url.split('/');
    const send = (body: Buffer, headers: Record<string, string> = {}) => res.writeHead(200, { 'content-type': 'image/jpeg', ...headers }).end(body);
    if (route === 'img' || route === 'copy') send(await readFile(path.join(corpus.imagesDir, file)));
    else if (route === 'reencoded') send(reencoded);
    else if (route === 'noai') send(await readFile(path.join(corpus.imagesDir, file)), { 'x-robots-tag': 'noai' });
    else if (route === 'page.jpg') send(Buffer.from('<!DOCTYPE html><html><body>not an image</body></html>'));
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const rows: { url: string; caption: string; license: string }[] = [];
    for (let i = 0; i < 10; i++) rows.push({ url: `${base}/img/${imageFile(i)}`, caption: `caption of image ${i}`, license: 'cc0' });
    rows[5] = { url: `${base}/copy/${imageFile(4)}`, caption: 'same bytes as image 4, other URL', license: 'cc0' }; // unit 0: dropped
    rows.push({ url: `${base}/img/${imageFile(0)}`, caption: 'a second caption for image 0', license: 'cc-by' }); // unit 1, URL seen in unit 0
    rows.push({ url: `${base}/IMG/../img/${imageFile(11)}#frag`, caption: 'caption of image 11', license: 'cc0' });
    rows.push({ url: `${base}/img/${imageFile(11)}`, caption: 'another caption of image 11', license: 'cc0' }); // same normalised URL
    rows.push({ url: `${base}/copy/${imageFile(1)}`, caption: 'same bytes as image 1, next unit', license: 'cc0' }); // marked run-wide
    rows.push({ url: `${base}/reencoded/x.jpg`, caption: 'image 2 re-encoded', license: 'cc0' }); // near duplicate
    rows.push({ url: `${base}/noai/${imageFile(3)}`, caption: 'opted out', license: 'cc0' });
    rows.push({ url: `${base}/missing.jpg`, caption: 'gone', license: 'cc0' });
    rows.push({ url: `${base}/page.jpg`, caption: 'html page', license: 'cc0' });
    await writeUrlList(path.join(work, 'urls.parquet'), rows);
    await writeFile(
      path.join(work, 'web.yaml'),
      [
        'name: web-test',
        'source: { kind: web, path: urls.parquet, rows_per_unit: 10, extra_columns: [license] }',
        'fetch: { allow_private_addresses: true, respect_robots_txt: false, retries: 0 }',
        'decode: { image_size: 128, resize_mode: center_crop }',
        'dedup: { phash_max_distance: 6 }',
      ].join('\n'),
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'web.yaml')), outDir: path.join(work, 'out') });
    const out = summary.outDir;
    const index = await parquetRows(path.join(out, 'index.parquet'));
    const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
    const byCaption = (c: string) => index.find((r) => String(r.url) === rows.find((x) => x.caption === c)!.url)!;
    const reasons = Object.fromEntries(rejects.map((r) => [String(r.id), String(r.reason)]));

    assert.deepEqual(Object.values(reasons).sort(), ['duplicate_content', 'http_404', 'not_image', 'opt_out']);
    assert.equal(index.length, rows.length - 4);
    assert.ok(index.every((r) => r.consent === 'allowed'));

    // One download per normalised URL within a unit: two rows, one request, same bytes.
    assert.equal(requests.get(`/img/${imageFile(11)}`), 1);
    const elevens = index.filter((r) => String(r.url).includes(imageFile(11)));
    assert.equal(elevens.length, 2);
    assert.equal(elevens[0].sha256, elevens[1].sha256);
    // They are URL siblings (two captions of one image), not near duplicates: the documented
    // training filter keeps both captions.
    assert.equal(elevens[0].url_sibling_of, null);
    assert.equal(elevens[1].url_sibling_of, elevens[0].id);
    assert.deepEqual(elevens.map((r) => r.near_dup_of), [null, null]);
    const trainable = index.filter((r) => r.duplicate_of === null && r.near_dup_of === null);
    assert.equal(trainable.filter((r) => String(r.url).includes(imageFile(11))).length, 2);

    // Exact duplicates: within a unit dropped; across units marked in index.parquet.
    const image1 = index.find((r) => String(r.url) === `${base}/img/${imageFile(1)}`)!;
    const copy1 = index.find((r) => String(r.url) === `${base}/copy/${imageFile(1)}`)!;
    assert.equal(copy1.duplicate_of, image1.id);
    assert.equal(image1.duplicate_of, null);
    // The same URL in another unit with another caption is another caption of the same image: not a duplicate.
    const second0 = index.find((r) => r.id === index.find((x) => x.url === `${base}/img/${imageFile(0)}` && x.unit !== image1.unit)?.id);
    assert.ok(second0, 'the second caption of image 0 is kept');
    assert.equal(second0.duplicate_of, null);
    assert.equal(second0.url_sibling_of, index.find((r) => r.url === `${base}/img/${imageFile(0)}` && r.unit === image1.unit)!.id, 'a sibling across units too');
    assert.equal(second0.near_dup_of, null);
    // Shards carry the unit-level mark: the sibling in the same unit, not the one across units.
    const shard = Object.fromEntries((await shardRows(out, ['id', 'url_sibling_of', 'near_dup_of'])).map((r) => [String(r.id), r]));
    assert.equal(shard[String(elevens[1].id)].url_sibling_of, elevens[0].id);
    assert.equal(shard[String(elevens[1].id)].near_dup_of ?? null, null);
    assert.equal(shard[String(second0.id)].url_sibling_of ?? null, null);

    // Near duplicate: the re-encoded copy points at the original.
    const image2 = index.find((r) => String(r.url) === `${base}/img/${imageFile(2)}`)!;
    const near = index.find((r) => String(r.url) === `${base}/reencoded/x.jpg`)!;
    assert.equal(near.near_dup_of, image2.id);
    assert.equal(byCaption('caption of image 7').near_dup_of, null);

    const stats = await readJson(path.join(out, 'stats.json'));
    assert.equal(stats.counters.failures_by_host['127.0.0.1'], 3, 'the 404, the HTML page and the opt-out');
    assert.ok(stats.counters.fetch_failures_by_reason.http_404 >= 1);
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    assert.ok(html.includes('failures_by_host') && html.includes('opt_out'));
    // One request per download (rows sharing a URL share one), and the host's effective rate in the report.
    // Image 11's two rows (one unit) share one download; image 0's second caption, in another unit, has its own.
    assert.equal(stats.counters.fetch_host_requests['127.0.0.1'], rows.length - 1);
    assert.ok(stats.counters.fetch_host_active_ms['127.0.0.1'] > 0);
    assert.ok(html.includes('Fetch hosts') && html.includes('effective req/s'));
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

const OPENCLIPART = '/usr/share/openclipart';

test('openclipart: real clip art with incidental captions, served over HTTP, through weft run', { skip: !existsSync(OPENCLIPART) && 'openclipart-svg is not installed (apt-get install openclipart-svg)' }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-ocal-'));
  const server = await startStaticServer({ folder: path.join(work, 'corpus', 'images') });
  try {
    const corpus = await makeOpenclipartCorpus(path.join(work, 'corpus'), { count: 40, baseUrl: server.base });
    await writeFile(
      path.join(work, 'ocal.yaml'),
      `source: { kind: web, path: ${JSON.stringify(path.relative(work, corpus.parquetPath))}, extra_columns: [keywords] }\nfetch: { allow_private_addresses: true, respect_robots_txt: false }\ndecode: { image_size: 96 }\n`,
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'ocal.yaml')), outDir: path.join(work, 'out') });
    assert.equal(summary.kept + summary.dropped, corpus.rows.length);
    assert.ok(summary.kept >= corpus.rows.length * 0.8, `kept ${summary.kept} of ${corpus.rows.length}`);
    const index = await parquetRows(path.join(summary.outDir, 'index.parquet'));
    assert.ok(index.every((r) => String(r.url).startsWith(server.base)));
  } finally {
    await server.close();
  }
});

test('web source with caption languages and corpus passes: lang, clusters and semantic duplicates in the index', async () => {
  const { tinyReferenceScorer } = await import('../helpers/trained-reference.ts');
  const scorer = await tinyReferenceScorer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-web-corpus-'));
  const corpus = await makeDemoCorpus(path.join(work, 'corpus'), { count: 24, swapFraction: 0, size: 64, seed: 5 });
  const names = (await readdir(corpus.imagesDir)).filter((f) => /^img-\d+\.(png|jpg)$/.test(f)).sort();
  const files: Record<string, Buffer> = {};
  for (const f of names) files[`/${f}`] = await readFile(path.join(corpus.imagesDir, f));
  // A near-duplicate: the first image re-encoded as JPEG, under another URL.
  files['/copy.jpg'] = await sharp(files[`/${names[0]}`]).jpeg({ quality: 97 }).toBuffer();
  const server = await startStaticServer({ files });
  try {
    const rows = names.map((f) => ({ url: `${server.base}/${f}`, caption: '', license: 'cc0' }));
    for (const [i, r] of rows.entries()) r.caption = (await readFile(path.join(corpus.imagesDir, names[i].replace(/\.\w+$/, '.txt')), 'utf8')).trim();
    rows.push({ url: `${server.base}/copy.jpg`, caption: rows[0].caption, license: 'cc0' });
    rows.push({ url: `${server.base}/${names[1]}`, caption: 'Ein roter Kreis auf einem weißen Hintergrund in der Mitte des Bildes', license: 'cc0' });
    await writeUrlList(path.join(work, 'list.parquet'), rows);
    await writeFile(
      path.join(work, 'c.yaml'),
      `source: { kind: web, path: list.parquet, rows_per_unit: 10 }\nfetch: { allow_private_addresses: true, respect_robots_txt: false }\ndecode: { image_size: 64 }\n` +
        `caption: { languages: [eng], min_lang_confidence: 0 }\nscore: { scorer: ${JSON.stringify(scorer)} }\n` +
        `curate: { corpus: { clusters: { k: 3, seed_sample: 30 }, semantic_dedup: { enabled: true, eps: 0.05, keep: first_id } } }\n`,
    );
    const summary = await runPipeline({ loaded: await loadConfigFile(path.join(work, 'c.yaml')), outDir: path.join(work, 'out') });
    const index = await parquetRows(path.join(summary.outDir, 'index.parquet'));
    const rejects = await parquetRows(path.join(summary.outDir, 'rejects.parquet'));
    const german = rejects.find((r) => String(r.id).endsWith(`:${rows.length - 1}`));
    assert.equal(`${german?.stage}/${german?.reason}`, 'caption_language/language');
    assert.ok(index.length >= 20, `kept ${index.length}`);
    assert.ok(index.every((r) => r.lang === 'eng' && typeof r.lang_confidence === 'number'));
    assert.ok(index.every((r) => typeof r.cluster_id === 'bigint' && typeof r.cluster_distance === 'number'));
    const copy = index.find((r) => String(r.url).endsWith('/copy.jpg'))!;
    const first = index.find((r) => String(r.url).endsWith(`/${names[0]}`))!;
    assert.equal(copy.semantic_duplicate_of, first.id);
    assert.equal(copy.cluster_id, first.cluster_id);
    assert.ok(index.filter((r) => r.semantic_duplicate_of !== null).length <= 3, 'distinct pictures are not marked');
    const manifest = await readJson(path.join(summary.outDir, 'manifest.json'));
    assert.equal(manifest.sidecars.length, manifest.units.length);
    assert.equal(manifest.sidecars.reduce((a: number, s: any) => a + s.rows, 0), index.length);
  } finally {
    await server.close();
  }
});
