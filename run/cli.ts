// The `weft` command line. Exit codes: 0 done; 1 the run could not proceed (or some units
// failed: see the log); 2 bad usage or an invalid config; 130 interrupted (rerun resumes).
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError, loadConfigFile } from '../schemas/config-file.ts';
import type { RunSummary } from './executor.ts';
import { createLogger, type LogLevel } from '../core/logger.ts';
import { FingerprintMismatchError } from '../output/out-dir.ts';
import { OutLockedError } from '../output/out-lock.ts';
import { WEFT_VERSION } from '../core/version.ts';
import { benchNames, runBench } from './bench/registry.ts';
import { registerAllBenches } from './bench/index.ts';

import { commandModulesFor } from './commands/registry.ts';
import { UsageError, positiveInt, nonNegativeInt } from './usage.ts';

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  for (const m of commandModulesFor(argv)) (await m.load()).register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`weft: ${err.message}\n`);
      return 2;
    }
    if (err instanceof FingerprintMismatchError || err instanceof OutLockedError) {
      process.stderr.write(`weft: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`weft: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.WEFT_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

function buildProgram(): Command {
  const program = new Command('weft')
    .description('Turn raw multimodal data into aligned, curated Arrow training shards with an alignment-quality report.')
    .version(WEFT_VERSION)
    .exitOverride()
    .showHelpAfterError('(run weft --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // Every --out is a local folder: a URL (s3://, gs://, http://) would otherwise become a
  // local folder named `s3:` and report success.
  program.hook('preAction', (_cmd, action) => {
    const out = action.opts().out as unknown;
    if (typeof out === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(out)) {
      throw new UsageError(`--out ${out}: only local folders are supported (object storage such as s3:// is not); write locally and copy`);
    }
  });

  const rankOption = new Option('--rank <i>', 'this process\'s index among --world-size processes (0-based)').default('0');
  const worldOption = new Option('--world-size <n>', 'number of independent processes sharing the input; each writes its own --out, combine them with weft merge').default('1');
  const logOption = new Option('--log-level <level>', 'debug | info | warn | error | silent (overrides run.log_level)');
  const noProgress = new Option('--no-progress', 'do not draw a progress line');

  program
    .command('run')
    .description('run the pipeline described by a config file; rerunning with the same config and --out resumes, skipping committed units')
    .argument('<config>', 'YAML or JSON config file (see README: Config reference)')
    .requiredOption('--out <dir>', 'output folder (manifest.json, shards/, index.parquet, rejects.parquet, stats.json, report.html)')
    .addOption(rankOption)
    .addOption(worldOption)
    .addOption(logOption)
    .addOption(noProgress)
    .option('--redo-changed', 'discard and redo committed units whose input changed since (and drop those no longer in the input) instead of refusing')
    .exitOverride()
    .action(async (configPath: string, o: { out: string; rank: string; worldSize: string; logLevel?: string; progress: boolean; redoChanged?: boolean }) => {
      checkRank(o.rank, o.worldSize);
      const loaded = await loadConfigFile(configPath);
      const summary = await runWithSignals(loaded, o);
      process.exitCode = exitCodeOf(summary);
    });

  program
    .command('demo')
    .description('generate the synthetic demo corpus (if absent) and run the pipeline on it')
    .option('--out <dir>', 'output folder', 'out/demo')
    .option('--count <n>', 'images in the generated corpus', '240')
    .addOption(logOption)
    .addOption(noProgress)
    .exitOverride()
    .action(async (o: { out: string; count: string; logLevel?: string; progress: boolean }) => {
      const count = positiveInt(o.count, '--count');
      const { runDemo } = await import('./demo.ts');
      const summary = await runDemo({ outDir: o.out, count, progress: o.progress, logLevel: o.logLevel as LogLevel | undefined, run: runWithSignals });
      process.exitCode = exitCodeOf(summary);
    });

  program
    .command('inspect')
    .description('print a shard\'s schema, metadata and first rows, or an OUT folder\'s manifest summary')
    .argument('<path>', 'a shards/*.arrow file or an OUT folder')
    .option('--rows <n>', 'rows to print', '5')
    .exitOverride()
    .action(async (p: string, o: { rows: string }) => {
      const { inspectPath } = await import('../output/inspect.ts');
      process.stdout.write(await inspectPath(p, positiveInt(o.rows, '--rows')));
    });

  program
    .command('report')
    .description('rebuild manifest.json, index.parquet, rejects.parquet, stats.json and report.html from what is committed in OUT')
    .argument('<out>', 'an OUT folder')
    .option('--allow-partial', 'report a folder that misses planned units (marked partial in the manifest and report) instead of refusing')
    .exitOverride()
    .action(async (out: string, o: { allowPartial?: boolean }) => {
      requireOutDir(out);
      const { reportOutDir } = await import('../output/report-folder.ts');
      const r = await reportOutDir(out, { allowPartial: o.allowPartial });
      process.stdout.write(`${path.join(out, 'report.html')} (${r.manifest.totals.kept} kept, ${r.manifest.totals.dropped} dropped)\n`);
    });

  program
    .command('merge')
    .description('combine the OUT folders of several ranks (same config) into one OUT')
    .argument('<outs...>', 'OUT folders written by weft run --rank i --world-size n')
    .requiredOption('--out <dir>', 'merged output folder (must not exist or be empty)')
    .option('--allow-partial', 'merge even if the parts miss planned units (listed as partial in run.json)')
    .exitOverride()
    .action(async (outs: string[], o: { out: string; allowPartial?: boolean }) => {
      for (const d of outs) requireOutDir(d);
      const { mergeOutDirs } = await import('../output/merge.ts');
      const r = await mergeOutDirs(outs, o.out, { allowPartial: o.allowPartial });
      process.stdout.write(`${r.alreadyBuilt ? `${o.out} already holds the merge of these folders (left as it is): ` : `merged ${outs.length} folders into ${o.out}: `}${r.manifest.units.length} units, ${r.manifest.totals.kept} kept, ${r.manifest.totals.dropped} dropped, ${r.manifest.totals.shards} shards\n`);
    });

  registerAllBenches();
  program
    .command('bench')
    .description(`measure throughput against a limit measured in the same run, and peak RSS: ${benchNames().map((b) => `${b.name} (${b.describe})`).join('; ') || 'none registered'}`)
    .argument('<name>', `benchmark: ${benchNames().map((b) => b.name).join(' | ')}`)
    .option('--n <count>', 'samples per measurement (default: the benchmark\'s own)')
    .option('--json', 'print the figures as one JSON line at the end')
    .option('--keep', 'keep the scratch folder')
    .option('--tail', 'web: the same URLs with 0%, 1% slow (2 s) and 1% never-answering responses')
    .option('--hosts', 'web: 32 hosts on 127.0.0.2-33, all healthy vs 30 healthy and 2 failing')
    .exitOverride()
    .action(async (name: string, o: { n?: string; json?: boolean; keep?: boolean; tail?: boolean; hosts?: boolean }) => {
      const n = o.n === undefined ? 0 : positiveInt(o.n, '--n');
      const report = await runBench(name, n, !!o.keep, (l) => process.stderr.write(`[bench] ${l}\n`), { tail: !!o.tail, hosts: !!o.hosts });
      for (const line of report.lines) process.stdout.write(line + '\n');
      if (o.json) process.stdout.write(JSON.stringify({ name: report.name, ...report.metrics }) + '\n');
    });

  return program;
}

type RunFlags = { out: string; rank?: string; worldSize?: string; logLevel?: string; progress: boolean; redoChanged?: boolean };

/** Runs with Ctrl-C handling: the first SIGINT/SIGTERM stops after in-flight items, leaving the open unit uncommitted. */
async function runWithSignals(loaded: Awaited<ReturnType<typeof loadConfigFile>>, o: RunFlags): Promise<RunSummary> {
  const { rank, worldSize } = checkRank(o.rank ?? '0', o.worldSize ?? '1');
  const level = (o.logLevel ?? loaded.config.run.log_level) as LogLevel;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) throw new UsageError(`--log-level: got ${JSON.stringify(level)}; allowed: debug, info, warn, error, silent`);
  const log = createLogger(level);
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130); // second Ctrl-C: committed work is safe anyway
    log.warn(`${sig}: finishing in-flight items; the open unit stays uncommitted (press again to quit now)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { runPipeline } = await import('./executor.ts');
    const summary = await runPipeline({ loaded, outDir: o.out, rank, worldSize, redoChanged: !!o.redoChanged, signal: controller.signal, log, progress: o.progress && level !== 'silent' });
    printSummary(summary, log.info.bind(log));
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printSummary(s: RunSummary, say: (line: string) => void): void {
  const reasons = Object.entries(s.droppedByReason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  say(`kept ${s.kept}, dropped ${s.dropped}${reasons ? ` (${reasons})` : ''}`);
  say(`${s.shards} shard(s), units: ${s.unitsRun} run, ${s.unitsSkipped} already committed, ${s.unitsFailed.length} failed; ${(s.wallMs / 1000).toFixed(1)} s`);
  if (s.aborted) say('interrupted: rerun the same command to finish');
  say(`report: ${path.join(s.outDir, 'report.html')}`);
}

function exitCodeOf(s: RunSummary): number {
  if (s.aborted) return 130;
  return s.unitsFailed.length ? 1 : 0;
}

function checkRank(rankFlag: string, worldFlag: string): { rank: number; worldSize: number } {
  const rank = nonNegativeInt(rankFlag, '--rank');
  const worldSize = positiveInt(worldFlag, '--world-size');
  if (rank >= worldSize) throw new UsageError(`--rank ${rank} must be below --world-size ${worldSize}`);
  return { rank, worldSize };
}

function requireOutDir(d: string): void {
  if (!existsSync(path.join(d, 'run.json'))) throw new UsageError(`${d} is not a weft OUT folder (no run.json)`);
}
