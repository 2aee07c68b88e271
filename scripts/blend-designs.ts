// Measures blends of two exported scorers (the random-feature model and a backbone LiT model) on
// the held-out bars that depend on the scorer, as scripts/lit-designs.ts does for single designs.
// A blend scores a pair by w * cos_a + (1 - w) * cos_b, which is the cosine of the two unit
// embeddings joined as [sqrt(w) a, sqrt(1 - w) b]: retrieval, swap detection and the attribute
// edits read it like any embedding. Grounding reads the patch grid of one scorer (`--patches`),
// zero in the other half, so its best patch is that scorer's.
//
//   node --import tsx scripts/blend-designs.ts --a models/reference --b DIR --name NAME --label TEXT [--weights 0.3,0.5] [--patches a|b]
//        [--calibrate] [--mirror-a] [--mirror-b] [--out models/reference-backbone/blends.json] [--data DIR]
//
// Each run's bars are merged into --out under NAME; scripts/train-reference-scorer.ts renders
// that file as the blends table of the training cards.
// Each scorer sees openclipart rendered at its own input size (the same held-out drawings, matched
// by id). --mirror-a / --mirror-b: that scorer embeds each image and its mirror image and averages
// them (test-time augmentation of the frozen features; w 0 or 1 measures one scorer alone with it);
// openclipart only, since the synthetic captions name left and right.
// --calibrate adds the weight that equalises the two scorers' spread: w proportional to
// 1 / (standard deviation of cos over mismatched pairs of the training split), measured on the
// training split only, so the held-out figures of that weight are not tuned on.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadScorer, type PatchEmbeddings, type Scorer } from '../scorer/scorer.ts';
import { openclipartCorpus, syntheticCorpus, type CorpusPair } from '../scorer/eval/corpora.ts';
import { evaluateEmbedder, openclipartDir, openclipartHeldOut, openclipartRenderSize, scorerEmbedder, syntheticDir, type EvaluationEmbedder } from '../scorer/eval/evaluate.ts';
import { seededRandom } from '../scorer/onnx/random.ts';
import type { BlendResult } from './reference-designs.ts';
import sharp from 'sharp';

interface Args {
  a: string;
  b: string;
  weights: number[];
  patches: 'a' | 'b';
  calibrate: boolean;
  /** Also embed each image mirrored and average (test-time augmentation), per scorer. */
  mirror: { a: boolean; b: boolean };
  name: string;
  label: string;
  out: string;
  data: string;
}

function parseArgs(argv: string[]): Args {
  const o: Args = { a: path.join('models', 'reference'), b: '', weights: [0.5], patches: 'b', calibrate: false, mirror: { a: false, b: false }, name: '', label: '', out: path.join('models', 'reference-backbone', 'blends.json'), data: path.join('.weft-tmp', 'eval-corpora') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--calibrate' || flag === '--mirror-a' || flag === '--mirror-b') {
      if (flag === '--calibrate') o.calibrate = true;
      else o.mirror[flag === '--mirror-a' ? 'a' : 'b'] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--a' || flag === '--b' || flag === '--out' || flag === '--data' || flag === '--name' || flag === '--label') o[flag.slice(2) as 'a' | 'b' | 'out' | 'data' | 'name' | 'label'] = value;
    else if (flag === '--weights') o.weights = value.split(',').map(Number);
    else if (flag === '--patches') {
      if (value !== 'a' && value !== 'b') throw new Error('--patches is a or b');
      o.patches = value;
    } else throw new Error(`unknown option ${flag}`);
  }
  if (!o.b) throw new Error('--b DIR (the second scorer folder) is required');
  if (!o.name || !o.label) throw new Error('--name and --label say what the blend is in the card');
  if (o.weights.some((w) => !(w >= 0 && w <= 1))) throw new Error('--weights are in [0, 1]');
  return o;
}

/** One scorer's embeddings, memoised by image (sha1 of the pair's bytes) and caption, with openclipart at its own render size. */
class MemoEmbedder {
  private images = new Map<string, { image: Float32Array; patches: PatchEmbeddings | null } | null>();
  private texts = new Map<string, Float32Array>();
  private inner: EvaluationEmbedder;

