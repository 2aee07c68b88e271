import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport, thresholdsFor } from '../../report/report-html.ts';
import { summariseRejects } from '../../report/rejects-summary.ts';
import { TDigest } from '../../core/sketch/tdigest.ts';
import { RunStats } from '../../core/stats.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { buildSampleRun, EVIL_CAPTION, SCORE_THRESHOLD } from '../helpers/report-sample-run.ts';
import { assertBalanced, attributeNames, sectionById, svgSnippets, tableRows, textOf } from '../helpers/html-probe.ts';

const run = await buildSampleRun();
const stats = run.stats.toJSON();
const rejectsByReason = await summariseRejects(run.rejects.rows);
const html = renderReport({ manifest: run.manifest, stats, rejectsByReason });

test('the page is one balanced document', () => {
  assert.match(html, /^<!DOCTYPE html>/);
  assertBalanced(html);
});

test('header shows name, fingerprint, version, totals and the scorer', () => {
  const summary = sectionById(html, 'summary');
  assert.match(html, /<h1>laion-mini &lt;test&gt;<\/h1>/);
  assert.ok(summary.includes(run.manifest.config_fingerprint));
  assert.ok(summary.includes('0.1.0'));
  const t = run.manifest.totals;
  assert.ok(textOf(summary).includes(`${t.kept.toLocaleString('en-US')}kept`), 'kept total');
  assert.ok(textOf(summary).includes(`${t.dropped.toLocaleString('en-US')}dropped`), 'dropped total');
  assert.ok(textOf(summary).includes('3.30 MiB'), 'bytes total');
  assert.ok(summary.includes('clip-vit-b32-onnx') && summary.includes(run.manifest.scorers[0].model_sha256));
});

test('funnel lists every stage in pipeline order with its in, out and dropped counts', () => {
  const funnel = sectionById(html, 'funnel');
  const rows = tableRows(funnel);
  const expected = Object.entries(stats.stages).map(([name, s]) => [
    name,
    s.in.toLocaleString('en-US'),
    s.out.toLocaleString('en-US'),
    Object.values(s.dropped).reduce((a, b) => a + b, 0).toLocaleString('en-US'),
  ]);
  assert.deepEqual(rows.map((r) => r.slice(0, 4)), expected);
  assert.deepEqual(rows.map((r) => r[0]), ['read', 'fetch', 'decode', 'caption', 'score']);
  const [chart] = svgSnippets(funnel, 'chart funnel');
  assertBalanced(chart);
  // Two bars (in, out) per stage.
  assert.equal(chart.match(/<rect /g)?.length, 2 * expected.length);
});

test('drop reasons: every stage and reason with its count, largest first, with ledger examples', () => {
  const rows = tableRows(sectionById(html, 'drops'));
  const expected = Object.entries(stats.stages).flatMap(([stage, s]) => Object.entries(s.dropped).map(([reason, n]) => ({ stage, reason, n })));
  assert.equal(rows.length, expected.length);
  for (const e of expected) {
    const row = rows.find((r) => r[0] === e.stage && r[1] === e.reason);
    assert.ok(row, `${e.stage}/${e.reason} missing`);
    assert.equal(row[2], String(e.n));
    // Ledger rows agree with stats because both came from the same stage contract.
    assert.equal(row[5], String(e.n));
  }
  const counts = rows.map((r) => Number(r[2].replace(/,/g, '')));
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
  const total = expected.reduce((a, e) => a + e.n, 0);
  const top = rows[0];
  assert.equal(top[1], 'score_below_threshold');
  assert.equal(top[3], `${((100 * Number(top[2])) / total).toFixed(1)}%`);
  const ledger404 = rejectsByReason.find((r) => r.reason === 'http_404')!;
  for (const ex of ledger404.examples) assert.ok(rows.find((r) => r[1] === 'http_404')![6].includes(ex.id));
  assert.doesNotMatch(sectionById(html, 'drops'), /class="warn"/);
});

test('a reason only the rejects ledger knows is shown and flagged', () => {
  const page = renderReport({
    manifest: run.manifest,
    stats,
    rejectsByReason: [...rejectsByReason, { stage: 'sink', reason: 'write_failed', count: 2, examples: [{ id: 'x#1', source: 's', detail: 'ENOSPC' }] }],
  });
  const row = tableRows(sectionById(page, 'drops')).find((r) => r[1] === 'write_failed');
  assert.deepEqual(row?.slice(0, 3), ['sink', 'write_failed', '0']);
  assert.match(sectionById(page, 'drops'), /class="warn"[^>]*>2</);
});

