// occlusionEdges skips neighbour pairs on raw integer depths before judging them in float32
// inverse depth; these tests check that it marks exactly what the plain float32 rule marks,
// on depth maps whose jumps sit right around the relative-jump threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { occlusionEdges, ORIENT_ACROSS_X, ORIENT_ACROSS_Y } from '../../../stages/align/edges.ts';

/** The rule without any shortcut: every pair judged on a float32 inverse-depth map. */
function referenceEdges(depth: Uint16Array, width: number, height: number, relativeJump: number, noiseFloor: number) {
  const inv = new Float32Array(width * height);
  for (let i = 0; i < inv.length; i++) inv[i] = depth[i] === 0 ? 0 : 1 / depth[i];
  const orientation = new Uint8Array(width * height);
  const strength = new Float32Array(width * height);
  const judge = (i: number, step: number, hasBefore: boolean, hasAfter: boolean, bit: number) => {
    const a = inv[i];
    const b = inv[i + step];
    if (a === 0 || b === 0) return;
    const jump = Math.abs(a - b);
    const near = Math.max(a, b);
    if (jump <= relativeJump * near || jump <= noiseFloor) return;
    const before = hasBefore ? inv[i - step] : 0;
    const after = hasAfter ? inv[i + 2 * step] : 0;
    const gBefore = before === 0 ? 0 : Math.abs(a - before);
    const gAfter = after === 0 ? 0 : Math.abs(after - b);
    if (jump <= 3 * Math.min(gBefore, gAfter)) return;
    orientation[i + step] |= bit;
    strength[i + step] = Math.max(strength[i + step], jump / near);
  };
  for (let y = 0; y < height; y++) for (let x = 0; x + 1 < width; x++) judge(y * width + x, 1, x >= 1, x + 2 < width, ORIENT_ACROSS_X);
  for (let y = 0; y + 1 < height; y++) for (let x = 0; x < width; x++) judge(y * width + x, width, y >= 1, y + 2 < height, ORIENT_ACROSS_Y);
  return { orientation, strength };
}

function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Noise-free blocks (so the noise floor is 0) whose neighbours differ by 3.5 % to 4.5 %, and holes. */
function blockDepth(seed: number, width: number, height: number): Uint16Array {
  const rnd = mulberry32(seed);
  const depth = new Uint16Array(width * height);
  const block = 3 + Math.floor(rnd() * 5);
  const values = new Map<string, number>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const key = `${Math.floor(x / block)},${Math.floor(y / block)}`;
      if (!values.has(key)) values.set(key, rnd() < 0.05 ? 0 : Math.round(800 + rnd() * 40000));
      depth[y * width + x] = values.get(key)!;
    }
  }
  // Rows of exact threshold steps: d and d * (1 +- 0.04 +- a few units).
  for (let y = 0; y < height; y += 7) {
    for (let x = 0; x + 1 < width; x += 2) {
      const d = 1000 + Math.floor(rnd() * 20000);
      depth[y * width + x] = d;
      depth[y * width + x + 1] = Math.max(1, Math.round(d / (1 - 0.04)) + Math.floor(rnd() * 5) - 2);
    }
  }
  return depth;
}

for (const [seed, width, height] of [[1, 64, 48], [2, 97, 61], [3, 160, 120], [4, 33, 200]]) {
  test(`occlusion edges equal the plain float32 rule (seed ${seed}, ${width}x${height})`, () => {
    const depth = blockDepth(seed, width, height);
    for (const relativeJump of [0.04, 0.02, 0.1]) {
      const got = occlusionEdges(depth, width, height, { relativeJump });
      const want = referenceEdges(depth, width, height, relativeJump, 0);
      assert.deepEqual(got.orientation, want.orientation);
      assert.deepEqual(got.strength, want.strength);
      let count = 0;
      for (const o of want.orientation) if (o) count++;
      assert.equal(got.count, count);
      assert.ok(count > 0, 'the fixture has edges to compare');
    }
  });
}
