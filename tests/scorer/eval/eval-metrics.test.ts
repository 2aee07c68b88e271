// Evaluation metrics against their brute-force definitions, and the noise the evaluation makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auroc, averagePrecision, editAttribute, swapCaptions } from '../../../scorer/eval/noisy-pairs.ts';
import { retrievalRecall } from '../../../scorer/eval/retrieval.ts';
import { bestPatch, grounded } from '../../../scorer/eval/grounding-eval.ts';
import { captionKey, distinctCaptionSets, withKeywords } from '../../../scorer/eval/corpora.ts';
import { bars, distinctScenes, openclipartHeldOut } from '../../../scorer/eval/evaluate.ts';
import { seededRandom } from '../../../scorer/onnx/random.ts';
import type { DemoObject } from '../../../corpora/demo-corpus.ts';

/** P(positive scores above negative) + P(tie) / 2, over every positive-negative pair. */
function bruteAuroc(s: number[], y: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++)
    for (let j = 0; j < s.length; j++) {
      if (!y[i] || y[j]) continue;
      pairs += 1;
      wins += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  return wins / pairs;
}

/** scikit-learn's AP: over each distinct threshold t (descending), (recall(t) - recall(previous t)) * precision(t). */
function bruteAp(s: number[], y: boolean[]): number {
  const thresholds = [...new Set(s)].sort((a, b) => b - a);
  const total = y.filter(Boolean).length;
  let ap = 0;
  let previousRecall = 0;
  for (const t of thresholds) {
    const selected = s.map((v, i) => (v >= t ? i : -1)).filter((i) => i >= 0);
    const tp = selected.filter((i) => y[i]).length;
    const recall = tp / total;
    ap += (recall - previousRecall) * (tp / selected.length);
    previousRecall = recall;
  }
  return ap;
}

test('AUROC and average precision match their definitions, ties included', () => {
  const random = seededRandom(3);
  for (let trial = 0; trial < 40; trial++) {
    const n = 5 + Math.floor(random() * 40);
    // Coarse scores so that ties happen often.
    const s = Array.from({ length: n }, () => Math.round(random() * 6) / 2);
    const y = Array.from({ length: n }, (_, i) => (i < 2 ? i === 0 : random() < 0.4));
    assert.ok(Math.abs(auroc(s, y) - bruteAuroc(s, y)) < 1e-12, `trial ${trial}: auroc`);
    assert.ok(Math.abs(averagePrecision(s, y) - bruteAp(s, y)) < 1e-12, `trial ${trial}: ap`);
  }
});

test('AUROC and AP on hand-made cases', () => {
  assert.equal(auroc([3, 2, 1], [true, false, false]), 1);
  assert.equal(auroc([1, 2, 3], [true, false, false]), 0);
  assert.equal(auroc([1, 1, 1, 1], [true, false, true, false]), 0.5);
  // positives at ranks 1 and 3: (1/1 + 2/3) / 2
  assert.ok(Math.abs(averagePrecision([0.9, 0.8, 0.7, 0.1], [true, false, true, false]) - (1 + 2 / 3) / 2) < 1e-12);
  assert.ok(Number.isNaN(auroc([1, 2], [true, true])));
});

test('retrieval recall counts, per direction, the queries whose partner ranks within k', () => {
  const v = (...xs: number[]) => {
    const n = Math.hypot(...xs);
    return Float32Array.from(xs, (x) => x / n);
  };
  // image 0 is closest to text 0; image 1 is closest to text 2; image 2 closest to text 2.
  const images = [v(1, 0, 0), v(0, 0.6, 1), v(0, 0, 1)];
  const texts = [v(1, 0, 0), v(0, 1, 0), v(0, 0.1, 1)];
  const r = retrievalRecall(images, texts, [1, 2, 3]);
  assert.deepEqual(r.imageToText, { 1: 2 / 3, 2: 1, 3: 1 });
  // text 1's best image is image 1; text 2's best is image 2; text 0's is image 0
  assert.deepEqual(r.textToImage, { 1: 1, 2: 1, 3: 1 });

  // Against a brute-force ranking on random vectors.
  const random = seededRandom(9);
  const rand = () => v(...Array.from({ length: 8 }, () => random() - 0.5));
  const a = Array.from({ length: 30 }, rand);
  const b = a.map((x) => v(...Array.from(x, (e) => e + (random() - 0.5) * 0.8)));
  const got = retrievalRecall(a, b, [1, 5]);
  const dotp = (p: Float32Array, q: Float32Array) => p.reduce((s, e, d) => s + e * q[d], 0);
  for (const k of [1, 5]) {
    let hits = 0;
    for (let i = 0; i < 30; i++) {
      const ranked = b.map((t, j) => ({ j, s: dotp(a[i], t) })).sort((x, y) => y.s - x.s);
      if (ranked.findIndex((x) => x.j === i) < k) hits += 1;
    }
    assert.ok(Math.abs(got.imageToText[k] - hits / 30) < 1e-9, `R@${k}`);
  }
});

test('swapped captions: the asked share, each really someone else\'s caption, reproducible', () => {
  const captions = Array.from({ length: 100 }, (_, i) => `caption ${i % 40}`);
  const a = swapCaptions(captions, 0.3, 5);
  assert.deepEqual(a, swapCaptions(captions, 0.3, 5));
  const changed = a.captions.map((c, i) => captionKey(c) !== captionKey(captions[i]));
  assert.deepEqual(changed, a.swapped);
  assert.ok(a.swapped.filter(Boolean).length >= 28 && a.swapped.filter(Boolean).length <= 30);
  // The captions are only moved around, never invented.
  assert.deepEqual([...a.captions].sort(), [...captions].sort());
});

