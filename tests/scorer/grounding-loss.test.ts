// The patch-level grounding loss: its hand-written gradients against central finite differences,
// its value where nothing is learned, the cells it takes as positives, and that descending it
// moves the best cell of a phrase into the phrase's box.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zerosLike, type ContrastiveParams } from '../../scorer/contrastive.ts';
import { cellsInBox, groundingLoss, pyramidCells, type GroundingCase } from '../../scorer/grounding-loss.ts';
import { poolGrid } from '../../scorer/backbone/backbone-tower.ts';
import { gaussian, seededRandom } from '../../scorer/onnx/random.ts';
import { randomContrastiveParams } from '../helpers/contrastive-params.ts';
import { GroundingStep } from '../../scorer/onnx/grounding-step.ts';

function problem(seed: number): { params: ContrastiveParams; cases: GroundingCase[] } {
  const random = seededRandom(seed);
  const F = 6;
  const D = 4;
  const cells = 9;
  const params = randomContrastiveParams(random, { featureSize: F, dim: D, wordRows: 5, bigramRows: 3, projectionStd: 0.5, biasStd: 0.2 });
  const cases: GroundingCase[] = [
    { cells: gaussian(random, cells * F), positives: [0, 1, 3], phrase: { words: [1, 2], bigrams: [1] } },
    { cells: gaussian(random, cells * F), positives: [8], phrase: { words: [3, 2], bigrams: [] } },
    { cells: gaussian(random, cells * F), positives: [4, 5], phrase: { words: [4], bigrams: [2] } },
  ];
  return { params, cases };
}

test('grounding loss: every hand-written gradient matches central finite differences; the bias gets none', () => {
  const { params, cases } = problem(3);
  const grads = zerosLike(params);
  groundingLoss(params, cases, 2, grads);
  const h = 1e-3;
  let checked = 0;
  for (const key of ['projection', 'bias', 'words', 'bigrams'] as const) {
    const w = params[key];
    for (let i = 0; i < w.length; i++) {
      const saved = w[i];
      w[i] = saved + h;
      const up = groundingLoss(params, cases, 2);
      w[i] = saved - h;
      const down = groundingLoss(params, cases, 2);
      w[i] = saved;
      const numeric = (up - down) / (2 * h);
      const analytic = grads[key][i];
      const scale = Math.max(1e-3, Math.abs(numeric), Math.abs(analytic));
      assert.ok(Math.abs(numeric - analytic) / scale < 2e-2, `${key}[${i}]: analytic ${analytic}, numeric ${numeric}`);
      checked += 1;
    }
  }
  assert.ok(grads.bias.every((g) => Math.abs(g) < 1e-12));
  // Word row 0 and bigram row 0 are in no phrase.
  assert.ok(grads.words.subarray(0, 4).every((g) => g === 0) && grads.bigrams.subarray(0, 4).every((g) => g === 0));
  assert.equal(checked, 6 * 4 + 4 + 5 * 4 + 3 * 4);
});

test('the ONNX grounding step gives the loss and gradients of the JS reference', async () => {
  const { params, cases } = problem(7);
  // An empty phrase counts in the mean but adds nothing, in both.
  const all = [...cases, { cells: cases[0].cells, positives: [2], phrase: { words: [], bigrams: [] } }];
  const expected = zerosLike(params);
  const loss = groundingLoss(params, all, 1.5, expected);
  const got = zerosLike(params);
  const step = await GroundingStep.open(params.featureSize, params.dim, 1);
  try {
    const onnxLoss = await step.run(params, all, 1.5, got);
    assert.ok(Math.abs(onnxLoss - loss) < 1e-5 * (1 + loss), `loss ${onnxLoss} vs ${loss}`);
  } finally {
    await step.close();
  }
  for (const key of ['projection', 'bias', 'words', 'bigrams'] as const)
    for (let i = 0; i < got[key].length; i++) assert.ok(Math.abs(got[key][i] - expected[key][i]) < 1e-5, `${key}[${i}]: ${got[key][i]} vs ${expected[key][i]}`);
});

test('grounding loss is log(cells / positives) when every cell scores alike', () => {
  const { params, cases } = problem(4);
  params.projection.fill(0);
  const expected = cases.reduce((s, k) => s + Math.log(9 / k.positives.length), 0) / cases.length;
  assert.ok(Math.abs(groundingLoss(params, cases, 1) - expected) < 1e-9);
  assert.ok(Math.abs(groundingLoss(params, cases, 3) - 3 * expected) < 1e-9);
  assert.throws(() => groundingLoss({ ...params, hidden: 2 }, cases, 1), /linear image head/);
});

