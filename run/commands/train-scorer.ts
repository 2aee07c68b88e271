// weft train-scorer INPUT --out DIR: a scorer learned from the corpus itself (the reference
// architecture), with k-fold out-of-sample scores for every pair (stages/score/train-from-shards.ts).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { UsageError, positiveInt } from '../usage.ts';
import { IndexQueryError } from '../../output/index-query.ts';
import { trainScorerFromShards } from './train-from-shards.ts';
import type { ImageTower } from '../../scorer/reference-trainer.ts';

/** The tower of the shipped default scorer: it meets more bars (models/reference-backbone/TRAINING.md compares the two). */
const DEFAULT_IMAGE_TOWER: ImageTower = 'random';

export function register(program: Command): void {
  program
    .command('train-scorer')
    .description('train the reference scorer architecture from weft shards, scoring every pair out of sample (k-fold) for weft filter --scores')
    .argument('<input>', 'an OUT folder (its indexed pairs), a folder of .arrow shards, or one shard')
    .requiredOption('--out <dir>', 'scorer folder to write (models, tokenizer, TRAINING.md, oos-scores.parquet)')
    .option('--folds <k>', 'folds for out-of-sample scoring', '5')
    .option('--epochs <n>', 'training epochs per model', '40')
    .option('--dim <n>', 'joint embedding size', '256')
    .option('--seed <n>', 'random seed', '1')
    .option('--id <id>', 'scorer id (names score columns)', 'weft-bootstrapped')
    .option('--where <sql>', 'train on the index rows where this SQL expression over index.parquet holds (OUT folders)')
    .option('--fn-aware-batches', 'at most one pair of each k-means cluster (index column cluster_id) per batch, so near-duplicates are not each other\'s negatives (OUT folders clustered by curate.corpus.clusters)')
    .option('--image-tower <tower>', 'image features: random (fixed random convolutions, 64 px, no third-party weights) or backbone (the frozen nsfwjs MobileNetV2, 224 px)', DEFAULT_IMAGE_TOWER)
    .exitOverride()
    .action(async (input: string, o: { out: string; folds: string; epochs: string; dim: string; seed: string; id: string; where?: string; imageTower: string; fnAwareBatches?: boolean }) => {
      if (o.imageTower !== 'backbone' && o.imageTower !== 'random') throw new UsageError(`--image-tower: backbone or random, got ${JSON.stringify(o.imageTower)}`);
      if (!existsSync(input)) throw new UsageError(`${input} does not exist`);
      if (existsSync(o.out) && (await readdir(o.out)).length > 0) throw new UsageError(`${o.out} is not empty; train-scorer writes a new folder`);
      const folds = positiveInt(o.folds, '--folds');
      if (folds < 2) throw new UsageError('--folds: at least 2 (each pair is scored by a model trained without it)');
      const r = await trainScorerFromShards(input, o.out, {
        folds,
        where: o.where,
        seed: positiveInt(o.seed, '--seed'),
        id: o.id,
        training: { imageTower: o.imageTower, epochs: positiveInt(o.epochs, '--epochs'), dim: positiveInt(o.dim, '--dim'), distinctGroupBatches: o.fnAwareBatches === true },
        log: (line) => process.stderr.write(`[train-scorer] ${line}\n`),
      }).catch((err) => {
        throw err instanceof IndexQueryError ? new UsageError(err.message) : err;
      });
      process.stdout.write(`${r.scorerDir}: ${r.pairs} pairs, ${r.scores.size} scored out of sample in ${r.scoresFile} (column ${r.column})\n`);
    });
}
