// The reference scorer's architecture as ONNX graphs, written by our own code, in the same
// folder layout as a CLIP export so it loads through the same path (stages/score/scorer.ts).
//
// Image tower: fixed convolutions (conv -> ReLU -> optional max-pool per layer; the trainer fills
// the first layer from whitened image patches and the rest at random), then a spatial pyramid of
// average-pooled regions (e.g. 1x1, 2x2, 4x4) with a learned linear projection per region into the
// joint space. Because pooling and projection are linear, the same weights give each position of
// the final feature map an embedding in the joint space (patch_embeds), and the mean of the patch
// embeddings is exactly image_embeds.
//
// Text tower: the mean of learned embeddings of the caption's words and of its adjacent word pairs
// (bigrams). Words come from a WordLevel tokenizer.json (lower-cased); a bigram's row is found by
// an exact key lookup (ai.onnx.ml LabelEncoder on first * V + second). token_embeds holds, per
// token, its word row plus the row of the bigram it starts, so their mean is text_embeds.
import fs from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder, attr } from './graph.ts';
import { pyramidWindow, type PyramidWindow } from '../pyramid-window.ts';
import { BACKBONE_CHANNELS, BACKBONE_GRID } from '../backbone/nsfwjs-mobilenet.ts';
import { BACKBONE_NAME, HEAD_INPUT } from '../backbone/backbone-tower.ts';
import type { CharNgramOptions } from '../char-ngrams.ts';

export interface ConvLayer {
  outChannels: number;
  inChannels: number;
  /** Odd kernel side; padding keeps the spatial size. */
  kernel: number;
  /** [outChannels, inChannels, kernel, kernel]. */
  weight: Float32Array;
  bias: Float32Array;
  /** Max-pool window and stride after the ReLU (1: none). */
  pool: number;
}

export interface ReferenceScorerWeights {
  imageSize: number;
  /** Per-channel normalisation written to preprocessor_config.json. */
  mean: [number, number, number];
  std: [number, number, number];
  convs: ConvLayer[];
  /**
   * A frozen pretrained network in place of the conv stack (backbone/backbone-tower.ts): the
   * folder then holds only the projection (vision_head.onnx) and scorer.json names the backbone.
   */
  backbone?: typeof BACKBONE_NAME;
  /** Pyramid levels as grid sides, e.g. [1, 2, 4]. */
  pyramid: number[];
  dim: number;
  /**
   * A non-linear image head: the pyramid projection maps to `hidden` values, then relu and this
   * output layer (weight [hidden, dim], bias [dim]) give the embedding. Absent: the linear head.
   */
  head?: { hidden: number; weight: Float32Array; bias: Float32Array };
  /**
   * [regions * C, dim] ([regions * C, head.hidden] with a head); rows are region-major (levels in `pyramid` order, regions row-major within
   * a level) and channel-minor, matching pyramidFeatures' layout.
   */
  projection: Float32Array;
  projectionBias: Float32Array;
  /** Word of each id; ids 0 and 1 must be [PAD] and [UNK]. */
  vocab: string[];
  /** [vocab.length, dim]; rows 0 and 1 are never used. */
  wordEmbeddings: Float32Array;
  /** Bigram b (embedding row b + 1) is the word-id pair bigrams[b]. */
  bigrams: Array<[number, number]>;
  /** [bigrams.length + 1, dim]; row 0 stands for "no known bigram" and is never used. */
  bigramEmbeddings: Float32Array;
  /**
   * Hashed character n-gram rows (char-ngrams.ts), [charNgrams.buckets, dim], averaged with the
   * word and bigram rows. Only in memory (scripts/lit-designs.ts): the text graph has no n-gram
   * lookup, so writeReferenceScorer refuses such weights.
   */
  charNgrams?: CharNgramOptions;
  ngramEmbeddings?: Float32Array;
  contextLength: number;
}

export const PAD = '[PAD]';
export const UNK = '[UNK]';

