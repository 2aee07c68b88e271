// Random linear-head parameters for the scorer's gradient and step tests, drawn in one fixed
// order (projection, bias, words, bigrams) so a seed always gives the same problem.
import type { ContrastiveParams } from '../../scorer/contrastive.ts';
import { gaussian } from '../../scorer/onnx/random.ts';

export interface ParamShape {
  featureSize: number;
  dim: number;
  wordRows: number;
  bigramRows: number;
  projectionStd: number;
  biasStd: number;
}

export function randomContrastiveParams(random: () => number, shape: ParamShape): ContrastiveParams {
  const { featureSize, dim } = shape;
  return {
    featureSize,
    dim,
    projection: gaussian(random, featureSize * dim, shape.projectionStd),
    bias: gaussian(random, dim, shape.biasStd),
    words: gaussian(random, shape.wordRows * dim),
    bigrams: gaussian(random, shape.bigramRows * dim),
  };
}
