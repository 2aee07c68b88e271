// The dense part of the patch-level grounding loss (grounding-loss.ts) as an ONNX graph, as
// contrastive-step.ts does for the InfoNCE step: the products with the cell features run in
// onnxruntime's kernels instead of plain JS loops (about 1 s a step for 64 phrases in JS on
// shared cores). Same formulas as groundingLoss; tests/scorer/grounding-loss.test.ts checks they agree.
//
//   inputs:  cells [P, cells, F] (standardised), projection [F, D], phrase [P, D] (unit phrase
//            embeddings), mask [P, cells] (0 in the box, -1e9 outside), scale [] (weight / P)
//   outputs: loss [], grad_projection [F, D], grad_phrase [P, D] (gradient of the unit embeddings)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GraphBuilder, attr } from './graph.ts';
import { OnnxEncoder, floatTensor } from '../onnx-encoder.ts';
import type { ContrastiveParams } from '../contrastive.ts';
import type { GroundingCase } from '../grounding-loss.ts';

export class GroundingStep {
  private constructor(private readonly encoder: OnnxEncoder, private readonly featureSize: number, private readonly dim: number) {}

  static async open(featureSize: number, dim: number, threads = Math.min(4, os.availableParallelism())): Promise<GroundingStep> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-grounding-step-'));
    try {
      const file = path.join(dir, 'grounding-step.onnx');
      await fs.writeFile(file, buildGroundingStepModel());
      return new GroundingStep(await OnnxEncoder.open(file, { threads }), featureSize, dim);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** groundingLoss(params, cases, weight, grads) of grounding-loss.ts, computed by onnxruntime. */
  async run(params: ContrastiveParams, cases: GroundingCase[], weight: number, grads: ContrastiveParams): Promise<number> {
    if (params.hidden) throw new Error('the grounding loss needs a linear image head (hidden 0)');
    const { featureSize: F, dim: D } = this;
    const used = cases.filter((k) => k.phrase.words.length + k.phrase.bigrams.length > 0);
    if (used.length === 0) return 0;
    const P = used.length;
    const C = used[0].cells.length / F;
    const cells = new Float32Array(P * C * F);
    const mask = new Float32Array(P * C).fill(-1e9);
    const unit = new Float32Array(P * D);
    const norms = new Float64Array(P);
    used.forEach((k, i) => {
      cells.set(k.cells, i * C * F);
      for (const c of k.positives) mask[i * C + c] = 0;
      const count = k.phrase.words.length + k.phrase.bigrams.length;
      const t = new Float64Array(D);
      for (const w of k.phrase.words) for (let d = 0; d < D; d++) t[d] += params.words[w * D + d] / count;
      for (const b of k.phrase.bigrams) for (let d = 0; d < D; d++) t[d] += params.bigrams[b * D + d] / count;
      norms[i] = Math.max(Math.hypot(...t), 1e-12);
      for (let d = 0; d < D; d++) unit[i * D + d] = t[d] / norms[i];
    });
    const out = await this.encoder.run(
      {
        cells: floatTensor(cells, [P, C, F]),
        projection: floatTensor(Float32Array.from(params.projection), [F, D]),
        // A copy: the inputs move to the session worker (their buffers are detached here).
        phrase: floatTensor(Float32Array.from(unit), [P, D]),
        mask: floatTensor(mask, [P, C]),
        // As groundingLoss: the mean over the cases given (the empty phrases count, as there).
        scale: floatTensor(Float32Array.from([weight / cases.length]), []),
      },
      ['loss', 'grad_projection', 'grad_phrase'],
    );
    const dW = out.grad_projection.data as Float32Array;
    for (let i = 0; i < dW.length; i++) grads.projection[i] += dW[i];
    const dV = out.grad_phrase.data as Float32Array;
    used.forEach((k, i) => {
      // Back through v = t / |t| and the mean of the phrase's rows.
      const count = k.phrase.words.length + k.phrase.bigrams.length;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += unit[i * D + d] * dV[i * D + d];
      const dt = new Float64Array(D);
      for (let d = 0; d < D; d++) dt[d] = (dV[i * D + d] - unit[i * D + d] * dot) / norms[i] / count;
      for (const w of k.phrase.words) for (let d = 0; d < D; d++) grads.words[w * D + d] += dt[d];
      for (const b of k.phrase.bigrams) for (let d = 0; d < D; d++) grads.bigrams[b * D + d] += dt[d];
    });
    return (out.loss.data as Float32Array)[0];
  }

  close(): Promise<void> {
    return this.encoder.close();
  }
}

function buildGroundingStepModel(): Uint8Array {
  const g = new GraphBuilder('grounding_step');
  const x = g.input('cells', 'float32', ['phrases', 'cells', 'features']);
  const w = g.input('projection', 'float32', ['features', 'dim']);
  const v = g.input('phrase', 'float32', ['phrases', 'dim']);
  const mask = g.input('mask', 'float32', ['phrases', 'cells']);
  const scale = g.input('scale', 'float32', []);
  const transpose = (t: string) => g.op('Transpose', [t], { perm: attr.ints([1, 0]) });
  // u = v W^T [P, F]; s_c = x_c . u [P, cells]
  const u = g.op('MatMul', [v, transpose(w)]);
  const s = g.op('Squeeze', [g.op('MatMul', [x, g.op('Unsqueeze', [u, g.int64Tensor([2])])]), g.int64Tensor([2])]);
  const inBox = g.op('Add', [s, mask]);
  // log-sum-exp with the max subtracted, so no exp overflows.
  const logSumExp = (t: string) => {
    const max = g.op('ReduceMax', [t], { axes: attr.ints([1]), keepdims: attr.int(1) });
    const sum = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [t, max])]), g.int64Tensor([1])], { keepdims: attr.int(1) });
    return g.op('Add', [g.op('Log', [sum]), max]);
  };
  const lseAll = logSumExp(s);
  const lseIn = logSumExp(inBox);
  g.op('Mul', [g.op('ReduceSum', [g.op('Sub', [lseAll, lseIn])], { keepdims: attr.int(0) }), scale], {}, 'loss');
  // dL/ds = (softmax over all cells - softmax over the box's cells) * scale
  const grad = g.op('Mul', [g.op('Sub', [g.op('Exp', [g.op('Sub', [s, lseAll])]), g.op('Exp', [g.op('Sub', [inBox, lseIn])])]), scale]);
  // a = sum_c g_c x_c [P, F]; dW = a^T v [F, D]; dv = a W [P, D]
  const a = g.op('Squeeze', [g.op('MatMul', [g.op('Unsqueeze', [grad, g.int64Tensor([1])]), x]), g.int64Tensor([1])]);
  g.op('MatMul', [transpose(a), v], {}, 'grad_projection');
  g.op('MatMul', [a, w], {}, 'grad_phrase');
  g.output('loss', 'float32', []);
  g.output('grad_projection', 'float32', ['features', 'dim']);
  g.output('grad_phrase', 'float32', ['phrases', 'dim']);
  return g.toModel({ doc: 'weft reference scorer: the patch-level grounding loss (loss and gradients)' });
}