/** Side of the final feature map. */
function featureGrid(w: Pick<ReferenceScorerWeights, 'imageSize' | 'convs' | 'backbone'>): number {
  if (w.backbone) return BACKBONE_GRID;
  const side = w.convs.reduce((s, c) => s / c.pool, w.imageSize);
  if (!Number.isInteger(side)) throw new Error(`image size ${w.imageSize} is not divisible by the conv pools`);
  return side;
}

export function regionCount(pyramid: number[]): number {
  return pyramid.reduce((n, g) => n + g * g, 0);
}

/** Channels of the final feature map. */
export function featureChannels(w: Pick<ReferenceScorerWeights, 'convs' | 'backbone'>): number {
  if (w.backbone) return BACKBONE_CHANNELS;
  return w.convs[w.convs.length - 1].outChannels;
}

/** conv stack -> [N, C, G, G] */
function addConvStack(g: GraphBuilder, w: ReferenceScorerWeights, pixels: string): string {
  let x = pixels;
  for (const c of w.convs) {
    if (c.kernel % 2 !== 1) throw new Error(`conv kernel ${c.kernel} is not odd`);
    const weight = g.floatTensor(c.weight, [c.outChannels, c.inChannels, c.kernel, c.kernel]);
    const bias = g.floatTensor(c.bias, [c.outChannels]);
    const half = (c.kernel - 1) / 2;
    x = g.op('Relu', [g.op('Conv', [x, weight, bias], { kernel_shape: attr.ints([c.kernel, c.kernel]), pads: attr.ints([half, half, half, half]) })]);
    if (c.pool > 1) x = g.op('MaxPool', [x], { kernel_shape: attr.ints([c.pool, c.pool]), strides: attr.ints([c.pool, c.pool]) });
  }
  return x;
}

/** Per pyramid level: the average-pooled map flattened region-major, channel-minor: [N, g*g*C]. */
function addPyramid(g: GraphBuilder, w: ReferenceScorerWeights, features: string): string[] {
  const side = featureGrid(w);
  const channels = featureChannels(w);
  return w.pyramid.map((level) => {
    const { kernel: k, stride } = pyramidWindow(side, level);
    const pooled = g.op('AveragePool', [features], { kernel_shape: attr.ints([k, k]), strides: attr.ints([stride, stride]) });
    const nhwc = g.op('Transpose', [pooled], { perm: attr.ints([0, 2, 3, 1]) });
    return g.op('Reshape', [nhwc, g.int64Tensor([0, level * level * channels])]);
  });
}

function addPixelsInput(g: GraphBuilder, w: ReferenceScorerWeights): string {
  return g.input('pixel_values', 'float32', ['batch_size', 3, w.imageSize, w.imageSize]);
}

/**
 * The fixed part of the image tower alone: pixel_values -> pyramid_features [N, regions * C].
 * The trainer runs this once over its images; the projection is what it learns.
 */
export function buildFeatureModel(w: ReferenceScorerWeights): Uint8Array {
  const g = new GraphBuilder('reference_features');
  const levels = addPyramid(g, w, addConvStack(g, w, addPixelsInput(g, w)));
  g.op('Concat', levels, { axis: attr.int(1) }, 'pyramid_features');
  g.output('pyramid_features', 'float32', ['batch_size', regionCount(w.pyramid) * featureChannels(w)]);
  return g.toModel({ doc: 'weft reference scorer: fixed image features' });
}

