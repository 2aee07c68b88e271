// The scene detector on frames drawn in memory: what each rule is for (circular hue, weights
// near black, adaptive cuts, flashes, fades, dissolves). The fixture family with ffmpeg-made
// edits is measured in tests/run/fixtures/scene-eval.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shippedBoundaryModel, type BoundaryModel } from '../../../stages/pair/scene-boundary-model.ts';
import { contentDifference, endMotionOverMix, fitMix, frameFeatures, globalMotionResidual, HARD_FEATURES, isMixOfEnds, orientationSimilarity, SceneDetector, shiftResidual, stepShape, straightness, type SceneBoundary } from '../../../stages/pair/scene-detector.ts';

const W = 32;
const H = 24;
const FPS = 10;
type Picture = (x: number, y: number) => [number, number, number];

function render(p: Picture): Uint8Array {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rgb.set(p(x, y).map((v) => Math.max(0, Math.min(255, Math.round(v)))), (y * W + x) * 3);
  return rgb;
}

/** Stripes and blobs in two colours; `shift` moves them, `tint` picks the palette. */
const scene = (tint: number, shift = 0): Picture => (x, y) => {
  const s = Math.sin((x + shift) / 2.5) * Math.cos(y / 3 + tint) > 0 ? 1 : 0;
  const palettes: [number, number, number][][] = [[[200, 60, 40], [40, 90, 200]], [[60, 200, 90], [230, 220, 60]], [[150, 60, 200], [240, 150, 40]]];
  return palettes[tint % palettes.length][s];
};

function detect(frames: Uint8Array[], model?: BoundaryModel): SceneBoundary[] {
  const d = new SceneDetector({ fps: FPS, threshold: 12, ratio: 3, fadeFloor: 32, minSceneS: 0.5, model });
  frames.forEach((rgb, index) => d.push({ index, time: index / FPS, width: W, height: H, rgb }));
  return d.finish();
}

const mix = (a: Picture, b: Picture, alpha: number): Picture => (x, y) => a(x, y).map((v, i) => (1 - alpha) * v + alpha * b(x, y)[i]) as [number, number, number];
const dim = (a: Picture, k: number): Picture => (x, y) => a(x, y).map((v) => v * k) as [number, number, number];

test('hue is compared on the circle and counts for nothing near black', () => {
  const f = (rgb: number[]) => frameFeatures(new Uint8Array(rgb));
  // Hue 358 and 2 degrees: neighbours on the circle, 178 apart on a line.
  assert.ok(contentDifference(f([255, 0, 9]), f([255, 9, 0])) < 4);
  // Dark red and dark blue: hue and saturation are noise down there, brightness is equal.
  assert.ok(contentDifference(f([10, 0, 0]), f([0, 0, 10])) < 1);
  assert.ok(contentDifference(f([200, 0, 0]), f([0, 0, 200])) > 30);
});

test('a hard cut is found on its frame; sustained fast motion and a flash are not cuts', () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) frames.push(render(scene(0, i * 3))); // 3 px a frame, 4 s
  for (let i = 0; i < 30; i++) frames.push(render(i === 12 ? () => [255, 255, 255] : scene(1, i * 3)));
  const b = detect(frames);
  assert.deepEqual(b.map((x) => [x.type, x.start]), [['hard', 4]]);
});

test('a fade through black is one fade with its span, not cuts', () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 30; i++) frames.push(render(scene(0)));
  for (let i = 1; i <= 6; i++) frames.push(render(dim(scene(0), 1 - i / 6))); // 3.0-3.5 s down
  for (let i = 0; i < 2; i++) frames.push(render(() => [0, 0, 0]));
  for (let i = 1; i <= 6; i++) frames.push(render(dim(scene(2), i / 6)));
  for (let i = 0; i < 30; i++) frames.push(render(scene(2)));
  const b = detect(frames);
  assert.equal(b.length, 1);
  assert.equal(b[0].type, 'fade');
  assert.ok(b[0].start >= 2.85 && b[0].start <= 3.05, `start ${b[0].start}`);
  assert.ok(b[0].end >= 4.25 && b[0].end <= 4.45, `end ${b[0].end}`);
});

