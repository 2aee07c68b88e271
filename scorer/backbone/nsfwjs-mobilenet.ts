// The pretrained MobileNetV2 of the npm package nsfwjs (MIT, Infinite Red; ImageNet backbone
// fine-tuned on five classes: drawing, hentai, neutral, porn, sexy), converted to ONNX by weft's
// own code at first use. The package ships the model as two UMD scripts: model.min.js exports the
// Keras topology and the weights manifest, group1-shard1of1.min.js the weights as a base64 string
// of uint8 codes, each weight dequantised as min + scale * code. Nothing of the model is committed:
// the conversion is deterministic, its inputs and its output are checked against the sha256 values
// below, and the result is cached (README.md, "Safety (NSFW) filter").
import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { kerasToOnnx, type KerasTopology, type KerasWeights } from './keras-to-onnx.ts';

/** The five classes of the classifier head, in output order. */
export const NSFW_CLASSES = ['drawing', 'hentai', 'neutral', 'porn', 'sexy'] as const;
export type NsfwClass = (typeof NSFW_CLASSES)[number];

/** Input side, and the spatial grid and channels of the last feature map (before pooling). */
export const BACKBONE_INPUT = 224;
export const BACKBONE_GRID = 7;
export const BACKBONE_CHANNELS = 1280;

/** The package files this conversion was written for, and the model it derives from them. */
export const NSFWJS_SOURCE = {
  package: 'nsfwjs',
  version: '4.4.0',
  files: {
    'model.min.js': 'c32f104fd562b08cdff5ed69dfe1209643afa47e792fb12751d2949aa61a397a',
    'group1-shard1of1.min.js': 'ef2e0a63f7d2c4960b37b024b669313f65d3c45cd59e9042636c55b39de53517',
  },
  onnxSha256: '4e858e8e8bcc6f36406ba7df74afe63652c065816ee14bbf48ae063d66b71e67',
};

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Folder of nsfwjs' MobileNetV2 files in the installed package. */
export function nsfwjsModelDir(): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('nsfwjs');
  } catch {
    throw new Error('the backbone needs the npm package nsfwjs (a dependency of weft): run npm install');
  }
  // entry: <package>/dist/cjs/index.js
  return path.join(path.dirname(entry), '..', 'models', 'mobilenet_v2');
}

/** Runs one of the package's UMD scripts in an empty context and returns what it exports. */
function evaluateUmd(file: string, source: string): unknown {
  const module = { exports: {} as unknown };
  vm.runInNewContext(source, { module, exports: module.exports }, { filename: file, timeout: 30_000 });
  return module.exports;
}

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

/** Reads, checks and dequantises the package's model; `check` false skips the sha256 of the files (for tests of other versions). */
export function readNsfwjsModel(dir = nsfwjsModelDir(), check = true): { topology: KerasTopology; weights: KerasWeights } {
  const texts: Record<string, string> = {};
  for (const [name, expected] of Object.entries(NSFWJS_SOURCE.files)) {
    const file = path.join(dir, name);
    if (!existsSync(file)) throw new Error(`${file} is missing: the backbone needs nsfwjs ${NSFWJS_SOURCE.version}`);
    const text = readFileSync(file, 'utf8');
    const actual = sha256(text);
    if (check && actual !== expected) throw new Error(`${file}: sha256 ${actual} is not that of nsfwjs ${NSFWJS_SOURCE.version} (${expected}); install that version`);
    texts[name] = text;
  }
  const model = evaluateUmd('model.min.js', texts['model.min.js']) as { modelTopology: KerasTopology; weightsManifest: { paths: string[]; weights: WeightEntry[] }[] };
  const base64 = evaluateUmd('group1-shard1of1.min.js', texts['group1-shard1of1.min.js']);
  if (typeof base64 !== 'string') throw new Error('group1-shard1of1.min.js does not export a base64 string');
  const bytes = Buffer.from(base64, 'base64');
  const weights: KerasWeights = new Map();
  let offset = 0;
  for (const group of model.weightsManifest)
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      if (w.dtype !== 'float32' || !q || q.dtype !== 'uint8' || q.min === undefined || q.scale === undefined) throw new Error(`weight ${w.name}: only uint8-quantised float32 weights are supported`);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = q.min + q.scale * bytes[offset + i];
      weights.set(w.name, { shape: w.shape, values });
      offset += count;
    }
  if (offset !== bytes.length) throw new Error(`weights: manifest covers ${offset} bytes of ${bytes.length}`);
  return { topology: model.modelTopology, weights };
}

/** The ONNX model: pixel_values [N, 3, 224, 224] in [0, 1] -> class_probs [N, 5], feature_grid [N, 1280, 7, 7]. */
export function buildBackboneModel(dir?: string, check = true): Uint8Array {
  const { topology, weights } = readNsfwjsModel(dir, check);
  return kerasToOnnx(topology, weights, {
    outputName: 'class_probs',
    extraOutputs: { out_relu: 'feature_grid' },
    doc: `MobileNetV2 of nsfwjs ${NSFWJS_SOURCE.version} (MIT, Infinite Red), converted by weft`,
    metadata: { source: `npm:nsfwjs@${NSFWJS_SOURCE.version}`, license: 'MIT', classes: NSFW_CLASSES.join(',') },
  });
}

/** Where derived models are cached: WEFT_CACHE_DIR, else XDG_CACHE_HOME/weft, else ~/.cache/weft. */
export function weftCacheDir(): string {
  if (process.env.WEFT_CACHE_DIR) return process.env.WEFT_CACHE_DIR;
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'weft');
}

let pending: Promise<string> | null = null;

/**
 * Path of the converted backbone, building it into the cache on first use. A cached file is used
 * only if its sha256 is the expected one; a new conversion must produce exactly that file.
 */
export function backboneModelPath(): Promise<string> {
  pending ??= (async () => {
    const file = path.join(weftCacheDir(), `nsfwjs-${NSFWJS_SOURCE.version}-mobilenet-v2-${NSFWJS_SOURCE.onnxSha256.slice(0, 12)}.onnx`);
    if (existsSync(file) && sha256(await fs.readFile(file)) === NSFWJS_SOURCE.onnxSha256) return file;
    const bytes = buildBackboneModel();
    const actual = sha256(bytes);
    if (actual !== NSFWJS_SOURCE.onnxSha256) throw new Error(`converted backbone has sha256 ${actual}, expected ${NSFWJS_SOURCE.onnxSha256}: the conversion is not the one this weft release checks`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
    return file;
  })();
  pending.catch(() => {
    pending = null;
  });
  return pending;
}

/** Preprocessing of the backbone: shortest edge to 224, centre crop, RGB in [0, 1] (nsfwjs divides by 255). */
export const BACKBONE_PREPROCESSOR_CONFIG = {
  do_resize: true,
  size: { shortest_edge: BACKBONE_INPUT },
  do_center_crop: true,
  crop_size: { height: BACKBONE_INPUT, width: BACKBONE_INPUT },
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: [0, 0, 0],
  image_std: [1, 1, 1],
};
