// The report's video section from stats as the video stages record them: histograms with the
// configured cuts, filmstrip cards with both signals, the sentence timeline; data is escaped
// and only inline raster thumbnails are drawn. Then real runs (one process, and two ranks
// merged): the weakest kept clips with their sync curves, which are the lowest-confidence rows of
// the index and the same however the run was split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mergeOutDirs } from '../../output/merge.ts';
import { readFlatParquet } from '../../output/parquet-tables.ts';
import { runKind } from '../helpers/kind-runs.ts';
import { sectionById, textOf } from '../helpers/html-probe.ts';
import { syncCurveSvg } from '../../report/sync-curve.ts';
import { videoSourceSchema } from '../../schemas/video-config.ts';
import sharp from 'sharp';
import { RunStats } from '../../core/stats.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { VIDEO_STATS, AV_CONFIDENCE_RANGE, NARRATION_SCORE_RANGE, RETIME_GAIN_RANGE } from '../../schemas/video.ts';
import { videoSection } from '../../report/video-section.ts';
import { downsample, pickEvenly } from '../../stages/align/sync-stats.ts';

const manifest = { config: { source: { kind: 'video', sync: { max_abs_offset_ms: 200, min_confidence: 0.7, correct: false } } } } as unknown as Manifest;

test('no video stats, no section', () => {
  assert.equal(videoSection(new RunStats().toJSON(), manifest), null);
});

