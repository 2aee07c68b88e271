// Builds a small, randomly initialised dual encoder in the layout Hugging Face optimum exports
// CLIP in (e.g. Xenova/clip-vit-base-patch32), so the scorer plumbing can be tested without
// real weights:
//   vision_model.onnx  pixel_values float32 [N,3,S,S] -> image_embeds [N,D] (+ patch_embeds [N,g,g,D])
//   text_model.onnx    input_ids int64 [N,L] (+ attention_mask) -> text_embeds [N,D] (+ token_embeds [N,L,D])
//   tokenizer.json, tokenizer_config.json   CLIP-style byte-level BPE, start 49406 / end 49407
//   preprocessor_config.json                CLIP's resize / crop / normalise settings
// Like a real CLIP export, the embeddings it outputs are not L2-normalised.
//
// Usage: node --import tsx scripts/build-test-clip.ts [OUT_DIR]   (default fixtures/generated/test-clip)
import fs from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder, attr, type DType } from './onnx/graph.ts';
import { gaussian, seededRandom } from './onnx/random.ts';
import { buildClipBpe } from './clip-bpe.ts';

export interface TestClipOptions {
  seed?: number;
  /** Joint embedding size D. */
  dim?: number;
  /** Width of the hidden layer of the image tower and of the text tower. */
  hidden?: number;
  textHidden?: number;
  /** Input image side (CLIP ViT-B/32: 224) and patch side (32). */
  imageSize?: number;
  patchSize?: number;
  /** Integer type of input_ids / attention_mask. */
  idsType?: 'int64' | 'int32';
  /** Whether the text model takes an attention_mask input (otherwise it masks pad ids itself). */
  attentionMask?: boolean;
  /** Whether the models also output patch_embeds / token_embeds in the joint space. */
  fineGrained?: boolean;
  /**
   * 'flat': all files in OUT_DIR; 'hub': the .onnx files in OUT_DIR/onnx as Hugging Face hub
   * repos keep them (Xenova/clip-*); 'combined': one model.onnx with both towers, as optimum-cli
   * exports CLIP.
   */
  layout?: 'flat' | 'hub' | 'combined';
  /** Written as scorer.json when given. */
  scorerJson?: Record<string, unknown>;
  /** BPE merges to learn for the tokenizer. */
  merges?: number;
}

/** Caption-like text the small BPE vocabulary is learned from. */
const TOKENIZER_CORPUS = [
  'a photo of a red circle on the left',
  'a blue square in the top right corner',
  'two small green triangles next to a large yellow star',
  'a photograph of a cat sitting on a wooden table',
  'an illustration of a dog running through the grass',
  'a purple hexagon below an orange rectangle',
  'black and white drawing of a house with a tree',
  'the picture shows three people standing near the water',
];

export async function buildTestClip(outDir: string, options: TestClipOptions = {}): Promise<void> {
  const seed = options.seed ?? 1;
  const dim = options.dim ?? 32;
  const hidden = options.hidden ?? 32;
  const imageSize = options.imageSize ?? 224;
  const patch = options.patchSize ?? 32;
  const idsType = options.idsType ?? 'int64';
  const withMask = options.attentionMask ?? true;
  const fineGrained = options.fineGrained ?? true;
  if (imageSize % patch !== 0) throw new Error(`image size ${imageSize} is not a multiple of patch size ${patch}`);

  const bpe = buildClipBpe(TOKENIZER_CORPUS, { merges: options.merges ?? 200 });
  const random = seededRandom(seed);
  const visionSpec = { random, dim, hidden, imageSize, patch, fineGrained };
  const textSpec = { random, dim, hidden: options.textHidden ?? 32, vocabSize: bpe.vocabSize, idsType, withMask, padId: bpe.padId, fineGrained };
  const doc = 'randomly initialised test model in the CLIP export layout';

  await fs.mkdir(outDir, { recursive: true });
  if (options.layout === 'combined') {
    const g = new GraphBuilder('clip');
    addVisionTower(g, visionSpec, null);
    addTextTower(g, textSpec, null);
    await fs.writeFile(path.join(outDir, 'model.onnx'), g.toModel({ doc }));
  } else {
    const onnxDir = options.layout === 'hub' ? path.join(outDir, 'onnx') : outDir;
    await fs.mkdir(onnxDir, { recursive: true });
    const vision = new GraphBuilder('vision_model');
    addVisionTower(vision, visionSpec, 'last_hidden_state');
    const text = new GraphBuilder('text_model');
    addTextTower(text, textSpec, 'last_hidden_state');
    await fs.writeFile(path.join(onnxDir, 'vision_model.onnx'), vision.toModel({ doc }));
    await fs.writeFile(path.join(onnxDir, 'text_model.onnx'), text.toModel({ doc }));
  }
  const json = (name: string, value: unknown) => fs.writeFile(path.join(outDir, name), JSON.stringify(value, null, 2) + '\n');
  await json('tokenizer.json', bpe.tokenizer);
  await json('tokenizer_config.json', bpe.tokenizerConfig);
  await json('preprocessor_config.json', clipPreprocessorConfig(imageSize));
  if (options.scorerJson) await json('scorer.json', options.scorerJson);
}