function buildVisionModel(w: ReferenceScorerWeights, metadata: Record<string, string> = {}): Uint8Array {
  const g = new GraphBuilder('vision_model');
  const side = featureGrid(w);
  const channels = featureChannels(w);
  // The pyramid projection's width: the joint space, or the hidden layer of a non-linear head.
  const width = w.head ? w.head.hidden : w.dim;
  if (w.projection.length !== regionCount(w.pyramid) * channels * width) throw new Error(`projection has ${w.projection.length} values; expected ${regionCount(w.pyramid)} regions x ${channels} channels x ${width}`);
  if (w.head && (w.head.weight.length !== w.head.hidden * w.dim || w.head.bias.length !== w.dim)) throw new Error(`head output layer has ${w.head.weight.length} weights and ${w.head.bias.length} biases; expected ${w.head.hidden} x ${w.dim} and ${w.dim}`);
  const features = w.backbone
    ? g.input(HEAD_INPUT, 'float32', ['batch_size', channels, side, side])
    : addConvStack(g, w, addPixelsInput(g, w));
  const levels = addPyramid(g, w, features);
  const bias = g.floatTensor(w.projectionBias, [width]);

  // image_embeds = sum over levels of pooled_level @ W_level + bias
  // patch_embeds[p] = sum over levels of level^2 * f(p) @ W_level[region of p] + bias
  // Per level, the positions are grouped by region with one reshape/transpose, so each region's
  // weights multiply its k*k positions in one batched MatMul (no per-position copy of the weights).
  // A non-linear head then applies relu and its output layer to both (so the patch rows no longer
  // average to image_embeds exactly).
  const nhwc = g.op('Transpose', [features], { perm: attr.ints([0, 2, 3, 1]) });
  let image = '';
  let patches = '';
  let offset = 0;
  w.pyramid.forEach((level, l) => {
    const rows = level * level * channels;
    const weights = w.projection.subarray(offset * width, (offset + rows) * width);
    offset += rows;
    const flat = g.halfStoredFloatTensor(weights, [rows, width]);
    const projected = g.op('MatMul', [levels[l], flat]);
    image = image ? g.op('Add', [image, projected]) : projected;
    const contribution = patchContribution(g, nhwc, flat, side, level, channels, width);
    patches = patches ? g.op('Add', [patches, contribution]) : contribution;
  });
  image = g.op('Add', [image, bias]);
  patches = g.op('Add', [patches, bias]);
  if (w.head) {
    const weight = g.halfStoredFloatTensor(w.head.weight, [w.head.hidden, w.dim]);
    const outBias = g.floatTensor(w.head.bias, [w.dim]);
    const output = (x: string) => g.op('Add', [g.op('MatMul', [g.op('Relu', [x]), weight]), outBias]);
    image = output(image);
    patches = output(patches);
  }
  g.op('Identity', [image], {}, 'image_embeds');
  g.op('Reshape', [patches, g.int64Tensor([0, side, side, w.dim])], {}, 'patch_embeds');
  g.output('image_embeds', 'float32', ['batch_size', w.dim]);
  g.output('patch_embeds', 'float32', ['batch_size', side, side, w.dim]);
  return g.toModel({ doc: w.backbone ? 'weft reference scorer: image projection head' : 'weft reference scorer: image tower', metadata });
}

/**
 * One pyramid level's share of every position's embedding, [N, G*G, D]: level^2 * f(p) @ W[region of p].
 * [N, G, G, C] -> [N, L, k, L, k, C] -> regions first [N, L*L, k*k, C] -> MatMul [L*L, C, D] -> back to row-major positions.
 */
function patchContribution(g: GraphBuilder, nhwc: string, flat: string, side: number, level: number, channels: number, dim: number): string {
  const window = pyramidWindow(side, level);
  if (!window.tiles) return overlappingPatchContribution(g, nhwc, flat, side, level, channels, dim, window);
  const k = side / level;
  const regions = level * level;
  if (level === 1) {
    const positions = g.op('Reshape', [nhwc, g.int64Tensor([0, side * side, channels])]);
    return g.op('MatMul', [positions, flat]);
  }
  const split = g.op('Reshape', [nhwc, g.int64Tensor([0, level, k, level, k, channels])]);
  const byRegion = g.op('Reshape', [g.op('Transpose', [split], { perm: attr.ints([0, 1, 3, 2, 4, 5]) }), g.int64Tensor([0, regions, k * k, channels])]);
  const perRegion = g.op('Reshape', [flat, g.int64Tensor([regions, channels, dim])]);
  const projected = g.op('Mul', [g.op('MatMul', [byRegion, perRegion]), g.floatTensor([regions], [1])]); // [N, L*L, k*k, D]
  const unsplit = g.op('Reshape', [projected, g.int64Tensor([0, level, level, k, k, dim])]);
  return g.op('Reshape', [g.op('Transpose', [unsplit], { perm: attr.ints([0, 1, 3, 2, 4, 5]) }), g.int64Tensor([0, side * side, dim])]);
}