test('histograms, worst-clip filmstrips with both signals, and the sentence timeline', async () => {
  const stats = new RunStats();
  stats.histogram(VIDEO_STATS.offsetHistogram, -620, 620, 31).add(-200);
  stats.histogram(VIDEO_STATS.confidenceHistogram, ...AV_CONFIDENCE_RANGE).add(0.9);
  const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
  const thumb = `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  stats.worstSet(VIDEO_STATS.worstOffset).add(5, 'v/clip-0000', {
    id: 'v/clip-0000',
    source: 'a <b>.mp4',
    caption: 'a <b>.mp4 0.00-3.00 s: offset -200 ms',
    duration: 3,
    offset_ms: -200,
    confidence: 0.9,
    filmstrip: [
      { time: 0, thumb },
      { time: 1.5, thumb: 'https://example.com/tracker.png' },
      { time: 2.75, thumb },
    ],
    motion: [0, 1, 0.2, 0, 0.9],
    onsets: [0, 0, 1, 0, 0],
    verdict: 'dropped',
    stage: 'av_sync',
    reason: 'av_offset_too_large',
    detail: 'offset -200 ms',
  });
  stats.exampleSet(VIDEO_STATS.narration).add('v', {
    id: 'v',
    source: 'demo-0.mp4',
    duration: 10,
    sentences: [
      { text: 'a red <circle>', start: 1, end: 2, aligned_start: 2, aligned_end: 3, score: 0.4, alignable: true },
      { text: 'a blue square', start: 5, end: 6, aligned_start: 5, aligned_end: 6, score: null, alignable: false },
    ],
  });
  stats.histogram(VIDEO_STATS.narrationScore, ...NARRATION_SCORE_RANGE).add(0.4);
  const section = videoSection(stats.toJSON(), manifest)!;
  assert.ok(section);
  assert.match(section.html, /id="histogram-video-narration-score"><h3>video\.narration_score <small>histogram, 1 values/);
  const html = section.html;
  assert.deepEqual([...section.claimed.histograms].sort(), [VIDEO_STATS.confidenceHistogram, VIDEO_STATS.offsetHistogram, VIDEO_STATS.narrationScore].sort());
  assert.deepEqual([...section.claimed.worst], [VIDEO_STATS.worstOffset]);
  // The offset cuts at +-max_abs_offset_ms and the confidence cut at min_confidence are drawn.
  assert.match(html, /threshold -200/);
  assert.match(html, /threshold 200/);
  assert.match(html, /threshold 0\.7/);
  // Two inline frames drawn, the remote one refused; both signals as polylines.
  assert.equal((html.match(/<image href="data:image\/jpeg;base64,/g) ?? []).length, 2);
  assert.doesNotMatch(html, /example\.com/);
  assert.equal((html.match(/<polyline /g) ?? []).length, 2);
  assert.match(html, /av_offset_too_large/);
  // Data is escaped everywhere.
  assert.doesNotMatch(html, /<b>\.mp4|<circle>/);
  assert.match(html, /a &lt;b&gt;\.mp4/);
  // Timeline: per sentence an original bar and an aligned bar; the unalignable one in red.
  assert.match(html, /2 sentences, 1 alignable/);
  assert.equal((html.match(/fill="#9aa3ad"/g) ?? []).length, 2);
  assert.equal((html.match(/fill="#2e8b57"/g) ?? []).length, 1);
  assert.equal((html.match(/height="6" fill="#b8402f"/g) ?? []).length, 1);
});

test('signals are max-pooled to a bounded number of points and scaled to [0, 1]; filmstrip frames spread evenly', () => {
  const values = Array.from({ length: 250 }, (_, i) => (i === 137 ? 40 : i % 10 === 0 ? 4 : NaN));
  const d = downsample(values, 120);
  assert.equal(d.length, 120);
  assert.equal(Math.max(...d), 1);
  assert.ok(d.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(pickEvenly(16, 6), [0, 3, 6, 9, 12, 15]);
  assert.deepEqual(pickEvenly(3, 6), [0, 1, 2]);
});

test('subtitle re-timing: cues by evidence with the unsupported ones counted, and a timeline with the speech found', () => {
  const stats = new RunStats();
  stats.count(VIDEO_STATS.retimeEvidence, 'speech', 5);
  stats.count(VIDEO_STATS.retimeEvidence, 'none', 2);
  stats.histogram(VIDEO_STATS.retimeShift, -10, 10, 80).add(-1.5);
  stats.histogram(VIDEO_STATS.retimeGain, ...RETIME_GAIN_RANGE).add(0.8);
  stats.histogram(VIDEO_STATS.retimeGain, ...RETIME_GAIN_RANGE).add(0.3);
  stats.exampleSet(VIDEO_STATS.retime).add('v', {
    id: 'v',
    source: 'talk <1>.mp4',
    duration: 20,
    offset: -1.5,
    speech: [[1, 3], [5, 7]],
    sentences: [
      { text: 'hello there', start: 2.5, end: 4.5, aligned_start: 1, aligned_end: 3, alignable: true, shift: -1.5, evidence: 'speech' },
      { text: 'Chapter two', start: 10, end: 12, aligned_start: 10, aligned_end: 12, alignable: false, shift: 0, evidence: 'none' },
    ],
  });
  const out = videoSection(stats.toJSON(), manifest)!;
  assert.ok(out, 'the section shows for re-timing alone');
  const html = out.html;
  assert.match(html, /Subtitle re-timing/);
  assert.match(html, /none: neither supports the cue; not moved<\/td><td class="num">2<\/td><td class="num">28\.6 %/);
  assert.match(html, /speech: re-timed to the voice[^<]*<\/td><td class="num">5</);
  assert.match(html, /<title>speech 1\.00-3\.00 s<\/title>/);
  assert.match(html, /evidence none/);
  assert.match(html, /talk &lt;1&gt;\.mp4/);
  assert.ok(out.claimed.counters.has(VIDEO_STATS.retimeEvidence));
  // The distribution of the speech evidence: the gain histogram, 2 values.
  assert.match(html, /id="histogram-video-subtitle-retime-gain"><h3>video\.subtitle_retime_gain <small>histogram, 2 values/);
  assert.ok(out.claimed.histograms.has(VIDEO_STATS.retimeGain));
});

test('the sync curve: one point per shift, the chosen offset marked where it lies', () => {
  // vshift 3 at 25 fps: shifts -120..+120 ms; the best shift is +1 frame, refined to +50 ms.
  const svg = syncCurveSvg({ distances: [0.9, 0.8, 0.6, 0.3, 0.1, 0.5, 0.9], fps: 25, offsetMs: 50, confidence: 0.4 });
  assert.equal((svg.match(/<circle /g) ?? []).length, 7);
  assert.match(svg, /<polyline points="[^"]+"/);
  const xs = [...svg.matchAll(/<circle cx="([^"]+)"/g)].map((m) => Number(m[1]));
  const chosen = Number(/class="chosen-offset" x1="([^"]+)"/.exec(svg)![1]);
  // +50 ms is 1.25 frames: a quarter of the way from the +1 point to the +2 point.
  assert.ok(Math.abs(chosen - (xs[4] + 0.25 * (xs[5] - xs[4]))) < 0.2, `${chosen} vs ${xs[4]}..${xs[5]}`);
  assert.match(svg, /shift 40 ms: correlation 0\.9/);
  assert.match(svg, /offset \+50 ms, confidence 0\.4/);
  assert.equal(syncCurveSvg({ distances: [0.5], fps: 25, offsetMs: 0 }), '', 'nothing to draw from one shift');
});

/** What the video section of a finished run shows about the weakest kept clips, and what its index holds. */
async function weakestClipsOf(out: string) {
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  const stats = JSON.parse(await readFile(path.join(out, 'stats.json'), 'utf8'));
  const index = await readFlatParquet(path.join(out, 'index.parquet'));
  const video = sectionById(html, 'video');
  const start = video.indexOf('id="worst-video-lowest-av-confidence-kept"');
  const block = start < 0 ? '' : video.slice(start, video.indexOf('<h3>Worst clips</h3>', start));
  const cards = [...block.matchAll(/<figure class="card"[^>]*>([\s\S]*?)<\/figure>/g)].map((m) => m[1]);
  return { video, stats, index, cards, ids: cards.map((c) => textOf(/<p class="id"[^>]*>([^<]*)<\/p>/.exec(c)![1])) };
}

test('real runs: confidence histogram and the weakest kept clips with their sync curves, the same on one process and on two ranks merged', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-video-weakest-'));
  try {
    // Four videos of three 3 s clips each: two delayed, one in sync, one with unrelated audio (dropped as low confidence).
    const video = { delaysMs: [120, -80], inSyncClips: 1, unrelatedClips: 1, clipSeconds: 9 };
    const single = await runKind('video', work, { video, out: 'single' });
    const r0 = await runKind('video', work, { video, out: 'rank0', rank: 0, worldSize: 2 });
    const r1 = await runKind('video', work, { video, out: 'rank1', rank: 1, worldSize: 2 });
    const merged = path.join(work, 'merged');
    await mergeOutDirs([r0, r1], merged);
    const views = [await weakestClipsOf(single), await weakestClipsOf(merged)];
    const vshift = videoSourceSchema.parse({ kind: 'video', path: '.' }).sync.vshift;
    for (const v of views) {
      const measured = v.stats.histograms[VIDEO_STATS.confidenceHistogram];
      assert.equal(measured.bins.reduce((a: number, b: number) => a + b, 0) + measured.under + measured.over, v.stats.stages.av_sync.in, 'every measured clip is in the confidence histogram');
      assert.match(v.video, /id="histogram-video-av-confidence"/);
      assert.match(v.video, /<h3>Weakest kept clips<\/h3>/);
      assert.ok(v.index.length > 6, `enough kept clips to choose from (${v.index.length})`);
      const expected = [...v.index]
        .sort((a, b) => Number(a.av_confidence) - Number(b.av_confidence) || (String(a.id) < String(b.id) ? -1 : 1))
        .slice(0, 6)
        .map((r) => String(r.id));
      assert.deepEqual(v.ids, expected, 'the weakest cards are the kept rows with the lowest av_confidence (ties by id)');
      for (const [i, c] of v.cards.entries()) {
        assert.ok(/<image href="data:image\/jpeg;base64,/.test(c), `card ${i} has its filmstrip`);
        const curve = /<svg class="sync-curve"[\s\S]*?<\/svg>/.exec(c)?.[0] ?? '';
        assert.ok(curve, `card ${i} has its sync curve`);
        assert.equal((curve.match(/<circle /g) ?? []).length, 2 * vshift + 1, `card ${i}: one point per shift`);
        assert.ok(curve.includes('class="chosen-offset"'), `card ${i}: the chosen offset is marked`);
        assert.ok(c.includes('<p class="verdict">kept'), `card ${i} is a kept clip`);
      }
    }
    assert.deepEqual(views[1].ids, views[0].ids, 'two ranks merged show the same weakest clips as one process');
    assert.deepEqual(views[1].stats.histograms[VIDEO_STATS.confidenceHistogram], views[0].stats.histograms[VIDEO_STATS.confidenceHistogram]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
