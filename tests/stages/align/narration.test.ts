// Narration alignment: Drop-DTW on known matrices, then the demo-scene slideshows whose
// subtitles are shifted by known amounts, re-timed by a real (tiny, trained) reference scorer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { dropDtw, dropThresholdAt } from '../../../stages/align/drop-dtw.ts';
import { videoSourceSchema } from '../../../schemas/video-config.ts';
import type { VideoClipSample } from '../../../schemas/video.ts';
import { listVideoUnits } from '../../../stages/sources/video-units.ts';
import { videoPipeline } from '../../../kinds/video.ts';
import { loadScorer, type Scorer } from '../../../scorer/scorer.ts';
import { makeVideoFixtures, type VideoFixtureTruth } from '../../../run/fixtures/video-fixtures.ts';
import { mulberry32 } from '../../../corpora/demo-corpus.ts';
import { testContext } from '../../helpers/context.ts';
import { tinyReferenceScorer } from '../../helpers/trained-reference.ts';
import { VIDEO_STATS } from '../../../schemas/video.ts';

test('Drop-DTW gives each sentence its block of frames in order, and drops what matches nothing', () => {
  const rng = mulberry32(7);
  // 4 sentences over 20 frames: sentence 0 on frames 2-5, 1 on 6-9, 2 matches nothing, 3 on 14-18.
  const blocks: ([number, number] | null)[] = [[2, 5], [6, 9], null, [14, 18]];
  const sim = blocks.map((b) => Array.from({ length: 20 }, (_, j) => (b && j >= b[0] && j <= b[1] ? 0.8 : 0.1) + (rng() - 0.5) * 0.1));
  // 65 of the 80 cells are background (0.05-0.15): the 85th percentile sits just above them.
  const threshold = dropThresholdAt(sim, 0.85);
  assert.ok(threshold > 0.15 && threshold < 0.8, String(threshold));
  const { runs } = dropDtw(sim, threshold);
  assert.deepEqual(
    runs.map((r) => (r ? [r.first, r.last] : null)),
    blocks,
  );
  assert.ok(runs[0]!.meanSimilarity > 0.7);
  // Order is enforced: a sentence whose best frames come before its predecessor's is dropped, not swapped.
  const swapped = [sim[1], sim[0]];
  const order = dropDtw(swapped, threshold).runs;
  assert.equal(order.filter((r) => r !== null).length, 1);
  assert.deepEqual(dropDtw([], 0).runs, []);
});

let dir: string;
let truth: VideoFixtureTruth;
let scorer: Scorer;
const FPS = 2;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-narration-'));
  [truth, scorer] = await Promise.all([
    makeVideoFixtures(dir, { seed: 5, delaysMs: [], inSyncClips: 0, unrelatedClips: 0, demoVideos: 3 }),
    tinyReferenceScorer().then((d) => loadScorer(d, { batchSize: 16, threads: 1 })),
  ]);
});

after(async () => {
  await scorer?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Sentence-mode clips of the demo videos with narration alignment by `scorer`; the share re-timed within one frame interval. */
async function retime(scorer: Scorer) {
  const cfg = videoSourceSchema.parse({ kind: 'video', path: 'demo', clip: { mode: 'sentences', min_sentence_s: 0 }, frames: { fps: 1 }, sync: { enabled: false }, narration: { enabled: true, fps: FPS } });
  const ctx = testContext();
  const clips: VideoClipSample[] = [];
  for (const unit of await listVideoUnits(cfg, dir)) for await (const s of videoPipeline(unit, cfg, ctx, { scorer })) clips.push(s);
  assert.deepEqual(ctx.rejects.rows, []);

  let within = 0;
  let total = 0;
  let originalWithin = 0;
  const errors: string[] = [];
  for (const video of truth.demo) {
    const mine = clips.filter((c) => path.posix.join('demo', c.video) === video.file);
    assert.equal(mine.length, video.sentences.length, video.file);
    mine.forEach((clip, i) => {
      const t = video.sentences[i];
      const cue = clip.subtitleCues[0];
      // The original timing is kept beside the aligned one.
      assert.deepEqual([cue.text, cue.start, cue.end], [t.text, t.start, t.end]);
      assert.equal(typeof cue.alignable, 'boolean');
      total++;
      if (cue.alignable && Math.abs(cue.alignedStart! - t.true_start) <= 1 / FPS) within++;
      if (Math.abs(t.start - t.true_start) <= 1 / FPS) originalWithin++;
      errors.push(`${path.basename(video.file)}#${i}: sidecar ${(t.start - t.true_start).toFixed(2)} s off, aligned ${cue.alignable ? (cue.alignedStart! - t.true_start).toFixed(2) : 'not alignable'}`);
      // Sentence windows follow the re-timed sentence.
      if (cue.alignable) assert.ok(clip.start <= cue.alignedStart! + 1e-9 && clip.end >= cue.alignedEnd! - 1e-9);
    });
  }
  assert.ok(total >= 15);
  assert.ok(originalWithin / total < 0.5, 'the fixture shifts most sidecar timings by more than a frame interval');
  return { within, total, errors, ctx };
}

test('shifted subtitles are re-timed to within one sampled frame of the truth (tiny trained reference scorer); originals kept beside', async () => {
  const { within, total, errors, ctx } = await retime(scorer);
  assert.ok(within / total >= 0.8, `re-timed within ${1 / FPS} s: ${within} of ${total}\n${errors.join('\n')}`);

  // What the report's sentence timeline reads.
  const examples = ctx.stats.examples.get(VIDEO_STATS.narration)!.toJSON().items;
  assert.equal(examples.length, truth.demo.length);
  const first = examples[0].item as { sentences: { aligned_start: number; start: number }[] };
  assert.equal(first.sentences.length, 5);
  assert.ok(ctx.stats.histograms.get(VIDEO_STATS.narrationShift)!.bins.reduce((a, b) => a + b, 0) >= within);
});

const shippedReference = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models', 'reference');

test('the same bar with the shipped reference scorer (models/reference)', { skip: !existsSync(path.join(shippedReference, 'scorer.json')) && 'models/reference is not trained in this checkout' }, async () => {
  const reference = await loadScorer(shippedReference, { batchSize: 16, threads: 1 });
  try {
    const { within, total, errors } = await retime(reference);
    assert.ok(within / total >= 0.8, `re-timed within ${1 / FPS} s: ${within} of ${total}\n${errors.join('\n')}`);
  } finally {
    await reference.close();
  }
});
