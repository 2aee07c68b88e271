// The reference architecture exported by our own ONNX code loads through loadScorer and computes
// what its definition says: pyramid projection, patch embeddings that average to the image
// embedding, and a text embedding that is the mean of word and known-bigram rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadScorer, type Scorer } from '../../../scorer/scorer.ts';
import { OnnxEncoder, floatTensor } from '../../../scorer/onnx-encoder.ts';
import { imagePreprocessingFrom, preprocessImage } from '../../../scorer/clip-preprocess.ts';
import { buildFeatureModel, featureChannels, regionCount, writeReferenceScorer, type ReferenceScorerWeights } from '../../../scorer/onnx/reference-model.ts';
import { gaussian, seededRandom } from '../../../scorer/onnx/random.ts';
import { float16Rounded, fromFloat16Bits, toFloat16Bits } from '../../../scorer/onnx/graph.ts';
import { sampleImages } from '../../helpers/test-models.ts';
import { pyramidWindow } from '../../../scorer/pyramid-window.ts';

const VOCAB = ['[PAD]', '[UNK]', 'a', 'red', 'circle', 'blue', 'square', 'on', 'the', 'left'];
const id = (w: string) => VOCAB.indexOf(w);

function randomWeights(seed: number): ReferenceScorerWeights {
  const random = seededRandom(seed);
  const conv = (inChannels: number, outChannels: number, kernel: number, pool: number) => ({
    inChannels,
    outChannels,
    kernel,
    pool,
    weight: gaussian(random, outChannels * inChannels * kernel * kernel, 1 / Math.sqrt(inChannels * kernel * kernel)),
    bias: gaussian(random, outChannels, 0.1),
  });
  const convs = [conv(3, 8, 5, 2), conv(8, 8, 3, 2), conv(8, 6, 3, 1)];
  const dim = 16;
  // 7 does not divide the 8x8 final map: its 2x2 windows overlap (pyramid-window.ts).
  const pyramid = [1, 2, 4, 7];
  const bigrams: Array<[number, number]> = [
    [id('red'), id('circle')],
    [id('blue'), id('square')],
    [id('the'), id('left')],
  ];
  return {
    imageSize: 32,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    convs,
    pyramid,
    dim,
    projection: gaussian(random, regionCount(pyramid) * featureChannels({ convs }) * dim, 0.3),
    projectionBias: gaussian(random, dim, 0.1),
    vocab: VOCAB,
    wordEmbeddings: gaussian(random, VOCAB.length * dim),
    bigrams,
    bigramEmbeddings: gaussian(random, (bigrams.length + 1) * dim),
    contextLength: 12,
  };
}

let root: string;
let dir: string;
/** The weights as the exported model holds them: the large learned tables are stored as float16. */
let weights: ReferenceScorerWeights;
let scorer: Scorer;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-reference-'));
  dir = path.join(root, 'reference');
  const exact = randomWeights(3);
  await writeReferenceScorer(dir, exact, { id: 'weft-reference-test' });
  weights = {
    ...exact,
    projection: float16Rounded(exact.projection),
    wordEmbeddings: float16Rounded(exact.wordEmbeddings),
    bigramEmbeddings: float16Rounded(exact.bigramEmbeddings),
  };
  scorer = await loadScorer(dir, { threads: 1, batchSize: 4 });
});

