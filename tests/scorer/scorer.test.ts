import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { OnnxEncoder, floatTensor } from '../../scorer/onnx-encoder.ts';
import { loadScorer, cosine, ScorerInputError, type Scorer } from '../../scorer/scorer.ts';
import { imagePreprocessingFrom, preprocessImage } from '../../scorer/clip-preprocess.ts';
import { clipPreprocessorConfig } from '../../scorer/test-clip.ts';
import { makeTestClip, removeTestClips, sampleImages } from '../helpers/test-models.ts';

let dir: string;
let scorer: Scorer;
let images: Uint8Array[];
const TEXTS = ['a photo of a cat', 'a red circle on the left', 'two small green triangles', 'A PHOTO OF A CAT', 'x', 'the picture shows three people standing near the water'];

before(async () => {
  dir = await makeTestClip('test-clip');
  scorer = await loadScorer(dir, { batchSize: 4, threads: 1 });
  images = await sampleImages(10);
});

after(async () => {
  await scorer?.close();
  await removeTestClips();
});

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('a folder in the CLIP export layout loads: id, joint size, context length, traceability', async () => {
  assert.equal(scorer.id, 'test-clip');
  assert.equal(scorer.dim, 32);
  assert.equal(scorer.contextLength, 77);
  assert.equal(scorer.batchSize, 4);
  const vision = sha256(await fs.readFile(path.join(dir, 'vision_model.onnx')));
  const text = sha256(await fs.readFile(path.join(dir, 'text_model.onnx')));
  assert.deepEqual(scorer.modelFiles.map((f) => [f.role, f.path, f.sha256]), [['vision', 'vision_model.onnx', vision], ['text', 'text_model.onnx', text]]);
  assert.equal(scorer.modelSha256, sha256(`${vision}  vision_model.onnx\n${text}  text_model.onnx\n`));
  assert.match(scorer.preprocessingHash, /^[0-9a-f]{64}$/);
  assert.deepEqual(scorer.entry(), { id: 'test-clip', model_sha256: scorer.modelSha256, preprocessing_hash: scorer.preprocessingHash });
});

test('pooled image embeddings are the model output L2-normalised, from input pixel_values', async () => {
  const { pooled, patches } = await scorer.embedImages(images.slice(0, 3));
  assert.equal(pooled.length, 3);
  // The same computation by hand: preprocess, run the session, normalise.
  const session = await ort.InferenceSession.create(path.join(dir, 'vision_model.onnx'));
  try {
    const pre = imagePreprocessingFrom(clipPreprocessorConfig(224));
    for (let i = 0; i < 3; i++) {
      const { data } = await preprocessImage(images[i], pre);
      const out = await session.run({ pixel_values: new ort.Tensor('float32', data, [1, 3, 224, 224]) });
      const raw = out.image_embeds.data as Float32Array;
      assert.ok(Math.abs(norm(raw) - 1) > 0.01, 'the raw export output is not unit length');
      assertClose(pooled[i], raw.map((v) => v / norm(raw)), 1e-5, `image ${i}`);
      assert.ok(Math.abs(norm(pooled[i]) - 1) < 1e-5);
      // Patch embeddings are raw (not normalised) and, in this model, average to the pooled output.
      const p = patches![i];
      assert.deepEqual(p.grid, [7, 7]);
      assert.equal(p.dim, 32);
      assert.equal(p.data.length, 7 * 7 * 32);
      const mean = new Float32Array(32);
      for (let k = 0; k < 49; k++) for (let d = 0; d < 32; d++) mean[d] += p.data[k * 32 + d] / 49;
      assertClose(mean, raw, 1e-4, `patch mean ${i}`);
    }
  } finally {
    await session.release();
  }
});

test('text embeddings: normalised pooled rows and per-token rows of the real tokens', async () => {
  const { pooled, tokens } = await scorer.embedTexts(TEXTS);
  assert.equal(pooled.length, TEXTS.length);
  for (const v of pooled) assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  // Case and spacing are normalised by the tokenizer, so these two are the same text.
  assertClose(pooled[0], pooled[3], 0, 'case-folded text');
  assert.notDeepEqual(pooled[0], pooled[1]);
  for (const [i, t] of tokens!.entries()) {
    assert.equal(t.ids[0], 49406);
    assert.equal(t.ids.at(-1), 49407);
    assert.equal(t.data.length, t.ids.length * 32);
    // In this model the text embedding is the mean of its token rows.
    const mean = new Float32Array(32);
    for (let k = 0; k < t.ids.length; k++) for (let d = 0; d < 32; d++) mean[d] += t.data[k * 32 + d] / t.ids.length;
    assertClose(mean.map((v) => v / norm(mean)), pooled[i], 1e-5, `token mean ${i}`);
  }
});

test('batches give the same embeddings as one item at a time, and repeated runs are identical', async () => {
  const one = await loadScorer(dir, { batchSize: 1, threads: 1 });
  try {
    const batched = await scorer.embedImages(images);
    const single = await one.embedImages(images);
    const again = await scorer.embedImages(images);
    for (let i = 0; i < images.length; i++) {
      assertClose(batched.pooled[i], single.pooled[i], 1e-5, `image ${i}`);
      assertClose(batched.pooled[i], again.pooled[i], 0, `image ${i} rerun`);
    }
    const tb = await scorer.embedTexts(TEXTS);
    const ts = await one.embedTexts(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) assertClose(tb.pooled[i], ts.pooled[i], 1e-5, `text ${i}`);
  } finally {
    await one.close();
  }
});

