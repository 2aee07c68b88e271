// The scorer contract: an ONNX image tower and text tower that embed into one joint space.
// Per image a pooled embedding (and patch embeddings where the model outputs them), per text a
// pooled embedding (and token embeddings where the model outputs them). Pooled embeddings are
// L2-normalised here, because CLIP exports output unnormalised projections; the pair score is
// their cosine. Patch and token embeddings stay raw, so patch-token maps are plain dot products.
//
// Traceability: `modelSha256` is the sha256 of the model file (for two files, of their
// `sha256sum`-style listing), `preprocessingHash` covers everything that turns bytes and text
// into model inputs (resize/crop/normalise settings, tokenizer files, context length, pad id).
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DropError, errorMessage } from '../core/stage.ts';
import type { ScorerEntry } from '../schemas/manifest.ts';
import { OnnxEncoder, floatTensor, integerTensor, type HostTensor, type TensorInfo } from './onnx-encoder.ts';
import { imagePreprocessingFrom, outputSize, preprocessImage, type ImagePreprocessing } from './clip-preprocess.ts';

type PreprocessedImage = Awaited<ReturnType<typeof preprocessImage>>;
import { TextTokenizer } from './clip-tokenizer.ts';
import { locateScorerFiles, type ScorerFiles } from './scorer-registry.ts';

export interface PatchEmbeddings {
  /** Patch rows and columns. */
  grid: [number, number];
  dim: number;
  /** Row-major [grid[0], grid[1], dim]. */
  data: Float32Array;
}

export interface TokenEmbeddings {
  /** The ids of the real (unpadded) tokens, specials included. */
  ids: number[];
  dim: number;
  /** Row-major [ids.length, dim]. */
  data: Float32Array;
}

export interface ImageEmbeddings {
  pooled: Float32Array[];
  patches?: PatchEmbeddings[];
}

export interface TextEmbeddings {
  pooled: Float32Array[];
  tokens?: TokenEmbeddings[];
}

/** What an embed call returns besides the pooled embeddings. */
export interface EmbedOptions {
  /** Per-patch (images) or per-token (texts) embeddings, where the model outputs them (default
   *  true). Callers that need only pooled embeddings (scores, retrieval) pass false: patch and
   *  token rows are the larger part of what a model returns. */
  detail?: boolean;
}

export interface ScorePair {
  /** Encoded image bytes (JPEG, PNG, WebP, ...). */
  image: Uint8Array;
  text: string;
}

export interface ScorerModelFile {
  role: 'vision' | 'text' | 'combined';
  /** Path relative to the scorer folder. */
  path: string;
  sha256: string;
}

export interface Scorer {
  readonly id: string;
  readonly modelSha256: string;
  readonly preprocessingHash: string;
  readonly modelFiles: ScorerModelFile[];
  /** Joint embedding size. */
  readonly dim: number;
  /** Images or texts per session.run. */
  readonly batchSize: number;
  /** Token sequence length, or null when rows are padded to the longest text of a batch. */
  readonly contextLength: number | null;
  /** Throws ScorerInputError (a DropError naming the index) when an image cannot be decoded. */
  embedImages(images: Uint8Array[], options?: EmbedOptions): Promise<ImageEmbeddings>;
  /**
   * Starts decoding and preprocessing images that a later embedImages call will be given (the
   * same Uint8Array objects), so that work overlaps the models running on the batch before.
   * Errors surface in that later call; images never embedded are let go with their arrays.
   */
  prefetchImages(images: Uint8Array[]): void;
  embedTexts(texts: string[], options?: EmbedOptions): Promise<TextEmbeddings>;
  /** Cosine of the pooled embeddings of each pair. */
  score(pairs: ScorePair[]): Promise<Float32Array>;
  /** What the manifest's `scorers` list records. */
  entry(): ScorerEntry;
  close(): Promise<void>;
}