/**
 * The same for a level of overlapping windows: a position in several windows gets each one's
 * weights, (G / k)^2 * f(p) @ sum over windows r containing p of W[r], so the rows still average
 * to the level's share of image_embeds. Per window: slice its k x k positions, project them with
 * its weights, pad back to the G x G map.
 */
function overlappingPatchContribution(g: GraphBuilder, nhwc: string, flat: string, side: number, level: number, channels: number, dim: number, w: PyramidWindow): string {
  const perRegion = g.op('Reshape', [flat, g.int64Tensor([level * level, channels, dim])]);
  let sum = '';
  for (let ry = 0; ry < level; ry++)
    for (let rx = 0; rx < level; rx++) {
      const [y, x, r] = [ry * w.stride, rx * w.stride, ry * level + rx];
      const positions = g.op('Slice', [nhwc, g.int64Tensor([y, x]), g.int64Tensor([y + w.kernel, x + w.kernel]), g.int64Tensor([1, 2])]);
      const weights = g.op('Squeeze', [g.op('Slice', [perRegion, g.int64Tensor([r]), g.int64Tensor([r + 1]), g.int64Tensor([0])]), g.int64Tensor([0])]);
      const projected = g.op('MatMul', [positions, weights]); // [N, k, k, D]
      const pads = g.int64Tensor([0, y, x, 0, 0, side - y - w.kernel, side - x - w.kernel, 0]);
      const placed = g.op('Pad', [projected, pads]);
      sum = sum ? g.op('Add', [sum, placed]) : placed;
    }
  const scaled = g.op('Mul', [sum, g.floatTensor([(side * side) / (w.kernel * w.kernel)], [1])]);
  return g.op('Reshape', [scaled, g.int64Tensor([0, side * side, dim])]);
}

function buildTextModel(w: ReferenceScorerWeights, metadata: Record<string, string> = {}): Uint8Array {
  const V = w.vocab.length;
  if (w.vocab[0] !== PAD || w.vocab[1] !== UNK) throw new Error(`vocab must start with ${PAD}, ${UNK}`);
  if (w.wordEmbeddings.length !== V * w.dim) throw new Error(`wordEmbeddings has ${w.wordEmbeddings.length} values; expected ${V} x ${w.dim}`);
  if (w.bigramEmbeddings.length !== (w.bigrams.length + 1) * w.dim) throw new Error(`bigramEmbeddings has ${w.bigramEmbeddings.length} values; expected ${w.bigrams.length + 1} x ${w.dim}`);
  const g = new GraphBuilder('text_model');
  const FLOAT = 1;
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const one = g.int64Tensor([1], []);
  // A token counts when it is not padding and is a known word.
  const valid = g.op('Mul', [g.op('Cast', [mask], { to: attr.int(FLOAT) }), g.op('Cast', [g.op('Greater', [ids, one])], { to: attr.int(FLOAT) })]);
  const unsqueeze = (x: string) => g.op('Unsqueeze', [x, g.int64Tensor([2])]);
  const words = g.op('Mul', [g.op('Gather', [g.halfStoredFloatTensor(w.wordEmbeddings, [V, w.dim]), ids], { axis: attr.int(0) }), unsqueeze(valid)]);
  const tokenAxis = g.int64Tensor([1]);
  let tokens = words;
  let count = g.op('ReduceSum', [valid, tokenAxis], { keepdims: attr.int(1) });

  if (w.bigrams.length > 0) {
    // The next token of each position (0 = padding past the end).
    const shiftLeft = (x: string, zero: string) =>
      g.op('Slice', [g.op('Pad', [x, g.int64Tensor([0, 0, 0, 1]), zero]), g.int64Tensor([1]), g.int64Tensor([1 << 30]), tokenAxis]);
    const nextIds = shiftLeft(ids, g.int64Tensor([0], []));
    const nextValid = shiftLeft(valid, g.floatTensor([0], []));
    const key = g.op('Add', [g.op('Mul', [ids, g.int64Tensor([V], [])]), nextIds]);
    const row = g.mlOp('LabelEncoder', [key], {
      keys_int64s: attr.ints(w.bigrams.map(([a, b]) => a * V + b)),
      values_int64s: attr.ints(w.bigrams.map((_, i) => i + 1)),
      default_int64: attr.int(0),
    });
    const known = g.op('Cast', [g.op('Greater', [row, g.int64Tensor([0], [])])], { to: attr.int(FLOAT) });
    const bigramValid = g.op('Mul', [g.op('Mul', [valid, nextValid]), known]);
    const bigrams = g.op('Mul', [g.op('Gather', [g.halfStoredFloatTensor(w.bigramEmbeddings, [w.bigrams.length + 1, w.dim]), row], { axis: attr.int(0) }), unsqueeze(bigramValid)]);
    tokens = g.op('Add', [words, bigrams]);
    count = g.op('Add', [count, g.op('ReduceSum', [bigramValid, tokenAxis], { keepdims: attr.int(1) })]);
  }
  g.op('Identity', [tokens], {}, 'token_embeds');
  const total = g.op('ReduceSum', [tokens, tokenAxis], { keepdims: attr.int(0) });
  g.op('Div', [total, g.op('Max', [count, g.floatTensor([1], [1])])], {}, 'text_embeds');
  g.output('text_embeds', 'float32', ['batch_size', w.dim]);
  g.output('token_embeds', 'float32', ['batch_size', 'sequence_length', w.dim]);
  return g.toModel({ doc: 'weft reference scorer: text tower', metadata });
}

