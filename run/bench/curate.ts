// weft bench curate: the corpus passes of curate.corpus (k-means, then semantic dedup) over
// synthetic stored embeddings at two corpus sizes (n/4 and n; default 50k and 200k), each in a
// fresh child process for its peak RSS. Per size: time of the seeding pass, of each Lloyd pass
// and of the dedup pass (spill + per-cluster compare), against the limit measured in the same
// child: one pass that only reads and decodes the sidecars. Times are the child's CPU time (the
// machine may be shared; wall times are logged beside them). Aims: a Lloyd pass's time per row
// the same at both sizes (linear in N) and peak RSS flat in N (the passes hold centroids and one
// unit, never the corpus).
//
//   weft bench curate [--n ROWS]   (default 200000; also runs ROWS / 4)
//   node --import tsx run/bench/curate.ts --child <sidecar-folder>   (used by the bench)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ArrowShardWriter } from '../../output/arrow-shard-writer.ts';
import { corpusSidecarSchema } from '../../stages/curate/corpus-sidecar.ts';
import { CorpusSidecars } from '../../output/corpus-sidecars.ts';
import { CorpusPasses } from '../../output/corpus-passes.ts';
import { curateSchema } from '../../schemas/curate-config.ts';
import { cpuMsSince, normalise } from '../../stages/curate/kmeans.ts';
import { mulberry32 } from '../../core/random.ts';
import type { RunInfo, UnitCompletion } from '../../output/out-dir.ts';
import type { ScoredSample } from '../../stages/score/score-columns.ts';
import { reportFromChild, runChildMeasurement, type Bench } from './harness.ts';

const SCRIPT = 'run/bench/curate.ts';
const DEFAULT_ROWS = 200_000;
const DIM = 64;
const K = 100;
const PASSES = 5;
const ROWS_PER_UNIT = 10_000;
/** Share of rows that are near-duplicates of an earlier row. */
const DUPLICATE_SHARE = 0.05;

/** CPU ms of the child (the machine may be shared: wall time counts others' load); wall ms beside. */
interface ChildResult {
  rows: number;
  read_ms: number;
  seeding_ms: number;
  lloyd_ms: number[];
  dedup_ms: number;
  wall: { read_ms: number; seeding_ms: number; lloyd_ms: number[]; dedup_ms: number };
  marked: number;
  peak_rss_mib: number;
}

