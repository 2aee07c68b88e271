// Compares designs of the backbone reference scorer (LiT: the frozen nsfwjs MobileNetV2, a
// learned head, the word + bigram text tower) on the held-out bars that depend on the scorer
// (all of `weft eval-scorer` but the curation lift, which trains models of its own), without
// exporting each model: the backbone's features are read from the feature cache
// (backbone/backbone-tower.ts), the embeddings computed from the weights in memory
// (eval/weights-embed.ts; same math as the exported towers) and fed to the same evaluation code
// (eval/evaluate.ts evaluateEmbedder). Training data as scripts/train-reference-scorer.ts
// --image-tower backbone: synthetic seed 1 (8000 pairs) and openclipart rendered at 224 px minus
// its held-out split.
//
//   node --import tsx scripts/lit-designs.ts [--designs a,b,...] [--out models/reference-backbone/designs.json] [--data DIR] [--synthetic N]
//        [--export DIR --id ID]
//
// Each design's bars are merged into --out by name; scripts/train-reference-scorer.ts renders
// that file as the designs table of the training cards. --export writes the (one) design's model
// as a scorer folder with its training.json, for `scripts/train-reference-scorer.ts --out DIR
// --eval-only` to evaluate through the exported files and write the card.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { computeImageFeatures, fitReferenceScorer, resolveTrainingOptions, type TrainingPair } from '../scorer/reference-trainer.ts';
import { openclipartCorpus, syntheticCorpus, type CorpusPair } from '../scorer/eval/corpora.ts';
import { evaluateEmbedder, openclipartDir, openclipartHeldOut, syntheticDir, type EvaluationEmbedder } from '../scorer/eval/evaluate.ts';
import { imageEmbeddingsFromFeatures, textEmbeddingsFromWeights } from '../scorer/eval/weights-embed.ts';
import { backboneFeatureSize, backbonePyramidFeatures } from '../scorer/backbone/backbone-tower.ts';
import { pyramidWindow } from '../scorer/pyramid-window.ts';
import { BACKBONE_CHANNELS, BACKBONE_GRID } from '../scorer/backbone/nsfwjs-mobilenet.ts';
import { fromFloat16Bits } from '../scorer/onnx/graph.ts';
import { colourShapePhrase } from '../scorer/eval/grounding-eval.ts';
import { writeReferenceScorer, type ReferenceScorerWeights } from '../scorer/onnx/reference-model.ts';
import { imageView, type ViewOptions } from '../scorer/image-views.ts';
import { DESIGNS, type DesignResult, type TrainingRecord } from './reference-designs.ts';