after(async () => {
  await scorer?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const normalise = (v: Float32Array) => {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / n);
};

function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('loads as a scorer folder with its own id, size and word-level context', () => {
  assert.equal(scorer.id, 'weft-reference-test');
  assert.equal(scorer.dim, 16);
  assert.equal(scorer.contextLength, 12);
});

test('image embedding = pyramid features x per-region projection + bias, normalised', async () => {
  const images = await sampleImages(5, 48);
  const { pooled, patches } = await scorer.embedImages(images);
  const featureFile = path.join(root, 'features.onnx');
  await fs.writeFile(featureFile, buildFeatureModel(weights));
  const features = await OnnxEncoder.open(featureFile, { threads: 1 });
  try {
    const pre = imagePreprocessingFrom(JSON.parse(await fs.readFile(path.join(dir, 'preprocessor_config.json'), 'utf8')));
    const width = regionCount(weights.pyramid) * featureChannels(weights);
    for (let i = 0; i < images.length; i++) {
      const { data } = await preprocessImage(images[i], pre);
      const out = await features.run({ pixel_values: floatTensor(data, [1, 3, 32, 32]) }, ['pyramid_features']);
      const f = out.pyramid_features.data as Float32Array;
      assert.equal(f.length, width);
      const expected = Float32Array.from(weights.projectionBias);
      for (let r = 0; r < width; r++) for (let d = 0; d < weights.dim; d++) expected[d] += f[r] * weights.projection[r * weights.dim + d];
      assertClose(pooled[i], normalise(expected), 1e-4, `image ${i}`);

      // Patch embeddings on the 8x8 final map average to the (unnormalised) image embedding.
      const p = patches![i];
      assert.deepEqual(p.grid, [8, 8]);
      const mean = new Float32Array(weights.dim);
      for (let k = 0; k < 64; k++) for (let d = 0; d < weights.dim; d++) mean[d] += p.data[k * weights.dim + d] / 64;
      assertClose(mean, expected, 1e-3, `patch mean ${i}`);
    }
  } finally {
    await features.close();
  }
});

test('each patch embedding is its own position\'s features through the projection of every region it lies in', async () => {
  const images = await sampleImages(3, 40);
  const { patches } = await scorer.embedImages(images);
  // The finest "pyramid" (one region per position of the 8x8 map) is the map itself, row-major positions, channel-minor.
  const side = 8;
  const mapFile = path.join(root, 'feature-map.onnx');
  await fs.writeFile(mapFile, buildFeatureModel({ ...weights, pyramid: [side] }));
  const maps = await OnnxEncoder.open(mapFile, { threads: 1 });
  try {
    const pre = imagePreprocessingFrom(JSON.parse(await fs.readFile(path.join(dir, 'preprocessor_config.json'), 'utf8')));
    const C = featureChannels(weights);
    const D = weights.dim;
    for (let i = 0; i < images.length; i++) {
      const { data } = await preprocessImage(images[i], pre);
      const map = (await maps.run({ pixel_values: floatTensor(data, [1, 3, 32, 32]) }, ['pyramid_features'])).pyramid_features.data as Float32Array;
      for (let pos = 0; pos < side * side; pos++) {
        const [y, x] = [Math.floor(pos / side), pos % side];
        const expected = Float32Array.from(weights.projectionBias);
        let firstRow = 0;
        for (const level of weights.pyramid) {
          // (side / k)^2 * f(p) @ W[r] for every window r the position lies in (one where the level tiles the map).
          const { kernel: k, stride } = pyramidWindow(side, level);
          const inWindow = (v: number, r: number) => v >= r * stride && v < r * stride + k;
          for (let ry = 0; ry < level; ry++)
            for (let rx = 0; rx < level; rx++) {
              if (!inWindow(y, ry) || !inWindow(x, rx)) continue;
              const region = ry * level + rx;
              for (let c = 0; c < C; c++)
                for (let d = 0; d < D; d++) expected[d] += ((side * side) / (k * k)) * map[pos * C + c] * weights.projection[(firstRow + region * C + c) * D + d];
            }
          firstRow += level * level * C;
        }
        assertClose(patches![i].data.subarray(pos * D, (pos + 1) * D), expected, 1e-3, `image ${i} patch (${y}, ${x})`);
      }
    }
  } finally {
    await maps.close();
  }
});

test('text embedding = mean of known word rows and known bigram rows; unknown words and padding count for nothing', async () => {
  const row = (table: Float32Array, r: number) => table.subarray(r * weights.dim, (r + 1) * weights.dim);
  const expectFor = (words: string[], bigramRows: number[]) => {
    const sum = new Float32Array(weights.dim);
    for (const w of words) row(weights.wordEmbeddings, id(w)).forEach((v, d) => (sum[d] += v));
    for (const b of bigramRows) row(weights.bigramEmbeddings, b).forEach((v, d) => (sum[d] += v));
    return { sum, count: words.length + bigramRows.length };
  };
  const texts = ['A red circle on the LEFT, quickly!', 'red', 'blue square', 'circle red'];
  const { pooled, tokens } = await scorer.embedTexts(texts);

  // "quickly", "," and "!" are unknown; "red circle" (row 1) and "the left" (row 3) are known bigrams.
  const first = expectFor(['a', 'red', 'circle', 'on', 'the', 'left'], [1, 3]);
  assertClose(pooled[0], normalise(first.sum), 1e-5, 'text 0');
  assert.deepEqual(tokens![0].ids, [id('a'), id('red'), id('circle'), id('on'), id('the'), id('left'), 1, 1, 1]);
  // Token rows sum to the text embedding's numerator.
  const tokenSum = new Float32Array(weights.dim);
  for (let k = 0; k < tokens![0].ids.length; k++) for (let d = 0; d < weights.dim; d++) tokenSum[d] += tokens![0].data[k * weights.dim + d];
  assertClose(tokenSum, first.sum, 1e-4, 'token sum');

  // A last word is not paired with the padding after it; word order matters for bigrams.
  assertClose(pooled[1], normalise(expectFor(['red'], []).sum), 1e-5, 'text 1');
  assertClose(pooled[2], normalise(expectFor(['blue', 'square'], [2]).sum), 1e-5, 'text 2');
  assertClose(pooled[3], normalise(expectFor(['circle', 'red'], []).sum), 1e-5, 'text 3');
});

test('float16 storage: exact bit patterns, round to nearest even, subnormals, overflow', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway past the largest finite value rounds up to infinity
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to it: ties to even (zero)
    [1.5 * 2 ** -24, 0x0002], // halfway between 1 and 2 subnormal steps: ties to even (2)
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: ties to even (1)
    [1 + 3 * 2 ** -11, 0x3c02],
    [-Infinity, 0xfc00],
  ];
  const bits = toFloat16Bits(Float32Array.from(cases.map(([v]) => v)));
  cases.forEach(([v, expected], i) => assert.equal(bits[i], expected, `${v}: 0x${bits[i].toString(16)} vs 0x${expected.toString(16)}`));
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Float32Array.of(NaN)))[0]));
  // Every finite half value survives the round trip exactly.
  const all = Uint16Array.from({ length: 0x7c00 }, (_, i) => i);
  assert.deepEqual(toFloat16Bits(fromFloat16Bits(all)), all);
});

