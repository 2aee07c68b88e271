// Kill -9 trials of `weft run`, `weft merge`, `weft filter` and `weft report`: each trial starts the real CLI
// (node bin/weft.js), SIGKILLs it at a random moment (seeded) of its work, once or twice in a
// row, reruns it to the end and compares the output with the uninterrupted one:
//   run     sample ids in the shards (none lost, none twice), index ids, reject rows, totals
//   merge,  the same, plus every shard path and sha256 equal to the uninterrupted output's
//   filter,
//   report
// and for all: every shard's bytes match the sha256 the manifest records, no temporary or
// staging files remain. Prints per command the trials, how many kills landed before the
// command finished, and the failures with what differed.
//
//   node --import tsx scripts/kill-trials.ts [--trials N] [--seed S] [--only run,merge,filter,report] [--keep]
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import * as arrow from 'apache-arrow';
import { makeDemoCorpus } from '../corpora/demo-corpus.ts';
import { mulberry32 } from '../core/random.ts';
import { readFlatParquet } from '../output/parquet-tables.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const weft = path.join(repo, 'bin', 'weft.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const trials = Number(arg('trials', '20'));
const seed = Number(arg('seed', '1'));
const only = arg('only', 'run,merge,filter,report').split(',');
const keep = process.argv.includes('--keep');

function weftSync(args: string[]): { status: number | null; stderr: string; ms: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, [weft, ...args], { encoding: 'utf8', cwd: repo });
  return { status: r.status, stderr: r.stderr, ms: performance.now() - started };
}

/** Starts the command and SIGKILLs it after `ms`; resolves whether the kill came before it ended. */
function killAfter(args: string[], ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [weft, ...args], { stdio: 'ignore', cwd: repo });
    let landed = false;
    const timer = setTimeout(() => {
      landed = child.exitCode === null && child.signalCode === null;
      child.kill('SIGKILL');
    }, ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(landed);
    });
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)).map((f) => path.join(e.name, f)));
    else out.push(e.name);
  }
  return out;
}

interface Content {
  shardIds: string[];
  indexIds: string[];
  rejects: string[];
  totals: unknown;
  shards: [string, string, number][];
}

/** What an OUT holds, read independently of the code that finalised it; throws on broken integrity. */
async function contentOf(out: string): Promise<Content> {
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { shards: { path: string; sha256: string; rows: number }[]; totals: unknown };
  const shardIds: string[] = [];
  for (const s of manifest.shards) {
    const bytes = await readFile(path.join(out, s.path));
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== s.sha256) throw new Error(`${s.path}: sha256 ${sha} but the manifest records ${s.sha256}`);
    const table = arrow.tableFromIPC(bytes);
    if (table.numRows !== s.rows) throw new Error(`${s.path}: ${table.numRows} rows but the manifest records ${s.rows}`);
    const col = table.getChild('id')!;
    for (let i = 0; i < table.numRows; i++) shardIds.push(String(col.get(i)));
  }
  const onDisk = existsSync(path.join(out, 'shards')) ? (await readdir(path.join(out, 'shards'))).map((f) => `shards/${f}`).sort() : [];
  const listed = manifest.shards.map((s) => s.path).sort();
  if (!isDeepStrictEqual(onDisk, listed)) throw new Error(`shards/ holds ${onDisk.length} files, the manifest lists ${listed.length}`);
  const stray = (await listFiles(out)).filter((f) => f.includes('.tmp') || f.includes('.staging') || f.includes('.finalise-spill-'));
  if (stray.length) throw new Error(`temporary files left: ${stray.slice(0, 5).join(', ')}`);
  if (existsSync(`${out}.staging`) || (await readdir(path.dirname(out))).some((f) => f.startsWith(`.${path.basename(out)}.`))) throw new Error('a staging folder of the target is left');
  const index = await readFlatParquet(path.join(out, 'index.parquet'));
  const rejects = await readFlatParquet(path.join(out, 'rejects.parquet'));
  return {
    shardIds: shardIds.sort(),
    indexIds: index.map((r) => String(r.id)).sort(),
    rejects: rejects.map((r) => `${r.id} ${r.stage} ${r.reason}`).sort(),
    totals: manifest.totals,
    shards: manifest.shards.map((s) => [s.path, s.sha256, s.rows] as [string, string, number]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  };
}