interface Args {
  export: string | null;
  id: string;
  designs: string[];
  out: string;
  data: string;
  synthetic: number;
  threads: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { export: null, id: 'weft-reference-backbone', designs: ['base-e10', 'ground1-e10'], out: path.join('models', 'reference-backbone', 'designs.json'), data: path.join('.weft-tmp', 'eval-corpora'), synthetic: 8000, threads: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--designs') a.designs = value.split(',');
    else if (flag === '--out') a.out = value;
    else if (flag === '--data') a.data = value;
    else if (flag === '--export') a.export = value;
    else if (flag === '--id') a.id = value;
    else if (flag === '--synthetic' || flag === '--threads') a[flag.slice(2) as 'synthetic' | 'threads'] = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (a.export && a.designs.length !== 1) throw new Error('--export writes one design: give one in --designs');
  for (const d of a.designs) if (!DESIGNS[d]) throw new Error(`unknown design ${d} (known: ${Object.keys(DESIGNS).join(', ')})`);
  return a;
}

/**
 * Pooled features of `o.count` augmented views of the openclipart training images (image-views.ts),
 * one matrix per view in the rows of `image.features`; the synthetic pairs repeat their own rows
 * (their captions name positions and their regions boxes, which a crop or a mirror would break).
 */
async function viewFeatures(image: Awaited<ReturnType<typeof computeImageFeatures>>, pyramid: number[], o: ViewOptions, threads: number, log: (line: string) => void): Promise<Float32Array[]> {
  const F = image.featureSize;
  const at = image.kept.map((p, i) => (p.domain === 'openclipart' ? i : -1)).filter((i) => i >= 0);
  const out: Float32Array[] = [];
  for (let k = 0; k < o.count; k++) {
    const views = await Promise.all(at.map(async (i) => ({ id: image.kept[i].id, image: await imageView(image.kept[i].image, k, o) })));
    const skipped: { id: string; reason: string; detail: string }[] = [];
    const got = await backbonePyramidFeatures(views, pyramid, { threads, log }, skipped);
    if (skipped.length) throw new Error(`view ${k}: ${skipped.length} views unreadable (${skipped[0].detail})`);
    const x = Float32Array.from(image.features);
    at.forEach((i, j) => x.set(got.features.subarray(j * F, (j + 1) * F), i * F));
    out.push(x);
    log(`view ${k + 1}/${o.count} of ${at.length} openclipart images`);
  }
  return out;
}

/** The synthetic objects as the trainer's regions (phrase and box). */
export function regionsOf(p: CorpusPair): TrainingPair['regions'] {
  return (p.objects ?? []).map((o) => ({ phrase: colourShapePhrase(o), box: o.box, side: p.side ?? 64 }));
}

/**
 * Embeddings of a design's weights from cached backbone features: pooled rows, and patch rows for
 * pairs with objects, each cell's features through the projection of every pyramid window it lies
 * in, (G / k)^2 * x_c W[window] summed, plus the bias (the exported head's patch_embeds).
 */
function weightsEmbedder(w: ReferenceScorerWeights, threads: number): EvaluationEmbedder {
  const C = BACKBONE_CHANNELS;
  const G = BACKBONE_GRID;
  const cells = G * G;
  return {
    async embedPairs(pairs) {
      const grids = pairs.some((p) => p.objects);
      const got = await backbonePyramidFeatures(pairs, w.pyramid, { threads, grids }, []);
      const images = imageEmbeddingsFromFeatures(w, got.features, backboneFeatureSize(w.pyramid), got.kept.map((_, i) => i));
      const D = w.dim;
      const patches = got.kept.map((_, i) => {
        if (!got.grids) return null;
        const x = fromFloat16Bits(got.grids[i]);
        const data = new Float32Array(cells * D);
        for (let c = 0; c < cells; c++) data.set(w.projectionBias, c * D);
        let firstRow = 0;
        for (const level of w.pyramid) {
          const { kernel: k, stride } = pyramidWindow(G, level);
          const scale = (G * G) / (k * k);
          for (let ry = 0; ry < level; ry++)
            for (let rx = 0; rx < level; rx++) {
              const rows = firstRow + (ry * level + rx) * C;
              for (let y = ry * stride; y < ry * stride + k; y++)
                for (let xx = rx * stride; xx < rx * stride + k; xx++) {
                  const c = y * G + xx;
                  const z = c * D;
                  for (let f = 0; f < C; f++) {
                    const v = x[c * C + f] * scale;
                    if (v === 0) continue;
                    const row = (rows + f) * D;
                    for (let d = 0; d < D; d++) data[z + d] += v * w.projection[row + d];
                  }
                }
            }
          firstRow += level * level * C;
        }
        return { grid: [G, G] as [number, number], dim: D, data };
      });
      return { pairs: got.kept, images, patches };
    },
    embedTexts: async (captions) => textEmbeddingsFromWeights(w, captions),
  };
}

export async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const openclipart = (await openclipartCorpus(openclipartDir(a.data, 224), { size: 224 })).filter((p) => !openclipartHeldOut(p.id));
  // The training pairs of each synthetic render size, read when a design first asks for it.
  const corpora = new Map<number, { synthetic: CorpusPair[]; pairs: TrainingPair[] }>();
  const corpusAt = async (size: number) => {
    if (!corpora.has(size)) {
      const synthetic = (await syntheticCorpus(syntheticDir(a.data, 1, a.synthetic, size), { count: a.synthetic, seed: 1, size })).map((p) => ({ ...p, regions: regionsOf(p) }));
      corpora.set(size, { synthetic, pairs: [...synthetic.map((p) => ({ ...p, domain: 'synthetic' })), ...openclipart.map((p) => ({ ...p, domain: 'openclipart' }))] });
    }
    return corpora.get(size)!;
  };
  const results: Record<string, DesignResult> = JSON.parse(await fs.readFile(a.out, 'utf8').catch(() => '{}'));
  // One feature matrix at a time: designs sharing a pyramid share it.
  let image: Awaited<ReturnType<typeof computeImageFeatures>> | null = null;
  let imageKey = '';
  for (const name of a.designs) {
    const design = DESIGNS[name];
    const pyramid = design.options.pyramid ?? [1];
    const grounding = (design.options.groundingWeight ?? 0) > 0;
    const syntheticSize = design.syntheticSize ?? 64;
    const { synthetic, pairs } = await corpusAt(syntheticSize);
    const key = `${pyramid.join('_')}${grounding ? '+grids' : ''}@${syntheticSize}${design.views ? `+views${JSON.stringify(design.views)}` : ''}`;
    if (key !== imageKey) {
      image = null;
      image = await computeImageFeatures(pairs, { imageTower: 'backbone', threads: a.threads, pyramid, ...(grounding ? { groundingWeight: 1 } : {}) }, log);
      if (design.views) image.views = await viewFeatures(image, pyramid, design.views, a.threads, log);
      imageKey = key;
      log(`features [${pyramid}] of ${image.kept.length} pairs (${synthetic.length} synthetic, ${openclipart.length} openclipart)${design.views ? `, ${design.views.count} views of the openclipart images` : ''}`);
    }
    if (!image) throw new Error('no features');
    const started = performance.now();
    const options = resolveTrainingOptions({ imageTower: 'backbone', threads: a.threads, ...design.options });
    log(`design ${name}: ${design.label}`);
    const fit = await fitReferenceScorer(image, image.kept.map((_, i) => i), options, (line) => {
      const epoch = /^epoch (\d+)\//.exec(line);
      if (!epoch || Number(epoch[1]) % 10 === 0 || epoch[1] === '1') log(line);
    });
    if (a.export) {
      await writeReferenceScorer(a.export, fit.weights, { id: a.id, description: 'weft reference scorer (see TRAINING.md)' });
      const w = fit.weights;
      const record: TrainingRecord = {
        sources: [
          `synthetic shapes (scripts/make-demo-corpus.ts, seed 1, ${syntheticSize} px, clean captions): ${synthetic.length} pairs`,
          `openclipart-svg (Debian), rendered at 224 px on white, caption = title + description + keywords (scorer/eval/corpora.ts withKeywords): ${openclipart.length} pairs (held-out split left out by path hash)`,
          `trained by scripts/lit-designs.ts --designs ${name} (${design.label})`,
        ],
        skipped: image.skipped.length,
        options,
        losses: fit.losses,
        steps: fit.steps,
        trainSeconds: (performance.now() - started) / 1000,
        words: w.vocab.length - 2,
        bigrams: w.bigrams.length,
        mean: w.mean,
        std: w.std,
      };
      await fs.writeFile(path.join(a.export, 'training.json'), `${JSON.stringify(record, null, 2)}\n`);
      log(`exported ${name} to ${a.export}`);
    }
    const evaluation = await evaluateEmbedder(weightsEmbedder(fit.weights, a.threads), { corpus: 'both', data: a.data, openclipartSize: 224, syntheticSize });
    const met = evaluation.bars.filter((b) => b.pass).length;
    results[name] = { name, label: design.label, options: design.options, ...(design.syntheticSize ? { syntheticSize: design.syntheticSize } : {}), ...(design.views ? { views: design.views } : {}), bars: evaluation.bars, met, seconds: (performance.now() - started) / 1000, losses: fit.losses.map((l) => Number(l.toFixed(4))) };
    for (const b of evaluation.bars) log(`  ${b.corpus} ${b.metric} ${b.value.toFixed(3)} (>=${b.min}) ${b.pass ? 'PASS' : 'FAIL'}`);
    log(`design ${name}: ${met}/${evaluation.bars.length} bars in ${results[name].seconds.toFixed(0)} s`);
    await fs.mkdir(path.dirname(a.out), { recursive: true });
    await fs.writeFile(a.out, `${JSON.stringify(results, null, 2)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`lit-designs: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  });
}
