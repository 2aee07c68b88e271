// weft diff OUT_A OUT_B --out DIR: which samples changed fate between two outputs of the same
// input (kept -> dropped, another reason, a score moved by more than --delta), as diff.html and
// changed.parquet in DIR, with the counts per reason before and after.
import type { Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { UsageError } from '../usage.ts';
import { diffOutDirs, writeChangesParquet } from '../../output/run-diff.ts';
import { renderDiff } from '../../report/diff-html.ts';
import { writeFileAtomic } from '../../output/fs-atomic.ts';

export function register(program: Command): void {
  program
    .command('diff')
    .description('compare two OUT folders of the same input: diff.html and changed.parquet of the samples whose fate or score changed')
    .argument('<a>', 'the OUT folder before')
    .argument('<b>', 'the OUT folder after')
    .requiredOption('--out <dir>', 'folder for diff.html and changed.parquet')
    .option('--delta <score>', 'a kept sample whose score moved by more than this counts as changed', '0.05')
    .option('--column <name>', "score column to compare (default: each run's scorer column)")
    .exitOverride()
    .action(async (a: string, b: string, o: { out: string; delta: string; column?: string }) => {
      for (const d of [a, b]) {
        for (const f of ['manifest.json', 'index.parquet', 'rejects.parquet']) if (!existsSync(path.join(d, f))) throw new UsageError(`${d} is not a finalised weft OUT folder (no ${f})`);
      }
      const delta = Number(o.delta);
      if (!Number.isFinite(delta) || delta < 0) throw new UsageError(`--delta: got ${JSON.stringify(o.delta)}; expected a number >= 0`);
      const diff = await diffOutDirs(a, b, { delta, column: o.column });
      await mkdir(o.out, { recursive: true });
      await writeChangesParquet(path.join(o.out, 'changed.parquet'), diff);
      await writeFileAtomic(path.join(o.out, 'diff.html'), renderDiff(diff));
      const c = diff.counts;
      process.stdout.write(
        `${path.join(o.out, 'diff.html')}: ${diff.changes.length} changed (kept->dropped ${c.kept_to_dropped}, dropped->kept ${c.dropped_to_kept}, reason ${c.reason_changed}, score ${c.score_moved}, only in A ${c.only_in_a}, only in B ${c.only_in_b})\n`,
      );
    });
}