function differences(got: Content, want: Content, compareShards: boolean): string[] {
  const out: string[] = [];
  if (new Set(got.shardIds).size !== got.shardIds.length) out.push('a sample id is in the shards twice');
  if (!isDeepStrictEqual(got.shardIds, want.shardIds)) out.push(`shard ids: ${got.shardIds.length} vs ${want.shardIds.length}`);
  if (!isDeepStrictEqual(got.indexIds, want.indexIds)) out.push(`index ids: ${got.indexIds.length} vs ${want.indexIds.length}`);
  if (!isDeepStrictEqual(got.rejects, want.rejects)) out.push(`reject rows: ${got.rejects.length} vs ${want.rejects.length}`);
  if (!isDeepStrictEqual(got.totals, want.totals)) out.push(`totals ${JSON.stringify(got.totals)} vs ${JSON.stringify(want.totals)}`);
  if (compareShards && !isDeepStrictEqual(got.shards, want.shards)) out.push('shard paths or sha256s differ');
  return out;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-kill-trials-'));
  const rand = mulberry32(seed);
  try {
    await makeDemoCorpus(path.join(work, 'corpus'), { count: 90, seed: 3 });
    const demo = await readFile(path.join(repo, 'fixtures', 'demo.yaml'), 'utf8');
    const config = path.join(work, 'demo.yaml');
    await writeFile(config, demo.replace(/path: generated\/demo\/images/, 'path: corpus/images').replace(/rows_per_unit: \d+/, 'rows_per_unit: 15').replace(/max_shard_bytes: \d+/, 'max_shard_bytes: 60000').replace(/rows_per_batch: \d+/, 'rows_per_batch: 8'));
    const dir = (name: string) => path.join(work, name);
    const runArgs = (out: string, extra: string[] = []) => ['run', config, '--out', out, '--no-progress', '--log-level', 'error', ...extra];
    const ref = weftSync(runArgs(dir('reference')));
    if (ref.status !== 0) throw new Error(`reference run failed: ${ref.stderr}`);
    for (const r of [0, 1]) {
      const part = weftSync(runArgs(dir(`rank${r}`), ['--rank', String(r), '--world-size', '2']));
      if (part.status !== 0) throw new Error(`rank ${r} failed: ${part.stderr}`);
    }
    const commands: Record<string, { args: (out: string) => string[]; compareShards: boolean; prepare?: (out: string) => Promise<void> }> = {
      run: { args: (out) => runArgs(out), compareShards: false },
      // weft report rebuilds the derived files of a finished OUT in place (a copy per trial).
      report: { args: (out) => ['report', out], compareShards: true, prepare: (out) => cp(dir('reference'), out, { recursive: true }) },
      merge: { args: (out) => ['merge', dir('rank0'), dir('rank1'), '--out', out], compareShards: true },
      filter: { args: (out) => ['filter', dir('reference'), '--threshold', '0.5', '--out', out], compareShards: true },
    };
    const summary: Record<string, { trials: number; kills: number; landed: number; failures: string[]; reference_ms: number }> = {};
    for (const name of only) {
      const c = commands[name];
      if (!c) throw new Error(`unknown command ${name}`);
      const reference = dir(`${name}-reference`);
      await c.prepare?.(reference);
      const uninterrupted = name === 'run' ? { status: 0, ms: ref.ms, stderr: '' } : weftSync(c.args(reference));
      if (uninterrupted.status !== 0) throw new Error(`${name}: the uninterrupted command failed: ${uninterrupted.stderr}`);
      const want = await contentOf(name === 'run' ? dir('reference') : reference);
      const s = (summary[name] = { trials: 0, kills: 0, landed: 0, failures: [] as string[], reference_ms: Math.round(uninterrupted.ms) });
      for (let t = 0; t < trials; t++) {
        const out = dir(`${name}-trial-${t}`);
        await c.prepare?.(out);
        // One or two kills in a row, each at a uniform moment of the uninterrupted command's time (Node start-up included).
        const kills = rand() < 0.3 ? 2 : 1;
        const moments: number[] = [];
        for (let k = 0; k < kills; k++) {
          const ms = Math.round(rand() * uninterrupted.ms * 1.05);
          moments.push(ms);
          s.kills++;
          if (await killAfter(c.args(out), ms)) s.landed++;
        }
        s.trials++;
        const rerun = weftSync(c.args(out));
        let problems: string[];
        if (rerun.status !== 0) problems = [`rerun exit ${rerun.status}: ${rerun.stderr.trim().split('\n').slice(-2).join(' | ')}`];
        else {
          try {
            problems = differences(await contentOf(out), want, c.compareShards);
          } catch (err) {
            problems = [(err as Error).message];
          }
        }
        if (problems.length) s.failures.push(`trial ${t} (killed at ${moments.join(', ')} ms): ${problems.join('; ')}`);
        process.stderr.write(`${name} trial ${t}: killed at ${moments.join(', ')} ms, ${problems.length ? `FAILED: ${problems.join('; ')}` : 'rerun equals the uninterrupted output'}\n`);
        if (!keep) await rm(out, { recursive: true, force: true });
      }
    }
    for (const [name, s] of Object.entries(summary)) {
      process.stdout.write(`${name}: ${s.trials} trials, ${s.kills} kills of which ${s.landed} landed before the command ended (uninterrupted ${s.reference_ms} ms), ${s.failures.length} failures\n`);
      for (const f of s.failures) process.stdout.write(`  ${f}\n`);
    }
    process.stdout.write(JSON.stringify({ seed, summary }) + '\n');
    if (Object.values(summary).some((s) => s.failures.length)) process.exitCode = 1;
  } finally {
    if (!keep) await rm(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
}

await main();
