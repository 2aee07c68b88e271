// Measures what corpus curation buys a scorer trained on it, on openclipart (Debian's
// openclipart-svg, rendered at 64 px as the reference scorer's training data), evaluated on the
// held-out split the reference scorer never trains on (scorer/eval/evaluate.ts
// openclipartHeldOut: text->image R@1 over one item per distinct caption, random-swap AUROC).
//
//   nice -n 10 node --import tsx scripts/measure-curation.ts [--part fn|lift|both] [--epochs N]
//        [--data DIR] [--work DIR] [--seed N] [--k N]
//
// fn (false-negative-aware batches, docs/curation.md): the training split as a weft OUT (weft run,
//   models/reference embeddings, k-means with k clusters), then the reference scorer (random image
//   tower) trained on its pairs twice, read through the shard reader with cluster_id: plain
//   shuffled batches, and batches with at most one pair per cluster (trainer distinctGroupBatches,
//   `weft train-scorer --fn-aware-batches`).
// lift (curation lift, DataComp's central measurement): a noisy corpus from the training split
//   (30% of captions swapped among themselves, 20% of the drawings posted again as re-encoded
//   near-duplicates with their caption) run through weft (clusters, semantic dedup, balance
//   marks); the pairs scored out of sample by `weft train-scorer --folds 2` on that noisy OUT;
//   curated = `weft filter --scores oos --keep-top 0.7 --where "semantic_duplicate_of IS NULL AND
//   balance_kept"`; raw = as many pairs drawn at random (id hash) from the noisy OUT. The reference
//   scorer is trained on each with the same options (same size, same steps) and evaluated on the
//   same held-out split.
// Results: WORK/results.json and one line per model on stdout.
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { openclipartCorpus, type CorpusPair } from '../scorer/eval/corpora.ts';
import { evaluateScorer, openclipartHeldOut } from '../scorer/eval/evaluate.ts';
import { trainReferenceScorer, type ReferenceTrainingOptions, type TrainingPair } from '../scorer/reference-trainer.ts';
import { writeReferenceScorer } from '../scorer/onnx/reference-model.ts';
import { parseConfig } from '../schemas/config-file.ts';
import { runPipeline } from '../run/executor.ts';
import { filterOutDir } from '../run/commands/filter.ts';
import { readShardPairs, trainScorerFromShards } from '../run/commands/train-from-shards.ts';
import { REFERENCE_SCORER_DIR } from '../kinds/run-scorer.ts';
import { mulberry32 } from '../core/random.ts';

interface Args {
  part: 'fn' | 'lift' | 'both';
  epochs: number;
  data: string;
  work: string;
  seed: number;
  k: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { part: 'both', epochs: 40, data: path.join('.weft-tmp', 'eval-corpora'), work: path.join('.weft-tmp', 'measure-curation'), seed: 1, k: 500 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--part') {
      if (value !== 'fn' && value !== 'lift' && value !== 'both') throw new Error(`--part: fn, lift or both, got ${value}`);
      a.part = value;
    } else if (flag === '--data') a.data = value;
    else if (flag === '--work') a.work = value;
    else if (flag === '--epochs' || flag === '--seed' || flag === '--k') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${value}`);
      a[flag.slice(2) as 'epochs' | 'seed' | 'k'] = n;
    } else throw new Error(`unknown option ${flag}`);
  }
  return a;
}

interface ModelResult {
  name: string;
  pairs: number;
  steps: number;
  seconds: number;
  textToImageR1: number;
  textToImageR10: number;
  swapAuroc: number;
  swapAp: number;
  note?: string;
}

const log = (line: string) => process.stderr.write(`[measure-curation] ${line}\n`);
const hashUnit = (key: string) => createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32;

/** The pairs as an image_text folder (flat names; the captions in .txt sidecars). */
async function writeFolder(dir: string, pairs: { name: string; image: Uint8Array; caption: string }[]): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  for (const p of pairs) {
    const ext = p.image[0] === 0xff && p.image[1] === 0xd8 ? 'jpg' : 'png';
    await fs.writeFile(path.join(dir, `${p.name}.${ext}`), p.image);
    await fs.writeFile(path.join(dir, `${p.name}.txt`), p.caption);
  }
}

async function weftRun(name: string, images: string, work: string, curate: Record<string, unknown>): Promise<string> {
  const out = path.join(work, name);
  await fs.rm(out, { recursive: true, force: true });
  const config = parseConfig({ name, source: { kind: 'image_text', path: images, rows_per_unit: 1000 }, decode: { image_size: 64 }, score: { scorer: 'reference', batch_size: 64 }, curate });
  const started = performance.now();
  await runPipeline({ loaded: { config, baseDir: work }, outDir: out });
  log(`${name}: weft run in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return out;
}

