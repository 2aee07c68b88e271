// weft eval-scorer: measures a scorer folder on held-out data (retrieval, noisy-pair detection,
// grounding, curation lift) and prints every bar of the reference scorer with PASS/FAIL.
// The evaluation itself lives in stages/score/eval/evaluate.ts.
import type { Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { UsageError, nonNegativeInt, positiveInt } from '../usage.ts';
import { evaluateScorer, formatEvaluation } from '../../scorer/eval/evaluate.ts';

const CORPORA = ['synthetic', 'openclipart', 'both'] as const;

export function register(program: Command): void {
  program
    .command('eval-scorer')
    .description('evaluate a scorer on held-out synthetic and openclipart data against the reference bars')
    .option('--scorer <dir>', 'scorer folder', path.join('models', 'reference'))
    .option('--corpus <name>', `which corpus: ${CORPORA.join(', ')}`, 'both')
    .option('--n <count>', 'synthetic held-out pairs', '1000')
    .option('--seed <n>', 'seed of the held-out synthetic corpus, the swaps and the edits', '2')
    .option('--curation <count>', 'training pairs of the curation-lift experiment (0 skips it)', '4000')
    .option('--epochs <n>', 'epochs of each curation-lift model', '40')
    .option('--openclipart-count <n>', 'openclipart drawings to render (default: all)')
    .option('--data <dir>', 'cache folder for the generated corpora', path.join('.weft-tmp', 'eval-corpora'))
    .option('--json', 'print the evaluation as JSON instead of the table')
    .option('--strict', 'exit with status 1 when a bar is not met')
    .action(async (o: { scorer: string; corpus: string; n: string; seed: string; curation: string; epochs: string; openclipartCount?: string; data: string; json?: boolean; strict?: boolean }) => {
      if (!(CORPORA as readonly string[]).includes(o.corpus)) throw new UsageError(`--corpus: got ${JSON.stringify(o.corpus)}; allowed: ${CORPORA.join(', ')}`);
      if (!existsSync(o.scorer)) throw new UsageError(`--scorer: ${o.scorer} does not exist`);
      const evaluation = await evaluateScorer({
        scorer: o.scorer,
        corpus: o.corpus as (typeof CORPORA)[number],
        n: positiveInt(o.n, '--n'),
        seed: nonNegativeInt(o.seed, '--seed'),
        curationTrain: nonNegativeInt(o.curation, '--curation'),
        curationTraining: { epochs: positiveInt(o.epochs, '--epochs') },
        ...(o.openclipartCount ? { openclipartCount: positiveInt(o.openclipartCount, '--openclipart-count') } : {}),
        data: o.data,
        log: o.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(o.json ? `${JSON.stringify(evaluation)}\n` : `${formatEvaluation(evaluation)}\n`);
      if (o.strict && evaluation.bars.some((b) => !b.pass)) process.exitCode = 1;
    });
}
