// Bootstrapped scorer: trains the reference architecture (reference-trainer.ts) on the pairs of
// a corpus of weft shards, and scores every pair out of sample.
//
// A model must never score the pairs it was trained on: a model that has memorised its noisy
// pairs ranks them almost at random, which is what confident learning guards against. So the
// pairs are split into k folds by a hash of their image's bytes (sha256), so rows that share one
// image (several captions, re-posts) are always in the same fold; for each fold a model is
// trained on the other k - 1 folds and scores the held-out fold (k-fold cross-scoring). The shipped model is
// then trained on all pairs; its own scores of these pairs are in-sample and not written.
//
// Output: a scorer folder (loads with loadScorer like any export), TRAINING.md, and
// oos-scores.parquet (id + `oos_score_<id>`) that `weft filter OUT --scores FILE` reads.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as arrow from 'apache-arrow';
import { PreprocessedImages, referencePreprocessing, resolveTrainingOptions, trainReferenceScorer, type ReferenceTrainingOptions, type TrainingPair } from '../../scorer/reference-trainer.ts';
import { writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { cosine, embedReadableImages, loadScorer } from '../../scorer/scorer.ts';
import { scoreColumnName } from '../../stages/score/score-columns.ts';
import { writeFlatParquet } from '../../output/parquet-tables.ts';
import { readShards } from '../../output/shard-reader.ts';
import { errorMessage } from '../../core/stage.ts';

export interface TrainFromShardsOptions {
  /** OUT folders: only the index rows where this SQL expression holds. */
  where?: string;
  /** Folds for cross-scoring (at least 2). */
  folds?: number;
  /** Scorer id written to scorer.json (names the score columns). */
  id?: string;
  seed?: number;
  training?: Omit<ReferenceTrainingOptions, 'seed' | 'log'>;
  log?: (line: string) => void;
}

export interface TrainFromShardsResult {
  scorerDir: string;
  scoresFile: string;
  column: string;
  pairs: number;
  /** Out-of-sample score per pair id (pairs with unreadable images have none). */
  scores: Map<string, number>;
  skipped: { id: string; reason: string; detail: string }[];
  /** One entry per fold model (fold -1: the final model on all pairs). */
  folds: FoldRun[];
}

export interface FoldRun {
  fold: number;
  train: number;
  held: number;
  /** Mean training loss per epoch. */
  losses: number[];
  learningRate: number;
  retries: number;
}

function foldLog(log: (line: string) => void, fold: number, folds: number): (line: string) => void {
  const label = fold < 0 ? 'final' : `fold ${fold + 1}/${folds}`;
  // Per-epoch lines are noise at this level; retries and errors are not.
  return (line) => {
    if (!/^epoch \d+\//.test(line)) log(`${label}: ${line}`);
  };
}

/**
 * The image-caption pairs of `input`: an OUT folder (the pairs its index.parquet lists, read
 * through the shard reader a training loader uses, optionally a `where` selection) or a folder
 * of / path to .arrow shards (every row). Rows need `id`, `caption` and `image.bytes`.
 */
export async function readShardPairs(input: string, where?: string | null, groupColumn?: string): Promise<TrainingPair[]> {
  const stat = await fs.stat(input).catch(() => null);
  if (!stat) throw new Error(`${input} does not exist`);
  const pairs: TrainingPair[] = [];
  if (stat.isDirectory() && (await exists(path.join(input, 'index.parquet')))) {
    for await (const { index, values } of readShards(input, { where, columns: ['id', 'caption', 'image'] })) {
      if (index.kind !== 'image_text') continue;
      if (!('caption' in values) || !('image' in values)) throw new Error(`${index.shard}: not an image-caption shard (needs id, caption, image columns)`);
      const bytes = (values.image as { bytes?: Uint8Array | null } | null)?.bytes;
      if (!bytes) continue;
      const pair: TrainingPair = { id: String(index.id), image: bytes, caption: String(values.caption ?? '') };
      if (groupColumn) {
        if (!(groupColumn in index)) throw new Error(`${input}: its index has no ${groupColumn} column (run with curate.corpus.clusters.k)`);
        pair.group = index[groupColumn] === null ? null : Number(index[groupColumn]);
      }
      pairs.push(pair);
    }
    if (pairs.length === 0) throw new Error(`${input}: no image-caption pairs in its index`);
    return pairs;
  }
  if (where) throw new Error('a where selection needs an OUT folder (with index.parquet)');
  if (groupColumn) throw new Error(`grouped batches (${groupColumn}) need an OUT folder (with index.parquet)`);
  const files = stat.isFile() ? [input] : (await fs.readdir(input)).filter((f) => f.endsWith('.arrow')).sort().map((f) => path.join(input, f));
  if (files.length === 0) throw new Error(`${input}: no image-caption shards`);
  for (const file of files) {
    const table = arrow.tableFromIPC(await fs.readFile(file));
    const ids = table.getChild('id');
    const captions = table.getChild('caption');
    const images = table.getChild('image');
    if (!ids || !captions || !images) throw new Error(`${file}: not an image-caption shard (needs id, caption, image columns)`);
    for (let i = 0; i < table.numRows; i++) {
      const bytes = images.get(i)?.bytes as Uint8Array | null | undefined;
      if (!bytes) continue;
      pairs.push({ id: String(ids.get(i)), image: bytes, caption: String(captions.get(i) ?? '') });
    }
  }
  return pairs;
}

/** sha256 of an image's bytes, hex. */
export function imageSha256(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex');
}

/**
 * The fold of a pair from a key (the sha256 of its image): a hash, so the split does not depend
 * on order or process, and every pair with the same image lands in the same fold.
 */
export function foldOf(key: string, folds: number, seed: number): number {
  return createHash('sha256').update(`${seed}\u0000${key}`).digest().readUInt32BE(0) % folds;
}

/** Fold of every pair, keyed by the sha256 of its image. */
export function imageFolds(pairs: TrainingPair[], folds: number, seed: number): number[] {
  return pairs.map((p) => foldOf(imageSha256(p.image), folds, seed));
}

export async function trainScorerFromShards(input: string, outDir: string, o: TrainFromShardsOptions = {}): Promise<TrainFromShardsResult> {
  const folds = o.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`folds must be an integer >= 2, got ${folds}`);
  const pairs = await readShardPairs(input, o.where, o.training?.distinctGroupBatches ? 'cluster_id' : undefined);
  return trainScorerFromPairs(pairs, path.basename(path.resolve(input)), outDir, o);
}

/** trainScorerFromShards on pairs already read; `source` names them in the card. */
export async function trainScorerFromPairs(pairs: TrainingPair[], source: string, outDir: string, o: TrainFromShardsOptions = {}): Promise<TrainFromShardsResult> {
  const folds = o.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`folds must be an integer >= 2, got ${folds}`);
  const seed = o.seed ?? 1;
  const id = o.id ?? 'weft-bootstrapped';
  const log = o.log ?? (() => {});
  const input = source;
  if (pairs.length < 2 * folds) throw new Error(`${input}: ${pairs.length} pairs are too few for ${folds}-fold cross-scoring`);
  log(`${pairs.length} pairs from ${input}; ${folds}-fold cross-scoring`);

  const scores = new Map<string, number>();
  const skipped: TrainFromShardsResult['skipped'] = [];
  const foldRuns: FoldRun[] = [];
  const fold = imageFolds(pairs, folds, seed);
  const decoded = new PreprocessedImages(referencePreprocessing(resolveTrainingOptions(o.training).imageSize));
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-train-scorer-'));
  try {
    for (let f = 0; f < folds; f++) {
      const held = pairs.filter((_, i) => fold[i] === f);
      const train = pairs.filter((_, i) => fold[i] !== f);
      if (held.length === 0 || train.length < 2) throw new Error(`fold ${f + 1}/${folds}: ${held.length} held-out and ${train.length} training pairs; use fewer folds`);
      log(`fold ${f + 1}/${folds}: training on ${train.length}, scoring ${held.length}`);
      const result = await trainReferenceScorer(train, { ...o.training, seed: seed + f, log: foldLog(log, f, folds) }, decoded).catch((err) => {
        throw new Error(`fold ${f + 1}/${folds}: ${errorMessage(err)}`);
      });
      const dir = path.join(scratch, `fold-${f}`);
      await writeReferenceScorer(dir, result.weights, { id: `${id}-fold-${f}` });
      for (const [k, v] of await scorePairs(dir, held, o.training?.threads)) scores.set(k, v);
      foldRuns.push({ fold: f, train: train.length, held: held.length, losses: result.losses, learningRate: result.learningRate, retries: result.retries });
    }
    log('final model on all pairs');
    const final = await trainReferenceScorer(pairs, { ...o.training, seed, log: foldLog(log, -1, folds) }, decoded).catch((err) => {
      throw new Error(`final model: ${errorMessage(err)}`);
    });
    skipped.push(...final.skipped);
    await writeReferenceScorer(outDir, final.weights, { id, description: `bootstrapped from ${path.basename(path.resolve(input))} by weft train-scorer (see TRAINING.md)` });
    const column = `oos_${scoreColumnName(id)}`;
    const scoresFile = path.join(outDir, 'oos-scores.parquet');
    await writeFlatParquet(
      scoresFile,
      [
        { name: 'id', type: 'UTF8', optional: false },
        { name: column, type: 'DOUBLE', optional: false },
      ],
      [...scores].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([pairId, score]) => ({ id: pairId, [column]: score })),
    );
    foldRuns.push({ fold: -1, train: pairs.length, held: 0, losses: final.losses, learningRate: final.learningRate, retries: final.retries });
    await fs.writeFile(path.join(outDir, 'TRAINING.md'), trainingCard({ input, id, folds, seed, pairs: pairs.length, scored: scores.size, skipped: skipped.length, options: final.options, runs: foldRuns, column }));
    return { scorerDir: outDir, scoresFile, column, pairs: pairs.length, scores, skipped, folds: foldRuns };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Cosine score of each pair whose image the scorer can read. */
async function scorePairs(dir: string, pairs: TrainingPair[], threads?: number): Promise<Map<string, number>> {
  const scorer = await loadScorer(dir, threads ? { threads } : {});
  try {
    const images = await embedReadableImages(scorer, pairs.map((p) => p.image), { detail: false });
    const readable = pairs.map((_, i) => i).filter((i) => images.pooled[i] !== null);
    const texts = await scorer.embedTexts(readable.map((i) => pairs[i].caption), { detail: false });
    return new Map(readable.map((i, k) => [pairs[i].id, cosine(images.pooled[i]!, texts.pooled[k])]));
  } finally {
    await scorer.close();
  }
}

function trainingCard(c: { input: string; id: string; folds: number; seed: number; pairs: number; scored: number; skipped: number; options: Record<string, unknown>; runs: FoldRun[]; column: string }): string {
  const final = c.runs.at(-1)!;
  const rows = c.runs.map((r) => `| ${r.fold < 0 ? 'final' : r.fold + 1} | ${r.train} | ${r.held} | ${r.losses[0]?.toFixed(3)} | ${r.losses.at(-1)?.toFixed(3)} | ${r.learningRate.toPrecision(3)} | ${r.retries} |`);
  return `# ${c.id}: training card

Bootstrapped reference scorer, trained by \`weft train-scorer\` from the pairs of ${c.input}.

- pairs: ${c.pairs} (${c.skipped} with unreadable images left out)
- ${c.folds}-fold cross-scoring (folds by a hash of the image's sha256, so no image is in two folds; seed ${c.seed}): ${c.scored} pairs scored out of sample, in \`oos-scores.parquet\` (column \`${c.column}\`)
- the model in this folder was trained on all pairs, so its own scores of these pairs are in-sample; filter them with the out-of-sample scores:
  \`weft filter OUT --scores oos-scores.parquet --keep-top 0.7 --out OUT2\`
- training options: \`${JSON.stringify(c.options)}\`
- final model's loss per epoch: ${final.losses.map((l) => l.toFixed(3)).join(' ')}

| fold | training pairs | scored | first-epoch loss | last-epoch loss | learning rate | retries |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}
