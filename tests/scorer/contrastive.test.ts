import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, infoNce, projectImages, zerosLike, type ContrastiveBatch, type ContrastiveParams, type InfoNceShape } from '../../scorer/contrastive.ts';
import { gaussian, seededRandom } from '../../scorer/onnx/random.ts';
import { randomContrastiveParams } from '../helpers/contrastive-params.ts';

function smallProblem(seed: number, n = 6): { params: ContrastiveParams; batch: ContrastiveBatch } {
  const random = seededRandom(seed);
  const F = 7;
  const D = 5;
  const params = randomContrastiveParams(random, { featureSize: F, dim: D, wordRows: 6, bigramRows: 4, projectionStd: 0.5, biasStd: 0.2 });
  // ReLU-like features: some exact zeros.
  const features = gaussian(random, n * F).map((x) => Math.max(0, x));
  const captions = Array.from({ length: n }, (_, i) => ({
    words: [(i * 2) % 6, (i * 2 + 1) % 6, i % 6],
    bigrams: i % 3 === 0 ? [] : [1 + (i % 3)],
  }));
  return { params, batch: { features, captions } };
}

function checkFiniteDifferences(shape: InfoNceShape): void {
  const { params, batch } = smallProblem(11);
  const temperature = 0.5; // a larger temperature keeps the finite differences well conditioned
  const grads = zerosLike(params);
  infoNce(params, batch, temperature, grads, shape);
  const h = 1e-3;
  let checked = 0;
  for (const key of ['projection', 'bias', 'words', 'bigrams'] as const) {
    const w = params[key];
    for (let i = 0; i < w.length; i++) {
      const saved = w[i];
      w[i] = saved + h;
      const up = infoNce(params, batch, temperature, undefined, shape);
      w[i] = saved - h;
      const down = infoNce(params, batch, temperature, undefined, shape);
      w[i] = saved;
      const numeric = (up - down) / (2 * h);
      const analytic = grads[key][i];
      const scale = Math.max(1e-3, Math.abs(numeric), Math.abs(analytic));
      assert.ok(Math.abs(numeric - analytic) / scale < 2e-2, `${key}[${i}]: analytic ${analytic}, numeric ${numeric}`);
      checked += 1;
    }
  }
  // Rows that no caption uses get no gradient (bigram row 0 means "no bigram").
  assert.ok(grads.bigrams.subarray(0, 5).every((g) => g === 0));
  assert.equal(checked, 7 * 5 + 5 + 6 * 5 + 4 * 5);
}

test('every hand-written gradient matches central finite differences', () => checkFiniteDifferences({}));

test('with a margin on the true pairs, every gradient still matches finite differences', () => checkFiniteDifferences({ margin: 0.3 }));

test('a margin and hard-negative weights raise the loss; at 0 they are the plain loss', () => {
  const { params, batch } = smallProblem(4, 8);
  const plain = infoNce(params, batch, 0.2);
  assert.equal(infoNce(params, batch, 0.2, undefined, { margin: 0, hardness: 0 }), plain);
  // A margin lowers each true pair's logit; weights exp(hardness * logit) of mean 1 put more weight
  // on the larger exp(logit) terms of each softmax's sum (Chebyshev's sum inequality).
  const margins = [0.1, 0.3].map((margin) => infoNce(params, batch, 0.2, undefined, { margin }));
  const hard = [0.5, 1, 2].map((hardness) => infoNce(params, batch, 0.2, undefined, { hardness }));
  assert.ok(plain < margins[0] && margins[0] < margins[1], `margins: ${plain} ${margins}`);
  assert.ok(plain < hard[0] && hard[0] < hard[1] && hard[1] < hard[2], `hardness: ${plain} ${hard}`);
  // One pair has no negatives: nothing to weight.
  const one = { features: batch.features.subarray(0, 7), captions: batch.captions.slice(0, 1) };
  assert.equal(infoNce(params, one, 0.2, undefined, { hardness: 1 }), infoNce(params, one, 0.2));
});

test('the loss is log(n) when nothing is learned and falls when the pairs are learned', () => {
  const { params, batch } = smallProblem(5, 8);
  // All images alike and all captions alike: every logit is the same.
  params.projection.fill(0);
  const alike = { features: batch.features, captions: batch.captions.map(() => batch.captions[1]) };
  assert.ok(Math.abs(infoNce(params, alike, 0.07) - Math.log(8)) < 1e-6);

  const trained = smallProblem(5, 8).params;
  const start = infoNce(trained, batch, 0.07);
  const optimiser = new AdamW(trained, { lr: 0.05, weightDecay: 0.01 });
  let loss = start;
  for (let step = 0; step < 200; step++) {
    const grads = zerosLike(trained);
    loss = infoNce(trained, batch, 0.07, grads);
    optimiser.step(grads);
  }
  assert.ok(loss < start / 4, `loss ${start.toFixed(3)} -> ${loss.toFixed(3)}`);
});

test('image projection is x W + b', () => {
  const { params, batch } = smallProblem(2, 3);
  const z = projectImages(params, batch.features, 3);
  for (let i = 0; i < 3; i++)
    for (let d = 0; d < params.dim; d++) {
      let s = params.bias[d];
      for (let f = 0; f < params.featureSize; f++) s += batch.features[i * params.featureSize + f] * params.projection[f * params.dim + d];
      assert.ok(Math.abs(z[i * params.dim + d] - s) < 1e-5);
    }
});
