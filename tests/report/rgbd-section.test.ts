// The report's RGB-D section, rendered from stats merged across two units the way stats.json is
// made: skew and valid-ratio histograms with the configured cuts, the shift scatter, the worst
// pairs with their edge overlays, and no duplicate of those stats in the generic sections. Then
// real runs (one process, and two ranks merged): the confidence histogram and the weakest kept
// pairs, which are the lowest-confidence rows of the index and the same however the run was split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mergeOutDirs } from '../../output/merge.ts';
import { readFlatParquet } from '../../output/parquet-tables.ts';
import { runKind } from '../helpers/kind-runs.ts';
import { renderReport } from '../../report/report-html.ts';
import { rgbdSection } from '../../report/rgbd-section.ts';
import { parseShiftCounts, shiftScatterChart } from '../../report/svg-charts.ts';
import { registrationOverlay, OVERLAY_HEX } from '../../stages/align/rgbd-overlay.ts';
import { REPORT_CSS } from '../../report/report-style.ts';
import { RunStats } from '../../core/stats.ts';
import { RGBD_CONFIDENCE_BINS, RGBD_SKEW_BINS, RGBD_STATS, RGBD_VALID_RATIO_BINS } from '../../schemas/rgbd.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { assertBalanced, attributeNames, sectionById, textOf } from '../helpers/html-probe.ts';
import { buildSampleRun, seeded } from '../helpers/report-sample-run.ts';

function rgbdManifest(kept: number, dropped: number): Manifest {
  return {
    schema_version: 1,
    weft_version: '0.1.0',
    config_fingerprint: '0123456789abcdef',
    config: { name: 'tum-mini', source: { kind: 'rgbd', path: 'data/tum' }, rgbd: { max_skew_ms: 15, max_registration_shift: 2, min_registration_confidence: 0.15, min_valid_ratio: 0.3, correct_shift: false } },
    scorers: [],
    filters: [],
    units: [{ id: 'rgbd-tum-seq00', source: 'seq00', kept, dropped, committed_at: '2024-01-01T00:00:00.000Z' }],
    shards: [],
    totals: { kept, dropped, shards: 0, bytes: 0 },
  };
}

/** A small frame with a box; depth shifted by `dx` px, so the overlay shows it. */
async function overlay(dx: number): Promise<string> {
  const w = 64, h = 48;
  const rgb = { width: w, height: h, data: new Uint8Array(w * h * 3) };
  const depth = { width: w, height: h, data: new Uint16Array(w * h) };
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    rgb.data.fill(x >= 20 && x < 44 && y >= 12 && y < 36 ? 200 : 30, (y * w + x) * 3, (y * w + x) * 3 + 3);
    depth.data[y * w + x] = x - dx >= 20 && x - dx < 44 && y >= 12 && y < 36 ? 1200 : 3000;
  }
  return registrationOverlay(rgb, depth);
}

/** Stats of one unit as the quality stage records them. */
function unitStats(seed: number, pairs: number, thumb: string): RunStats {
  const s = new RunStats();
  const rnd = seeded(seed);
  s.stage('rgbd_pair').in += pairs * 2;
  s.stage('rgbd_pair').out += pairs * 2 - 2;
  s.stage('rgbd_pair').dropped('unpaired', 2);
  const q = s.stage('rgbd_quality');
  for (let i = 0; i < pairs; i++) {
    q.in++;
    const dx = i % 5 === 0 ? 5 : i % 3 === 0 ? 1 : 0;
    const dy = i % 5 === 0 ? -1 : 0;
    const confidence = 0.3 + 0.5 * rnd();
    s.histogram(RGBD_STATS.skewHistogram, -20, 20, RGBD_SKEW_BINS).add((rnd() - 0.4) * 30);
    s.histogram(RGBD_STATS.validRatioHistogram, 0, 1, RGBD_VALID_RATIO_BINS).add(0.5 + 0.5 * rnd());
    s.sketch(RGBD_STATS.residualSketch).add(rnd() * 2);
    s.sketch(RGBD_STATS.confidenceSketch).add(confidence);
    s.count(RGBD_STATS.shiftCounts, `${dx},${dy}`);
    const id = `rgbd-tum-seq0${seed}/rgb/${i}.png`;
    const dropped = Math.max(Math.abs(dx), Math.abs(dy)) > 2;
    if (dropped) q.dropped('misregistered');
    else q.out++;
    const item = { id, source: `seq0${seed}/rgb/${i}.png`, caption: `shift (${dx}, ${dy}) px`, thumb, ...(dropped ? { verdict: 'dropped', stage: 'rgbd_quality', reason: 'misregistered', detail: `shift (${dx}, ${dy}) px > 2 px` } : { verdict: 'kept' }) };
    s.worstSet(RGBD_STATS.worstShift, 4).add(Math.max(Math.abs(dx), Math.abs(dy)) + confidence, id, item);
    s.worstSet(RGBD_STATS.worstResidual, 4).add(rnd() * 2, id, item);
  }
  s.count(RGBD_STATS.shiftCounts, '<b>,1'); // a malformed key must not reach the page
  s.worstSet('score.lowest', 2).add(1, 'other#1', { id: 'other#1', caption: 'a generic worst example' });
  return s;
}