test('the large learned tables are stored as float16: the files hold 2 bytes per value', async () => {
  const exact = randomWeights(3);
  const size = async (name: string) => (await fs.stat(path.join(dir, name))).size;
  const text = await size('text_model.onnx');
  assert.ok(text < (exact.wordEmbeddings.length + exact.bigramEmbeddings.length) * 2 + 4096, `text_model.onnx is ${text} bytes`);
  const vision = await size('vision_model.onnx');
  const convValues = exact.convs.reduce((n, c) => n + c.weight.length + c.bias.length, 0);
  // Graph overhead: a few kB, and under 1 kB of slicing nodes per window of an overlapping level (7x7 here).
  assert.ok(vision < exact.projection.length * 2 + convValues * 4 + 8192 + 49 * 800, `vision_model.onnx is ${vision} bytes`);
});

test('a text with no known word embeds to zero and scores 0', async () => {
  const { pooled } = await scorer.embedTexts(['zzz qqq']);
  assert.ok(pooled[0].every((v) => v === 0));
  const [score] = await scorer.score([{ image: (await sampleImages(1, 48))[0], text: 'zzz qqq' }]);
  assert.equal(score, 0);
});

test('the export is deterministic: same weights, same bytes, same hashes', async () => {
  const again = path.join(root, 'again');
  await writeReferenceScorer(again, weights, { id: 'weft-reference-test' });
  for (const f of ['vision_model.onnx', 'text_model.onnx', 'tokenizer.json', 'preprocessor_config.json']) {
    assert.deepEqual(await fs.readFile(path.join(again, f)), await fs.readFile(path.join(dir, f)), f);
  }
  const other = await loadScorer(again, { threads: 1 });
  try {
    assert.deepEqual(other.entry(), scorer.entry());
  } finally {
    await other.close();
  }
});