/** preprocessor_config.json as the CLIP image processor writes it. */
export function clipPreprocessorConfig(size = 224): Record<string, unknown> {
  return {
    crop_size: { height: size, width: size },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_processor_type: 'CLIPImageProcessor',
    image_std: [0.26862954, 0.26130258, 0.27577711],
    resample: 3,
    rescale_factor: 0.00392156862745098,
    size: { shortest_edge: size },
  };
}

interface VisionSpec {
  random: () => number;
  dim: number;
  hidden: number;
  imageSize: number;
  patch: number;
  fineGrained: boolean;
}

/** Patchify conv -> tanh -> per-patch linear projection -> mean over patches. */
function addVisionTower(g: GraphBuilder, s: VisionSpec, hiddenOutput: string | null): void {
  const grid = s.imageSize / s.patch;
  const pixels = g.input('pixel_values', 'float32', ['batch_size', 3, s.imageSize, s.imageSize]);
  const convW = g.floatTensor(gaussian(s.random, s.hidden * 3 * s.patch * s.patch, 1 / Math.sqrt(3 * s.patch * s.patch)), [s.hidden, 3, s.patch, s.patch]);
  const convB = g.floatTensor(gaussian(s.random, s.hidden, 0.1), [s.hidden]);
  const conv = g.op('Conv', [pixels, convW, convB], { kernel_shape: attr.ints([s.patch, s.patch]), strides: attr.ints([s.patch, s.patch]) });
  const hiddenNhwc = g.op('Transpose', [g.op('Tanh', [conv])], { perm: attr.ints([0, 2, 3, 1]) });
  const proj = g.floatTensor(gaussian(s.random, s.hidden * s.dim, 1 / Math.sqrt(s.hidden)), [s.hidden, s.dim]);
  const patches = g.op('MatMul', [hiddenNhwc, proj], {}, 'patch_embeds');
  g.op('ReduceMean', [patches], { axes: attr.ints([1, 2]), keepdims: attr.int(0) }, 'image_embeds');
  g.output('image_embeds', 'float32', ['batch_size', s.dim]);
  if (s.fineGrained) g.output('patch_embeds', 'float32', ['batch_size', grid, grid, s.dim]);
  if (hiddenOutput) {
    g.op('Reshape', [hiddenNhwc, g.int64Tensor([0, -1, s.hidden])], {}, hiddenOutput);
    g.output(hiddenOutput, 'float32', ['batch_size', grid * grid, s.hidden]);
  }
}

interface TextSpec {
  random: () => number;
  dim: number;
  hidden: number;
  vocabSize: number;
  idsType: DType;
  withMask: boolean;
  padId: number;
  fineGrained: boolean;
}

/** Token embedding lookup -> tanh -> per-token linear projection -> masked mean over tokens. */
function addTextTower(g: GraphBuilder, s: TextSpec, hiddenOutput: string | null): void {
  const ids = g.input('input_ids', s.idsType, ['batch_size', 'sequence_length']);
  const table = g.floatTensor(gaussian(s.random, s.vocabSize * s.hidden), [s.vocabSize, s.hidden]);
  const hidden = g.op('Tanh', [g.op('Gather', [table, ids], { axis: attr.int(0) })], {}, hiddenOutput ?? undefined);
  const proj = g.floatTensor(gaussian(s.random, s.hidden * s.dim, 1 / Math.sqrt(s.hidden)), [s.hidden, s.dim]);
  const tokens = g.op('MatMul', [hidden, proj], {}, 'token_embeds');

  const FLOAT = 1;
  let mask: string;
  if (s.withMask) {
    const m = g.input('attention_mask', s.idsType, ['batch_size', 'sequence_length']);
    mask = g.op('Cast', [m], { to: attr.int(FLOAT) });
  } else {
    const pad = s.idsType === 'int64' ? g.int64Tensor([s.padId], []) : g.int32Tensor([s.padId], []);
    mask = g.op('Cast', [g.op('Not', [g.op('Equal', [ids, pad])])], { to: attr.int(FLOAT) });
  }
  const mask3 = g.op('Unsqueeze', [mask, g.int64Tensor([2])]);
  const tokenAxis = g.int64Tensor([1]);
  const summed = g.op('ReduceSum', [g.op('Mul', [tokens, mask3]), tokenAxis], { keepdims: attr.int(0) });
  const count = g.op('Max', [g.op('ReduceSum', [mask3, tokenAxis], { keepdims: attr.int(0) }), g.floatTensor([1e-6], [1])]);
  g.op('Div', [summed, count], {}, 'text_embeds');
  g.output('text_embeds', 'float32', ['batch_size', s.dim]);
  if (s.fineGrained) g.output('token_embeds', 'float32', ['batch_size', 'sequence_length', s.dim]);
  if (hiddenOutput) g.output(hiddenOutput, 'float32', ['batch_size', 'sequence_length', s.hidden]);
}
