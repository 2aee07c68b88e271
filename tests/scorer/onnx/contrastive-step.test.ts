// The training step run by onnxruntime computes what the hand-written, finite-difference-checked
// infoNce of contrastive.ts computes; sparse AdamW touches only the rows a batch used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, infoNce, touchedRows, zerosLike, type ContrastiveParams, type InfoNceShape } from '../../../scorer/contrastive.ts';
import { ContrastiveStep } from '../../../scorer/onnx/contrastive-step.ts';
import { gaussian, seededRandom } from '../../../scorer/onnx/random.ts';
import { randomContrastiveParams } from '../../helpers/contrastive-params.ts';

function problem(seed: number, n: number, F: number, D: number): { params: ContrastiveParams; features: Float32Array; captions: { words: number[]; bigrams: number[] }[] } {
  const random = seededRandom(seed);
  const params = randomContrastiveParams(random, { featureSize: F, dim: D, wordRows: 12, bigramRows: 5, projectionStd: 0.3, biasStd: 0.1 });
  const features = gaussian(random, n * F);
  const captions = Array.from({ length: n }, (_, i) => ({ words: [2 + (i % 10), 2 + ((i * 3) % 10)], bigrams: i % 4 === 0 ? [] : [1 + (i % 4)] }));
  return { params, features, captions };
}

async function checkStep(shape: InfoNceShape, sizes: number[]): Promise<void> {
  const { params, features, captions } = problem(7, 9, 11, 6);
  const step = await ContrastiveStep.open(11, 6, 0.07, 1, 0, shape);
  try {
    for (const n of sizes) {
      const batch = { features: features.subarray(0, n * 11), captions: captions.slice(0, n) };
      const expected = zerosLike(params);
      const loss = infoNce(params, batch, 0.07, expected, shape);
      const got = zerosLike(params);
      const onnxLoss = await step.run(params, batch, got);
      assert.ok(Number.isFinite(onnxLoss) && Math.abs(onnxLoss - loss) < 1e-4 * Math.max(1, loss), `n=${n}: loss ${onnxLoss} vs ${loss}`);
      for (const key of ['projection', 'bias', 'words', 'bigrams'] as const) {
        const scale = Math.max(...expected[key].map(Math.abs), 1e-6);
        for (let i = 0; i < expected[key].length; i++) assert.ok(Math.abs(got[key][i] - expected[key][i]) < 1e-4 * scale, `n=${n} ${key}[${i}]: ${got[key][i]} vs ${expected[key][i]}`);
      }
    }
  } finally {
    await step.close();
  }
}

test('the ONNX step gives the loss and gradients of infoNce', () => checkStep({}, [9, 4]));

test('with a margin and hard-negative weights, the ONNX step gives the loss and gradients of infoNce', async () => {
  await checkStep({ margin: 0.2 }, [9, 4]);
  await checkStep({ hardness: 0.5 }, [9, 4, 2, 1]);
  await checkStep({ margin: 0.1, hardness: 2 }, [9, 4]);
});

test('sparse AdamW updates the touched rows as dense AdamW does and leaves the others alone', () => {
  const a = problem(3, 5, 4, 3);
  const b = problem(3, 5, 4, 3);
  const grads = zerosLike(a.params);
  infoNce(a.params, { features: a.features, captions: a.captions }, 0.1, grads);
  const rows = touchedRows(a.captions);
  const before = Float32Array.from(b.params.words);
  new AdamW(a.params, { lr: 0.01 }).step(grads);
  new AdamW(b.params, { lr: 0.01 }).step(grads, 0.01, rows);
  assert.deepEqual(b.params.projection, a.params.projection);
  const used = new Set(rows.words);
  assert.ok(used.size > 0 && used.size < 12);
  for (let w = 0; w < 12; w++)
    for (let d = 0; d < 3; d++) {
      const i = w * 3 + d;
      if (used.has(w)) assert.equal(b.params.words[i], a.params.words[i]);
      else {
        assert.equal(b.params.words[i], before[i]); // untouched: no update at all
        assert.notEqual(a.params.words[i], before[i]); // dense: weight decay moves it
      }
    }
});

test('the hidden-layer head: the ONNX step\'s gradients equal finite differences of its loss, for every weight group', async () => {
  const random = seededRandom(11);
  const [n, F, H, D] = [7, 5, 4, 3];
  const params: ContrastiveParams = { featureSize: F, dim: D, hidden: H, projection: gaussian(random, F * H + H * D, 0.5), bias: gaussian(random, H + D, 0.3), words: gaussian(random, 12 * D), bigrams: gaussian(random, 5 * D) };
  const features = gaussian(random, n * F);
  const captions = Array.from({ length: n }, (_, i) => ({ words: [2 + (i % 10), 2 + ((i * 3) % 10)], bigrams: i % 3 === 0 ? [] : [1 + (i % 4)] }));
  const batch = { features, captions };
  const step = await ContrastiveStep.open(F, D, 0.1, 1, H);
  try {
    const grads = zerosLike(params);
    const loss = await step.run(params, batch, grads);
    assert.ok(Math.abs(loss - infoNce(params, batch, 0.1)) < 1e-4 * loss, 'loss equals the plain forward');
    const eps = 1e-2;
    let checked = 0;
    for (const key of ['projection', 'bias', 'words'] as const)
      for (let i = 0; i < params[key].length; i++) {
        const saved = params[key][i];
        params[key][i] = saved + eps;
        const up = infoNce(params, batch, 0.1);
        params[key][i] = saved - eps;
        const down = infoNce(params, batch, 0.1);
        params[key][i] = saved;
        const numeric = (up - down) / (2 * eps);
        // Seeded so that no pre-activation lies within eps of relu's kink, where the difference quotient would not be its derivative.
        assert.ok(Math.abs(grads[key][i] - numeric) < 2e-3 + 2e-2 * Math.abs(numeric), `${key}[${i}]: ${grads[key][i]} vs ${numeric}`);
        checked++;
      }
    assert.equal(checked, F * H + H * D + H + D + 12 * D);
    await assert.rejects(step.run({ ...params, hidden: 0 }, batch, zerosLike(params)), /hidden width 4/);
  } finally {
    await step.close();
  }
});