async function trainAndEvaluate(name: string, pairs: TrainingPair[], a: Args, training: ReferenceTrainingOptions, note?: string): Promise<ModelResult> {
  const started = performance.now();
  const result = await trainReferenceScorer(pairs, { seed: a.seed, epochs: a.epochs, threads: 2, ...training, log: (l) => (/^epoch/.test(l) ? undefined : log(`${name}: ${l}`)) });
  const seconds = (performance.now() - started) / 1000;
  const dir = path.join(a.work, 'models', name);
  await fs.rm(dir, { recursive: true, force: true });
  await writeReferenceScorer(dir, result.weights, { id: name });
  const e = await evaluateScorer({ scorer: dir, corpus: 'openclipart', data: a.data, seed: 2 });
  const o = e.openclipart!;
  const r: ModelResult = { name, pairs: pairs.length, steps: result.steps, seconds, textToImageR1: o.retrieval.textToImage[1], textToImageR10: o.retrieval.textToImage[10], swapAuroc: o.swap.auroc, swapAp: o.swap.averagePrecision, ...(note ? { note } : {}) };
  process.stdout.write(`${name}: ${pairs.length} pairs, ${result.steps} steps, ${seconds.toFixed(0)} s; held-out text->image R@1 ${r.textToImageR1.toFixed(3)}, R@10 ${r.textToImageR10.toFixed(3)}, random-swap AUROC ${r.swapAuroc.toFixed(3)}, AP ${r.swapAp.toFixed(3)} (n ${o.test})\n`);
  return r;
}

/** Point 7: the same pairs, plain batches vs at most one pair per cluster. */
async function falseNegativeAware(train: CorpusPair[], a: Args): Promise<Record<string, unknown>> {
  const images = path.join(a.work, 'clean-images');
  await writeFolder(images, train.map((p, i) => ({ name: `p-${String(i).padStart(5, '0')}`, image: p.image, caption: p.caption })));
  const out = await weftRun('clean', images, a.work, { corpus: { clusters: { k: a.k, seed: a.seed } } });
  const pairs = await readShardPairs(out, null, 'cluster_id');
  const sizes = new Map<number, number>();
  for (const p of pairs) sizes.set(p.group!, (sizes.get(p.group!) ?? 0) + 1);
  const inShared = pairs.filter((p) => (sizes.get(p.group!) ?? 0) > 1).length;
  log(`fn: ${pairs.length} pairs in ${sizes.size} clusters (largest ${Math.max(...sizes.values())}; ${inShared} pairs share their cluster)`);
  const plain = await trainAndEvaluate('fn-plain', pairs, a, {});
  const distinct = await trainAndEvaluate('fn-distinct-clusters', pairs, a, { distinctGroupBatches: true });
  return { k: a.k, clusters: sizes.size, largest_cluster: Math.max(...sizes.values()), plain, distinct };
}