/** One input of a batch could not be turned into model input; the caller drops it and retries the rest. */
export class ScorerInputError extends DropError {
  constructor(readonly index: number, reason: string, detail: string) {
    super(reason, detail);
  }
}

export interface LoadScorerOptions {
  /** Overrides scorer.json's batch_size (default 32). */
  batchSize?: number;
  /** Overrides scorer.json's threads. */
  threads?: number;
}

/** Loads the scorer in `dir` (see scorer-registry.ts for the layouts recognised). */
export async function loadScorer(dir: string, options: LoadScorerOptions = {}): Promise<Scorer> {
  const files = await locateScorerFiles(dir);
  return OnnxDualEncoder.load(files, options);
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosine of vectors of sizes ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const sha256 = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read JSON: ${errorMessage(err)}`);
  }
}

interface Names {
  pixels: TensorInfo;
  ids: TensorInfo;
  mask: TensorInfo | null;
  positions: TensorInfo | null;
  tokenTypes: TensorInfo | null;
  imageEmbeds: string;
  textEmbeds: string;
  patchEmbeds: string | null;
  tokenEmbeds: string | null;
}

class OnnxDualEncoder implements Scorer {
  readonly batchSize: number;
  dim = 0;
  private readonly imageSize: { height: number; width: number };

  private constructor(
    readonly id: string,
    readonly modelSha256: string,
    readonly preprocessingHash: string,
    readonly modelFiles: ScorerModelFile[],
    private readonly vision: OnnxEncoder,
    private readonly text: OnnxEncoder,
    private readonly names: Names,
    private readonly preprocessing: ImagePreprocessing,
    private readonly tokenizer: TextTokenizer,
    batchSize: number,
  ) {
    this.batchSize = batchSize;
    const produced = outputSize(preprocessing);
    const taken = fixedImageSize(names.pixels);
    if (produced && taken && (produced.height !== taken.height || produced.width !== taken.width)) {
      throw new Error(`${vision.file}: ${names.pixels.name} takes ${taken.width}x${taken.height} images but preprocessor_config.json produces ${produced.width}x${produced.height}`);
    }
    const size = produced ?? taken;
    if (!size) throw new Error(`${vision.file}: neither preprocessor_config.json (crop_size) nor the model fixes the image size`);
    this.imageSize = size;
  }

  get contextLength(): number | null {
    return this.tokenizer.contextLength;
  }

  static async load(files: ScorerFiles, options: LoadScorerOptions): Promise<OnnxDualEncoder> {
    const o = files.options;
    if (!files.tokenizer) throw new Error(`${files.dir}: no tokenizer.json for the text tower`);
    const preprocessorJson = files.preprocessor ? await readJson(files.preprocessor) : {};
    const preprocessing = imagePreprocessingFrom(preprocessorJson);
    const tokenizerBytes = await fs.readFile(files.tokenizer);
    const tokenizerConfigBytes = files.tokenizerConfig ? await fs.readFile(files.tokenizerConfig) : null;
    const threads = options.threads ?? o.threads;

    const combined = files.vision === files.text;
    const vision = await OnnxEncoder.open(files.vision, { threads });
    const text = combined ? vision : await OnnxEncoder.open(files.text, { threads });
    try {
      const names = resolveNames(vision, text, o.outputs ?? {});
      const fixedLength = typeof names.ids.shape[1] === 'number' ? names.ids.shape[1] : null;
      let tokenizer: TextTokenizer;
      try {
        tokenizer = new TextTokenizer(
          { tokenizer: JSON.parse(tokenizerBytes.toString('utf8')), config: tokenizerConfigBytes ? JSON.parse(tokenizerConfigBytes.toString('utf8')) : {} },
          o.context_length ?? fixedLength,
        );
      } catch (err) {
        throw new Error(`${files.tokenizer}: cannot build the tokenizer: ${errorMessage(err)}`);
      }
      if (fixedLength !== null && tokenizer.contextLength !== fixedLength) {
        throw new Error(`${text.file}: input_ids has fixed length ${fixedLength} but the tokenizer pads to ${tokenizer.contextLength}`);
      }

      const rel = (f: string) => path.relative(files.dir, f).split(path.sep).join('/');
      const modelFiles: ScorerModelFile[] = combined
        ? [{ role: 'combined', path: rel(files.vision), sha256: await sha256File(files.vision) }]
        : [
            // A backbone scorer's vision model is built in the cache; it is named by its head and backbone.
            { role: 'vision', path: files.visionHead ? `${rel(files.visionHead.file)}+${files.visionHead.backbone}` : rel(files.vision), sha256: await sha256File(files.vision) },
            { role: 'text', path: rel(files.text), sha256: await sha256File(files.text) },
          ];
      const modelSha256 = combined ? modelFiles[0].sha256 : sha256(modelFiles.map((f) => `${f.sha256}  ${f.path}\n`).join(''));
      const preprocessingHash = sha256(
        JSON.stringify({
          image: preprocessing,
          text: {
            tokenizer_sha256: sha256(tokenizerBytes),
            tokenizer_config_sha256: tokenizerConfigBytes ? sha256(tokenizerConfigBytes) : null,
            context_length: tokenizer.contextLength,
            pad_id: tokenizer.padId,
          },
        }),
      );
      const id = o.id ?? path.basename(path.resolve(files.dir));
      const batchSize = options.batchSize ?? o.batch_size ?? 32;
      const scorer = new OnnxDualEncoder(id, modelSha256, preprocessingHash, modelFiles, vision, text, names, preprocessing, tokenizer, batchSize);
      await scorer.probe();
      return scorer;
    } catch (err) {
      await vision.close();
      if (!combined) await text.close();
      throw err;
    }
  }

  /** Runs one blank image and one empty text to learn the joint size and check output shapes. */
  private async probe(): Promise<void> {
    const { height, width } = this.imageSize;
    const image = await this.runVision(new Float32Array(3 * height * width), 1);
    const text = await this.runText(this.tokenizer.encode(['']), 1);
    const imageDims = image[this.names.imageEmbeds].dims;
    const textDims = text[this.names.textEmbeds].dims;
    if (imageDims.length !== 2 || imageDims[0] !== 1) {
      throw new Error(`${this.vision.file}: output ${this.names.imageEmbeds} has shape [${imageDims}] for one image; expected [N, D]`);
    }
    if (textDims.length !== 2 || textDims[0] !== 1) {
      throw new Error(`${this.text.file}: output ${this.names.textEmbeds} has shape [${textDims}] for one text; expected [N, D]`);
    }
    if (imageDims[1] !== textDims[1]) {
      throw new Error(`image and text embeddings differ in size: ${this.names.imageEmbeds} is ${imageDims[1]}-d, ${this.names.textEmbeds} is ${textDims[1]}-d`);
    }
    this.dim = imageDims[1];
    if (this.names.patchEmbeds) {
      const d = image[this.names.patchEmbeds].dims;
      if (d.length !== 4 || d[3] !== this.dim) throw new Error(`${this.vision.file}: output ${this.names.patchEmbeds} has shape [${d}]; expected [N, rows, cols, ${this.dim}]`);
    }
    if (this.names.tokenEmbeds) {
      const d = text[this.names.tokenEmbeds].dims;
      if (d.length !== 3 || d[2] !== this.dim) throw new Error(`${this.text.file}: output ${this.names.tokenEmbeds} has shape [${d}]; expected [N, L, ${this.dim}]`);
    }
  }

  /** Preprocessing started ahead by prefetchImages, keyed by the caller's byte arrays. */
  private readonly prefetched = new WeakMap<Uint8Array, Promise<PreprocessedImage>>();

  prefetchImages(images: Uint8Array[]): void {
    for (const bytes of images) {
      if (this.prefetched.has(bytes)) continue;
      const pending = preprocessImage(bytes, this.preprocessing);
      pending.catch(() => undefined); // surfaced by the embedImages call that takes it
      this.prefetched.set(bytes, pending);
    }
  }

  async embedImages(images: Uint8Array[], options: EmbedOptions = {}): Promise<ImageEmbeddings> {
    const patchEmbeds = options.detail === false ? null : this.names.patchEmbeds;
    const pooled: Float32Array[] = [];
    const patches: PatchEmbeddings[] = [];
    // Decode and resize the next batch while the current one runs.
    let next = this.prepareImages(images, 0);
    for (let start = 0; start < images.length; start += this.batchSize) {
      const pixels = await next;
      const count = Math.min(this.batchSize, images.length - start);
      if (start + this.batchSize < images.length) {
        next = this.prepareImages(images, start + this.batchSize);
        next.catch(() => undefined); // surfaced when awaited on the next turn
      }
      const out = await this.runVision(pixels, count, patchEmbeds);
      pooled.push(...normalisedRows(out[this.names.imageEmbeds], count, this.dim, this.vision.file));
      if (patchEmbeds) patches.push(...patchRows(out[patchEmbeds], count));
    }
    return patchEmbeds ? { pooled, patches } : { pooled };
  }

  async embedTexts(texts: string[], options: EmbedOptions = {}): Promise<TextEmbeddings> {
    const tokenEmbeds = options.detail === false ? null : this.names.tokenEmbeds;
    const pooled: Float32Array[] = [];
    const tokens: TokenEmbeddings[] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize);
      const encoded = this.tokenizer.encode(batch);
      const out = await this.runText(encoded, batch.length, tokenEmbeds);
      pooled.push(...normalisedRows(out[this.names.textEmbeds], batch.length, this.dim, this.text.file));
      if (tokenEmbeds) {
        const t = out[tokenEmbeds];
        const data = t.data as Float32Array;
        const [, length, dim] = t.dims;
        batch.forEach((_, i) => {
          const n = encoded.counts[i];
          tokens.push({
            ids: encoded.ids.slice(i * encoded.length, i * encoded.length + n),
            dim,
            data: data.slice(i * length * dim, (i * length + n) * dim),
          });
        });
      }
    }
    return tokenEmbeds ? { pooled, tokens } : { pooled };
  }

  async score(pairs: ScorePair[]): Promise<Float32Array> {
    const images = await this.embedImages(pairs.map((p) => p.image), { detail: false });
    const texts = await this.embedTexts(pairs.map((p) => p.text), { detail: false });
    return Float32Array.from(pairs, (_, i) => dot(images.pooled[i], texts.pooled[i]));
  }

  entry(): ScorerEntry {
    return { id: this.id, model_sha256: this.modelSha256, preprocessing_hash: this.preprocessingHash };
  }

  async close(): Promise<void> {
    await this.vision.close();
    if (this.text !== this.vision) await this.text.close();
  }

  /** Preprocessed pixels of images[start .. start + batchSize) as one NCHW buffer. */
  private async prepareImages(images: Uint8Array[], start: number): Promise<Float32Array> {
    const batch = images.slice(start, start + this.batchSize);
    const { height, width } = this.imageSize;
    const plane = 3 * height * width;
    const pixels = new Float32Array(batch.length * plane);
    await Promise.all(
      batch.map(async (bytes, i) => {
        let image: PreprocessedImage;
        try {
          const pending = this.prefetched.get(bytes);
          this.prefetched.delete(bytes);
          image = await (pending ?? preprocessImage(bytes, this.preprocessing));
        } catch (err) {
          throw new ScorerInputError(start + i, 'score_image_unreadable', errorMessage(err));
        }
        if (image.height !== height || image.width !== width) {
          throw new ScorerInputError(start + i, 'score_image_size', `preprocessed to ${image.width}x${image.height}, the model takes ${width}x${height}`);
        }
        pixels.set(image.data, i * plane);
      }),
    );
    return pixels;
  }

  private runVision(pixels: Float32Array, count: number, patchEmbeds: string | null = this.names.patchEmbeds): Promise<Record<string, HostTensor>> {
    const { height, width } = this.imageSize;
    const feeds: Record<string, HostTensor> = { [this.names.pixels.name]: floatTensor(pixels, [count, 3, height, width]) };
    // A combined model needs its text inputs too: feed the shortest valid text.
    if (this.vision === this.text) Object.assign(feeds, this.textFeeds(this.tokenizer.encode(['']), 1));
    const fetch = [this.names.imageEmbeds, ...(patchEmbeds ? [patchEmbeds] : [])];
    return this.vision.run(feeds, fetch);
  }

  private runText(encoded: ReturnType<TextTokenizer['encode']>, count: number, tokenEmbeds: string | null = this.names.tokenEmbeds): Promise<Record<string, HostTensor>> {
    const feeds = this.textFeeds(encoded, count);
    if (this.vision === this.text) {
      const { height, width } = this.imageSize;
      feeds[this.names.pixels.name] = floatTensor(new Float32Array(3 * height * width), [1, 3, height, width]);
    }
    const fetch = [this.names.textEmbeds, ...(tokenEmbeds ? [tokenEmbeds] : [])];
    return this.text.run(feeds, fetch);
  }

  private textFeeds(encoded: ReturnType<TextTokenizer['encode']>, count: number): Record<string, HostTensor> {
    const dims = [count, encoded.length];
    const n = this.names;
    const feeds: Record<string, HostTensor> = { [n.ids.name]: integerTensor(n.ids, encoded.ids, dims) };
    if (n.mask) feeds[n.mask.name] = integerTensor(n.mask, encoded.mask, dims);
    if (n.positions) feeds[n.positions.name] = integerTensor(n.positions, Array.from({ length: count * encoded.length }, (_, i) => i % encoded.length), dims);
    if (n.tokenTypes) feeds[n.tokenTypes.name] = integerTensor(n.tokenTypes, new Array(count * encoded.length).fill(0), dims);
    return feeds;
  }
}

const TEXT_INPUTS = ['input_ids', 'attention_mask', 'position_ids', 'token_type_ids'];

/** Finds the inputs and outputs the scorer uses, by name; any input it cannot feed is an error. */
function resolveNames(vision: OnnxEncoder, text: OnnxEncoder, outputs: { image_embeds?: string; text_embeds?: string; patch_embeds?: string; token_embeds?: string }): Names {
  const combined = vision === text;
  const pixels =
    vision.inputs.get('pixel_values') ?? [...vision.inputs.values()].find((t) => t.type === 'float32' && t.shape.length === 4);
  if (!pixels || pixels.shape.length !== 4) throw new Error(`${vision.file}: no pixel_values input of shape [N, 3, H, W] (${vision.describe()})`);
  if (typeof pixels.shape[1] === 'number' && pixels.shape[1] !== 3) throw new Error(`${vision.file}: ${pixels.name} has ${pixels.shape[1]} channels; expected 3`);
  if (pixels.type !== 'float32') throw new Error(`${vision.file}: ${pixels.name} is ${pixels.type}; expected float32`);
  const ids = text.inputs.get('input_ids');
  if (!ids || ids.shape.length !== 2) throw new Error(`${text.file}: no input_ids input of shape [N, L] (${text.describe()})`);
  if (ids.type !== 'int64' && ids.type !== 'int32') throw new Error(`${text.file}: input_ids is ${ids.type}; expected int64 or int32`);

  const known = new Set([...(combined ? [pixels.name] : []), ...TEXT_INPUTS]);
  for (const name of text.inputs.keys()) if (!known.has(name)) throw new Error(`${text.file}: cannot feed input ${name} (${text.describe()})`);
  const visionKnown = new Set([pixels.name, ...(combined ? TEXT_INPUTS : [])]);
  for (const name of vision.inputs.keys()) if (!visionKnown.has(name)) throw new Error(`${vision.file}: cannot feed input ${name} (${vision.describe()})`);

  const need = (enc: OnnxEncoder, name: string) => {
    if (!enc.outputs.has(name)) throw new Error(`${enc.file}: no output named ${name} (${enc.describe()})`);
    return name;
  };
  const optional = (enc: OnnxEncoder, name: string) => (enc.outputs.has(name) ? name : null);
  return {
    pixels,
    ids,
    mask: text.inputs.get('attention_mask') ?? null,
    positions: text.inputs.get('position_ids') ?? null,
    tokenTypes: text.inputs.get('token_type_ids') ?? null,
    imageEmbeds: need(vision, outputs.image_embeds ?? 'image_embeds'),
    textEmbeds: need(text, outputs.text_embeds ?? 'text_embeds'),
    patchEmbeds: outputs.patch_embeds ? need(vision, outputs.patch_embeds) : optional(vision, 'patch_embeds'),
    tokenEmbeds: outputs.token_embeds ? need(text, outputs.token_embeds) : optional(text, 'token_embeds'),
  };
}

function fixedImageSize(pixels: TensorInfo): { height: number; width: number } | null {
  const [, , h, w] = pixels.shape;
  return typeof h === 'number' && typeof w === 'number' ? { height: h, width: w } : null;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Splits an [N, D] output into N L2-normalised rows. */
function normalisedRows(t: HostTensor, count: number, dim: number, file: string): Float32Array[] {
  if (t.dims.length !== 2 || t.dims[0] !== count || t.dims[1] !== dim) throw new Error(`${file}: output has shape [${t.dims}]; expected [${count}, ${dim}]`);
  const data = t.data as Float32Array;
  const rows: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const row = data.slice(i * dim, (i + 1) * dim);
    let norm = 0;
    for (const v of row) norm += v * v;
    norm = Math.sqrt(norm);
    if (!Number.isFinite(norm)) throw new Error(`${file}: embedding ${i} of the batch is not finite`);
    if (norm > 0) for (let j = 0; j < dim; j++) row[j] /= norm;
    rows.push(row);
  }
  return rows;
}

function patchRows(t: HostTensor, count: number): PatchEmbeddings[] {
  const [, rows, cols, dim] = t.dims;
  const data = t.data as Float32Array;
  const size = rows * cols * dim;
  return Array.from({ length: count }, (_, i) => ({ grid: [rows, cols] as [number, number], dim, data: data.slice(i * size, (i + 1) * size) }));
}

/**
 * embedImages that leaves out images that cannot be decoded instead of failing the batch:
 * `pooled[i]` is null for a left-out image, and `failed` says why.
 */
export async function embedReadableImages(
  scorer: Scorer,
  images: Uint8Array[],
  options: EmbedOptions = {},
): Promise<{ pooled: (Float32Array | null)[]; patches?: (PatchEmbeddings | null)[]; failed: { index: number; reason: string; detail: string }[] }> {
  const failed: { index: number; reason: string; detail: string }[] = [];
  let remaining = images.map((_, i) => i);
  for (;;) {
    try {
      const out = await scorer.embedImages(remaining.map((i) => images[i]), options);
      const pooled: (Float32Array | null)[] = new Array(images.length).fill(null);
      const patches: (PatchEmbeddings | null)[] | undefined = out.patches ? new Array(images.length).fill(null) : undefined;
      remaining.forEach((original, k) => {
        pooled[original] = out.pooled[k];
        if (patches) patches[original] = out.patches![k];
      });
      return patches ? { pooled, patches, failed } : { pooled, failed };
    } catch (err) {
      if (!(err instanceof ScorerInputError)) throw err;
      failed.push({ index: remaining[err.index], reason: err.reason, detail: err.detail });
      remaining = remaining.filter((_, k) => k !== err.index);
    }
  }
}
