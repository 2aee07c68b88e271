// Trains the learned scene-boundary classifier on the fixture family's tuning seeds and writes
// stages/pair/scene-boundary-model.json (run/fixtures/scene-boundary-training.ts labels the
// candidates). The held-out seeds (21, 22, 41-45, 61-65) must never be passed here.
//   node --import tsx scripts/train-scene-boundary-model.ts --cache DIR [--seeds 1-20,51-55] [--videos 12] [--hidden 8] [--out FILE]
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { videoSourceSchema } from '../schemas/video-config.ts';
import { resolveFfmpeg } from '../stages/decode/ffmpeg-path.ts';
import { predict, trainClassifier, type BoundaryModel, type ClassifierWeights } from '../stages/pair/scene-boundary-model.ts';
import { DISSOLVE_FEATURES, HARD_FEATURES } from '../stages/pair/scene-detector.ts';
import { rulesDetectorOptions } from '../stages/pair/video-clips.ts';
import { detectorsOn, labelDissolves, labelHard, type Labelled } from '../run/fixtures/scene-boundary-training.ts';
import { parseSeeds } from '../run/fixtures/scene-eval.ts';
import { cachedSceneFamily } from '../run/fixtures/scene-frame-cache.ts';

const HELD_OUT = new Set([21, 22, 41, 42, 43, 44, 45, 61, 62, 63, 64, 65]);
/** A false candidate accepted costs this many missed true ones when the threshold is chosen. */
const FALSE_COST = 2;

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const cache = arg('--cache');
if (!cache) throw new Error('--cache DIR is required');
const seedSpec = arg('--seeds') ?? '1-20,51-55';
const seeds = parseSeeds(seedSpec);
const held = seeds.filter((s) => HELD_OUT.has(s));
if (held.length) throw new Error(`seeds ${held.join(',')} are held out for evaluation`);
const videosPerSeed = Number(arg('--videos') ?? 12);
const hiddenUnits = Number(arg('--hidden') ?? 8);
const outFile = arg('--out') ?? fileURLToPath(new URL('../stages/pair/scene-boundary-model.json', import.meta.url));

const { ffmpeg } = resolveFfmpeg({});
const clip = videoSourceSchema.parse({ kind: 'video', path: '.' }).clip;
const opts = rulesDetectorOptions(clip);
const videos = (await Promise.all(seeds.map((s) => cachedSceneFamily(ffmpeg, cache, s, videosPerSeed, clip.scene_fps)))).flat();

function fit(features: string[], data: Labelled): ClassifierWeights {
  const w = trainClassifier(features, data.x, data.y, { hiddenUnits, epochs: 2000, learningRate: 0.01, l2: 1e-3, seed: 1 });
  // The threshold that costs least on the training candidates: misses + FALSE_COST x false accepts.
  const p = data.x.map((x) => predict(w, x));
  let best = { threshold: 0.5, cost: Infinity };
  for (let t = 0.05; t < 0.96; t += 0.05) {
    let cost = 0;
    p.forEach((q, k) => (cost += data.y[k] ? (q < t ? 1 : 0) : q >= t ? FALSE_COST : 0));
    if (cost < best.cost) best = { threshold: Number(t.toFixed(2)), cost };
  }
  const positives = data.y.filter(Boolean).length;
  const tp = p.filter((q, k) => data.y[k] && q >= best.threshold).length;
  const fp = p.filter((q, k) => !data.y[k] && q >= best.threshold).length;
  console.log(`${features === HARD_FEATURES ? 'hard' : 'dissolve'}: ${data.y.length} candidates, ${positives} true; threshold ${best.threshold}: ${tp}/${positives} true and ${fp}/${data.y.length - positives} false accepted`);
  return { ...w, threshold: best.threshold };
}

const pushed = detectorsOn(videos, opts);
const hard = fit(HARD_FEATURES, labelHard(pushed, clip.scene_fps));
const dissolve = fit(DISSOLVE_FEATURES, labelDissolves(pushed, clip.scene_fps, (c) => predict(hard, c.features) >= hard.threshold));
const model: BoundaryModel = { trainedOn: `scene family seeds ${seedSpec}, ${videosPerSeed} videos each; ${hiddenUnits} hidden units`, hard, dissolve };
await writeFile(outFile, JSON.stringify(model, null, 1) + '\n');
console.log(`wrote ${outFile}`);
