// The learned boundary classifier's training and prediction on data with a known answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../../corpora/demo-corpus.ts';
import { predict, selectFeatures, shippedBoundaryModel, trainClassifier } from '../../../stages/pair/scene-boundary-model.ts';
import { DISSOLVE_FEATURES, HARD_FEATURES } from '../../../stages/pair/scene-detector.ts';

/** Points in two features; the class is whether x0 * x1 > 0 (no straight line separates it), plus a useless third feature. */
function xorData(n: number, seed: number): { x: number[][]; y: number[] } {
  const r = mulberry32(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = r() * 2 - 1;
    const b = r() * 2 - 1;
    x.push([a * 10 + 3, b, r()]);
    y.push(a * b > 0 ? 1 : 0);
  }
  return { x, y };
}

const accuracy = (w: Parameters<typeof predict>[0], d: { x: number[][]; y: number[] }) => d.x.filter((x, k) => (predict(w, x) >= 0.5 ? 1 : 0) === d.y[k]).length / d.x.length;

test('a logistic regression learns a linear rule on unstandardised features', () => {
  const r = mulberry32(5);
  const x = Array.from({ length: 400 }, () => [r() * 100, r()]);
  const y = x.map(([a]) => (a > 40 ? 1 : 0));
  const w = trainClassifier(['a', 'b'], x, y, { hiddenUnits: 0, epochs: 800, learningRate: 0.05, l2: 0, seed: 1 });
  assert.equal(w.hidden.length, 0);
  assert.ok(accuracy(w, { x, y }) >= 0.97);
  assert.ok(Math.abs(w.out[0]) > 5 * Math.abs(w.out[1]), `weights ${w.out}`);
});

test('the hidden layer learns what a logistic regression cannot, and held-out points agree', () => {
  const train = xorData(600, 1);
  const held = xorData(300, 2);
  const opts = { epochs: 1500, learningRate: 0.02, l2: 1e-4, seed: 3 };
  const linear = trainClassifier(['a', 'b', 'noise'], train.x, train.y, { ...opts, hiddenUnits: 0 });
  const mlp = trainClassifier(['a', 'b', 'noise'], train.x, train.y, { ...opts, hiddenUnits: 8 });
  assert.ok(accuracy(linear, held) < 0.7, `linear ${accuracy(linear, held)}`);
  assert.ok(accuracy(mlp, held) >= 0.9, `mlp ${accuracy(mlp, held)}`);
});

test('training is deterministic: the same data and seed give the same weights', () => {
  const d = xorData(200, 7);
  const o = { hiddenUnits: 4, epochs: 200, learningRate: 0.02, l2: 1e-3, seed: 9 };
  assert.deepEqual(trainClassifier(['a', 'b', 'c'], d.x, d.y, o), trainClassifier(['a', 'b', 'c'], d.x, d.y, o));
  assert.notDeepEqual(trainClassifier(['a', 'b', 'c'], d.x, d.y, o), trainClassifier(['a', 'b', 'c'], d.x, d.y, { ...o, seed: 10 }));
});

test('the shipped model takes the features the detector computes', () => {
  const m = shippedBoundaryModel();
  // A model may take a subset of what the detector computes, by name (selectFeatures).
  for (const name of m.hard.features) assert.ok(HARD_FEATURES.includes(name), name);
  for (const name of m.dissolve.features) assert.ok(DISSOLVE_FEATURES.includes(name), name);
  for (const w of [m.hard, m.dissolve]) {
    assert.equal(w.mean.length, w.features.length);
    assert.ok(w.threshold > 0 && w.threshold < 1);
    const p = predict(w, w.mean);
    assert.ok(p >= 0 && p <= 1);
  }
});

test('a model trained on a subset of the features takes them by name from the full vector', () => {
  const d = xorData(300, 5);
  const o = { hiddenUnits: 4, epochs: 400, learningRate: 0.02, l2: 1e-3, seed: 3 };
  // Trained on features b and a (in that order); the full vector holds a, b, c.
  const w = trainClassifier(['b', 'a'], d.x.map((x) => [x[1], x[0]]), d.y, o);
  const all = ['a', 'b', 'c'];
  assert.deepEqual(selectFeatures(w.features, all, [1, 2, 3]), [2, 1]);
  assert.ok(d.x.filter((x, k) => (predict(w, selectFeatures(w.features, all, x)) >= 0.5 ? 1 : 0) === d.y[k]).length / d.x.length >= 0.9);
  assert.throws(() => selectFeatures(['a', 'z'], all, [1, 2, 3]), /feature z/);
});
