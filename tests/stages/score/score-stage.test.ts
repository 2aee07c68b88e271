// The score stage on a real (tiny, trained) reference scorer: batching in order with
// backpressure, scores equal to the scorer's own cosine, drops with reasons, stats, grounding.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../../scorer/caption-folder.ts';
import { loadScorer, type Scorer } from '../../../scorer/scorer.ts';
import { scoreStage } from '../../../stages/score/score-stage.ts';
import { scoreColumnName, type ScoredSample } from '../../../stages/score/score-columns.ts';
import { scorerImageGeometry } from '../../../scorer/grounding.ts';
import type { ImageTextSample } from '../../../schemas/image-text.ts';
import { testContext } from '../../helpers/context.ts';
import { tinyReferenceScorer } from '../../helpers/trained-reference.ts';

let root: string;
let scorerDir: string;
let scorer: Scorer;
let samples: ImageTextSample[];

before(async () => {
  scorerDir = await tinyReferenceScorer();
  scorer = await loadScorer(scorerDir, { threads: 1, batchSize: 8 });
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-score-stage-'));
  const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 20, swapFraction: 0, size: 64, seed: 21 });
  const pairs = (await readCaptionFolder(corpus.imagesDir)).filter((p) => p.id.startsWith('img-')).slice(0, 20);
  samples = pairs.map((p) => ({
    id: p.id,
    kind: 'image_text',
    source: `${p.id}.png`,
    caption: p.caption,
    image: { bytes: p.image, path: `${p.id}.png` },
    width: 64,
    height: 64,
    originalWidth: 64,
    originalHeight: 64,
    sha256: createHash('sha256').update(p.image).digest('hex'),
  }));
});

