// The fetch stage in a pipeline: kept items carry their bytes and consent, failures land in
// the rejects ledger with their reason, and the run stats count failures per host and reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchStage, type FetchedImageText } from '../../../stages/fetch/fetch-stage.ts';
import { Fetcher } from '../../../stages/fetch/fetcher.ts';
import { fetchConfig } from '../../../schemas/fetch-config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../../schemas/image-text.ts';
import { startFaultServer } from '../../helpers/fault-server.ts';
import { testContext } from '../../helpers/context.ts';

async function* items(list: Array<Partial<ImageTextRaw>>): AsyncGenerator<ImageTextRaw> {
  let i = 0;
  for (const x of list) yield { id: `s${i++}`, kind: IMAGE_TEXT, source: 'list.csv', caption: 'a red square', ...x };
}

test('fetchStage keeps images with bytes and consent, rejects failures with reasons, counts per host', async () => {
  const server = await startFaultServer();
  server.robotsTxt = 'User-agent: *\nDisallow: /private/\n';
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, retries: 0, first_byte_timeout_ms: 300, per_host_rate: 1000, per_host_burst: 1000 }));
  const ctx = { ...testContext(), unit: { id: 'u0', source: 'list.csv' } };
  try {
    const input = items([
      { url: `${server.base}/ok.jpg` },
      { url: `${server.base}/404.jpg` },
      { url: `${server.base}/private/a.jpg` },
      { url: `${server.base}/x-robots.jpg?tag=noai` },
      { url: `${server.base}/html-as-jpeg.jpg` },
      { url: 'gopher://old.test/a.jpg' },
      { imagePath: 'local.jpg' },
      {},
      { url: `${server.base}/redirect-to-ok.jpg` },
    ]);
    const out: FetchedImageText[] = [];
    for await (const item of fetchStage(fetcher, 4)(input, ctx)) out.push(item);

    assert.deepEqual(out.map((o) => o.id), ['s0', 's6', 's8'], 'order is kept');
    assert.deepEqual(Buffer.from(out[0].imageBytes!), server.jpeg);
    assert.equal(out[0].fetched?.consent, 'allowed');
    assert.equal(out[0].fetched?.mediaType, 'jpeg');
    assert.equal(out[1].fetched, undefined, 'an item with a local image passes through');
    assert.equal(out[2].fetched?.finalUrl, `${server.base}/ok.jpg`);

    const rejects = Object.fromEntries(ctx.rejects.rows.map((r) => [r.id, r.reason]));
    assert.deepEqual(rejects, { s1: 'http_404', s2: 'opt_out', s3: 'opt_out', s4: 'not_image', s5: 'bad_url', s7: 'bad_url' });
    assert.ok(ctx.rejects.rows.every((r) => r.stage === 'fetch' && r.detail.length > 0));

    const json = ctx.stats.toJSON();
    assert.deepEqual(json.stages.fetch.dropped, { http_404: 1, opt_out: 2, not_image: 1, bad_url: 2 });
    assert.equal(json.stages.fetch.in, 9);
    assert.equal(json.stages.fetch.out, 3);
    assert.deepEqual(json.counters.failures_by_host, { '127.0.0.1': 4, '(none)': 1 });
    assert.deepEqual(json.counters.fetch_consent, { allowed: 2, opt_out_robots_txt: 1, opt_out_x_robots_tag: 1 });
    assert.equal(server.hitsOf('/robots.txt').length, 1);
  } finally {
    await fetcher.close();
    await server.close();
  }
});

test('hanging URLs do not hold up the unit: every other URL is requested while they hang, and the hangs overlap', async () => {
  // The "hanging" URLs are held by the server until every other URL has been requested: with
  // head-of-line blocking that never happens (the watchdog then releases them and the test fails).
  const server = await startFaultServer();
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, respect_robots_txt: false, retries: 0, first_byte_timeout_ms: 60_000, total_timeout_ms: 120_000, per_host_rate: 1e6, per_host_burst: 1e6, per_host_concurrency: 8 }));
  const ctx = { ...testContext(), unit: { id: 'u0', source: 'list.csv' } };
  const hanging = new Set([10, 70, 120]);
  const list = Array.from({ length: 150 }, (_, i) => ({ url: hanging.has(i) ? `${server.base}/held.jpg?i=${i}` : `${server.base}/hl-${i}.jpg` }));
  let heldAtRelease = -1;
  const release = () => {
    server.onHit = () => setImmediate(() => server.releaseHeld());
    server.releaseHeld();
  };
  server.onHit = () => {
    if (server.hits.filter((h) => h.path.startsWith('/hl-')).length === list.length - hanging.size) {
      heldAtRelease = server.held;
      release();
    }
  };
  let watchdogFired = false;
  const watchdog = setTimeout(() => {
    watchdogFired = true;
    release();
  }, 30_000);
  try {
    const out: FetchedImageText[] = [];
    for await (const item of fetchStage(fetcher, 8)(items(list), ctx)) out.push(item);
    assert.equal(watchdogFired, false, 'the other URLs waited behind the hanging ones');
    assert.equal(heldAtRelease, 3, 'all three hangs were in flight at once while every other URL was requested');
    assert.deepEqual(out.map((o) => o.id), list.map((_, i) => `s${i}`), 'row order is kept');
    assert.equal(ctx.stats.toJSON().counters.fetch_host_requests['127.0.0.1'], 150);
  } finally {
    clearTimeout(watchdog);
    await fetcher.close();
    await server.close();
  }
});

test('hanging URLs time out together: the unit takes about one timeout longer than without them, not one per hang', async () => {
  const server = await startFaultServer();
  const timeoutMs = 2000;
  const fetcher = new Fetcher(fetchConfig({ allow_private_addresses: true, respect_robots_txt: false, retries: 0, first_byte_timeout_ms: timeoutMs, per_host_rate: 1e6, per_host_burst: 1e6, per_host_concurrency: 8 }));
  const run = async (tag: string, hanging: Set<number>) => {
    const ctx = { ...testContext(), unit: { id: tag, source: 'list.csv' } };
    const list = Array.from({ length: 150 }, (_, i) => ({ url: hanging.has(i) ? `${server.base}/hang.jpg?i=${i}` : `${server.base}/${tag}-${i}.jpg` }));
    const started = performance.now();
    let kept = 0;
    for await (const _ of fetchStage(fetcher, 8)(items(list), ctx)) kept++;
    return { ms: performance.now() - started, kept, ctx };
  };
  try {
    // The same list without hangs, on the same machine right before: what the unit costs anyway.
    const base = await run('base', new Set());
    const hung = await run('hung', new Set([10, 70, 120]));
    assert.equal(base.kept, 150);
    assert.equal(hung.kept, 147);
    assert.deepEqual(hung.ctx.rejects.rows.map((r) => [r.id, r.reason]), [['s10', 'timeout'], ['s70', 'timeout'], ['s120', 'timeout']]);
    assert.ok(hung.ms >= timeoutMs, 'the hangs were waited for');
    // One after the other the three hangs would add 3 timeouts; together they add one.
    assert.ok(hung.ms < base.ms + 2 * timeoutMs, `with 3 hangs ${Math.round(hung.ms)} ms, without ${Math.round(base.ms)} ms, timeout ${timeoutMs} ms`);
    const activeMs = hung.ctx.stats.toJSON().counters.fetch_host_active_ms['127.0.0.1'];
    assert.ok(activeMs >= timeoutMs && activeMs <= hung.ms + 50, `${activeMs} ms active of ${Math.round(hung.ms)} ms`);
  } finally {
    await fetcher.close();
    await server.close();
  }
});
