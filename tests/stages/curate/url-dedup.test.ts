// URL normalisation, download groups, and the shared-download stage around the real fetch
// stage against a real HTTP server: one request per normalised URL, every caption its own
// sample with the same image hash, a failed leader failing its followers with the same reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { groupByNormalisedUrl, normaliseUrl, sharedDownloadStage } from '../../../stages/curate/url-dedup.ts';
import { contentDedupStage } from '../../../stages/curate/content-dedup.ts';
import { fetchStage } from '../../../stages/fetch/fetch-stage.ts';
import { Fetcher } from '../../../stages/fetch/fetcher.ts';
import { imageDecodeStage } from '../../../stages/decode/image-decode.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { decodeSchema } from '../../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw, type ImageTextSample } from '../../../schemas/image-text.ts';
import { pipe } from '../../../core/stage.ts';
import { testContext } from '../../helpers/context.ts';
import { startStaticServer } from '../../helpers/static-server.ts';

test('normaliseUrl applies only normalisations that keep the resource the same', () => {
  const same: [string, string][] = [
    ['HTTP://Example.COM/a.jpg', 'http://example.com/a.jpg'],
    ['http://example.com:80/a.jpg', 'http://example.com/a.jpg'],
    ['https://example.com:443/a.jpg', 'https://example.com/a.jpg'],
    ['http://example.com', 'http://example.com/'],
    ['http://example.com/a.jpg#section', 'http://example.com/a.jpg'],
    ['http://example.com/x/../a/./b.jpg', 'http://example.com/a/b.jpg'],
    ['http://example.com/%7Euser/%61.jpg', 'http://example.com/~user/a.jpg'],
    ['http://example.com/a%2fb%c3%a9.jpg?q=%2a', 'http://example.com/a%2Fb%C3%A9.jpg?q=%2A'],
    ['  http://bücher.example/a.jpg  ', 'http://xn--bcher-kva.example/a.jpg'],
  ];
  for (const [raw, want] of same) assert.equal(normaliseUrl(raw), want, raw);
  // Kept distinct on purpose: servers may serve different things for these.
  const distinct: [string, string][] = [
    ['http://example.com/a.jpg?b=2&a=1', 'http://example.com/a.jpg?a=1&b=2'],
    ['http://example.com/A.jpg', 'http://example.com/a.jpg'],
    ['http://www.example.com/a.jpg', 'http://example.com/a.jpg'],
    ['http://example.com/a/', 'http://example.com/a'],
    ['http://example.com/a.jpg?', 'http://example.com/a.jpg'],
    ['http://example.com/a.jpg', 'https://example.com/a.jpg'],
    ['http://example.com:8080/a.jpg', 'http://example.com/a.jpg'],
  ];
  for (const [a, b] of distinct) assert.notEqual(normaliseUrl(a), normaliseUrl(b), `${a} vs ${b}`);
  for (const bad of ['', 'not a url', 'ftp://example.com/a.jpg', 'data:image/png;base64,AAAA', 'file:///etc/passwd']) {
    assert.equal(normaliseUrl(bad), undefined, bad);
  }
});

test('groupByNormalisedUrl: groups in first-seen order; unparseable URLs stand alone', () => {
  const rows = [
    { id: '0', url: 'http://a.test/1.jpg' },
    { id: '1', url: 'http://b.test/2.jpg' },
    { id: '2', url: 'HTTP://A.TEST:80/1.jpg#x' },
    { id: '3', url: 'nonsense' },
    { id: '4', url: 'nonsense' },
    { id: '5' },
    { id: '6', url: 'http://a.test/1.jpg' },
  ];
  const groups = groupByNormalisedUrl(rows);
  assert.deepEqual(
    groups.map((g) => [g.key, g.leader.id, g.followers.map((f) => f.id)]),
    [
      ['http://a.test/1.jpg', '0', ['2', '6']],
      ['http://b.test/2.jpg', '1', []],
      ['nonsense', '3', []],
      ['nonsense', '4', []],
      ['', '5', []],
    ],
  );
});