test('a 1.5 s dissolve is found as a dissolve overlapping it, and nothing is found in the shots', () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 30; i++) frames.push(render(scene(0)));
  for (let i = 1; i <= 15; i++) frames.push(render(mix(scene(0), scene(1), i / 16)));
  for (let i = 0; i < 30; i++) frames.push(render(scene(1)));
  const b = detect(frames);
  const dissolves = b.filter((x) => x.type === 'dissolve');
  assert.equal(dissolves.length, 1, JSON.stringify(b));
  assert.ok(dissolves[0].start < 4.5 && dissolves[0].end > 3, JSON.stringify(b));
  // Hue jumps where the mix passes through grey can add a hard cut inside the transition, never in the shots.
  for (const x of b) assert.ok(x.start >= 2.9 && x.end <= 4.7, JSON.stringify(b));
});

test('the learned classifier keeps the cut and the dissolve and takes nothing in fast motion or at a flash', () => {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) frames.push(render(scene(0, i * 3)));
  for (let i = 0; i < 30; i++) frames.push(render(i === 12 ? () => [255, 255, 255] : scene(1, i * 3)));
  for (let i = 1; i <= 15; i++) frames.push(render(mix(scene(1, 87), scene(2), i / 16)));
  for (let i = 0; i < 30; i++) frames.push(render(scene(2)));
  const b = detect(frames, shippedBoundaryModel());
  const hard = b.filter((x) => x.type === 'hard');
  const dissolves = b.filter((x) => x.type === 'dissolve');
  assert.ok(hard.some((x) => x.start === 4), JSON.stringify(b));
  assert.equal(dissolves.length, 1, JSON.stringify(b));
  assert.ok(dissolves[0].start < 8.5 && dissolves[0].end > 7, JSON.stringify(b));
  for (const x of b) assert.ok(x.start === 4 || (x.start >= 6.9 && x.end <= 8.7), JSON.stringify(b));
});

// 64 x 48 pictures for the mix and motion checks (the analysis frame size).
const W64 = 64;
const H64 = 48;
function render64(p: Picture): Uint8Array {
  const rgb = new Uint8Array(W64 * H64 * 3);
  for (let y = 0; y < H64; y++) for (let x = 0; x < W64; x++) rgb.set(p(x, y).map((v) => Math.max(0, Math.min(255, Math.round(v)))), (y * W64 + x) * 3);
  return rgb;
}
/** Colour value noise on 6 px cells, drawn from a seed: pictures with no repeat a shift could match. */
const texture = (seed: number): Picture => {
  const cell = (i: number, j: number, c: number) => {
    let h = Math.imul(i * 374761393 + j * 668265263 + c * 2147483647 + seed * 1274126177, 1103515245) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 1274126177) >>> 0;
    return 40 + ((h >>> 8) % 180);
  };
  return (x, y) => {
    const fx = x / 6;
    const fy = y / 6;
    const i = Math.floor(fx);
    const j = Math.floor(fy);
    const u = fx - i;
    const v = fy - j;
    return [0, 1, 2].map((c) => (1 - u) * (1 - v) * cell(i, j, c) + u * (1 - v) * cell(i + 1, j, c) + (1 - u) * v * cell(i, j + 1, c) + u * v * cell(i + 1, j + 1, c)) as [number, number, number];
  };
};
/** The picture zoomed by s about the frame's centre. */
const zoomed = (p: Picture, s: number): Picture => (x, y) => p((W64 - 1) / 2 + (x - (W64 - 1) / 2) / s, (H64 - 1) / 2 + (y - (H64 - 1) / 2) / s);
/** A smooth colour gradient over a plane larger than the frame, seen from (ox, oy). */
const gradient = (ox: number, oy: number): Picture => (x, y) => [120 + 100 * Math.sin((x + ox) / 40), 120 + 100 * Math.cos((y + oy) / 30), 128 + 0.8 * (x + ox - y - oy)];