const thumb = await overlay(5);
const merged = unitStats(1, 30, thumb).merge(unitStats(2, 20, thumb));
const stats = merged.toJSON();
const q = stats.stages.rgbd_quality;
const sections = [{ id: 'rgbd', title: 'RGB-D', render: rgbdSection }];
const html = renderReport({ manifest: rgbdManifest(q.out, q.in - q.out), stats, sections });

test('the RGB-D section appears only for runs that recorded RGB-D stats, before the examples', async () => {
  const plain = await buildSampleRun();
  const other = renderReport({ manifest: plain.manifest, stats: plain.stats.toJSON(), sections });
  assert.ok(!other.includes('<section id="rgbd">'));
  assert.ok(!other.includes('href="#rgbd"'));
  assert.ok(html.includes('href="#rgbd"'));
  assert.ok(html.indexOf('<section id="rgbd">') < html.indexOf('<section id="examples">'));
  assertBalanced(html);
  assert.deepEqual(attributeNames(html).filter((n) => n.startsWith('on') || n === 'style'), []);
});

test('skew and valid-ratio histograms carry the merged counts and the configured cuts', () => {
  const rgbd = sectionById(html, 'rgbd');
  const skew = rgbd.slice(rgbd.indexOf('id="histogram-rgbd-skew-ms"'));
  const skewSvg = skew.slice(0, skew.indexOf('</svg>'));
  assert.equal((skewSvg.match(/<rect class="bar"/g) ?? []).length, RGBD_SKEW_BINS);
  assert.match(skew, /histogram, 50 values/);
  assert.match(skewSvg, /threshold -15/);
  assert.match(skewSvg, /threshold 15/);
  const valid = rgbd.slice(rgbd.indexOf('id="histogram-rgbd-valid-ratio"'));
  assert.match(valid.slice(0, valid.indexOf('</svg>')), /threshold 0\.3/);
  assert.match(textOf(rgbd), /rgbd_quality5040.*misregistered 10/s);
});

test('the shift scatter has one circle per measured shift, area by count, red outside the tolerance', () => {
  const rgbd = sectionById(html, 'rgbd');
  const circles = [...rgbd.matchAll(/<circle class="shift-dot( outside-tol)?" cx="[^"]+" cy="[^"]+" r="([^"]+)"><title>shift \((-?\d+), (-?\d+)\) px: (\d+) pairs/g)];
  const counts = stats.counters[RGBD_STATS.shiftCounts];
  assert.equal(circles.length, Object.keys(counts).length - 1, 'the malformed key is skipped');
  assert.ok(!rgbd.includes('<b>,1') && !rgbd.includes('&lt;b&gt;,1'));
  for (const c of circles) {
    assert.equal(Number(c[5]), counts[`${c[3]},${c[4]}`]);
    assert.equal(c[1] !== undefined, Math.max(Math.abs(Number(c[3])), Math.abs(Number(c[4]))) > 2);
  }
  const [a, b] = [circles[0], circles[1]];
  const area = (c: RegExpMatchArray) => Number(c[2]) ** 2;
  assert.ok(Math.abs(area(a) / area(b) - Number(a[5]) / Number(b[5])) < 0.05 * (Number(a[5]) / Number(b[5])) + 0.05);
  assert.match(rgbd, /<rect class="tolerance"/);
  assert.deepEqual(parseShiftCounts({ '3,-4': 2, 'x,1': 5, '1,2,3': 1, '0,0': 0 }), [{ dx: 3, dy: -4, count: 2 }]);
  assert.match(shiftScatterChart({}), /0 pairs measured/);
});

