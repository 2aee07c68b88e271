// The dense part of one training step of the reference scorer (stages/score/contrastive.ts) as an
// ONNX graph, so its matrix products run in onnxruntime's multithreaded kernels instead of plain
// JS loops (about 20x faster on two cores). The gradients are the same hand-written formulas as
// infoNce in contrastive.ts, spelled as graph ops; tests check the two agree.
//
//   inputs:  features [n, F], projection [F, D], bias [D], text [n, D] (unnormalised caption means)
//   built with: temperature, and optionally a margin and hard-negative weights (InfoNceShape)
//   outputs: loss [], grad_projection [F, D], grad_bias [D], grad_text [n, D]
// With a hidden layer (ContrastiveParams.hidden = H), projection is W1 [F, H] and W2 [H, D]
// flattened one after the other and bias is b1 [H] then b2 [D]; the gradients come in the same layout.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GraphBuilder, attr } from './graph.ts';
import { OnnxEncoder, floatTensor } from '../onnx-encoder.ts';
import { addTextGradients, embedCaptions, type ContrastiveBatch, type ContrastiveParams, type InfoNceShape } from '../contrastive.ts';

/** Runs training steps through the step model in a worker thread. */
export class ContrastiveStep {
  private constructor(private readonly encoder: OnnxEncoder, private readonly featureSize: number, private readonly dim: number, private readonly hidden: number) {}