test('shared downloads: one request per normalised URL, each caption its own sample sharing the image hash', async () => {
  const red = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#d02020' } }).jpeg().toBuffer();
  const blue = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#2020d0' } }).jpeg().toBuffer();
  const server = await startStaticServer({ files: { '/a.jpg': red, '/a-copy.jpg': red, '/b.jpg': blue } });
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, retries: 0, per_host_rate: 1000, per_host_burst: 1000 }));
  const ctx = testContext();
  const port = new URL(server.base).port;
  const rows: Partial<ImageTextRaw>[] = [
    { url: `${server.base}/a.jpg`, caption: 'red square', extra: { alt: 'one' } },
    { url: `HTTP://127.0.0.1:${port}/%61.jpg#top`, caption: 'a red block' },
    { url: `${server.base}/b.jpg`, caption: 'blue square' },
    { url: `${server.base}/missing.jpg`, caption: 'gone' },
    { url: `${server.base}/x/../missing.jpg`, caption: 'gone too' },
    { url: `${server.base}/a.jpg?size=2`, caption: 'red, other query' },
    { url: `${server.base}/./a.jpg`, caption: 'red again', extra: { alt: 'three' } },
    { url: `${server.base}/a-copy.jpg`, caption: 'same bytes, other URL' },
  ];
  async function* input(): AsyncGenerator<ImageTextRaw> {
    let i = 0;
    for (const row of rows) yield { id: `s${i}`, kind: IMAGE_TEXT, source: `list:${i++}`, caption: '', ...row };
  }
  try {
    const out: ImageTextSample[] = [];
    const stages = pipe(input(), ctx, sharedDownloadStage(fetchStage(fetcher, 4)), imageDecodeStage(decodeSchema.parse({}), 2), contentDedupStage());
    for await (const s of stages) out.push(s);
    assert.deepEqual(
      out.map((s) => [s.id, s.caption, s.extra]),
      [
        ['s0', 'red square', { alt: 'one' }],
        ['s1', 'a red block', undefined],
        ['s6', 'red again', { alt: 'three' }],
        ['s2', 'blue square', undefined],
      ],
    );
    // s1 and s6 are s0's caption siblings: the same stored bytes, the same hash.
    assert.equal(out[1].sha256, out[0].sha256);
    assert.equal(out[2].sha256, out[0].sha256);
    assert.equal(out[1].url, `HTTP://127.0.0.1:${port}/%61.jpg#top`);
    assert.equal(server.hits.get('/a.jpg'), 1);
    assert.equal(server.hits.get('/missing.jpg'), 1);
    assert.equal(server.hits.get('/a.jpg?size=2'), 1);
    assert.equal(server.hits.get('/a-copy.jpg'), 1);
    assert.deepEqual(
      ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]),
      [
        ['s3', 'fetch', 'http_404'],
        ['s4', 'fetch', 'http_404'],
        ['s5', 'dedup', 'duplicate_content'],
        ['s7', 'dedup', 'duplicate_content'],
      ],
    );
    assert.match(ctx.rejects.rows[1].detail, /same URL as s3/);
    assert.match(ctx.rejects.rows[3].detail, /as s0$/);
    const fetchStats = ctx.stats.stage('fetch');
    assert.deepEqual([fetchStats.in, fetchStats.out, fetchStats.droppedByReason], [8, 6, { http_404: 2 }]);
    assert.deepEqual(ctx.stats.toJSON().counters.url_dedup, { groups: 2, shared_downloads: 2 });
  } finally {
    await fetcher.close();
    await server.close();
  }
});

test('a follower gets only what the download added: its own row fields, none of the leader row\'s', async () => {
  const ctx = testContext();
  const rows: ImageTextRaw[] = [
    { id: 'a', kind: IMAGE_TEXT, source: 'list:0', caption: 'leader', url: 'http://h.test/x.jpg', extra: { alt: 'one' }, blurBoxes: [[0, 0, 0.5, 0.5]] },
    { id: 'b', kind: IMAGE_TEXT, source: 'list:1', caption: 'follower', url: 'http://h.test/./x.jpg' },
    { id: 'c', kind: IMAGE_TEXT, source: 'list:2', caption: 'other follower', url: 'http://H.test/x.jpg', blurBoxes: [[0.5, 0.5, 1, 1]] },
  ];
  async function* input(): AsyncGenerator<ImageTextRaw> {
    yield* rows;
  }
  const download = async function* (items: AsyncIterable<ImageTextRaw>): AsyncGenerator<ImageTextRaw> {
    for await (const item of items) yield { ...item, imageBytes: new Uint8Array([1, 2, 3]), fetched: { consent: 'allowed', finalUrl: item.url!, status: 200, contentType: null, mediaType: 'jpeg', attempts: 1, ms: 1 } };
  };
  const out: ImageTextRaw[] = [];
  for await (const item of sharedDownloadStage(download)(input(), ctx)) out.push(item);
  assert.deepEqual(out.map((o) => [o.id, o.caption, o.url, o.extra, o.blurBoxes, o.imageBytes?.length, o.fetched?.finalUrl]), [
    ['a', 'leader', 'http://h.test/x.jpg', { alt: 'one' }, [[0, 0, 0.5, 0.5]], 3, 'http://h.test/x.jpg'],
    ['b', 'follower', 'http://h.test/./x.jpg', undefined, undefined, 3, 'http://h.test/x.jpg'],
    ['c', 'other follower', 'http://H.test/x.jpg', undefined, [[0.5, 0.5, 1, 1]], 3, 'http://h.test/x.jpg'],
  ]);
});