test('cellsInBox: the cells whose centres lie in the box, else the cell of the box centre', () => {
  // 7x7 over a 64 px image: cell centres at (c + 0.5) * 64 / 7 = 4.57, 13.7, 22.9, ...
  assert.deepEqual(cellsInBox([0, 0, 15, 15], 64, 7, 7), [0, 1, 7, 8]);
  assert.deepEqual(cellsInBox([50, 50, 64, 64], 64, 7, 7), [40, 41, 47, 48]);
  // A box between centres: the cell holding its centre (x 24.5 -> column 2, y 6 -> row 0).
  assert.deepEqual(cellsInBox([24, 5, 25, 7], 64, 7, 7), [2]);
});

test('descending the grounding loss moves each phrase to a cell of its box', () => {
  const random = seededRandom(9);
  const F = 9;
  const D = 6;
  const cells = 9;
  const params: ContrastiveParams = { featureSize: F, dim: D, projection: gaussian(random, F * D, 0.3), bias: new Float32Array(D), words: gaussian(random, 4 * D), bigrams: new Float32Array(D) };
  // Cell k of every image carries feature k most strongly; phrase w is grounded at cell 2 w.
  const cases: GroundingCase[] = [];
  for (let image = 0; image < 6; image++)
    for (let w = 0; w < 4; w++) {
      const x = gaussian(random, cells * F, 0.1);
      for (let k = 0; k < cells; k++) x[k * F + k] += 1;
      cases.push({ cells: x, positives: [2 * w], phrase: { words: [w], bigrams: [] } });
    }
  const best = (k: GroundingCase) => {
    const t = params.words.subarray(k.phrase.words[0] * D, (k.phrase.words[0] + 1) * D);
    let top = -1;
    let score = -Infinity;
    for (let c = 0; c < cells; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) for (let f = 0; f < F; f++) s += k.cells[c * F + f] * params.projection[f * D + d] * t[d];
      if (s > score) [top, score] = [c, s];
    }
    return top;
  };
  const before = groundingLoss(params, cases, 1);
  for (let it = 0; it < 300; it++) {
    const grads = zerosLike(params);
    groundingLoss(params, cases, 1, grads);
    for (const key of ['projection', 'words'] as const) for (let i = 0; i < params[key].length; i++) params[key][i] -= 0.5 * grads[key][i];
  }
  const after = groundingLoss(params, cases, 1);
  assert.ok(after < before / 4, `loss ${before} -> ${after}`);
  assert.deepEqual(cases.map(best), cases.map((k) => k.positives[0]));
});

/** A 7x7 grid of C channels (cell-major), standardisation statistics of its [1, 2] pyramid with one dead feature. */
function pyramidProblem(seed: number, C: number) {
  const random = seededRandom(seed);
  const grid = Float32Array.from(gaussian(random, 49 * C), (v) => Math.max(0, v) + 0.1);
  const F = 5 * C;
  const mean = Float64Array.from({ length: F }, () => random());
  const std = Float64Array.from({ length: F }, () => 0.5 + random());
  const live = new Uint8Array(F).fill(1);
  live[C + 1] = 0;
  return { random, grid, F, mean, std, live };
}

test('pyramidCells: the 1x1 level is the cells standardised; the cells average to the standardised pooled pyramid features', () => {
  const C = 3;
  const { grid, F, mean, std, live } = pyramidProblem(5, C);
  const single = pyramidCells(grid, 7, C, [1], mean.subarray(0, C), std.subarray(0, C), live.subarray(0, C));
  for (let c = 0; c < 49; c++) for (let f = 0; f < C; f++) assert.ok(Math.abs(single[c * C + f] - (grid[c * C + f] - mean[f]) / std[f]) < 1e-6);
  const cells = pyramidCells(grid, 7, C, [1, 2], mean, std, live);
  // poolGrid (the pooled rows training reads) takes the grid channel-major.
  const channelMajor = new Float32Array(49 * C);
  for (let c = 0; c < 49; c++) for (let f = 0; f < C; f++) channelMajor[f * 49 + c] = grid[c * C + f];
  const pooled = poolGrid(channelMajor, [1, 2], C, 7);
  for (let j = 0; j < F; j++) {
    let average = 0;
    for (let c = 0; c < 49; c++) average += cells[c * F + j] / 49;
    const expected = live[j] ? (pooled[j] - mean[j]) / std[j] : 0;
    assert.ok(Math.abs(average - expected) < 1e-5, `feature ${j}: cells average ${average}, pooled ${expected}`);
  }
  // A cell outside a window carries only that window's constant -mean / std (cell 0 is in the first 2x2 window only).
  assert.ok(Math.abs(cells[0 * F + 2 * C] - -mean[2 * C] / std[2 * C]) < 1e-6);
  assert.throws(() => pyramidCells(grid, 7, C, [1, 2], mean.subarray(0, C), std, live), /pyramid \[1,2\] has 15/);
});