  static async open(featureSize: number, dim: number, temperature: number, threads = Math.min(4, os.availableParallelism()), hidden = 0, shape: InfoNceShape = {}): Promise<ContrastiveStep> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-step-'));
    try {
      const file = path.join(dir, 'contrastive-step.onnx');
      await fs.writeFile(file, buildContrastiveStepModel(featureSize, dim, temperature, hidden, shape));
      return new ContrastiveStep(await OnnxEncoder.open(file, { threads }), featureSize, dim, hidden);
    } finally {
      // the session has read the file
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** infoNce(params, batch, temperature, grads, shape) of contrastive.ts, computed by onnxruntime. */
  async run(params: ContrastiveParams, batch: ContrastiveBatch, grads: ContrastiveParams): Promise<number> {
    const n = batch.captions.length;
    const { featureSize: F, dim: D, hidden: H } = this;
    if ((params.hidden ?? 0) !== H) throw new Error(`step built for hidden width ${H}, parameters have ${params.hidden ?? 0}`);
    const out = await this.encoder.run(
      {
        features: floatTensor(Float32Array.from(batch.features.subarray(0, n * F)), [n, F]),
        projection: floatTensor(Float32Array.from(params.projection), H ? [F * H + H * D] : [F, D]),
        bias: floatTensor(Float32Array.from(params.bias), [H + D]),
        text: floatTensor(embedCaptions(params, batch.captions), [n, D]),
      },
      ['loss', 'grad_projection', 'grad_bias', 'grad_text'],
    );
    const add = (into: Float32Array, from: ArrayLike<number>) => {
      for (let i = 0; i < into.length; i++) into[i] += from[i];
    };
    add(grads.projection, out.grad_projection.data as Float32Array);
    add(grads.bias, out.grad_bias.data as Float32Array);
    addTextGradients(batch.captions, out.grad_text.data as Float32Array, grads);
    return (out.loss.data as Float32Array)[0];
  }

  close(): Promise<void> {
    return this.encoder.close();
  }
}

function buildContrastiveStepModel(featureSize: number, dim: number, temperature: number, hidden: number, shape: InfoNceShape): Uint8Array {
  const g = new GraphBuilder('contrastive_step');
  const F = featureSize;
  const H = hidden;
  const x = g.input('features', 'float32', ['batch', featureSize]);
  const w = g.input('projection', 'float32', H ? [F * H + H * dim] : [featureSize, dim]);
  const b = g.input('bias', 'float32', [H + dim]);
  const t = g.input('text', 'float32', ['batch', dim]);
  const rowAxis = g.int64Tensor([1]);
  const scalar = (v: number) => g.floatTensor([v], []);
  const rowSum = (v: string) => g.op('ReduceSum', [v, rowAxis], { keepdims: attr.int(1) });
  const transpose = (v: string) => g.op('Transpose', [v], { perm: attr.ints([1, 0]) });

  // u = z / |z|, v = t / |t| (norms floored as in contrastive.ts)
  const normalise = (v: string) => {
    const norm = g.op('Max', [g.op('Sqrt', [rowSum(g.op('Mul', [v, v]))]), scalar(1e-12)]);
    return { unit: g.op('Div', [v, norm]), norm };
  };
  const slice = (v: string, from: number, to: number, shape: number[]) => g.op('Reshape', [g.op('Slice', [v, g.int64Tensor([from]), g.int64Tensor([to]), g.int64Tensor([0])]), g.int64Tensor(shape)]);
  // Hidden-layer head: a = x W1 + b1, h = relu(a), z = h W2 + b2.
  const w1 = H ? slice(w, 0, F * H, [F, H]) : '';
  const w2 = H ? slice(w, F * H, F * H + H * dim, [H, dim]) : w;
  const b1 = H ? slice(b, 0, H, [H]) : '';
  const b2 = H ? slice(b, H, H + dim, [dim]) : b;
  const a = H ? g.op('Add', [g.op('MatMul', [x, w1]), b1]) : '';
  const h = H ? g.op('Relu', [a]) : x;
  const z = g.op('Add', [g.op('MatMul', [h, w2]), b2]);
  const img = normalise(z);
  const txt = normalise(t);
  const cosines = g.op('MatMul', [img.unit, transpose(txt.unit)]);
  const eye = g.op('EyeLike', [cosines]);
  const margin = shape.margin ?? 0;
  const hardness = shape.hardness ?? 0;
  // logits = (u v^T - margin I) / T
  const logits = g.op('Mul', [margin ? g.op('Sub', [cosines, g.op('Mul', [eye, scalar(margin)])]) : cosines, scalar(1 / temperature)]);
  const twoN = g.op('Mul', [g.op('ReduceSum', [eye], { keepdims: attr.int(0) }), scalar(2)]);
  // Hard-negative weights (contrastive.ts hardLogits): a negative of the softmax along `axis` gains
  // hardness * logit - log mean exp(hardness * logit) over that softmax's negatives (max over the
  // negatives subtracted, so the sum is at least 1 when there are any).
  const offDiagonal = g.op('Sub', [scalar(1), eye]);
  const hardLogits = (axis: number) => {
    if (!hardness) return logits;
    const axes = g.int64Tensor([axis]);
    const scaled = g.op('Mul', [logits, scalar(hardness)]);
    // the true pair pushed out of the max and the sum (its exp of a huge negative is 0)
    const masked = g.op('Sub', [scaled, g.op('Mul', [eye, scalar(1e30)])]);
    const max = g.op('ReduceMax', [masked], { axes: attr.ints([axis]), keepdims: attr.int(1) });
    const sum = g.op('ReduceSum', [g.op('Mul', [g.op('Exp', [g.op('Sub', [masked, max])]), offDiagonal]), axes], { keepdims: attr.int(1) });
    const negatives = g.op('Max', [g.op('Sub', [g.op('Div', [twoN, scalar(2)]), scalar(1)]), scalar(1)]);
    const logMean = g.op('Add', [g.op('Log', [g.op('Max', [g.op('Div', [sum, negatives]), scalar(1e-30)])]), max]);
    return g.op('Add', [logits, g.op('Mul', [g.op('Sub', [scaled, logMean]), offDiagonal])]);
  };

  // loss = -(sum_i log rowP[i,i] + sum_j log colP[j,j]) / 2n
  // log softmax as x - max - log(sum(exp(x - max))): every exp is of a value <= 0, so nothing
  // overflows however large the logits get.
  const logSoftmax = (axis: number) => {
    const axes = g.int64Tensor([axis]);
    const x = hardLogits(axis);
    const shifted = g.op('Sub', [x, g.op('ReduceMax', [x], { axes: attr.ints([axis]), keepdims: attr.int(1) })]);
    return g.op('Sub', [shifted, g.op('Log', [g.op('ReduceSum', [g.op('Exp', [shifted]), axes], { keepdims: attr.int(1) })])]);
  };
  const logRow = logSoftmax(1);
  const logCol = logSoftmax(0);
  const diagonal = g.op('ReduceSum', [g.op('Mul', [g.op('Add', [logRow, logCol]), eye])], { keepdims: attr.int(0) });
  g.op('Neg', [g.op('Div', [diagonal, twoN])], {}, 'loss');

  // dL/dlogits = (rowP + colP - 2I) / 2n (the hard-negative weights held constant), and logits = (u v^T - margin I) / T
  const dLogits = g.op('Div', [g.op('Sub', [g.op('Add', [g.op('Exp', [logRow]), g.op('Exp', [logCol])]), g.op('Mul', [eye, scalar(2)])]), g.op('Mul', [twoN, scalar(temperature)])]);
  const dU = g.op('MatMul', [dLogits, txt.unit]);
  const dV = g.op('MatMul', [transpose(dLogits), img.unit]);
  // d(x/|x|) back to dx: (g - u (u . g)) / |x|
  const normaliseBackward = (unit: string, norm: string, grad: string, out?: string) =>
    g.op('Div', [g.op('Sub', [grad, g.op('Mul', [unit, rowSum(g.op('Mul', [unit, grad]))])]), norm], {}, out);
  const dZ = normaliseBackward(img.unit, img.norm, dU);
  normaliseBackward(txt.unit, txt.norm, dV, 'grad_text');
  const batchSum = (v: string) => g.op('ReduceSum', [v, g.int64Tensor([0])], { keepdims: attr.int(0) });
  if (!H) {
    g.op('MatMul', [transpose(x), dZ], {}, 'grad_projection');
    g.op('ReduceSum', [dZ, g.int64Tensor([0])], { keepdims: attr.int(0) }, 'grad_bias');
  } else {
    // dW2 = h^T dZ, db2 = sum dZ; dA = (dZ W2^T) * (a > 0); dW1 = x^T dA, db1 = sum dA
    const dW2 = g.op('MatMul', [transpose(h), dZ]);
    const dA = g.op('Mul', [g.op('MatMul', [dZ, transpose(w2)]), g.op('Cast', [g.op('Greater', [a, scalar(0)])], { to: attr.int(1) })]);
    const dW1 = g.op('MatMul', [transpose(x), dA]);
    const flat = (v: string) => g.op('Reshape', [v, g.int64Tensor([-1])]);
    g.op('Concat', [flat(dW1), flat(dW2)], { axis: attr.int(0) }, 'grad_projection');
    g.op('Concat', [batchSum(dA), batchSum(dZ)], { axis: attr.int(0) }, 'grad_bias');
  }

  g.output('loss', 'float32', []);
  g.output('grad_projection', 'float32', H ? [F * H + H * dim] : [featureSize, dim]);
  g.output('grad_bias', 'float32', [H + dim]);
  g.output('grad_text', 'float32', ['batch', dim]);
  return g.toModel({ doc: 'weft reference scorer: one symmetric InfoNCE step (loss and gradients)' });
}
