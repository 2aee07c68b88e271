// Folder layouts a real export comes in, and the errors a broken or mismatched folder gives.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadScorer, type Scorer } from '../../scorer/scorer.ts';
import { GraphBuilder, attr } from '../../scorer/onnx/graph.ts';
import { makeTestClip, removeTestClips, sampleImages } from '../helpers/test-models.ts';

after(removeTestClips);

const TEXTS = ['a photo of a cat', 'two small green triangles', 'x'];

async function withScorer<T>(dir: string, use: (s: Scorer) => Promise<T>): Promise<T> {
  const scorer = await loadScorer(dir, { threads: 1 });
  try {
    return await use(scorer);
  } finally {
    await scorer.close();
  }
}

function assertSameVectors(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => v.forEach((x, j) => assert.ok(Math.abs(x - b[i][j]) < 1e-5, `${what} ${i}[${j}]: ${x} vs ${b[i][j]}`)));
}

test('hub layout (models in onnx/), int32 ids and no attention_mask input: read from the session', async () => {
  const dir = await makeTestClip('clip-hub', { layout: 'hub', idsType: 'int32', attentionMask: false });
  await withScorer(dir, async (s) => {
    assert.deepEqual(s.modelFiles.map((f) => f.path), ['onnx/vision_model.onnx', 'onnx/text_model.onnx']);
    const { pooled, tokens } = await s.embedTexts(TEXTS);
    assert.equal(pooled.length, 3);
    assert.deepEqual(tokens![2].ids, [49406, 343, 49407]);
    // Padding is masked inside this model by pad id, so one-by-one equals batched.
    const single = await Promise.all(TEXTS.map(async (t) => (await s.embedTexts([t])).pooled[0]));
    assertSameVectors(pooled, single, 'text');
  });
});

test('one combined model.onnx (optimum-cli layout) gives the same embeddings as the two-file export', async () => {
  const split = await makeTestClip('clip-split', { seed: 7 });
  const combined = await makeTestClip('clip-combined', { seed: 7, layout: 'combined' });
  const images = await sampleImages(3);
  const [a, b] = await Promise.all(
    [split, combined].map((dir) => withScorer(dir, async (s) => ({ images: await s.embedImages(images), texts: await s.embedTexts(TEXTS), files: s.modelFiles }))),
  );
  assert.deepEqual(b.files.map((f) => [f.role, f.path]), [['combined', 'model.onnx']]);
  assertSameVectors(a.images.pooled, b.images.pooled, 'image');
  assertSameVectors(a.texts.pooled, b.texts.pooled, 'text');
});

test('scorer.json gives the id, batch size, context length and other output names', async () => {
  const dir = await makeTestClip('plain', { scorerJson: { id: 'my-clip', batch_size: 3, context_length: 32, outputs: { image_embeds: 'image_vec' } } });
  // Rename the vision output, as an exporter with other conventions would.
  const g = new GraphBuilder('vision_model');
  const pixels = g.input('pixel_values', 'float32', ['batch_size', 3, 224, 224]);
  const pooled = g.op('ReduceMean', [pixels], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  const w = g.floatTensor(Float32Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i + 1)), [3, 32]);
  g.op('MatMul', [pooled, w], {}, 'image_vec');
  g.output('image_vec', 'float32', ['batch_size', 32]);
  await fs.writeFile(path.join(dir, 'vision_model.onnx'), g.toModel());
  await withScorer(dir, async (s) => {
    assert.equal(s.id, 'my-clip');
    assert.equal(s.batchSize, 3);
    assert.equal(s.contextLength, 32);
    const { pooled: vectors, patches } = await s.embedImages(await sampleImages(4));
    assert.equal(vectors.length, 4);
    assert.equal(patches, undefined);
    const { tokens } = await s.embedTexts(['a']);
    assert.deepEqual(tokens![0].ids, [49406, 320, 49407]);
  });
});