/** Point 8: raw vs curated subsets of equal size from a noisy corpus. */
async function curationLift(train: CorpusPair[], a: Args): Promise<Record<string, unknown>> {
  const rand = mulberry32(a.seed * 31 + 7);
  // 30% of captions swapped among themselves (a random permutation of the chosen ones, no fixed points).
  const captions = train.map((p) => p.caption);
  const chosen = train.map((_, i) => i).filter(() => rand() < 0.3);
  const rotated = [...chosen];
  for (let i = rotated.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rotated[i], rotated[j]] = [rotated[j], rotated[i]];
  }
  const swapped = new Set<number>();
  rotated.forEach((from, j) => {
    const to = rotated[(j + 1) % rotated.length];
    captions[to] = train[from].caption;
    if (train[from].caption !== train[to].caption) swapped.add(to);
  });
  const noisy: { name: string; image: Uint8Array; caption: string }[] = train.map((p, i) => ({ name: `p-${String(i).padStart(5, '0')}`, image: p.image, caption: captions[i] }));
  // 20% of the drawings posted again: re-encoded as JPEG (other bytes, same picture), same caption.
  let copies = 0;
  for (let i = 0; i < train.length; i++) {
    if (rand() >= 0.2) continue;
    const image = await sharp(train[i].image).jpeg({ quality: 80 + Math.floor(rand() * 15) }).toBuffer();
    noisy.push({ name: `q-${String(i).padStart(5, '0')}`, image, caption: captions[i] });
    copies++;
  }
  log(`lift: noisy corpus of ${noisy.length} pairs (${swapped.size} swapped captions, ${copies} near-duplicate copies)`);
  const images = path.join(a.work, 'noisy-images');
  await writeFolder(images, noisy);
  const out = await weftRun('noisy', images, a.work, {
    corpus: {
      clusters: { k: a.k, seed: a.seed },
      semantic_dedup: { enabled: true, eps: 0.01 },
      balance: { enabled: true, ngram: 1, min_count: 5, t: 60, keep_unmatched: true },
    },
  });
  // Out-of-sample scores: each pair scored by a model that never saw it (2 folds).
  const scorerDir = path.join(a.work, 'oos-scorer');
  await fs.rm(scorerDir, { recursive: true, force: true });
  const started = performance.now();
  const oos = await trainScorerFromShards(out, scorerDir, { folds: 2, seed: a.seed, id: 'noisy-oos', training: { epochs: Math.min(a.epochs, 20), threads: 2 }, log });
  log(`lift: out-of-sample scores in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const curatedOut = path.join(a.work, 'curated');
  await fs.rm(curatedOut, { recursive: true, force: true });
  await filterOutDir(out, curatedOut, { scoresFile: oos.scoresFile, keepTop: 0.7, where: 'semantic_duplicate_of IS NULL AND balance_kept' });
  const curated = await readShardPairs(curatedOut);
  const all = await readShardPairs(out);
  const raw = [...all].sort((x, y) => hashUnit(`${a.seed}:${x.id}`) - hashUnit(`${a.seed}:${y.id}`)).slice(0, curated.length);
  const isSwapped = (id: string) => /^p-\d+$/.test(id) && swapped.has(Number(id.slice(2)));
  const isCopy = (id: string) => id.startsWith('q-');
  const share = (ps: TrainingPair[], f: (id: string) => boolean) => ps.filter((p) => f(p.id)).length / ps.length;
  const composition = (ps: TrainingPair[]) => ({ pairs: ps.length, swapped_share: share(ps, isSwapped), copy_share: share(ps, isCopy) });
  log(`lift: curated ${curated.length} (${JSON.stringify(composition(curated))}), raw ${raw.length} (${JSON.stringify(composition(raw))})`);
  const rawResult = await trainAndEvaluate('lift-raw', raw, a, {});
  const curatedResult = await trainAndEvaluate('lift-curated', curated, a, {});
  return { noisy: noisy.length, swapped: swapped.size, copies, raw: { ...rawResult, ...composition(raw) }, curated: { ...curatedResult, ...composition(curated) } };
}

const a = parseArgs(process.argv.slice(2));
await fs.mkdir(a.work, { recursive: true });
a.work = path.resolve(a.work);
const all = await openclipartCorpus(path.join(a.data, 'openclipart-64'), { size: 64 });
const train = all.filter((p) => !openclipartHeldOut(p.id));
log(`openclipart: ${all.length} pairs, ${train.length} in the training split; epochs ${a.epochs}, seed ${a.seed}, scorer for embeddings ${path.relative(process.cwd(), REFERENCE_SCORER_DIR)}`);
const results: Record<string, unknown> = { epochs: a.epochs, seed: a.seed, train_split: train.length };
const resultsFile = path.join(a.work, 'results.json');
const existing = JSON.parse(await fs.readFile(resultsFile, 'utf8').catch(() => '{}')) as Record<string, unknown>;
if (a.part !== 'lift') results.fn = await falseNegativeAware(train, a);
if (a.part !== 'fn') results.lift = await curationLift(train, a);
await fs.writeFile(resultsFile, JSON.stringify({ ...existing, ...results }, null, 2));
log(`results in ${resultsFile}`);
