// The reference scorer's learned image tower (LiT: a locked image tower): the frozen nsfwjs
// MobileNetV2 (nsfwjs-mobilenet.ts) gives a 7x7 grid of 1280 channels at 224 px, and a learned
// projection per pyramid region maps it into the joint space. A scorer folder holds only that
// projection (`vision_head.onnx`, input `feature_grid`) and names the backbone in scorer.json
// (`vision_backbone`); `composedVisionModel` joins the two into one vision model in the cache,
// so loadScorer runs it like any other export and no backbone weights are committed.
//
// Training reads the backbone once per image: `backbonePyramidFeatures` caches each image's
// pooled regions on disk, keyed by the image's sha256 and the backbone's, so later epochs, folds
// and runs skip the network.
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import p from 'onnx-proto';
import { BACKBONE_CHANNELS, BACKBONE_GRID, BACKBONE_PREPROCESSOR_CONFIG, NSFWJS_SOURCE, backboneModelPath, weftCacheDir } from './nsfwjs-mobilenet.ts';
import { OnnxEncoder, floatTensor } from '../onnx-encoder.ts';
import { imagePreprocessingFrom, preprocessImage } from '../clip-preprocess.ts';
import { errorMessage } from '../../core/stage.ts';
import { toFloat16Bits } from '../onnx/graph.ts';
import { pyramidWindow } from '../pyramid-window.ts';

const { onnx } = p;

/** The name scorer.json's `vision_backbone` uses for this backbone. */
export const BACKBONE_NAME = 'nsfwjs-mobilenet-v2';
/** Name of the head's input: the backbone's last feature map [N, 1280, 7, 7]. */
export const HEAD_INPUT = 'feature_grid';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export const backbonePreprocessing = () => imagePreprocessingFrom(BACKBONE_PREPROCESSOR_CONFIG);

/**
 * The vision model of a head file with `backbone` in front of it: the backbone's `feature_grid`
 * output feeds the head's input, and the head's names are prefixed so the two graphs cannot
 * collide. Written once per (head, backbone) pair into the cache; returns its path.
 */
export async function composedVisionModel(headFile: string, backbone: string): Promise<string> {
  if (backbone !== BACKBONE_NAME) throw new Error(`${headFile}: unknown vision_backbone ${JSON.stringify(backbone)} (known: ${BACKBONE_NAME})`);
  const headBytes = await fs.readFile(headFile);
  const file = path.join(weftCacheDir(), 'scorers', `vision-${sha256(headBytes).slice(0, 16)}-${NSFWJS_SOURCE.onnxSha256.slice(0, 12)}.onnx`);
  if (existsSync(file)) return file;
  const base = onnx.ModelProto.decode(await fs.readFile(await backboneModelPath()));
  const head = onnx.ModelProto.decode(headBytes);
  const hg = head.graph!;
  if (!hg.input?.some((i) => i.name === HEAD_INPUT)) throw new Error(`${headFile}: a vision head needs the input ${HEAD_INPUT}`);
  const outputs = new Set((hg.output ?? []).map((o) => o.name!));
  const rename = (n: string) => (n === '' || n === HEAD_INPUT || outputs.has(n) ? n : `head/${n}`);
  const bg = base.graph!;
  const composed = onnx.ModelProto.create({
    irVersion: Math.max(Number(base.irVersion), Number(head.irVersion)),
    opsetImport: mergeOpsets([...(base.opsetImport ?? []), ...(head.opsetImport ?? [])]),
    producerName: 'weft',
    producerVersion: '1',
    docString: `${head.docString ?? ''} on ${bg.name}: ${base.docString ?? ''}`,
    metadataProps: head.metadataProps ?? [],
    graph: {
      name: 'vision_model',
      node: [
        ...(bg.node ?? []),
        ...(hg.node ?? []).map((n) => ({ ...n, name: n.name ? `head/${n.name}` : n.name, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) })),
      ],
      initializer: [...(bg.initializer ?? []), ...(hg.initializer ?? []).map((t) => ({ ...t, name: rename(t.name!) }))],
      input: bg.input ?? [],
      output: hg.output ?? [],
    },
  });
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, onnx.ModelProto.encode(composed).finish());
  await fs.rename(tmp, file);
  return file;
}

function mergeOpsets(sets: { domain?: string | null; version?: number | Long | null }[]): { domain: string; version: number }[] {
  const byDomain = new Map<string, number>();
  for (const s of sets) byDomain.set(s.domain ?? '', Math.max(byDomain.get(s.domain ?? '') ?? 0, Number(s.version)));
  return [...byDomain].map(([domain, version]) => ({ domain, version }));
}
type Long = { toNumber(): number };