test('per kind totals and counter groups (top 20 keys by count)', () => {
  assert.deepEqual(tableRows(sectionById(html, 'kinds')), [
    ['image_text', '1,000', stats.kinds.image_text.kept.toLocaleString('en-US'), stats.kinds.image_text.dropped.toLocaleString('en-US'), `${((100 * stats.kinds.image_text.kept) / 1000).toFixed(1)}%`],
  ]);
  const counters = sectionById(html, 'counters');
  const groups = counters.split('<h3 ').slice(1);
  assert.equal(groups.length, 2);
  const failures = tableRows(groups[0]);
  assert.match(groups[0], /failures_by_host/);
  const byHost = stats.counters.failures_by_host;
  assert.equal(failures.length, Object.keys(byHost).length);
  for (const [host, n] of failures) assert.equal(Number(n.replace(/,/g, '')), byHost[host]);
  const retries = tableRows(groups[1]);
  assert.equal(retries.length, 21, '20 keys and one line for the rest');
  assert.deepEqual(retries[0].slice(0, 2), ['cdn00.example.org', '100']);
  assert.deepEqual(retries[19].slice(0, 2), ['cdn19.example.org', '43']);
  assert.deepEqual(retries[20].slice(0, 2), ['5 more keys', String(40 + 37 + 34 + 31 + 28)]);
});

test('histogram: one rect per bin, axis labels, and a threshold line from the manifest filter', () => {
  const dist = sectionById(html, 'distributions');
  const [chart] = svgSnippets(dist, 'chart histogram');
  assertBalanced(chart);
  const h = stats.histograms['score:clip'];
  const rects = [...chart.matchAll(/<rect class="bar" [^>]*height="([\d.]+)"/g)];
  assert.equal(chart.match(/<rect /g)?.length, h.bins.length);
  assert.equal(rects.length, h.bins.length);
  // Bar heights follow the counts: the tallest bar is the largest bin, empty bins have height 0.
  const heights = rects.map((m) => Number(m[1]));
  assert.equal(heights.indexOf(Math.max(...heights)), h.bins.indexOf(Math.max(...h.bins)));
  h.bins.forEach((c, i) => assert.equal(heights[i] === 0, c === 0));
  for (const label of ['>0<', '>0.5<', '>1<', '>count<', '>score:clip<']) assert.ok(chart.includes(label), label);
  const threshold = /<line class="threshold" x1="([\d.]+)"/.exec(chart);
  assert.ok(threshold, 'threshold line');
  // Plot spans x = 64 .. 560 for [0, 1].
  assert.ok(Math.abs(Number(threshold[1]) - (64 + 496 * SCORE_THRESHOLD)) < 0.2);
  assert.ok(chart.includes(`threshold ${SCORE_THRESHOLD}`));
});

test('sketch: quantile table matches the digest and the data, and a density + CDF are drawn', () => {
  const dist = sectionById(html, 'distributions');
  const block = dist.slice(dist.indexOf('id="sketch-score-clip"'));
  const [head, values] = [block.match(/<thead>([\s\S]*?)<\/thead>/)![1], tableRows(block)[0]];
  assert.deepEqual(textOf(head.replace(/<\/th>/g, '|')).split('|').slice(0, -1), ['min', 'p1', 'p5', 'p25', 'p50', 'p75', 'p95', 'p99', 'max']);
  const digest = TDigest.fromJSON(stats.sketches['score:clip']);
  assert.equal(digest.count, run.scores.length);
  const sorted = [...run.scores].sort((a, b) => a - b);
  // Quantile sketches promise rank accuracy: the share of data at or below a shown pq is close to q.
  const rank = (v: number) => sorted.filter((s) => s <= v).length / sorted.length;
  [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99].forEach((q, i) => {
    const shown = Number(values[i + 1]);
    assert.ok(Math.abs(rank(shown) - q) < 0.01, `p${q * 100}: shown ${shown} has rank ${rank(shown)}`);
  });
  assert.equal(Number(values[0]), Number(sorted[0].toPrecision(4)));
  const below = sorted.filter((s) => s <= SCORE_THRESHOLD).length / sorted.length;
  const share = Number(/≈ ([\d.]+)% of values at or below the threshold/.exec(block)![1]);
  assert.ok(Math.abs(share - 100 * below) < 1.5, `share below threshold ${share}% vs ${100 * below}%`);
  const [chart] = svgSnippets(block, 'chart sketch');
  assertBalanced(chart);
  assert.equal(chart.match(/<rect class="bar density"/g)?.length, 40);
  const points = /<polyline class="cdf" points="([^"]+)"/.exec(chart)![1].split(' ').map((p) => p.split(',').map(Number));
  assert.equal(points.length, 101);
  // A CDF never falls: y (downwards in SVG) never increases along x.
  for (let i = 1; i < points.length; i++) assert.ok(points[i][1] <= points[i - 1][1] + 1e-9);
  assert.match(chart, /<line class="threshold"/);
  assert.match(chart, /<line class="median"/);
});