test('the frames of a dissolve are one alpha mix of its ends each; a pan over a gradient is explained by a shift', () => {
  const a = texture(1);
  const b = texture(2);
  const ends = [render64(a), render64(b)];
  const middle = [0.25, 0.5, 0.75].map((k) => render64(mix(a, b, k)));
  const fit = fitMix(ends[0], middle, ends[1]);
  assert.ok(fit.residual < 0.02, `residual ${fit.residual}`);
  fit.alphas.forEach((alpha, i) => assert.ok(Math.abs(alpha - [0.25, 0.5, 0.75][i]) < 0.02, `alphas ${fit.alphas}`));
  // Global motion explains little of a dissolve's change...
  const dissolveStep = globalMotionResidual(middle[0], middle[1], W64, H64);
  assert.ok(dissolveStep.moved > 0.6 * dissolveStep.still, JSON.stringify(dissolveStep));
  // ...and most of a pan's, though the pan's middle frames fit a mix of its ends as well.
  const pan = [0, 8, 16, 24].map((k) => render64(gradient(k, k / 2)));
  const panFit = fitMix(pan[0], pan.slice(1, 3), pan[3]);
  assert.ok(panFit.residual < 0.3, `pan residual ${panFit.residual}`);
  const panStep = globalMotionResidual(pan[1], pan[2], W64, H64);
  assert.ok(panStep.moved < 0.3 * panStep.still, JSON.stringify(panStep));
  assert.equal(isMixOfEnds({ ...panFit, motionExplained: 1 - panStep.moved / panStep.still }), false);
  assert.equal(isMixOfEnds({ ...fit, motionExplained: 1 - dissolveStep.moved / dissolveStep.still }), true);
});

test("the middle frame of a zoom is a moved copy of an end, the middle of a dissolve is a mix of both; a zoom keeps the edges' orientations, another shot does not", () => {
  const a = texture(1);
  const b = texture(2);
  const zoom = (p: Picture, s: number): Picture => (x, y) => p((W64 - 1) / 2 + (x - (W64 - 1) / 2) / s, (H64 - 1) / 2 + (y - (H64 - 1) / 2) / s);
  const [z0, z1, z2] = [1, 1.25, 1.5625].map((s) => render64(zoom(a, s)));
  assert.ok(endMotionOverMix(z0, z1, z2, 0.5, W64, H64) < 0, 'a zoom is explained by moving an end');
  assert.ok(endMotionOverMix(render64(a), render64(mix(a, b, 0.5)), render64(b), 0.5, W64, H64) > 0.5, 'a dissolve is explained by the mix');
  // Stripes at one slant, zoomed, against stripes at another.
  const stripes = (angle: number): Picture => (x, y) => (Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) / 2) > 0 ? [220, 200, 60] : [30, 40, 120]);
  const zoomed = orientationSimilarity(render64(stripes(0.3)), render64(zoom(stripes(0.3), 1.4)), W64, H64);
  const other = orientationSimilarity(render64(stripes(0.3)), render64(stripes(1.6)), W64, H64);
  assert.ok(zoomed > 0.7 && other < 0.3, `zoomed ${zoomed}, other shot ${other}`);
});

test('every value of a dissolve moves one way (straightness 1); a pan over a texture sends values back and forth', () => {
  const a = texture(1);
  const b = texture(2);
  const dissolve = [0, 0.25, 0.5, 0.75, 1].map((k) => render64(mix(a, b, k)));
  assert.ok(straightness(dissolve) > 0.98, `dissolve ${straightness(dissolve)}`);
  const pan = [0, 3, 6, 9, 12].map((k) => render64((x, y) => a(x + k, y)));
  assert.ok(straightness(pan) < 0.6, `pan ${straightness(pan)}`);
});

test("a dissolve's largest step moves every pixel towards the far end; a pan's and a zoom's do not", () => {
  const a = texture(1);
  const b = texture(2);
  const dissolve = stepShape([0, 0.25, 0.5, 0.75, 1].map((k) => render64(mix(a, b, k))));
  const pan = stepShape([0, 3, 6, 9, 12].map((k) => render64((x, y) => a(x + k, y))));
  const zoom = stepShape([1, 1.1, 1.21, 1.33, 1.46].map((s) => render64(zoomed(a, s))));
  assert.ok(dissolve.stepAlongEnds > 0.95 && dissolve.stepSpread > 0.8, `dissolve ${JSON.stringify(dissolve)}`);
  assert.ok(pan.stepAlongEnds < 0.5 && zoom.stepAlongEnds < 0.7, `pan ${JSON.stringify(pan)}, zoom ${JSON.stringify(zoom)}`);
});