/** Values per image for `pyramid`: region-major (levels in order, regions row-major), channel-minor, as the head's graph flattens them. */
export function backboneFeatureSize(pyramid: number[]): number {
  return pyramid.reduce((n, g) => n + g * g, 0) * BACKBONE_CHANNELS;
}

/** Average-pools one image's grid [C, G, G] into the pyramid regions, region-major and channel-minor. */
export function poolGrid(grid: Float32Array, pyramid: number[], C = BACKBONE_CHANNELS, G = BACKBONE_GRID): Float32Array {
  const out = new Float32Array(pyramid.reduce((n, g) => n + g * g, 0) * C);
  let region = 0;
  for (const level of pyramid) {
    const { kernel: k, stride } = pyramidWindow(G, level);
    for (let ry = 0; ry < level; ry++)
      for (let rx = 0; rx < level; rx++, region++)
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let y = ry * stride; y < ry * stride + k; y++) for (let x = rx * stride; x < rx * stride + k; x++) s += grid[(c * G + y) * G + x];
          out[region * C + c] = s / (k * k);
        }
  }
  return out;
}

export interface FeaturePair {
  id: string;
  image: Uint8Array;
}

/**
 * Pooled backbone features of every readable pair, in input order (`kept`), from the disk cache
 * where present; unreadable images go to `skipped`. The cache entry of an image is its raw
 * float32 values under features/<backbone sha>-p<levels>/<image sha>.
 */
export async function backbonePyramidFeatures<T extends FeaturePair>(
  pairs: T[],
  pyramid: number[],
  o: { threads: number; log?: (line: string) => void; batch?: number; /** Also return each kept pair's whole grid (float16 bits, cell-major [49, 1280]). */ grids?: boolean },
  skipped: { id: string; reason: string; detail: string }[],
): Promise<{ features: Float32Array; kept: T[]; /** Distinct images run through the backbone (not found in the cache). */ computed: number; grids?: Uint16Array[] }> {
  const F = backboneFeatureSize(pyramid);
  const layouts: CacheLayout[] = [pooledLayout(pyramid)];
  // Written from the same backbone run as the pooled rows (125 kB an image, so only when asked for).
  if (o.grids) layouts.push(GRID_LAYOUT);
  // The backbone run is the cost: the other designs' pyramids (a few tens of kB an image) are
  // cached from it too, so a later design with another pyramid reads them instead of rerunning it.
  const also = CACHED_PYRAMIDS.filter((q) => q.join('_') !== pyramid.join('_')).map(pooledLayout);
  const { rows, kept, computed } = await cachedBackboneRows(pairs, layouts, o, skipped, also);
  const features = new Float32Array(kept.length * F);
  rows[0].forEach((bytes, i) => features.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), i * F));
  if (!o.grids) return { features, kept, computed };
  const grids = rows[1].map((bytes) => new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  return { features, kept, computed, grids };
}

/** Pyramids whose pooled rows every backbone run caches (the designs of scripts/reference-designs.ts). */
const CACHED_PYRAMIDS = [[1], [1, 2], [1, 3]];

function pooledLayout(pyramid: number[]): CacheLayout {
  return {
    folder: `p${pyramid.join('_')}`,
    extension: 'f32',
    bytes: backboneFeatureSize(pyramid) * 4,
    encode: (grid) => {
      const row = poolGrid(grid, pyramid);
      return new Uint8Array(row.buffer, row.byteOffset, row.byteLength);
    },
  };
}

/** The whole 7x7 grid as float16 bits, cell-major and channel-minor ([49, 1280]), for losses on the cells. */
const GRID_LAYOUT: CacheLayout = {
  folder: 'grid16',
  extension: 'f16',
  bytes: BACKBONE_GRID * BACKBONE_GRID * BACKBONE_CHANNELS * 2,
  encode: (grid) => {
    const cells = BACKBONE_GRID * BACKBONE_GRID;
    const t = new Float32Array(cells * BACKBONE_CHANNELS);
    for (let c = 0; c < BACKBONE_CHANNELS; c++) for (let k = 0; k < cells; k++) t[k * BACKBONE_CHANNELS + c] = grid[c * cells + k];
    const bits = toFloat16Bits(t);
    return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
  },
};

interface CacheLayout {
  /** Cache sub-folder after the backbone's sha. */
  folder: string;
  extension: string;
  /** Size of one entry; a file of another size is recomputed. */
  bytes: number;
  /** One image's grid [C, G, G] to the bytes stored. */
  encode: (grid: Float32Array) => Uint8Array;
}

/**
 * One cache entry per layout and readable pair (in input order, `kept`), computing the images
 * missing in any layout through the backbone; `also`: layouts written from those runs but not read.
 */