test('the preprocessing hash follows the preprocessing and tokenizer files; the model hash follows the models', async () => {
  const dir = await makeTestClip('hashes');
  const before = await withScorer(dir, async (s) => s.entry());
  const configFile = path.join(dir, 'preprocessor_config.json');
  const config = JSON.parse(await fs.readFile(configFile, 'utf8'));
  await fs.writeFile(configFile, JSON.stringify({ ...config, image_mean: [0.5, 0.5, 0.5] }));
  const meanChanged = await withScorer(dir, async (s) => s.entry());
  assert.equal(meanChanged.model_sha256, before.model_sha256);
  assert.notEqual(meanChanged.preprocessing_hash, before.preprocessing_hash);

  const tokFile = path.join(dir, 'tokenizer.json');
  const tok = JSON.parse(await fs.readFile(tokFile, 'utf8'));
  tok.model.merges = tok.model.merges.slice(0, 10);
  await fs.writeFile(tokFile, JSON.stringify(tok));
  const tokChanged = await withScorer(dir, async (s) => s.entry());
  assert.notEqual(tokChanged.preprocessing_hash, meanChanged.preprocessing_hash);

  // Same files elsewhere, same hashes: nothing path-dependent goes in.
  const copy = await makeTestClip('hashes');
  const fresh = await withScorer(copy, async (s) => s.entry());
  assert.deepEqual(fresh, before);
  // A different model in the same folder changes the model hash only.
  const other = await makeTestClip('hashes', { seed: 2 });
  const reseeded = await withScorer(other, async (s) => s.entry());
  assert.notEqual(reseeded.model_sha256, before.model_sha256);
  assert.equal(reseeded.preprocessing_hash, before.preprocessing_hash);
});

test('a corrupt or truncated model file is named in a clear error', async () => {
  const dir = await makeTestClip('corrupt');
  const file = path.join(dir, 'vision_model.onnx');
  const bytes = await fs.readFile(file);
  await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(loadScorer(dir), /vision_model\.onnx: onnxruntime cannot load this model/);
  await fs.writeFile(file, 'this is not a protobuf');
  await assert.rejects(loadScorer(dir), /vision_model\.onnx: onnxruntime cannot load this model/);
});

test('wrong shapes and names are caught at load with what was expected', async () => {
  const dir = await makeTestClip('shapes');
  const visionFile = path.join(dir, 'vision_model.onnx');
  const write = async (build: (g: GraphBuilder) => void) => {
    const g = new GraphBuilder('vision_model');
    build(g);
    await fs.writeFile(visionFile, g.toModel());
  };

  // image_embeds of rank 3.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 3, 224, 224]);
    const m = g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
    g.op('Unsqueeze', [m, g.int64Tensor([2])], {}, 'image_embeds');
    g.output('image_embeds', 'float32', ['batch_size', 3, 1]);
  });
  await assert.rejects(loadScorer(dir), /output image_embeds has shape \[1,3,1\] for one image; expected \[N, D\]/);

  // Right rank, but 3-d while the text tower is 32-d.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 3, 224, 224]);
    g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'image_embeds');
    g.output('image_embeds', 'float32', ['batch_size', 3]);
  });
  await assert.rejects(loadScorer(dir), /image and text embeddings differ in size: image_embeds is 3-d, text_embeds is 32-d/);

  // No output of the expected name.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 3, 224, 224]);
    g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'pooler_output');
    g.output('pooler_output', 'float32', ['batch_size', 3]);
  });
  await assert.rejects(loadScorer(dir), /no output named image_embeds \(inputs: pixel_values float32 \[batch_size,3,224,224\]; outputs: pooler_output/);

  // One colour channel.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 1, 224, 224]);
    g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'image_embeds');
    g.output('image_embeds', 'float32', ['batch_size', 1]);
  });
  await assert.rejects(loadScorer(dir), /pixel_values has 1 channels; expected 3/);

  // Fixed input size that the preprocessing does not produce.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 3, 96, 96]);
    g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'image_embeds');
    g.output('image_embeds', 'float32', ['batch_size', 3]);
  });
  await assert.rejects(loadScorer(dir), /pixel_values takes 96x96 images but preprocessor_config\.json produces 224x224/);

  // An input the scorer cannot fill.
  await write((g) => {
    const x = g.input('pixel_values', 'float32', ['batch_size', 3, 224, 224]);
    g.input('interpolate_pos_encoding', 'bool', []);
    g.op('ReduceMean', [x], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'image_embeds');
    g.output('image_embeds', 'float32', ['batch_size', 3]);
  });
  await assert.rejects(loadScorer(dir), /vision_model\.onnx: cannot feed input interpolate_pos_encoding/);
});

test('a folder without the model or tokenizer files says which file is missing', async () => {
  const dir = await makeTestClip('partial');
  await fs.rm(path.join(dir, 'tokenizer.json'));
  await assert.rejects(loadScorer(dir), /no tokenizer\.json/);
  await fs.rm(path.join(dir, 'text_model.onnx'));
  await assert.rejects(loadScorer(dir), /is not a scorer folder: no text_model\.onnx/);
  await assert.rejects(loadScorer(path.join(dir, 'nowhere')), /does not exist or is not a folder/);
  await fs.writeFile(path.join(dir, 'scorer.json'), JSON.stringify({ id: 'x', batch_size: 0 }));
  await assert.rejects(loadScorer(dir), /scorer\.json: batch_size/);
});