test('detail: false leaves out patch and token embeddings and gives the same pooled ones', async () => {
  const full = await scorer.embedImages(images.slice(0, 5));
  const pooledOnly = await scorer.embedImages(images.slice(0, 5), { detail: false });
  assert.ok(full.patches && full.patches.length === 5);
  assert.equal(pooledOnly.patches, undefined);
  for (let i = 0; i < 5; i++) assertClose(pooledOnly.pooled[i], full.pooled[i], 0, `image ${i}`);
  const fullText = await scorer.embedTexts(TEXTS);
  const pooledText = await scorer.embedTexts(TEXTS, { detail: false });
  assert.ok(fullText.tokens && fullText.tokens.length === TEXTS.length);
  assert.equal(pooledText.tokens, undefined);
  for (let i = 0; i < TEXTS.length; i++) assertClose(pooledText.pooled[i], fullText.pooled[i], 0, `text ${i}`);
});

test('score is the cosine of the pooled embeddings of each pair', async () => {
  const pairs = images.slice(0, 6).map((image, i) => ({ image, text: TEXTS[i] }));
  const scores = await scorer.score(pairs);
  const imgs = await scorer.embedImages(pairs.map((p) => p.image));
  const txts = await scorer.embedTexts(pairs.map((p) => p.text));
  assert.equal(scores.length, 6);
  for (let i = 0; i < 6; i++) {
    assert.ok(scores[i] >= -1 && scores[i] <= 1);
    assert.ok(Math.abs(scores[i] - cosine(imgs.pooled[i], txts.pooled[i])) < 1e-5);
  }
  assert.ok(new Set(scores).size > 1, 'different pairs score differently');
});

test('an unreadable image in a batch is reported by its index as a drop reason', async () => {
  const batch = [images[0], images[1], new TextEncoder().encode('not an image'), images[2]];
  await assert.rejects(scorer.embedImages(batch), (err: unknown) => {
    assert.ok(err instanceof ScorerInputError);
    assert.equal(err.index, 2);
    assert.equal(err.reason, 'score_image_unreadable');
    return true;
  });
  // The scorer is still usable afterwards.
  assert.equal((await scorer.embedImages([images[0]])).pooled.length, 1);
});

/** Runs `work` while a 5 ms interval ticks; returns its duration and the longest gap between ticks. */
async function watchEventLoop(work: () => Promise<unknown>): Promise<{ elapsed: number; longest: number; ticks: number }> {
  const ticks: number[] = [];
  const started = performance.now();
  const timer = setInterval(() => ticks.push(performance.now()), 5);
  await work();
  const ended = performance.now();
  clearInterval(timer);
  const marks = [started, ...ticks, ended];
  const longest = Math.max(...marks.slice(1).map((t, i) => t - marks[i]));
  return { elapsed: ended - started, longest, ticks: ticks.length };
}

test('the event loop keeps turning while a large batch runs', async (t) => {
  // A wider image tower so one batch takes a noticeable time on one thread.
  const heavyDir = await makeTestClip('heavy', { hidden: 1024, fineGrained: false });
  const encoder = await OnnxEncoder.open(path.join(heavyDir, 'vision_model.onnx'), { threads: 1 });
  const heavy = await loadScorer(heavyDir, { batchSize: 48, threads: 1 });
  try {
    const pixels = () => floatTensor(new Float32Array(48 * 3 * 224 * 224).fill(0.25), [48, 3, 224, 224]);
    await encoder.run({ pixel_values: pixels() }, ['image_embeds']); // warm-up
    const input = pixels();
    const bare = await watchEventLoop(() => encoder.run({ pixel_values: input }, ['image_embeds']));
    t.diagnostic(`session.run, 48 images: ${bare.elapsed.toFixed(0)} ms, longest event-loop stall ${bare.longest.toFixed(1)} ms`);
    assert.ok(bare.elapsed > 80, `the batch should take a while to be a meaningful check (took ${bare.elapsed.toFixed(0)} ms)`);
    // Run on the main thread, the stall would be the whole run; other processes on a busy
    // machine can still delay a tick by some milliseconds, hence a relative bound.
    assert.ok(bare.longest < bare.elapsed / 3, `event loop stalled ${bare.longest.toFixed(0)} ms during a ${bare.elapsed.toFixed(0)} ms run`);

    // The whole scorer path (sharp decode, normalisation, inference) leaves the loop free too;
    // the bound is looser because decoding competes for the machine's few cores.
    const batch = await sampleImages(48, 64);
    const full = await watchEventLoop(() => heavy.embedImages(batch));
    t.diagnostic(`embedImages, 48 images: ${full.elapsed.toFixed(0)} ms, longest event-loop stall ${full.longest.toFixed(1)} ms`);
    assert.ok(full.longest < full.elapsed / 2, `event loop stalled ${full.longest.toFixed(0)} ms during a ${full.elapsed.toFixed(0)} ms batch`);
  } finally {
    await encoder.close();
    await heavy.close();
  }
});
