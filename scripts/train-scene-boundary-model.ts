// Trains the learned scene-boundary classifier on the fixture family's tuning seeds and writes
// stages/pair/scene-boundary-model.json (run/fixtures/scene-boundary-training.ts labels the
// candidates). Each classifier's acceptance threshold is chosen on out-of-fold predictions (5
// folds of whole videos), as the threshold with the least misses + FALSE_COST x false accepts;
// the shipped weights are then fitted on all the candidates. The held-out seeds (21, 22, 41-45,
// 61-65) are refused.
//   node --import tsx scripts/train-scene-boundary-model.ts --cache DIR [--seeds 1-20,51-55] [--videos 12]
//     [--hard-seeds SPEC] [--hidden 8] [--false-cost 2] [--dissolve-false-cost N (default: --false-cost)] [--data FILE (labelled candidates, written once, reused)] [--out FILE]
import { access, readFile, writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { videoSourceSchema } from '../schemas/video-config.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { predict, trainClassifier, type BoundaryModel, type ClassifierWeights, type TrainOptions } from '../stages/pair/scene-boundary-model.ts';
import { DISSOLVE_FEATURES, HARD_FEATURES } from '../stages/pair/scene-detector.ts';
import { rulesDetectorOptions } from '../stages/pair/video-clips.ts';
import { detectorsOn, labelDissolves, labelHard, type Labelled } from '../run/fixtures/scene-boundary-training.ts';
import { flagValue, parseSeeds } from '../run/fixtures/scene-eval.ts';
import { cachedSceneFamily } from '../run/fixtures/scene-frame-cache.ts';

const HELD_OUT = new Set([21, 22, 41, 42, 43, 44, 45, 61, 62, 63, 64, 65]);
const FOLDS = 5;

const argv = process.argv.slice(2);
const arg = (name: string) => flagValue(argv, name);
const cache = arg('--cache');
if (!cache) throw new Error('--cache DIR is required');
const seedSpec = arg('--seeds') ?? '1-20,51-55';
const seeds = parseSeeds(seedSpec);
// The hard-cut classifier may learn from fewer seeds than the dissolve classifier (its candidates need no new seeds to stay valid).
const hardSeedSpec = arg('--hard-seeds') ?? seedSpec;
const hardSeeds = parseSeeds(hardSeedSpec);
const held = [...seeds, ...hardSeeds].filter((s) => HELD_OUT.has(s));
if (held.length) throw new Error(`seeds ${held.join(',')} are held out for evaluation`);
const videosPerSeed = Number(arg('--videos') ?? 12);
const falseCost = Number(arg('--false-cost') ?? 2);
// The dissolve classifier's false accepts may cost more than the hard-cut one's: the remaining false boundaries are dissolves.
const dissolveFalseCost = Number(arg('--dissolve-false-cost') ?? falseCost);
const dataFile = arg('--data');
const outFile = arg('--out') ?? fileURLToPath(new URL('../stages/pair/scene-boundary-model.json', import.meta.url));
const train: TrainOptions = { hiddenUnits: Number(arg('--hidden') ?? 8), epochs: 2000, learningRate: 0.01, l2: 1e-3, seed: 1 };

function chooseThreshold(name: string, features: string[], data: Labelled, falseCost: number): number {
  const oof = new Array<number>(data.y.length);
  for (let f = 0; f < FOLDS; f++) {
    const inFold = data.video.map((v) => v % FOLDS === f);
    const w = trainClassifier(features, data.x.filter((_, k) => !inFold[k]), data.y.filter((_, k) => !inFold[k]), train);
    data.x.forEach((x, k) => inFold[k] && (oof[k] = predict(w, x)));
  }
  let best = { threshold: 0.5, cost: Infinity, tp: 0, fp: 0 };
  for (let t = 0.05; t < 0.96; t += 0.05) {
    let cost = 0;
    let tp = 0;
    let fp = 0;
    oof.forEach((q, k) => {
      if (data.y[k]) q >= t ? tp++ : (cost += 1);
      else if (q >= t) (fp++, (cost += falseCost));
    });
    if (cost < best.cost) best = { threshold: Number(t.toFixed(2)), cost, tp, fp };
  }
  const positives = data.y.filter(Boolean).length;
  console.log(`${name}: ${data.y.length} candidates, ${positives} true; out-of-fold at threshold ${best.threshold}: ${best.tp}/${positives} true and ${best.fp}/${data.y.length - positives} false accepted`);
  return best.threshold;
}

function fit(name: string, features: string[], data: Labelled, falseCost: number): ClassifierWeights {
  const threshold = chooseThreshold(name, features, data, falseCost);
  return { ...trainClassifier(features, data.x, data.y, train), threshold };
}

/** Labelled candidates per seed; dissolve candidates depend on the hard-cut classifier accepted before them, so they hold only with `hardWeights`. */
interface Dump {
  hardWeights: ClassifierWeights | null;
  seeds: Record<string, { hard?: Labelled; dissolve?: Labelled }>;
}

const dump: Dump = dataFile && (await access(dataFile).then(() => true, () => false)) ? JSON.parse(await readFile(dataFile, 'utf8')) : { hardWeights: null, seeds: {} };
const { ffmpeg } = resolveFfmpeg({});
const clip = videoSourceSchema.parse({ kind: 'video', path: '.' }).clip;
const opts = rulesDetectorOptions(clip);
const pushedBySeed = new Map<number, ReturnType<typeof detectorsOn>>();
const detectors = async (seed: number) => {
  let p = pushedBySeed.get(seed);
  if (!p) pushedBySeed.set(seed, (p = detectorsOn(await cachedSceneFamily(ffmpeg, cache, seed, videosPerSeed, clip.scene_fps), opts)));
  return p;
};
/** Candidates of several seeds as one set, with video numbers running on across seeds. */
const joined = (parts: Labelled[]): Labelled => {
  const out: Labelled = { x: [], y: [], video: [] };
  let offset = 0;
  for (const d of parts) {
    out.x.push(...d.x);
    out.y.push(...d.y);
    out.video.push(...d.video.map((v) => v + offset));
    offset += videosPerSeed;
  }
  return out;
};
const entry = (seed: number) => (dump.seeds[seed] ??= {});

const hardParts: Labelled[] = [];
for (const seed of hardSeeds) hardParts.push((entry(seed).hard ??= labelHard(await detectors(seed), clip.scene_fps)));
const hard = fit('hard', HARD_FEATURES, joined(hardParts), falseCost);
if (!isDeepStrictEqual(dump.hardWeights, hard)) for (const e of Object.values(dump.seeds)) delete e.dissolve;
dump.hardWeights = hard;
const dissolveParts: Labelled[] = [];
for (const seed of seeds) dissolveParts.push((entry(seed).dissolve ??= labelDissolves(await detectors(seed), clip.scene_fps, (c) => predict(hard, c.features) >= hard.threshold)));
const dissolve = fit('dissolve', DISSOLVE_FEATURES, joined(dissolveParts), dissolveFalseCost);
if (dataFile) await writeFile(dataFile, JSON.stringify(dump));
const model: BoundaryModel = { trainedOn: `scene family seeds ${seedSpec} (hard cuts: ${hardSeedSpec}), ${videosPerSeed} videos each; ${train.hiddenUnits} hidden units; thresholds out-of-fold, false cost ${falseCost}${dissolveFalseCost !== falseCost ? ` (dissolves ${dissolveFalseCost})` : ''}`, hard, dissolve };
await writeFile(outFile, JSON.stringify(model, null, 1) + '\n');
console.log(`wrote ${outFile}`);