test('examples: grids per set, real thumbnails with boxes drawn over them', () => {
  const ex = sectionById(html, 'examples');
  const titles = [...ex.matchAll(/<h3>([^<]+) <small>/g)].map((m) => m[1]);
  assert.deepEqual(titles, ['dropped:image_text', 'kept: image_text, a random sample', 'kept: web_captions, a random sample']);
  const kept = ex.slice(ex.indexOf('id="examples-kept-image-text"'), ex.indexOf('id="examples-kept-web-captions"'));
  assert.equal(kept.match(/<figure class="card">/g)?.length, 6);
  const boxed = svgSnippets(kept, 'boxed');
  assert.equal(boxed.length, 6);
  for (const svg of boxed) {
    assertBalanced(svg);
    // The sharp-made thumbnail of the 160x120 picture is 96x72; the box sits in its pixels.
    assert.match(svg, /viewBox="0 0 96 72"/);
    assert.match(svg, /<image href="data:image\/jpeg;base64,[A-Za-z0-9+/=]+"/);
    assert.match(svg, /<rect x="24" y="18" width="36" height="36">/);
    assert.match(svg, />red square 0.91</);
  }
  const dropped = ex.slice(ex.indexOf('id="examples-dropped-image-text"'), ex.indexOf('id="examples-kept-image-text"'));
  assert.equal(dropped.match(/<b>score_<wbr>below_<wbr>threshold<\/b>/g)?.length, 6);
  // Labels are not drawn over the picture: each box has a number, and the key under the picture names its phrase.
  const keys = [...kept.matchAll(/<ol class="boxes-key"[^>]*>([\s\S]*?)<\/ol>/g)].map((m) => textOf(m[1]));
  assert.equal(keys.length, 6);
  for (const k of keys) assert.equal(k, '1red square 0.91');
  for (const svg of boxed) assert.doesNotMatch(svg, /<text[^>]*>red square/);
  // Other scalar fields (the score) are listed under the card.
  assert.match(kept, /<dt>clip<\/dt><dd>0\.\d+<\/dd>/);
});

test('text from the data is escaped: no script, no injected attributes', () => {
  assert.doesNotMatch(html, /<script/i);
  // No tag carries an event handler or a style attribute smuggled in through a quote.
  const names = new Set(attributeNames(html));
  assert.deepEqual([...names].filter((n) => n.startsWith('on') || n === 'style'), []);
  assert.ok(names.has('alt') && names.has('href') && names.has('viewbox'));
  assert.ok(html.includes('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;'));
  const card = sectionById(html, 'examples');
  assert.ok(textOf(card).includes(EVIL_CAPTION));
});

test('no external resource references', () => {
  assert.doesNotMatch(html, /\b(?:src|href|xlink:href|action|poster)\s*=\s*["']?\s*(?:https?:|\/\/|ftp:)/i);
  assert.doesNotMatch(html, /url\(\s*["']?\s*(?:https?:|\/\/)/i);
  assert.doesNotMatch(html, /@import/i);
  // Sources are data (http URLs in the ledger) and may appear as text, never as a link.
  for (const m of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) assert.ok(m[1].startsWith('data:image/') || m[1].startsWith('#'), m[1]);
});

test('a thumb that is not an inline raster data URI is refused', () => {
  const web = sectionById(html, 'examples').split('id="examples-kept-web-captions"')[1];
  assert.equal(web.match(/picture refused/g)?.length, 2, 'https and svg thumbs');
  assert.ok(!html.includes('evil.example/track.jpg'));
  assert.ok(!html.includes('data:image/svg'));
});

test('identical input renders identical bytes; generatedAt is the only time on the page', () => {
  const again = renderReport(JSON.parse(JSON.stringify({ manifest: run.manifest, stats, rejectsByReason })));
  assert.equal(again, html);
  const fromMergedCopy = renderReport({ manifest: run.manifest, stats: RunStats.fromJSON(stats).toJSON(), rejectsByReason });
  assert.equal(fromMergedCopy, html);
  assert.doesNotMatch(html, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
  const stamped = renderReport({ manifest: run.manifest, stats, rejectsByReason, generatedAt: '2024-05-01T12:00:00Z' });
  assert.ok(stamped.includes('2024-05-01T12:00:00Z'));
});

test('an empty run renders every section without failing', () => {
  const manifest: Manifest = {
    schema_version: 1,
    weft_version: '0.1.0',
    config_fingerprint: '0000',
    config: null,
    scorers: [],
    filters: [],
    units: [],
    shards: [],
    totals: { kept: 0, dropped: 0, shards: 0, bytes: 0 },
  };
  const empty = new RunStats();
  empty.sketch('score:clip');
  const page = renderReport({ manifest, stats: empty.toJSON() });
  assertBalanced(page);
  for (const id of ['summary', 'funnel', 'drops', 'kinds', 'counters', 'distributions', 'examples']) assert.ok(sectionById(page, id));
  assert.match(page, /<h1>weft run<\/h1>/);
  assert.match(page, /Nothing was dropped/);
  assert.match(page, /no values/);
});

test('thresholds come only from filters on the named score column', () => {
  const filters = [{ column: 'clip', threshold: 0.3 }, { column: 'clip', threshold: 0.9 }, { column: 'other', threshold: 0.1 }, { column: 'clip', threshold: 'x' }];
  assert.deepEqual(thresholdsFor('score:clip', filters), [0.3, 0.9]);
  assert.deepEqual(thresholdsFor('clip', filters), []);
  assert.deepEqual(thresholdsFor('score:none', filters), []);
});