/** tokenizer.json / tokenizer_config.json for the word vocabulary (lower-cased, split on word boundaries). */
export function wordTokenizerFiles(vocab: string[], contextLength: number): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    tokenizer: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [special(0, PAD), special(1, UNK)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.map((word, id) => [word, id])), unk_token: UNK },
    },
    tokenizerConfig: { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: contextLength, pad_token: PAD, unk_token: UNK, do_lower_case: true },
  };
}

/** The projection of a backbone scorer; loadScorer puts the backbone in front of it. */
export const VISION_HEAD_FILE = 'vision_head.onnx';

export interface ReferenceScorerMeta {
  id: string;
  description?: string;
}

/** Writes a complete scorer folder: both towers, tokenizer files, preprocessor config and scorer.json. */
export async function writeReferenceScorer(dir: string, w: ReferenceScorerWeights, meta: ReferenceScorerMeta): Promise<void> {
  if (w.charNgrams) throw new Error('weights with character n-gram rows cannot be exported: the text graph has no n-gram lookup');
  await fs.mkdir(dir, { recursive: true });
  const metadata = { weft_scorer_id: meta.id };
  await fs.writeFile(path.join(dir, w.backbone ? VISION_HEAD_FILE : 'vision_model.onnx'), buildVisionModel(w, metadata));
  await fs.writeFile(path.join(dir, 'text_model.onnx'), buildTextModel(w, metadata));
  const { tokenizer, tokenizerConfig } = wordTokenizerFiles(w.vocab, w.contextLength);
  const json = (name: string, value: unknown) => fs.writeFile(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
  await json('tokenizer.json', tokenizer);
  await json('tokenizer_config.json', tokenizerConfig);
  await json('preprocessor_config.json', {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: w.imageSize },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: w.imageSize, width: w.imageSize },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: w.mean,
    image_std: w.std,
    do_convert_rgb: true,
  });
  await json('scorer.json', {
    id: meta.id,
    ...(meta.description ? { description: meta.description } : {}),
    ...(w.backbone ? { vision_model: VISION_HEAD_FILE, vision_backbone: w.backbone } : {}),
  });
}
