// The MobileNetV2 of nsfwjs, converted to ONNX by weft (stages/score/backbone/), gives the same
// class probabilities as nsfwjs itself on TensorFlow.js' CPU backend, fed the same pixels: demo
// images (synthetic shapes) and openclipart drawings. The conversion is deterministic and checked
// by sha256.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import * as nsfwjs from 'nsfwjs';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { OPENCLIPART_ROOT, listSvgFiles, pickSubset, renderSvg } from '../../../corpora/openclipart-corpus.ts';
import { readCaptionFolder } from '../../../scorer/caption-folder.ts';
import { imagePreprocessingFrom, preprocessImage } from '../../../scorer/clip-preprocess.ts';
import { OnnxEncoder, floatTensor } from '../../../scorer/onnx-encoder.ts';
import { BACKBONE_INPUT, BACKBONE_PREPROCESSOR_CONFIG, NSFWJS_SOURCE, backboneModelPath, buildBackboneModel, weftCacheDir } from '../../../scorer/backbone/nsfwjs-mobilenet.ts';

async function testImages(root: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  const corpus = await makeDemoCorpus(path.join(root, 'demo'), { count: 8, swapFraction: 0, size: 160, seed: 5 });
  const bad = new Set(corpus.bad.map((b) => b.id));
  const demo = (await readCaptionFolder(corpus.imagesDir)).filter((p) => !bad.has(p.id)).slice(0, 6);
  const svgs = pickSubset(await listSvgFiles(OPENCLIPART_ROOT), 6);
  const clipart = await Promise.all(svgs.map(async (f) => ({ name: f, bytes: await renderSvg(await fs.readFile(path.join(OPENCLIPART_ROOT, f)), 256) })));
  return [...demo.map((p) => ({ name: p.id, bytes: p.image })), ...clipart];
}

test('converted backbone: class probabilities match nsfwjs on tfjs CPU within 1e-3', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-backbone-'));
  const encoder = await OnnxEncoder.open(await backboneModelPath(), { threads: 2 });
  await tf.setBackend('cpu');
  const reference = await nsfwjs.load('MobileNetV2');
  try {
    const images = await testImages(root);
    const p = imagePreprocessingFrom(BACKBONE_PREPROCESSOR_CONFIG);
    const S = BACKBONE_INPUT;
    let worst = 0;
    for (const image of images) {
      const pixels = (await preprocessImage(image.bytes, p)).data; // [3, S, S] in [0, 1]
      // nsfwjs takes channels-last 0..255 and divides by 255; the same pixels, so no resize.
      const hwc = new Float32Array(S * S * 3);
      for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) hwc[i * 3 + c] = pixels[c * S * S + i] * 255;
      // (the encoder moves `pixels` to its worker thread)
      const out = await encoder.run({ pixel_values: floatTensor(pixels, [1, 3, S, S]) }, ['class_probs', 'feature_grid']);
      const ours = out.class_probs.data as Float32Array;
      assert.deepEqual(out.feature_grid.dims, [1, 1280, 7, 7]);
      const input = tf.tensor3d(hwc, [S, S, 3]);
      const logits = reference.infer(input) as tf.Tensor;
      const theirs = await logits.data();
      input.dispose();
      logits.dispose();
      const diff = Math.max(...Array.from(ours, (v, i) => Math.abs(v - theirs[i])));
      worst = Math.max(worst, diff);
      assert.ok(Math.abs(ours.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.ok(diff < 1e-3, `${image.name}: ours ${[...ours].map((v) => v.toFixed(4))} nsfwjs ${[...theirs].map((v) => v.toFixed(4))}`);
    }
    t.diagnostic(`${images.length} images, largest class probability difference ${worst.toExponential(2)}`);
  } finally {
    reference.dispose();
    await encoder.close();
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('the conversion is deterministic and matches the sha256 weft checks', async () => {
  const bytes = buildBackboneModel();
  assert.equal(createHash('sha256').update(bytes).digest('hex'), NSFWJS_SOURCE.onnxSha256);
  const file = await backboneModelPath();
  assert.ok(file.startsWith(weftCacheDir()));
  assert.ok(Buffer.from(bytes).equals(await fs.readFile(file)), "cached file differs from the conversion");
});