  constructor(scorer: Scorer, private ownImage: Map<string, Uint8Array>, private mirrored: boolean) {
    this.inner = scorerEmbedder(scorer);
  }

  async embed(pairs: CorpusPair[]): Promise<void> {
    // Keyed by the bytes, not the id: two synthetic corpora (training and held-out seeds) share ids.
    const todo = pairs.filter((p) => !this.images.has(keyOf(p))).map((p) => ({ ...p, id: keyOf(p), image: p.objects ? p.image : (this.ownImage.get(p.id) ?? p.image) }));
    if (todo.length === 0) return;
    const got = await this.inner.embedPairs(todo);
    for (const p of todo) this.images.set(p.id, null);
    got.pairs.forEach((p, i) => this.images.set(p.id, { image: got.images[i], patches: got.patches[i] }));
    if (!this.mirrored) return;
    // Test-time augmentation: the mean of the image's and its mirror image's unit embeddings, made
    // unit again (the patch grid stays the unmirrored one's).
    // Only pairs without drawn objects: the synthetic captions name left and right positions.
    const flipped = await this.inner.embedPairs(await Promise.all(got.pairs.filter((p) => !p.objects).map(async (p) => ({ ...p, image: new Uint8Array(await sharp(p.image).flop().png().toBuffer()) }))));
    flipped.pairs.forEach((p, i) => {
      const own = this.images.get(p.id)!;
      const mean = own.image.map((x, d) => x + flipped.images[i][d]);
      const norm = Math.hypot(...mean);
      this.images.set(p.id, { image: mean.map((x) => x / norm), patches: own.patches });
    });
  }

  image(p: CorpusPair) {
    return this.images.get(keyOf(p)) ?? null;
  }

  async embedTexts(captions: string[]): Promise<Float32Array[]> {
    const todo = [...new Set(captions.filter((c) => !this.texts.has(c)))];
    if (todo.length > 0) (await this.inner.embedTexts(todo)).forEach((e, i) => this.texts.set(todo[i], e));
    return captions.map((c) => this.texts.get(c)!);
  }
}

const keys = new WeakMap<Uint8Array, string>();
function keyOf(p: CorpusPair): string {
  if (!keys.has(p.image)) keys.set(p.image, createHash('sha1').update(p.image).digest('hex'));
  return keys.get(p.image)!;
}

function joined(a: Float32Array, b: Float32Array, w: number): Float32Array {
  const out = new Float32Array(a.length + b.length);
  const sa = Math.sqrt(w);
  const sb = Math.sqrt(1 - w);
  for (let d = 0; d < a.length; d++) out[d] = sa * a[d];
  for (let d = 0; d < b.length; d++) out[a.length + d] = sb * b[d];
  return out;
}

/** One scorer's patch grid in its half of the joined space, zero in the other. */
function paddedPatches(p: PatchEmbeddings, before: number, after: number): PatchEmbeddings {
  const cells = p.grid[0] * p.grid[1];
  const D = before + p.dim + after;
  const data = new Float32Array(cells * D);
  for (let c = 0; c < cells; c++) data.set(p.data.subarray(c * p.dim, (c + 1) * p.dim), c * D + before);
  return { grid: p.grid, dim: D, data };
}

function blendEmbedder(a: MemoEmbedder, b: MemoEmbedder, w: number, patchesOf: 'a' | 'b', dims: [number, number]): EvaluationEmbedder {
  return {
    async embedPairs(pairs) {
      await a.embed(pairs);
      await b.embed(pairs);
      const kept = pairs.filter((p) => a.image(p) && b.image(p));
      return {
        pairs: kept,
        images: kept.map((p) => joined(a.image(p)!.image, b.image(p)!.image, w)),
        patches: kept.map((p) => {
          const own = (patchesOf === 'a' ? a : b).image(p)!.patches;
          return own && (patchesOf === 'a' ? paddedPatches(own, 0, dims[1]) : paddedPatches(own, dims[0], 0));
        }),
      };
    },
    async embedTexts(captions) {
      const [ta, tb] = [await a.embedTexts(captions), await b.embedTexts(captions)];
      return ta.map((t, i) => joined(t, tb[i], w));
    },
  };
}

