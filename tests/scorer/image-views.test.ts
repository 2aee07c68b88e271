// Augmented views of training images (image-views.ts) and the trainer's draw of one row per pair
// and epoch among an image and its views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { imageView, viewDraw } from '../../scorer/image-views.ts';
import { computeImageFeatures, fitReferenceScorer } from '../../scorer/reference-trainer.ts';

/** A 48x32 RGB image whose every pixel differs from its mirror image. */
async function gradientPng(): Promise<Uint8Array> {
  const W = 48;
  const H = 32;
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set([x * 5, y * 7, (x * y) % 251], (y * W + x) * 3);
  return new Uint8Array(await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
}

const raw = async (png: Uint8Array) => sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });

test('view draws are deterministic per image and view, and within their ranges', () => {
  const o = { count: 4, minScale: 0.7, flip: 0.5 };
  const sha = 'a3f1c2'.padEnd(64, '0');
  assert.deepEqual(viewDraw(sha, 2, o), viewDraw(sha, 2, o));
  assert.notDeepEqual(viewDraw(sha, 1, o), viewDraw(sha, 2, o));
  const draws = Array.from({ length: 200 }, (_, k) => viewDraw(sha, k, o));
  assert.ok(draws.every((d) => d.scale >= 0.7 && d.scale <= 1 && d.x >= 0 && d.x < 1 && d.y >= 0 && d.y < 1));
  const mirrored = draws.filter((d) => d.mirrored).length;
  assert.ok(mirrored > 70 && mirrored < 130, `${mirrored} of 200 mirrored`);
});

test('a view keeps the image size; without crop it is the image or its mirror, pixel for pixel', async () => {
  const png = await gradientPng();
  const image = await raw(png);
  const same = await raw(await imageView(png, 0, { count: 1, minScale: 1, flip: 0 }));
  assert.deepEqual([same.info.width, same.info.height], [48, 32]);
  assert.ok(Buffer.compare(same.data, image.data) === 0);
  const mirror = await raw(await imageView(png, 0, { count: 1, minScale: 1, flip: 1 }));
  const flopped = await sharp(png).flop().removeAlpha().raw().toBuffer();
  assert.ok(Buffer.compare(mirror.data, flopped) === 0);
  assert.ok(Buffer.compare(mirror.data, image.data) !== 0);
  const cropped = await raw(await imageView(png, 3, { count: 4, minScale: 0.5, flip: 0 }));
  assert.deepEqual([cropped.info.width, cropped.info.height], [48, 32]);
  assert.ok(Buffer.compare(cropped.data, image.data) !== 0);
});

test('training on views: views equal to the image rows give the fit without views; other rows change it', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-views-'));
  try {
    const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 96, swapFraction: 0, size: 64, seed: 5 });
    const pairs = await readCaptionFolder(corpus.imagesDir);
    const options = { seed: 5, channels: [8, 16, 16] as [number, number, number], dim: 16, epochs: 3, batchSize: 32, whiteningPatches: 1000, threads: 1 };
    const image = await computeImageFeatures(pairs, options);
    const rows = image.kept.map((_, i) => i);
    const plain = await fitReferenceScorer(image, rows, options);
    const repeated = await fitReferenceScorer({ ...image, views: [Float32Array.from(image.features), Float32Array.from(image.features)] }, rows, options);
    assert.deepEqual(repeated.weights.projection, plain.weights.projection);
    assert.deepEqual(repeated.losses, plain.losses);
    const shifted = Float32Array.from(image.features, (v, i) => v * (1 + 0.5 * Math.sin(i)));
    const other = await fitReferenceScorer({ ...image, views: [shifted] }, rows, options);
    assert.notDeepEqual(other.weights.projection, plain.weights.projection);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
