// The scene detector on frames drawn in memory: what each rule is for (circular hue, weights
// near black, adaptive cuts, flashes, fades, dissolves). The fixture family with ffmpeg-made
// edits is measured in tests/run/fixtures/scene-eval.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentDifference, frameFeatures, SceneDetector, type SceneBoundary } from '../../../stages/pair/scene-detector.ts';

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

function detect(frames: Uint8Array[]): SceneBoundary[] {
  const d = new SceneDetector({ fps: FPS, threshold: 12, ratio: 3, fadeFloor: 32, minSceneS: 0.5 });
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