/** Standard deviation of cos(image i, caption j) over random mismatched training pairs. */
async function mismatchedSpread(m: MemoEmbedder, pairs: CorpusPair[], seed: number): Promise<number> {
  await m.embed(pairs);
  const kept = pairs.filter((p) => m.image(p));
  const texts = await m.embedTexts(kept.map((p) => p.caption));
  const random = seededRandom(seed);
  const values: number[] = [];
  for (let k = 0; k < 20000; k++) {
    const i = Math.floor(random() * kept.length);
    const j = Math.floor(random() * kept.length);
    if (i === j) continue;
    const im = m.image(kept[i])!.image;
    let s = 0;
    for (let d = 0; d < im.length; d++) s += im[d] * texts[j][d];
    values.push(s);
  }
  const mean = values.reduce((x, y) => x + y, 0) / values.length;
  return Math.sqrt(values.reduce((x, y) => x + (y - mean) ** 2, 0) / values.length);
}

export async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const sizes = [await openclipartRenderSize(o.a), await openclipartRenderSize(o.b)];
  const byId = async (size: number) => new Map((await openclipartCorpus(openclipartDir(o.data, size), { size })).map((p) => [p.id, p.image]));
  const [imagesA, imagesB] = [await byId(sizes[0]), await byId(sizes[1])];
  const [scorerA, scorerB] = [await loadScorer(o.a, { threads: 2 }), await loadScorer(o.b, { threads: 2 })];
  const a = new MemoEmbedder(scorerA, imagesA, o.mirror.a);
  const b = new MemoEmbedder(scorerB, imagesB, o.mirror.b);
  const results: BlendResult['results'] = [];
  try {
    const weights = o.weights.map((w) => ({ weight: w, label: `w ${w}` }));
    if (o.calibrate) {
      // Training split only: openclipart drawings outside the held-out split, a synthetic seed-1 sample.
      const size = Math.max(...sizes);
      const train = (await openclipartCorpus(openclipartDir(o.data, size), { size })).filter((p) => !openclipartHeldOut(p.id)).slice(0, 1000);
      const synthetic = (await syntheticCorpus(syntheticDir(o.data, 1, 8000), { count: 8000, seed: 1 })).slice(0, 500);
      const spread = async (m: MemoEmbedder) => [await mismatchedSpread(m, train, 7), await mismatchedSpread(m, synthetic, 8)];
      const [sa, sb] = [await spread(a), await spread(b)];
      const mean = (x: number[]) => (x[0] + x[1]) / 2;
      const w = 1 / mean(sa) / (1 / mean(sa) + 1 / mean(sb));
      log(`spread of mismatched cos (openclipart, synthetic training pairs): a ${sa.map((x) => x.toFixed(4))}, b ${sb.map((x) => x.toFixed(4))}; calibrated w ${w.toFixed(3)}`);
      weights.push({ weight: Number(w.toFixed(3)), label: `calibrated w ${w.toFixed(3)}` });
    }
    const dims: [number, number] = [scorerA.dim, scorerB.dim];
    for (const { weight, label } of weights) {
      const evaluation = await evaluateEmbedder(blendEmbedder(a, b, weight, o.patches, dims), { corpus: 'both', data: o.data, openclipartSize: sizes[1] });
      const met = evaluation.bars.filter((x) => x.pass).length;
      results.push({ weight, label, bars: evaluation.bars, met });
      for (const x of evaluation.bars) log(`  ${label} ${x.corpus} ${x.metric} ${x.value.toFixed(3)} (>=${x.min}) ${x.pass ? 'PASS' : 'FAIL'}`);
      log(`${label}: ${met}/${evaluation.bars.length} bars`);
    }
  } finally {
    await scorerA.close();
    await scorerB.close();
  }
  const all: Record<string, BlendResult> = JSON.parse(await fs.readFile(o.out, 'utf8').catch(() => '{}'));
  all[o.name] = { name: o.name, label: o.label, a: path.basename(o.a), b: path.basename(o.b), patches: o.patches, mirror: o.mirror, results };
  await fs.mkdir(path.dirname(o.out), { recursive: true });
  await fs.writeFile(o.out, `${JSON.stringify(all, null, 2)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`blend-designs: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  });
}
