import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  associateNearest,
  associateOneToOne,
  associateOneToOneBruteForce,
} from '../../../stages/pair/rgbd-timestamps.ts';
import { mulberry32 } from '../../../core/random.ts';


test('fast one-to-one association equals the O(n·m) rule on random inputs, with ties and offsets', () => {
  let pairsSeen = 0;
  let tiedCandidates = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const rnd = mulberry32(seed);
    const n = Math.floor(rnd() * 40);
    const m = Math.floor(rnd() * 40);
    // Coarse grids make equal differences (ties) and duplicate timestamps common.
    const grid = seed % 3 === 0 ? 0.005 : seed % 3 === 1 ? 0.001 : 0;
    const q = (x: number) => (grid ? Math.round(x / grid) * grid : x);
    const span = 0.05 + rnd() * 2;
    const first = Array.from({ length: n }, () => q(1305031102 + rnd() * span));
    const second = Array.from({ length: m }, () => q(1305031102 + rnd() * span));
    const options = { maxDifference: [0.005, 0.02, 0.1, 5][seed % 4], offset: seed % 5 === 0 ? q((rnd() - 0.5) * 0.04) : 0 };
    const fast = associateOneToOne(first, second, options);
    const direct = associateOneToOneBruteForce(first, second, options);
    assert.deepEqual(fast, direct, `seed ${seed}`);
    pairsSeen += fast.pairs.length;
    const diffs = fast.pairs.map((p) => Math.abs(p.skew));
    tiedCandidates += diffs.length - new Set(diffs).size;
  }
  // The inputs exercised the interesting cases rather than passing vacuously.
  assert.ok(pairsSeen > 2000, `pairs ${pairsSeen}`);
  assert.ok(tiedCandidates > 100, `ties ${tiedCandidates}`);
});

test('one-to-one association recovers the true pairs of a jittered 30 Hz stream with dropped frames', () => {
  const rnd = mulberry32(7);
  const rgb: number[] = [];
  const depth: number[] = [];
  const truth = new Map<number, number>();
  for (let k = 0; k < 900; k++) {
    const t = 100 + k / 30;
    const dropRgb = rnd() < 0.05;
    const dropDepth = rnd() < 0.05;
    if (!dropRgb) rgb.push(t + (rnd() - 0.5) * 0.004);
    if (!dropDepth) depth.push(t + 0.003 + (rnd() - 0.5) * 0.008);
    if (!dropRgb && !dropDepth) truth.set(rgb.length - 1, depth.length - 1);
  }
  const result = associateOneToOne(rgb, depth);
  const found = new Map(result.pairs.map((p) => [p.first, p.second]));
  assert.deepEqual(found, truth);
  assert.equal(result.unpairedFirst.length, rgb.length - truth.size);
  assert.equal(result.unpairedSecond.length, depth.length - truth.size);
  for (const u of result.unpairedFirst) assert.ok(u.nearestSkew !== null && Math.abs(u.nearestSkew) >= 0.02);
});

test('one-to-one matches the associate.py example: closest pair first, each frame used once', () => {
  const r = associateOneToOne([1.0, 1.011], [1.01], { maxDifference: 0.02 });
  assert.deepEqual(r.pairs.map((p) => [p.first, p.second]), [[1, 0]]);
  assert.equal(r.unpairedFirst[0].index, 0);
  assert.ok(Math.abs(r.unpairedFirst[0].nearestSkew! - -0.01) < 1e-12);
  // The offset moves the second list: with +0.5 s the depth at 0.5 pairs with rgb at 1.0.
  const withOffset = associateOneToOne([1.0], [0.5, 1.0], { offset: 0.5 });
  assert.deepEqual(withOffset.pairs.map((p) => [p.first, p.second]), [[0, 0]]);
  assert.equal(withOffset.unpairedSecond[0].index, 1);
  assert.ok(Math.abs(withOffset.unpairedSecond[0].nearestSkew! - -0.5) < 1e-12);
});

test('nearest matching lets one depth frame serve several colour frames and reports unused ones', () => {
  const r = associateNearest([1.0, 1.01, 1.5], [1.004, 1.2, 0.9], { maxDifference: 0.02 });
  assert.deepEqual(r.pairs.map((p) => [p.first, p.second]), [[0, 0], [1, 0]]);
  assert.deepEqual(r.unpairedFirst.map((u) => u.index), [2]);
  assert.ok(Math.abs(r.unpairedFirst[0].nearestSkew! - 0.3) < 1e-9);
  assert.deepEqual(r.unpairedSecond.map((u) => u.index), [1, 2]);
  assert.ok(Math.abs(r.unpairedSecond[1].nearestSkew! - 0.1) < 1e-9);
  assert.deepEqual(associateNearest([1], []).unpairedFirst, [{ index: 0, nearestSkew: null }]);
});

test('bad options are refused', () => {
  assert.throws(() => associateOneToOne([1], [1], { maxDifference: 0 }), RangeError);
  assert.throws(() => associateOneToOne([1], [1], { offset: Number.NaN }), RangeError);
});

test('an unpaired frame whose nearest partner was inside the window says which closer frame took it', () => {
  // associate.py's example: depth 1.01 is 10 ms from rgb 1.0 but 1 ms from rgb 1.011, which wins it.
  const r = associateOneToOne([1.0, 1.011], [1.01], { maxDifference: 0.02 });
  const u = r.unpairedFirst[0];
  assert.equal(u.index, 0);
  assert.equal(u.nearest, 0);
  assert.equal(u.takenBy?.index, 1);
  assert.ok(Math.abs(u.takenBy!.skew - 0.001) < 1e-12);
  // A partner outside the window is only the nearest one, taken or not: no takenBy.
  const far = associateOneToOne([1.0, 1.5], [1.5], { maxDifference: 0.02 });
  assert.equal(far.unpairedFirst[0].nearest, 0);
  assert.equal(far.unpairedFirst[0].takenBy, undefined);
  // Many-to-one: a depth frame nobody chose names the colour frame that took a closer depth frame.
  const nearest = associateNearest([1.0], [1.002, 1.012], { maxDifference: 0.02 });
  assert.deepEqual(nearest.unpairedSecond.map((x) => [x.index, x.nearest, x.takenBy?.index]), [[1, 0, 0]]);
});
