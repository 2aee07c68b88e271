// Real data: a small openclipart subset rendered to PNG, its URL-list parquet served from a
// local HTTP server and run through the web stages (source, caption rules, shared download,
// fetch, decode, exact dedup, pHash). Needs Debian's openclipart-svg package (CI installs it);
// without it only the metadata parsing runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  captionOf,
  listSvgFiles,
  makeOpenclipartCorpus,
  OPENCLIPART_ROOT,
  pickSubset,
  pngNameOf,
  svgMetadata,
} from '../../corpora/openclipart-corpus.ts';
import { webSourceConfig } from '../../schemas/web-config.ts';
import { captionSchema, decodeSchema } from '../../schemas/config.ts';
import { fetchConfig } from '../../schemas/fetch-config.ts';
import { listWebUnits, readWebUnit } from '../../stages/sources/url-list.ts';
import { captionRulesStage, normaliseCaption } from '../../stages/curate/caption-rules.ts';
import { sharedDownloadStage } from '../../stages/curate/url-dedup.ts';
import { contentDedupStage } from '../../stages/curate/content-dedup.ts';
import { phashStage } from '../../stages/curate/phash.ts';
import { fetchStage } from '../../stages/fetch/fetch-stage.ts';
import { Fetcher } from '../../stages/fetch/fetcher.ts';
import { imageDecodeStage } from '../../stages/decode/image-decode.ts';
import { readSource, pipe } from '../../core/stage.ts';
import { testContext } from '../helpers/context.ts';
import { startStaticServer } from '../helpers/static-server.ts';

const installed = await stat(OPENCLIPART_ROOT).then((s) => s.isDirectory(), () => false);
const skip = installed ? false : `${OPENCLIPART_ROOT} is absent: apt-get install openclipart-svg (CI does)`;

test('svg metadata: the work title, description and keywords, not the agents; entities decoded', () => {
  const svg = `<svg><title>fallback</title><metadata><rdf:RDF><cc:Work rdf:about="">
    <dc:title>Fish &amp; Chips</dc:title>
    <dc:description><![CDATA[A <b>plate</b>]]> of food &#x2014; tasty</dc:description>
    <dc:subject><rdf:Bag><rdf:li>food</rdf:li><rdf:li> </rdf:li><rdf:li>fish</rdf:li></rdf:Bag></dc:subject>
    <dc:creator><cc:Agent><dc:title>Some Artist</dc:title></cc:Agent></dc:creator>
  </cc:Work></rdf:RDF></metadata></svg>`;
  const meta = svgMetadata(svg);
  assert.deepEqual(meta, { title: 'Fish & Chips', description: 'A plate of food \u2014 tasty', keywords: ['food', 'fish'] });
  assert.equal(captionOf(meta), 'Fish & Chips. A plate of food \u2014 tasty');
  const bare = svgMetadata('<svg><title>Only a title</title><metadata><cc:Work><dc:creator><cc:Agent><dc:title>Artist</dc:title></cc:Agent></dc:creator></cc:Work></metadata></svg>');
  assert.equal(bare.title, 'Only a title');
  assert.equal(captionOf({ title: '', description: '', keywords: ['a', 'b'] }), 'a, b');
  assert.equal(captionOf({ title: 'Same', description: 'same', keywords: [] }), 'Same');
  assert.equal(pngNameOf('animals/birds/pen guin_01.svg'), 'animals-birds-pen-guin_01.png');
  assert.deepEqual(pickSubset(['a', 'b', 'c', 'd'], 2), pickSubset(['d', 'c', 'b', 'a'], 2));
});

test('openclipart subset: rendered, listed, served and run through the web stages', { skip }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-openclipart-'));
  const server = await startStaticServer({ folder: path.join(dir, 'images') });
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, retries: 0, per_host_rate: 1000, per_host_burst: 1000 }));
  try {
    const corpus = await makeOpenclipartCorpus(dir, { count: 20, baseUrl: server.base });
    assert.equal(corpus.rows.length + corpus.skipped.length, 20);
    assert.ok(corpus.rows.length >= 15, `only ${corpus.rows.length} of 20 rendered: ${JSON.stringify(corpus.skipped)}`);
    const all = await listSvgFiles(OPENCLIPART_ROOT);
    assert.ok(all.length > 5000, `${all.length} SVGs`);
    assert.deepEqual(corpus.rows.map((r) => r.svg), pickSubset(all, 20).filter((f) => !corpus.skipped.some((s) => s.svg === f)));

    const src = webSourceConfig({ path: corpus.parquetPath, rows_per_unit: 8, extra_columns: ['keywords', 'collection'] });
    const units = await listWebUnits(src, dir);
    assert.equal(units.length, Math.ceil(corpus.rows.length / 8));
    const kept = [];
    const ctx = testContext();
    for (const unit of units) {
      const decoded = pipe(
        readSource('source', (c) => readWebUnit(unit, src, c), ctx),
        ctx,
        captionRulesStage(captionSchema.parse({})),
        sharedDownloadStage(fetchStage(fetcher, 4)),
        imageDecodeStage(decodeSchema.parse({ image_size: 128 }), 2),
      );
      const stages = pipe(decoded, ctx, contentDedupStage(), phashStage({ maxDistance: 4, concurrency: 2 }));
      for await (const s of stages) kept.push(s);
    }
    // Every row is accounted for: kept, or rejected with a stage and reason.
    assert.equal(kept.length + ctx.rejects.rows.length, corpus.rows.length);
    assert.ok(kept.length >= 10, `kept ${kept.length}; rejects ${JSON.stringify(ctx.rejects.rows)}`);
    const byUrl = new Map(corpus.rows.map((r) => [r.url, r]));
    for (const s of kept) {
      const row = byUrl.get(s.url!)!;
      assert.equal(s.caption, normaliseCaption(row.caption));
      assert.equal(s.extra?.collection, row.collection);
      assert.ok(Math.max(s.width, s.height) <= 256 && s.originalWidth <= 256 && s.originalHeight <= 256);
      assert.match(s.phash, /^[0-9a-f]{16}$/);
    }
    for (const url of byUrl.keys()) assert.equal(server.hits.get(new URL(url).pathname), 1, url);
    for (const r of ctx.rejects.rows) assert.ok(['caption', 'dedup', 'decode', 'fetch'].includes(r.stage), `${r.stage}/${r.reason}`);
  } finally {
    await fetcher.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