test('worst pairs show overlays, verdicts and a legend whose colours match the overlay', () => {
  const rgbd = sectionById(html, 'rgbd');
  const worst = rgbd.slice(rgbd.indexOf('id="worst-rgbd-largest-shift"'));
  assert.equal((worst.slice(0, worst.indexOf('id="worst-rgbd-highest-residual"')).match(/<figure class="card">/g) ?? []).length, 4);
  assert.match(worst, /<img src="data:image\/jpeg;base64,/);
  assert.match(worst, /rgbd_quality · <b>misregistered<\/b>/);
  assert.match(rgbd, /class="swatch rgb-edge"/);
  assert.match(rgbd, /class="swatch depth-edge"/);
  for (const [cls, hex] of [['rgb-edge', OVERLAY_HEX.rgbEdge], ['depth-edge', OVERLAY_HEX.depthEdge], ['both-edge', OVERLAY_HEX.both]]) {
    assert.ok(REPORT_CSS.includes(`.swatch.${cls} { background: ${hex}; }`), `legend colour of ${cls}`);
  }
});

test('generic sections leave out what the RGB-D section shows and render other worst sets', () => {
  const dist = sectionById(html, 'distributions');
  assert.ok(!dist.includes('rgbd.'), 'RGB-D charts are not repeated under distributions');
  assert.ok(!sectionById(html, 'counters').includes(RGBD_STATS.shiftCounts));
  const examples = sectionById(html, 'examples');
  assert.ok(!examples.includes('worst-rgbd-'));
  assert.match(examples, /id="worst-score-lowest"/);
  assert.match(examples, /a generic worst example/);
});

/** What the RGB-D section of a finished run shows about confidence, and what its index holds. */
async function weakestOf(out: string) {
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  const stats = JSON.parse(await readFile(path.join(out, 'stats.json'), 'utf8'));
  const index = await readFlatParquet(path.join(out, 'index.parquet'));
  const rgbd = sectionById(html, 'rgbd');
  const hist = rgbd.slice(rgbd.indexOf(`id="histogram-rgbd-registration-confidence-histogram"`));
  const histSvg = hist.slice(0, hist.indexOf('</svg>'));
  const weakest = rgbd.slice(rgbd.indexOf('id="worst-rgbd-lowest-confidence-kept"'));
  const block = weakest.slice(0, weakest.indexOf('</div></div>') + 12);
  const cards = [...block.matchAll(/<figure class="card">([\s\S]*?)<\/figure>/g)].map((m) => m[1]);
  return { rgbd, stats, index, hist, histSvg, cards, ids: cards.map((c) => textOf(/<p class="id"[^>]*>([^<]*)<\/p>/.exec(c)![1])) };
}

test('real runs: the confidence histogram and the weakest kept pairs (their overlays), the same on one process and on two ranks merged', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-rgbd-weakest-'));
  try {
    const single = await runKind('rgbd', work, { rgbdSequences: 3, out: 'single' });
    const r0 = await runKind('rgbd', work, { rgbdSequences: 3, out: 'rank0', rank: 0, worldSize: 2 });
    const r1 = await runKind('rgbd', work, { rgbdSequences: 3, out: 'rank1', rank: 1, worldSize: 2 });
    const merged = path.join(work, 'merged');
    await mergeOutDirs([r0, r1], merged);
    const views = [await weakestOf(single), await weakestOf(merged)];
    for (const v of views) {
      // Every pair that reached the quality check is in the histogram, with the configured cut (default 0.15).
      assert.equal((v.histSvg.match(/<rect class="bar"/g) ?? []).length, RGBD_CONFIDENCE_BINS);
      assert.match(v.hist, new RegExp(`histogram, ${v.stats.stages.rgbd_quality.in} values`));
      assert.match(v.histSvg, /threshold 0\.15/);
      assert.match(v.rgbd, /<h3>Weakest kept pairs<\/h3>/);
      // The weakest cards are the kept rows with the lowest reg_confidence (ties by id), each with its overlay.
      const expected = [...v.index]
        .sort((a, b) => Number(a.reg_confidence) - Number(b.reg_confidence) || (String(a.id) < String(b.id) ? -1 : 1))
        .slice(0, 6)
        .map((r) => String(r.id));
      assert.ok(v.index.length > 6, `enough kept pairs to choose from (${v.index.length})`);
      assert.deepEqual(v.ids, expected);
      for (const [i, c] of v.cards.entries()) {
        assert.ok(/<img src="data:image\/jpeg;base64,/.test(c), `card ${i} has its overlay`);
        assert.ok(/<dt>verdict<\/dt><dd>kept/.test(c) && !c.includes('class="verdict"'), `card ${i} is a kept pair`);
        assert.ok(/confidence \d\.\d\d/.test(c), `card ${i} says its confidence`);
      }
      // Dropped pairs are not among them.
      const lowestDropped = v.stats.worst[RGBD_STATS.worstShift].items.filter((e: { item: { verdict: string } }) => e.item.verdict === 'dropped').map((e: { id: string }) => e.id);
      for (const id of lowestDropped) assert.ok(!v.ids.includes(id));
    }
    assert.equal(views[0].index.length, views[1].index.length);
    assert.deepEqual(views[1].ids, views[0].ids, 'two ranks merged show the same weakest pairs as one process');
    assert.equal(views[1].histSvg.replace(/\s+/g, ' '), views[0].histSvg.replace(/\s+/g, ' '));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