test("a coloured flash over half of a fast pan brings the shot's colours back: a flash by the histogram, where the pixel tests miss it; a cut is none", () => {
  const a = texture(1);
  const b = texture(2);
  const frames: Uint8Array[] = [];
  for (let k = 0; k < 40; k++) {
    const shot: Picture = k < 25 ? (x, y) => a(x + 9 * k, y + 2 * k) : (x, y) => b(x + 9 * k, y);
    frames.push(render64(k === 10 ? (x, y) => (y < H64 / 2 ? [60, 200, 255] : shot(x, y)) : shot));
  }
  const detector = new SceneDetector({ fps: FPS, threshold: 12, ratio: 3, fadeFloor: 32, minSceneS: 0.6 });
  frames.forEach((rgb, index) => detector.push({ index, time: index / FPS, width: W64, height: H64, rgb }));
  const at = new Map(detector.candidates().hard.map((c) => [c.index, c]));
  const feature = (i: number, name: string) => at.get(i)!.features[HARD_FEATURES.indexOf(name)];
  const seen = JSON.stringify([...at.values()].map((c) => [c.index, c.flash, feature(c.index, 'flash_hist')]));
  // The flash's frame and the frame after it, when the shot comes back: the pixels have moved on, the colours have not.
  for (const i of [10, 11]) {
    assert.ok(feature(i, 'flash') === 0 && feature(i, 'flash_blocks') === 0, seen);
    assert.ok(at.get(i)!.flash && feature(i, 'flash_hist') < 0.35, seen);
  }
  assert.ok(!at.get(25)!.flash && feature(25, 'flash_hist') > 0.7, seen);
});

test('a shaken frame matches its neighbour once shifted, as far as a quarter of the frame; a cut to another picture does not', () => {
  const a = texture(1);
  const b = texture(2);
  const base = render64(a);
  // Even shifts land on the half-size grid the search runs on; odd ones fall between its pixels.
  for (const [dx, dy, share] of [[4, -2, 0.1], [-12, 6, 0.1], [14, 10, 0.1], [3, -5, 0.4]]) {
    const shaken = shiftResidual(base, render64((x, y) => a(x + dx, y + dy)), W64, H64);
    assert.ok(shaken.still > 10 && shaken.moved < share * shaken.still, `shift ${dx},${dy}: ${JSON.stringify(shaken)}`);
  }
  const cut = shiftResidual(base, render64(b), W64, H64);
  assert.ok(cut.moved > 0.6 * cut.still, `cut ${JSON.stringify(cut)}`);
});

test('a recolouring that turns past its end is no mix of its ends (a middle alpha over 1)', () => {
  // The palette turns on and comes part of the way back, as a fractal zoom's colours do: a frame inside lies beyond the last.
  const hueAt = (turn: number): Picture => (x, y) => {
    const s = Math.sin(x / 2.5) * Math.cos(y / 3) > 0 ? 1 : 0;
    return [0, 1, 2].map((c) => 128 + 100 * Math.cos(2 * Math.PI * (turn + c / 3 + s / 2))) as [number, number, number];
  };
  const frames = [0, 0.15, 0.3, 0.25].map((t) => render64(hueAt(t)));
  const fit = fitMix(frames[0], frames.slice(1, 3), frames[3]);
  assert.ok(fit.alphas.some((a) => a > 1.03), JSON.stringify(fit));
  assert.equal(isMixOfEnds({ ...fit, motionExplained: 0 }), false);
});

test('a dip to a flat dark field is no fade; the same dip as the picture dimmed, not to black, is one', () => {
  // Luma of scene(0) is about 80-100: both dips bottom out at a mean luma near 26, under the floor (32) but not black.
  const dip = (bottom: (k: number) => Picture) => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) frames.push(render(scene(0)));
    for (let i = 1; i <= 5; i++) frames.push(render(bottom(i / 5)));
    for (let i = 0; i < 3; i++) frames.push(render(bottom(1)));
    for (let i = 5; i >= 1; i--) frames.push(render(bottom(i / 5)));
    for (let i = 0; i < 30; i++) frames.push(render(scene(0)));
    return detect(frames);
  };
  const flat: Picture = () => [26, 26, 26];
  const toFlat = dip((k) => mix(scene(0), flat, k));
  assert.ok(!toFlat.some((b) => b.type === 'fade'), JSON.stringify(toFlat));
  const dimmed = dip((k) => dim(scene(0), 1 - 0.72 * k));
  assert.deepEqual(dimmed.map((b) => b.type), ['fade'], JSON.stringify(dimmed));
});