test("grounding loss on whole pyramid rows: every level's gradient matches finite differences; a cell's row through W is its patch_embeds row", async () => {
  const C = 3;
  const D = 4;
  const { random, grid, F, mean, std, live } = pyramidProblem(11, C);
  const params = randomContrastiveParams(random, { featureSize: F, dim: D, wordRows: 4, bigramRows: 2, projectionStd: 0.5, biasStd: 0.2 });
  const second = pyramidProblem(12, C).grid;
  const cases: GroundingCase[] = [
    // Cell 0 lies in the first 2x2 window only, cell 48 in the last only, cell 24 (the centre) in all four.
    { cells: pyramidCells(grid, 7, C, [1, 2], mean, std, live), positives: [0, 1, 7], phrase: { words: [1, 2], bigrams: [1] } },
    { cells: pyramidCells(second, 7, C, [1, 2], mean, std, live), positives: [24], phrase: { words: [3], bigrams: [] } },
    { cells: pyramidCells(second, 7, C, [1, 2], mean, std, live), positives: [48, 47], phrase: { words: [2, 3], bigrams: [] } },
  ];
  const grads = zerosLike(params);
  groundingLoss(params, cases, 1.5, grads);
  const h = 1e-3;
  for (let i = 0; i < params.projection.length; i++) {
    const saved = params.projection[i];
    params.projection[i] = saved + h;
    const up = groundingLoss(params, cases, 1.5);
    params.projection[i] = saved - h;
    const down = groundingLoss(params, cases, 1.5);
    params.projection[i] = saved;
    const numeric = (up - down) / (2 * h);
    const analytic = grads.projection[i];
    const scale = Math.max(1e-3, Math.abs(numeric), Math.abs(analytic));
    assert.ok(Math.abs(numeric - analytic) / scale < 2e-2, `projection[${i}]: analytic ${analytic}, numeric ${numeric}`);
  }
  // Each 2x2 window's rows get a gradient (the whole point), the dead feature's row none.
  for (let r = 1; r < 5; r++) assert.ok(grads.projection.subarray(r * C * D, (r + 1) * C * D).some((g) => Math.abs(g) > 1e-4), `window ${r - 1}'s rows get no gradient`);
  assert.ok(grads.projection.subarray((C + 1) * D, (C + 2) * D).every((g) => g === 0));
  // The ONNX step on the whole rows agrees with the JS loss.
  const got = zerosLike(params);
  const step = await GroundingStep.open(F, D, 1);
  try {
    const loss = await step.run(params, cases, 1.5, got);
    assert.ok(Math.abs(loss - groundingLoss(params, cases, 1.5)) < 1e-5 * (1 + loss));
  } finally {
    await step.close();
  }
  for (let i = 0; i < got.projection.length; i++) assert.ok(Math.abs(got.projection[i] - grads.projection[i]) < 1e-5, `projection[${i}]: ${got.projection[i]} vs ${grads.projection[i]}`);
  // e_c W + b with the standardisation folded (W / std, b - (mean / std) W) is the export's patch row:
  // sum over the windows holding c of (49 / k^2) x_c W_window / std, plus the folded bias.
  const cells = cases[0].cells;
  const foldedBias = Array.from({ length: D }, (_, d) => params.bias[d]);
  for (let j = 0; j < F; j++) if (live[j]) for (let d = 0; d < D; d++) foldedBias[d] -= (mean[j] / std[j]) * params.projection[j * D + d];
  const windows = [{ y: 0, x: 0, k: 7, row: 0 }, { y: 0, x: 0, k: 4, row: 1 }, { y: 0, x: 3, k: 4, row: 2 }, { y: 3, x: 0, k: 4, row: 3 }, { y: 3, x: 3, k: 4, row: 4 }];
  for (const c of [0, 3, 24, 48]) {
    const [y, x] = [Math.floor(c / 7), c % 7];
    const patch = [...foldedBias];
    for (const w of windows) {
      if (y < w.y || y >= w.y + w.k || x < w.x || x >= w.x + w.k) continue;
      for (let f = 0; f < C; f++) {
        const j = w.row * C + f;
        if (live[j]) for (let d = 0; d < D; d++) patch[d] += ((49 / (w.k * w.k)) * grid[c * C + f] * params.projection[j * D + d]) / std[j];
      }
    }
    for (let d = 0; d < D; d++) {
      let z = params.bias[d];
      for (let j = 0; j < F; j++) z += cells[c * F + j] * params.projection[j * D + d];
      assert.ok(Math.abs(z - patch[d]) < 1e-4, `cell ${c} dim ${d}: ${z} vs patch row ${patch[d]}`);
    }
  }
});
