// The report's video section from stats as the video stages record them: histograms with the
// configured cuts, filmstrip cards with both signals, the sentence timeline; data is escaped
// and only inline raster thumbnails are drawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { RunStats } from '../../core/stats.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { VIDEO_STATS, AV_CONFIDENCE_RANGE } from '../../schemas/video.ts';
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
  const section = videoSection(stats.toJSON(), manifest)!;
  assert.ok(section);
  const html = section.html;
  assert.deepEqual([...section.claimed.histograms].sort(), [VIDEO_STATS.confidenceHistogram, VIDEO_STATS.offsetHistogram]);
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
});
