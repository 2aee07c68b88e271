import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imagePreprocessingFrom, preprocessImage, shortestEdgeSize } from '../../scorer/clip-preprocess.ts';
import { clipPreprocessorConfig } from '../../scorer/test-clip.ts';
import { solidPng } from '../helpers/test-models.ts';

const CLIP = imagePreprocessingFrom(clipPreprocessorConfig(224));
const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];
const expected = (v: number, c: number) => (v / 255 - MEAN[c]) / STD[c];

/** Asserts every value of channel c in a CHW buffer equals `value[c]` within 1e-5. */
function assertChannels(data: Float32Array, plane: number, rgb: number[]): void {
  for (let c = 0; c < 3; c++) {
    const want = expected(rgb[c], c);
    for (let i = 0; i < plane; i++) {
      if (Math.abs(data[c * plane + i] - want) > 1e-5) assert.fail(`channel ${c} pixel ${i}: ${data[c * plane + i]} != ${want}`);
    }
  }
}

test('reads the CLIP preprocessor_config.json: shortest edge 224 bicubic, crop 224, CLIP mean/std', () => {
  assert.deepEqual(CLIP.resize, { shortestEdge: 224 });
  assert.equal(CLIP.kernel, 'cubic');
  assert.deepEqual(CLIP.crop, { height: 224, width: 224 });
  assert.deepEqual(CLIP.mean, MEAN);
  assert.deepEqual(CLIP.std, STD);
  assert.ok(Math.abs(CLIP.rescale - 1 / 255) < 1e-12);
});

test('accepts the older integer size forms and the switches', () => {
  const p = imagePreprocessingFrom({ size: 64, crop_size: 48, resample: 2, do_normalize: false, do_rescale: false });
  assert.deepEqual(p.resize, { shortestEdge: 64 });
  assert.deepEqual(p.crop, { height: 48, width: 48 });
  assert.equal(p.kernel, 'linear');
  assert.deepEqual(p.mean, [0, 0, 0]);
  assert.deepEqual(p.std, [1, 1, 1]);
  assert.equal(p.rescale, 1);
  assert.deepEqual(imagePreprocessingFrom({ size: { height: 32, width: 40 }, do_center_crop: false }).resize, { height: 32, width: 40 });
});

test('a bad preprocessor_config.json names the key', () => {
  assert.throws(() => imagePreprocessingFrom({ image_mean: [0.5, 0.5] }), /preprocessor_config\.json: image_mean/);
  assert.throws(() => imagePreprocessingFrom({ resample: 9 }), /resample/);
});

test('shortest side goes to the target and the long side scales and truncates as transformers does', () => {
  assert.deepEqual(shortestEdgeSize(500, 333, 224), { width: 336, height: 224 });
  assert.deepEqual(shortestEdgeSize(333, 500, 224), { width: 224, height: 336 });
  assert.deepEqual(shortestEdgeSize(100, 100, 224), { width: 224, height: 224 });
});

test('a solid colour image becomes exactly (v/255 - mean)/std in CHW at 224x224', async () => {
  const out = await preprocessImage(await solidPng(300, 200, [200, 10, 30]), CLIP);
  assert.equal(out.height, 224);
  assert.equal(out.width, 224);
  assert.equal(out.data.length, 3 * 224 * 224);
  assertChannels(out.data, 224 * 224, [200, 10, 30]);
});

test('the centre crop keeps the middle of a wide image and of a tall image', async () => {
  // 448x224: red | green (x 112..335) | blue; the crop is exactly the green band.
  const wide = await sharp({ create: { width: 448, height: 224, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .composite([
      { input: await solidPng(112, 224, [255, 0, 0]), left: 0, top: 0 },
      { input: await solidPng(224, 224, [0, 255, 0]), left: 112, top: 0 },
    ])
    .png()
    .toBuffer();
  assertChannels((await preprocessImage(wide, CLIP)).data, 224 * 224, [0, 255, 0]);

  const tall = await sharp({ create: { width: 224, height: 448, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .composite([{ input: await solidPng(224, 224, [0, 255, 0]), left: 0, top: 112 }])
    .png()
    .toBuffer();
  assertChannels((await preprocessImage(tall, CLIP)).data, 224 * 224, [0, 255, 0]);
});

test('channels stay in RGB order and rows in top-to-bottom order', async () => {
  // Top half red, bottom half blue, 224x224 so nothing is resampled.
  const img = await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .composite([{ input: await solidPng(224, 112, [255, 0, 0]), left: 0, top: 0 }])
    .png()
    .toBuffer();
  const { data } = await preprocessImage(img, CLIP);
  const plane = 224 * 224;
  const at = (c: number, y: number, x: number) => data[c * plane + y * 224 + x];
  assert.ok(Math.abs(at(0, 10, 10) - expected(255, 0)) < 1e-5);
  assert.ok(Math.abs(at(2, 10, 10) - expected(0, 2)) < 1e-5);
  assert.ok(Math.abs(at(0, 200, 10) - expected(0, 0)) < 1e-5);
  assert.ok(Math.abs(at(2, 200, 10) - expected(255, 2)) < 1e-5);
});

test('greyscale becomes three equal channels and alpha is dropped', async () => {
  const grey = await sharp(Buffer.alloc(64 * 64, 50), { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  assertChannels((await preprocessImage(grey, CLIP)).data, 224 * 224, [50, 50, 50]);

  const rgba = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 10, g: 120, b: 240, alpha: 0.2 } } }).png().toBuffer();
  assertChannels((await preprocessImage(rgba, CLIP)).data, 224 * 224, [10, 120, 240]);
});

test('bytes that are not an image are rejected', async () => {
  await assert.rejects(preprocessImage(new TextEncoder().encode('not an image'), CLIP));
});