after(async () => {
  await scorer?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* counted<T>(items: T[], pulls: { n: number }): AsyncGenerator<T> {
  for (const x of items) {
    pulls.n++;
    yield x;
  }
}

test('score column names say which scorer made them', () => {
  assert.equal(scoreColumnName('clip-vit-b32'), 'score_clip_vit_b32');
  assert.equal(scoreColumnName('Weft Reference'), 'score_weft_reference');
  assert.equal(scoreColumnName('---'), 'score_scorer');
});

test('scores in input order, in batches, holding at most two batches; scores are the scorer\'s cosine', async () => {
  const ctx = testContext();
  const column = scoreColumnName(scorer.id);
  const stage = scoreStage<ImageTextSample>({ scorer, column, batchSize: 6, threshold: null, grounding: null });
  const pulls = { n: 0 };
  const it = stage(counted(samples, pulls), ctx)[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  // One batch is scored while the next is pulled: never more than two batches ahead.
  assert.ok(pulls.n >= 6 && pulls.n <= 12, `pulled ${pulls.n} before the first output`);
  const rest: ScoredSample[] = [first.value as ScoredSample];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as ScoredSample);
  assert.deepEqual(rest.map((s) => s.id), samples.map((s) => s.id), 'order kept, nothing lost (20 = 3 batches of 6 + a flush of 2)');

  const direct = await scorer.score(samples.map((s) => ({ image: s.image.bytes, text: s.caption })));
  rest.forEach((s, i) => assert.ok(Math.abs(s.score! - direct[i]) < 1e-4, `${s.id}: ${s.score} vs ${direct[i]}`));
  assert.equal(ctx.stats.sketch(`score:${column}`).count, samples.length);
  const h = ctx.stats.histograms.get(`score:${column}`)!;
  assert.equal(h.bins.reduce((a, b) => a + b, 0) + h.under + h.over, samples.length);
  assert.deepEqual({ in: ctx.stats.stage('score').in, out: ctx.stats.stage('score').out }, { in: 20, out: 20 });
  // Matching captions outscore mismatched ones on average (the model was trained on this kind of data).
  const shifted = await scorer.score(samples.map((s, i) => ({ image: s.image.bytes, text: samples[(i + 7) % samples.length].caption })));
  const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(direct) > mean(shifted) + 0.1, `matched ${mean(direct)} vs mismatched ${mean(shifted)}`);
});

test('unreadable images and scores below the threshold are dropped with reasons; the batch goes on', async () => {
  const ctx = testContext();
  const column = scoreColumnName(scorer.id);
  const broken: ImageTextSample = { ...samples[0], id: 'broken', image: { bytes: new TextEncoder().encode('not an image'), path: 'broken.png' } };
  const input = [samples[1], broken, ...samples.slice(2, 10)];
  const scores = await scorer.score(input.filter((s) => s.id !== 'broken').map((s) => ({ image: s.image.bytes, text: s.caption })));
  const sorted = [...scores].sort((a, b) => a - b);
  const threshold = (sorted[3] + sorted[4]) / 2; // the 4 lowest fall below it
  const out = await collect(scoreStage<ImageTextSample>({ scorer, column, batchSize: 4, threshold, grounding: null })(counted(input, { n: 0 }), ctx));
  assert.equal(out.length, input.length - 1 - 4);
  assert.ok(out.every((s) => s.score! >= threshold));
  const byReason = (r: string) => ctx.rejects.rows.filter((x) => x.reason === r);
  assert.deepEqual(byReason('score_image_unreadable').map((r) => [r.id, r.stage]), [['broken', 'score']]);
  assert.equal(byReason('score_below_threshold').length, 4);
  assert.match(byReason('score_below_threshold')[0].detail, /^score -?\d\.\d{4} < threshold /);
  assert.deepEqual(ctx.stats.stage('score').droppedByReason, { score_image_unreadable: 1, score_below_threshold: 4 });
  // The report's lowest-kept and highest-dropped sets hold thumbnails and scores.
  const dropped = ctx.stats.worst.get(`dropped:highest ${column}`)!.items;
  assert.equal(dropped.length, 4);
  assert.equal(dropped[0].value, Math.max(...dropped.map((d) => d.value)));
  assert.match(String(dropped[0].item.thumb), /^data:image\/jpeg;base64,/);
  const lowest = ctx.stats.worst.get(`kept:lowest ${column}`)!.items;
  assert.equal(-lowest[0].value, Math.min(...out.map((s) => s.score!)));
});

test('grounding: noun phrases get boxes inside the image and scores; low recall is dropped at the grounding stage', async () => {
  const ctx = testContext();
  const column = scoreColumnName(scorer.id);
  const geometry = await scorerImageGeometry(scorerDir);
  const grounding = { geometry, phraseThreshold: 0.2, minRecall: 0.5, maxPhrases: 8 };
  const kept = await collect(scoreStage<ImageTextSample>({ scorer, column, batchSize: 8, threshold: null, grounding })(counted(samples, { n: 0 }), ctx));
  const dropped = ctx.rejects.rows.filter((r) => r.reason === 'low_grounding_recall');
  assert.equal(kept.length + dropped.length, samples.length);
  assert.ok(dropped.every((r) => r.stage === 'grounding' && /grounding recall \d\.\d{3} < min_recall 0.5/.test(r.detail)));
  for (const s of kept) {
    assert.ok(s.phrases!.length > 0, s.caption);
    for (const p of s.phrases!) {
      const [x0, y0, x1, y1] = p.box;
      assert.ok(0 <= x0 && x0 < x1 && x1 <= 64 && 0 <= y0 && y0 < y1 && y1 <= 64, `${p.phrase}: ${p.box}`);
      assert.ok(p.score >= -1 && p.score <= 1);
      assert.ok(s.caption.toLowerCase().includes(p.phrase.split(' ')[0]), `${p.phrase} comes from "${s.caption}"`);
    }
    assert.equal(s.groundingRecall, s.phrases!.filter((p) => p.score >= 0.2).length / s.phrases!.length);
    assert.ok(s.groundingRecall! >= 0.5);
  }
  const g = ctx.stats.stage('grounding');
  assert.equal(g.in, samples.length);
  assert.equal(g.out, kept.length);
  // Kept report examples carry the boxes, scaled to the thumbnail.
  const example = ctx.stats.worst.get(`kept:lowest ${column}`)!.items[0].item;
  assert.ok(Array.isArray(example.boxes) && (example.boxes as unknown[]).length > 0);
});