const red: DemoObject = { shape: 'circle', colour: 'red', size: 'large', position: 'top left', phrase: 'large red circle', box: [4, 4, 22, 22] };
const blue: DemoObject = { shape: 'square', colour: 'blue', size: 'small', position: 'center', phrase: 'blue square', box: [28, 28, 36, 36] };

test('single-attribute edits change exactly the asked attribute', () => {
  const caption = 'a large red circle in the top left corner and a blue square in the center';
  const random = seededRandom(1);
  for (let i = 0; i < 20; i++) {
    const colour = editAttribute(caption, [red, blue], 'colour', random)!;
    assert.notEqual(colour, caption);
    assert.match(colour, /^an? large \w+ circle in the top left corner and a blue square in the center$|^a large red circle in the top left corner and an? \w+ square in the center$/);
    assert.ok(!/blue square.*blue square/.test(colour));

    const shape = editAttribute(caption, [red, blue], 'shape', random)!;
    assert.match(shape, /^a large red \w+ in the top left corner and a blue square in the center$|^a large red circle in the top left corner and a blue \w+ in the center$/);
    assert.notEqual(shape, caption);

    const position = editAttribute(caption, [red, blue], 'position', random)!;
    assert.notEqual(position, caption);
    assert.ok(position.startsWith('a large red circle ') && position.includes(' and a blue square '));
    assert.ok(!/top left corner and a blue square in the center$/.test(position) || !position.startsWith('a large red circle in the top left corner'));
  }
  // Only the red circle's phrase states a size.
  assert.equal(editAttribute(caption, [red, blue], 'size', random), 'a small red circle in the top left corner and a blue square in the center');
  assert.equal(editAttribute('a blue square and a red circle', [blue], 'size', random), null);
  assert.equal(editAttribute('a blue square', [blue], 'position', random), null);
  // Articles follow the new word.
  const orange = editAttribute('a blue square', [blue], 'colour', seededRandom(4));
  assert.ok(orange && /^(an orange|a \w+) square$/.test(orange), String(orange));
});

test('grounding: the best patch by dot product, hit when its centre is inside the box', () => {
  const D = 2;
  // 2x2 grid over a 64 px image; the query matches patch (0, 0) best.
  const patches = { grid: [2, 2] as [number, number], dim: D, data: Float32Array.from([1, 0, 0, 1, 0.2, 0.2, -1, 0]) };
  assert.deepEqual(bestPatch(patches, Float32Array.from([1, 0])), { row: 0, col: 0, score: 1 });
  assert.equal(grounded({ patches, side: 64, object: red, phrase: Float32Array.from([1, 0]) }), true); // centre (16, 16)
  assert.equal(grounded({ patches, side: 64, object: red, phrase: Float32Array.from([0, 1]) }), false); // centre (48, 16)
});

test('held-out sets: one item per distinct caption or scene; novel captions never trained on', () => {
  const pair = (id: string, caption: string) => ({ id, caption, image: new Uint8Array() });
  const { distinct, novel } = distinctCaptionSets([pair('t1', 'A Cat')], [pair('a', 'a cat'), pair('b', 'A dog!'), pair('c', 'a  DOG'), pair('d', 'bird')]);
  assert.deepEqual(distinct.map((p) => p.id), ['a', 'b', 'd']);
  assert.deepEqual(novel.map((p) => p.id), ['b', 'd']);

  const scene = (id: string, objects: DemoObject[]) => ({ id, caption: id, image: new Uint8Array(), objects });
  assert.deepEqual(distinctScenes([scene('x', [red, blue]), scene('y', [blue, red]), scene('z', [red])]).map((p) => p.id), ['x', 'z']);

  const ids = Array.from({ length: 4000 }, (_, i) => `collection/drawing-${i}.svg`);
  const held = ids.filter(openclipartHeldOut).length / ids.length;
  assert.ok(held > 0.08 && held < 0.12, `held out ${held}`);
});

test('bars: each metric against its minimum', () => {
  const retrieval = (i1: number) => ({ imageToText: { 1: i1, 5: 1, 10: 0.995 }, textToImage: { 1: 0.85, 5: 1, 10: 1 }, n: 10 });
  const det = (a: number) => ({ auroc: a, averagePrecision: 0.9, n: 10, noisy: 3 });
  const b = bars({
    synthetic: { retrieval: retrieval(0.89), swap: det(0.995), attributes: { colour: det(1), shape: det(1), position: det(1), size: det(1), all: det(0.86) }, grounding: { accuracy: 0.5, n: 4 }, curation: null },
  });
  assert.deepEqual(b.map((x) => [x.metric, x.pass]), [
    ['image->text R@1', false],
    ['image->text R@10', true],
    ['text->image R@1', true],
    ['random-swap AUROC', true],
    ['single-attribute AUROC', true],
    ['grounding accuracy', true],
  ]);
});

test('openclipart captions: the page caption, then the keywords, unless the caption already is the keyword list', () => {
  assert.equal(withKeywords('Echidna', 'mammal, monotreme, australian, animal'), 'Echidna. mammal, monotreme, australian, animal');
  assert.equal(withKeywords('Baseball Bat', ''), 'Baseball Bat');
  // captionOf falls back to the keywords when there is no title or description.
  assert.equal(withKeywords('stars, shapes', 'stars, shapes'), 'stars, shapes');
  assert.equal(withKeywords('', 'stars, shapes'), 'stars, shapes');
});