async function cachedBackboneRows<T extends FeaturePair>(
  pairs: T[],
  wanted: CacheLayout[],
  o: { threads: number; log?: (line: string) => void; batch?: number },
  skipped: { id: string; reason: string; detail: string }[],
  also: CacheLayout[] = [],
): Promise<{ rows: Uint8Array[][]; kept: T[]; computed: number }> {
  const layouts = [...wanted, ...also];
  const dirs = layouts.map((l) => path.join(weftCacheDir(), 'features', `${NSFWJS_SOURCE.onnxSha256.slice(0, 12)}-${l.folder}`));
  const log = o.log ?? (() => {});
  const rows: (Uint8Array[] | null)[] = new Array(pairs.length).fill(null);
  // One computation per distinct image (corpora repeat images): sha -> the pairs that share it.
  const missing = new Map<string, number[]>();
  const known = new Map<string, Uint8Array[] | null>();
  const fileOf = (sha: string, k: number) => path.join(dirs[k], sha.slice(0, 2), `${sha}.${layouts[k].extension}`);
  const shas = pairs.map((pair) => sha256(pair.image));
  for (let i = 0; i < pairs.length; i++) {
    const sha = shas[i];
    if (!known.has(sha)) {
      const entries = await Promise.all(wanted.map((l, k) => fs.readFile(fileOf(sha, k)).then((b) => (b.length === l.bytes ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : null), () => null)));
      known.set(sha, entries.every((e) => e !== null) ? (entries as Uint8Array[]) : null);
    }
    const entry = known.get(sha)!;
    if (entry) rows[i] = entry;
    else missing.set(sha, [...(missing.get(sha) ?? []), i]);
  }
  const todo = [...missing].map(([sha, at]) => ({ sha, at }));
  let computed = 0;
  if (todo.length > 0) {
    log(`backbone features: ${pairs.length - todo.reduce((n, t) => n + t.at.length, 0)} pairs cached, computing ${todo.length} images`);
    const encoder = await OnnxEncoder.open(await backboneModelPath(), { threads: o.threads });
    const preprocessing = backbonePreprocessing();
    const plane = 3 * 224 * 224;
    const per = BACKBONE_CHANNELS * BACKBONE_GRID * BACKBONE_GRID;
    const batchSize = o.batch ?? 32;
    const started = performance.now();
    try {
      // Decoding the next batch overlaps the current session run.
      const decode = (from: number) =>
        Promise.all(
          todo.slice(from, from + batchSize).map(({ at }) =>
            preprocessImage(pairs[at[0]].image, preprocessing).then(
              (r) => r.data,
              (err) => {
                for (const i of at) skipped.push({ id: pairs[i].id, reason: 'image_unreadable', detail: errorMessage(err) });
                return null;
              },
            ),
          ),
        );
      let next = decode(0);
      for (let from = 0; from < todo.length; from += batchSize) {
        const pixels = await next;
        next = decode(from + batchSize);
        const batch = todo.slice(from, from + batchSize).filter((_, k) => pixels[k] !== null);
        const readable = pixels.filter((x): x is Float32Array => x !== null);
        if (readable.length === 0) continue;
        const input = new Float32Array(readable.length * plane);
        readable.forEach((x, k) => input.set(x, k * plane));
        const out = await encoder.run({ pixel_values: floatTensor(input, [readable.length, 3, 224, 224]) }, ['feature_grid']);
        const grid = out.feature_grid.data as Float32Array;
        await Promise.all(
          batch.map(async ({ sha, at }, k) => {
            const entry = layouts.map((l) => l.encode(grid.subarray(k * per, (k + 1) * per)));
            for (const i of at) rows[i] = entry.slice(0, wanted.length);
            await Promise.all(
              entry.map(async (bytes, j) => {
                const file = fileOf(sha, j);
                await fs.mkdir(path.dirname(file), { recursive: true });
                // pid and position: another process may be writing the same image's entry.
                const tmp = `${file}.${process.pid}-${from + k}.tmp`;
                await fs.writeFile(tmp, bytes);
                await fs.rename(tmp, file);
              }),
            );
          }),
        );
        computed += batch.length;
        const done = Math.min(from + batchSize, todo.length);
        if ((from / batchSize) % 20 === 19 || done === todo.length) log(`backbone features: ${done}/${todo.length} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
      await next;
    } finally {
      await encoder.close();
    }
  }
  const kept: T[] = [];
  const out: Uint8Array[][] = wanted.map(() => []);
  pairs.forEach((pair, i) => {
    const entry = rows[i];
    if (!entry) return;
    entry.forEach((bytes, k) => out[k].push(bytes));
    kept.push(pair);
  });
  return { rows: out, kept, computed };
}