export const bench: Bench = async ({ n, workDir, log }) => {
  const large = n || DEFAULT_ROWS;
  const sizes = [Math.max(1000, Math.floor(large / 4)), large];
  const results: ChildResult[] = [];
  for (const rows of sizes) {
    const dir = path.join(workDir, `rows-${rows}`);
    const started = performance.now();
    await writeSyntheticSidecars(dir, rows, 11);
    log(`${rows} rows of ${DIM}-d float16 embeddings written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const r = await runChildMeasurement<ChildResult>(SCRIPT, ['--child', dir]);
    results.push(r);
    log(`${rows} rows, CPU ms: read ${r.read_ms.toFixed(0)}, seeding ${r.seeding_ms.toFixed(0)}, Lloyd ${r.lloyd_ms.map((x) => x.toFixed(0)).join('/')}, dedup ${r.dedup_ms.toFixed(0)}; wall ms: Lloyd ${r.wall.lloyd_ms.map((x) => x.toFixed(0)).join('/')}, dedup ${r.wall.dedup_ms.toFixed(0)}; peak RSS ${r.peak_rss_mib.toFixed(0)} MiB`);
  }
  const perRow = (r: ChildResult, ms: number) => (ms * 1000) / r.rows;
  const lloyd = (r: ChildResult) => r.lloyd_ms.reduce((a, b) => a + b, 0) / r.lloyd_ms.length;
  const [small, big] = results;
  const lines = results.map(
    (r) =>
      `${r.rows} rows (k ${K}, dim ${DIM}), CPU time: Lloyd pass ${lloyd(r).toFixed(0)} ms (${perRow(r, lloyd(r)).toFixed(2)} us/row, ${(lloyd(r) / r.read_ms).toFixed(2)}x a read-only pass of ${r.read_ms.toFixed(0)} ms), ` +
      `seeding ${r.seeding_ms.toFixed(0)} ms, dedup ${r.dedup_ms.toFixed(0)} ms (${perRow(r, r.dedup_ms).toFixed(2)} us/row, ${r.marked} marked), peak RSS ${r.peak_rss_mib.toFixed(0)} MiB`,
  );
  const linear = perRow(big, lloyd(big)) / perRow(small, lloyd(small));
  const dedupLinear = perRow(big, big.dedup_ms) / perRow(small, small.dedup_ms);
  const rss = big.peak_rss_mib / small.peak_rss_mib;
  lines.push(`Lloyd time per row, ${big.rows} vs ${small.rows}: ${linear.toFixed(2)} (1 = linear in N); dedup per row: ${dedupLinear.toFixed(2)}; peak RSS ratio ${rss.toFixed(2)} (1 = flat in N)`);
  return {
    name: 'curate',
    lines,
    metrics: {
      small_rows: small.rows,
      large_rows: big.rows,
      small_lloyd_ms: lloyd(small),
      large_lloyd_ms: lloyd(big),
      small_dedup_ms: small.dedup_ms,
      large_dedup_ms: big.dedup_ms,
      small_peak_rss_mib: small.peak_rss_mib,
      large_peak_rss_mib: big.peak_rss_mib,
      lloyd_per_row_ratio: linear,
      dedup_per_row_ratio: dedupLinear,
      peak_rss_ratio: rss,
      lloyd_vs_read: lloyd(big) / big.read_ms,
    },
  };
};

/** Sidecars of `rows` samples around K planted directions, DUPLICATE_SHARE of them near-copies. */
async function writeSyntheticSidecars(dir: string, rows: number, seed: number): Promise<void> {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: K }, () => normalise(Float32Array.from({ length: DIM }, gauss)));
  const schema = corpusSidecarSchema(DIM);
  const completions: Pick<UnitCompletion, 'unit' | 'sidecars'>[] = [];
  const recent: Float32Array[] = [];
  await mkdir(path.join(dir, 'sidecars'), { recursive: true });
  for (let start = 0, u = 0; start < rows; start += ROWS_PER_UNIT, u++) {
    const unit = `unit-${String(u).padStart(5, '0')}`;
    const writer = new ArrowShardWriter<ScoredSample>({ schema, unitId: unit, stagingDir: path.join(dir, 'sidecars'), maxShardBytes: 2 ** 40, rowsPerBatch: schema.maxRowsPerBatch, metadata: {}, folder: 'sidecars' });
    for (let i = start; i < Math.min(rows, start + ROWS_PER_UNIT); i++) {
      let v: Float32Array;
      if (recent.length > 0 && rand() < DUPLICATE_SHARE) v = normalise(Float32Array.from(recent[Math.floor(rand() * recent.length)], (x) => x + 0.002 * gauss()));
      else v = normalise(Float32Array.from(centres[Math.floor(rand() * K)], (x) => x + 0.1 * gauss()));
      if (recent.length < 1000) recent.push(v);
      else recent[Math.floor(rand() * 1000)] = v;
      const sample = { id: `s-${String(i).padStart(8, '0')}`, caption: '', score: rand(), imageEmbedding: v } as unknown as ScoredSample;
      await writer.add(sample, 200);
    }
    const staged = await writer.finish();
    completions.push({ unit, sidecars: staged.map(({ stagedPath: _s, ...e }) => e) });
  }
  await writeFile(path.join(dir, 'completions.json'), JSON.stringify(completions));
}

async function child(dir: string): Promise<void> {
  const completions = JSON.parse(await readFile(path.join(dir, 'completions.json'), 'utf8')) as UnitCompletion[];
  // The limit: one pass that reads and decodes every sidecar and does nothing else.
  const sidecars = await CorpusSidecars.open(dir, completions);
  let rows = 0;
  const readStarted = performance.now();
  const readCpu = process.cpuUsage();
  for (const unit of sidecars.units) for await (const _ of sidecars.rows(unit)) rows++;
  const read_ms = cpuMsSince(readCpu);
  const readWall = performance.now() - readStarted;
  const curate = curateSchema.parse({ corpus: { clusters: { k: K, iterations: PASSES, tolerance: 0, seed: 1 }, semantic_dedup: { enabled: true, eps: 0.001 } } });
  const info = { fingerprint: 'bench', config: { curate }, scorers: [], filters: [], index_columns: [] } as RunInfo;
  const passes = (await CorpusPasses.run(dir, info, completions))!;
  const manifest = { filters: [] as Record<string, unknown>[], totals: { kept: rows, dropped: 0, shards: 0, bytes: 0 } };
  const { RunStats } = await import('../../core/stats.ts');
  passes.applyTo(new RunStats(), manifest as never);
  const marked = Number(manifest.filters.find((f) => f.rule === 'semantic_dedup')?.marked ?? 0);
  const t = passes.timings;
  reportFromChild({ rows, read_ms, seeding_ms: t.seeding_cpu_ms, lloyd_ms: t.lloyd_cpu_ms, dedup_ms: t.dedup_cpu_ms, wall: { read_ms: readWall, seeding_ms: t.seeding_ms, lloyd_ms: t.lloyd_ms, dedup_ms: t.dedup_ms }, marked });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--child') {
  await child(process.argv[3]);
}
