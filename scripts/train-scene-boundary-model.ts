// Trains the learned scene-boundary classifier on the fixture family's tuning seeds and writes
// stages/pair/scene-boundary-model.json (run/fixtures/scene-boundary-training.ts labels the
// candidates). Each classifier's acceptance threshold is chosen on out-of-fold predictions (5
// folds of whole videos), as the threshold with the least misses + FALSE_COST x false accepts;
// the shipped weights are then fitted on all the candidates. The held-out seeds (edited family
// 21, 22, 41-45, 61-65; wide family 71-80) are refused.
//   node --import tsx scripts/train-scene-boundary-model.ts --cache DIR [--seeds 1-20,51-55] [--videos 12]
//     [--hard-seeds SPEC] [--wide-seeds SPEC (wide-family seeds)] [--wide-hard-seeds SPEC|none (default: --wide-seeds)] [--hidden 8] [--false-cost 2]
//     [--dissolve-false-cost N (default: --false-cost)] [--dissolve-features a,b,... (default: all the detector computes)] [--hard-features a,b,... (default: all)]
//     [--hard-positive-weight W (default 1: a true cut's loss over a false one's)] [--data FILE (labelled candidates, written once, reused)] [--out FILE]
import { access, readFile, writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { videoSourceSchema } from '../schemas/video-config.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { predict, selectFeatures, trainClassifier, type BoundaryModel, type ClassifierWeights, type TrainOptions } from '../stages/pair/scene-boundary-model.ts';
import { DISSOLVE_FEATURES, HARD_FEATURES } from '../stages/pair/scene-detector.ts';
import { rulesDetectorOptions } from '../stages/pair/video-clips.ts';
import { detectorsOn, labelDissolves, labelHard, type Labelled } from '../run/fixtures/scene-boundary-training.ts';
import { flagValue, parseSeeds } from '../run/fixtures/scene-eval.ts';
import { cachedSceneFamily } from '../run/fixtures/scene-frame-cache.ts';
import type { SceneFamily } from '../run/fixtures/scene-fixtures.ts';

const HELD_OUT = new Set([21, 22, 41, 42, 43, 44, 45, 61, 62, 63, 64, 65]);
const WIDE_HELD_OUT = new Set([71, 72, 73, 74, 75, 76, 77, 78, 79, 80]);
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
const wideSeedSpec = arg('--wide-seeds');
const wideSeeds = wideSeedSpec ? parseSeeds(wideSeedSpec) : [];
// The hard-cut classifier may keep to the edited family while the dissolve classifier learns from both.
const wideHardSpec = arg('--wide-hard-seeds') ?? wideSeedSpec;
const wideHardSeeds = wideHardSpec && wideHardSpec !== 'none' ? parseSeeds(wideHardSpec) : [];
const held = [...seeds, ...hardSeeds].filter((s) => HELD_OUT.has(s));
if (held.length) throw new Error(`seeds ${held.join(',')} are held out for evaluation`);
const wideHeld = [...wideSeeds, ...wideHardSeeds].filter((s) => WIDE_HELD_OUT.has(s));
if (wideHeld.length) throw new Error(`wide-family seeds ${wideHeld.join(',')} are held out for evaluation`);
const videosPerSeed = Number(arg('--videos') ?? 12);
const falseCost = Number(arg('--false-cost') ?? 2);
// The dissolve classifier's false accepts may cost more than the hard-cut one's: the remaining false boundaries are dissolves.
const dissolveFalseCost = Number(arg('--dissolve-false-cost') ?? falseCost);
const dataFile = arg('--data');
const outFile = arg('--out') ?? fileURLToPath(new URL('../stages/pair/scene-boundary-model.json', import.meta.url));
const train: TrainOptions = { hiddenUnits: Number(arg('--hidden') ?? 8), epochs: 2000, learningRate: 0.01, l2: 1e-3, seed: 1 };

/** Candidates with only the named features of their full vectors (in the order of `all`). */
function restricted(data: Labelled, all: readonly string[], features: string[]): Labelled {
  return { ...data, x: data.x.map((x) => selectFeatures(features, all, x)) };
}

function chooseThreshold(name: string, features: string[], data: Labelled, falseCost: number, o: TrainOptions): number {
  const oof = new Array<number>(data.y.length);
  for (let f = 0; f < FOLDS; f++) {
    const inFold = data.video.map((v) => v % FOLDS === f);
    const w = trainClassifier(features, data.x.filter((_, k) => !inFold[k]), data.y.filter((_, k) => !inFold[k]), o);
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

function fit(name: string, features: string[], data: Labelled, falseCost: number, positiveWeight = 1): ClassifierWeights {
  // The default leaves positiveWeight out, so the weights of a run without it stay as they were.
  const o: TrainOptions = positiveWeight === 1 ? train : { ...train, positiveWeight };
  const threshold = chooseThreshold(name, features, data, falseCost, o);
  return { ...trainClassifier(features, data.x, data.y, o), threshold };
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
interface FamilySeed {
  family: SceneFamily;
  seed: number;
}
const key = ({ family, seed }: FamilySeed) => (family === 'wide' ? `wide-${seed}` : String(seed));
const pushedBySeed = new Map<string, ReturnType<typeof detectorsOn>>();
const detectors = async (s: FamilySeed) => {
  let p = pushedBySeed.get(key(s));
  if (!p) pushedBySeed.set(key(s), (p = detectorsOn(await cachedSceneFamily(ffmpeg, cache, s.seed, videosPerSeed, clip.scene_fps, 2, s.family), opts)));
  return p;
};
const edited = (xs: number[]): FamilySeed[] => xs.map((seed) => ({ family: 'edited', seed }));
const wideOf = (xs: number[]): FamilySeed[] => xs.map((seed) => ({ family: 'wide', seed }));
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
const entry = (s: FamilySeed) => (dump.seeds[key(s)] ??= {});

const hardParts: Labelled[] = [];
for (const s of [...edited(hardSeeds), ...wideOf(wideHardSeeds)]) hardParts.push((entry(s).hard ??= labelHard(await detectors(s), clip.scene_fps)));
const hardFeatures = arg('--hard-features')?.split(',') ?? HARD_FEATURES;
const hardPositiveWeight = Number(arg('--hard-positive-weight') ?? 1);
const hard = fit('hard', hardFeatures, restricted(joined(hardParts), HARD_FEATURES, hardFeatures), falseCost, hardPositiveWeight);
if (!isDeepStrictEqual(dump.hardWeights, hard)) for (const e of Object.values(dump.seeds)) delete e.dissolve;
dump.hardWeights = hard;
const dissolveParts: Labelled[] = [];
for (const s of [...edited(seeds), ...wideOf(wideSeeds)]) dissolveParts.push((entry(s).dissolve ??= labelDissolves(await detectors(s), clip.scene_fps, (c) => predict(hard, selectFeatures(hard.features, HARD_FEATURES, c.features)) >= hard.threshold)));
const dissolveFeatures = arg('--dissolve-features')?.split(',') ?? DISSOLVE_FEATURES;
const dissolve = fit('dissolve', dissolveFeatures, restricted(joined(dissolveParts), DISSOLVE_FEATURES, dissolveFeatures), dissolveFalseCost);
if (dataFile) await writeFile(dataFile, JSON.stringify(dump));
const model: BoundaryModel = { trainedOn: `scene family seeds ${seedSpec} (hard cuts: ${hardSeedSpec}${hardPositiveWeight !== 1 ? `, true cuts weighted ${hardPositiveWeight}` : ''})${wideSeedSpec ? `, wide family seeds ${wideSeedSpec}${wideHardSpec !== wideSeedSpec ? ` (hard cuts: ${wideHardSpec})` : ''}` : ''}, ${videosPerSeed} videos each; ${train.hiddenUnits} hidden units; thresholds out-of-fold, false cost ${falseCost}${dissolveFalseCost !== falseCost ? ` (dissolves ${dissolveFalseCost})` : ''}`, hard, dissolve };
await writeFile(outFile, JSON.stringify(model, null, 1) + '\n');
console.log(`wrote ${outFile}`);
