// weft bench finalise: finalise (manifest, index.parquet with the run-wide dedup marks, rejects,
// stats, report) of a synthetic web OUT folder at n/10 and n index rows (default 20k and 200k),
// each in a fresh child process for its peak RSS. Rows come in units of 10k with URL siblings,
// content duplicates and near pHashes spread across units, so every mark column is exercised.
// Aim: finalise's peak RSS flat in the number of rows (ratio close to 1); the run-wide dedup
// spills sorted runs to disk (output/run-wide-marks.ts). Beside it, in its own child, the
// in-memory pass (stages/curate/run-wide-dedup.ts) over the same rows, for comparison.
//
//   weft bench finalise [--n ROWS]   (default 200000; also runs ROWS / 10)
//   node --import tsx run/bench/finalise.ts --child <out-folder> finalise|memory   (used by the bench)
//   node --import tsx run/bench/finalise.ts --write <out-folder> ROWS   (a synthetic folder, to profile)
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../../core/random.ts';
import { RunStats } from '../../core/stats.ts';
import { writeJsonLinesGzAtomic } from '../../output/fs-atomic.ts';
import { finaliseOutDir } from '../../output/finalise.ts';
import { streamFlatParquet } from '../../output/parquet-tables.ts';
import { readCompletions, readUnitIndexRows, type RunInfo, type UnitCompletion } from '../../output/out-dir.ts';
import { runWideDedupMarks, type DedupRow } from '../../stages/curate/run-wide-dedup.ts';
import { peakRssMib, reportFromChild, runChildMeasurement, type Bench } from './harness.ts';

const SCRIPT = 'run/bench/finalise.ts';
const DEFAULT_ROWS = 200_000;
const ROWS_PER_UNIT = 10_000;

interface ChildResult {
  rows: number;
  wall_ms: number;
  marked: number;
  peak_rss_mib: number;
}

/** The heap cap of the second measurement: V8 grows its heap lazily when there is room, so the
 *  default-heap peak RSS also counts garbage; under a cap, finishing at all shows what is live. */
const HEAP_CAP_MIB = 96;

export const bench: Bench = async ({ n, workDir, log }) => {
  const large = n || DEFAULT_ROWS;
  const sizes = [Math.max(1000, Math.floor(large / 10)), large];
  const capped = [`--max-old-space-size=${HEAP_CAP_MIB}`];
  const results: { finalise: ChildResult; finaliseCapped: ChildResult; memory: ChildResult; memoryCapped: ChildResult | null }[] = [];
  for (const rows of sizes) {
    const dir = path.join(workDir, `rows-${rows}`);
    const started = performance.now();
    await writeSyntheticOut(dir, rows, 5);
    log(`${rows} synthetic index rows written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const finalise = await runChildMeasurement<ChildResult>(SCRIPT, ['--child', dir, 'finalise']);
    const finaliseCapped = await runChildMeasurement<ChildResult>(SCRIPT, ['--child', dir, 'finalise'], capped);
    const memory = await runChildMeasurement<ChildResult>(SCRIPT, ['--child', dir, 'memory']);
    const memoryCapped = await runChildMeasurement<ChildResult>(SCRIPT, ['--child', dir, 'memory'], capped).catch(() => null);
    results.push({ finalise, finaliseCapped, memory, memoryCapped });
    log(
      `${rows} rows: finalise ${finalise.wall_ms.toFixed(0)} ms, ${finalise.marked} marked, peak RSS ${finalise.peak_rss_mib.toFixed(0)} MiB (default heap), ${finaliseCapped.peak_rss_mib.toFixed(0)} MiB (heap cap ${HEAP_CAP_MIB} MiB); ` +
        `in-memory dedup pass alone: ${memory.peak_rss_mib.toFixed(0)} MiB, ${memoryCapped ? `${memoryCapped.peak_rss_mib.toFixed(0)} MiB` : 'out of memory'} under the cap`,
    );
  }
  const [small, big] = results;
  const ratio = big.finalise.peak_rss_mib / small.finalise.peak_rss_mib;
  const cappedRatio = big.finaliseCapped.peak_rss_mib / small.finaliseCapped.peak_rss_mib;
  const memoryRatio = big.memory.peak_rss_mib / small.memory.peak_rss_mib;
  const lines = [
    ...results.map(
      (r) =>
        `${r.finalise.rows} index rows: finalise peak RSS ${r.finalise.peak_rss_mib.toFixed(0)} MiB default heap, ${r.finaliseCapped.peak_rss_mib.toFixed(0)} MiB under a ${HEAP_CAP_MIB} MiB heap cap (${r.finalise.wall_ms.toFixed(0)} ms wall); ` +
        `in-memory dedup pass ${r.memory.peak_rss_mib.toFixed(0)} MiB, ${r.memoryCapped ? `${r.memoryCapped.peak_rss_mib.toFixed(0)} MiB` : 'out of memory'} under the cap`,
    ),
    `finalise peak RSS ratio ${big.finalise.rows} / ${small.finalise.rows} rows: ${ratio.toFixed(2)} default heap, ${cappedRatio.toFixed(2)} under the heap cap (1 = flat in N); in-memory pass: ${memoryRatio.toFixed(2)}`,
  ];
  return {
    name: 'finalise',
    lines,
    metrics: {
      small_rows: small.finalise.rows,
      large_rows: big.finalise.rows,
      small_peak_rss_mib: small.finalise.peak_rss_mib,
      large_peak_rss_mib: big.finalise.peak_rss_mib,
      peak_rss_ratio: ratio,
      heap_cap_mib: HEAP_CAP_MIB,
      capped_small_peak_rss_mib: small.finaliseCapped.peak_rss_mib,
      capped_large_peak_rss_mib: big.finaliseCapped.peak_rss_mib,
      capped_peak_rss_ratio: cappedRatio,
      small_wall_ms: small.finalise.wall_ms,
      large_wall_ms: big.finalise.wall_ms,
      memory_small_peak_rss_mib: small.memory.peak_rss_mib,
      memory_large_peak_rss_mib: big.memory.peak_rss_mib,
      memory_peak_rss_ratio: memoryRatio,
      memory_large_fits_cap: big.memoryCapped !== null,
    },
  };
};

function hex64(rand: () => number): string {
  return Array.from({ length: 2 }, () => Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0')).join('');
}

/** A web OUT folder with committed units of index rows and no shards (finalise reads the rows only). */
async function writeSyntheticOut(dir: string, rows: number, seed: number): Promise<void> {
  const rand = mulberry32(seed);
  await mkdir(path.join(dir, 'parts'), { recursive: true });
  await mkdir(path.join(dir, 'completions'), { recursive: true });
  await mkdir(path.join(dir, 'shards'), { recursive: true });
  const config = { source: { kind: 'web', path: 'urls.parquet' }, dedup: { phash: true, phash_max_distance: 4 } };
  const info: RunInfo = {
    fingerprint: 'bench-finalise',
    config,
    scorers: [],
    filters: [],
    index_columns: [
      { name: 'url', type: 'UTF8', optional: true },
      { name: 'sha256', type: 'UTF8', optional: true },
      { name: 'phash', type: 'UTF8', optional: true },
      { name: 'near_dup_of', type: 'UTF8', optional: true },
      { name: 'url_sibling_of', type: 'UTF8', optional: true },
      { name: 'caption', type: 'UTF8', optional: true },
    ],
  };
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(info));
  const earlier: { url: string; sha: string; phash: string }[] = [];
  const stats = new RunStats().toJSON();
  for (let start = 0, u = 0; start < rows; start += ROWS_PER_UNIT, u++) {
    const unit = `unit-${String(u).padStart(5, '0')}`;
    const shard = `shards/${unit}-00000.arrow`;
    const index: Record<string, string | number | null>[] = [];
    for (let i = start; i < Math.min(rows, start + ROWS_PER_UNIT); i++) {
      let url = `https://host${i % 97}.example/img/${i}.jpg`;
      let sha = hex64(rand) + hex64(rand) + hex64(rand) + hex64(rand);
      let phash = hex64(rand);
      const pick = earlier.length ? earlier[Math.floor(rand() * earlier.length)] : null;
      const r = rand();
      if (pick && r < 0.05) url = pick.url; // another caption of an earlier URL
      else if (pick && r < 0.08) sha = pick.sha; // the same bytes under another URL
      else if (pick && r < 0.13) phash = (BigInt(`0x${pick.phash}`) ^ (1n << BigInt(Math.floor(rand() * 64)))).toString(16).padStart(16, '0'); // one bit off
      if (earlier.length < 5000) earlier.push({ url, sha, phash });
      else earlier[Math.floor(rand() * 5000)] = { url, sha, phash };
      index.push({ id: `${unit}:${i - start}`, kind: 'image_text', shard, row: i - start, unit, url, sha256: sha, phash, near_dup_of: null, url_sibling_of: null, caption: `a picture number ${i}` });
    }
    await writeJsonLinesGzAtomic(path.join(dir, 'parts', `${unit}.index.jsonl.gz`), index);
    await writeJsonLinesGzAtomic(path.join(dir, 'parts', `${unit}.rejects.jsonl.gz`), []);
    const completion: UnitCompletion = { unit, source: unit, fingerprint: info.fingerprint, shards: [], kept: index.length, dropped: 0, committed_at: new Date(0).toISOString(), stats };
    await writeFile(path.join(dir, 'completions', `${unit}.json`), JSON.stringify(completion));
  }
}

async function child(dir: string, what: string): Promise<void> {
  const started = performance.now();
  if (what === 'finalise') {
    const result = await finaliseOutDir(dir);
    const wall_ms = performance.now() - started;
    // Finalise's own peak: reading index.parquet back with parquetjs-lite (below) added 25 to
    // 40 MiB at 200k rows and none at 20k, and was counted in this figure until it was noticed.
    const peak = peakRssMib();
    let marked = 0;
    // Counted after the time and the peak are taken, one row group at a time.
    for await (const r of streamFlatParquet(path.join(dir, 'index.parquet'), ['duplicate_of', 'near_dup_of', 'url_sibling_of'])) if (r.duplicate_of || r.near_dup_of || r.url_sibling_of) marked++;
    reportFromChild({ rows: result.indexRows, wall_ms, marked }, peak);
    return;
  }
  const rows: DedupRow[] = [];
  for (const c of await readCompletions(dir)) for (const r of await readUnitIndexRows(dir, c.unit)) rows.push({ id: String(r.id), sha256: r.sha256, url: r.url, phash: r.phash });
  const marks = runWideDedupMarks(rows, 4);
  reportFromChild({ rows: rows.length, wall_ms: performance.now() - started, marked: new Set([...marks.duplicateOf.keys(), ...marks.nearDupOf.keys(), ...marks.urlSiblingOf.keys()]).size });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4]);
} else if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === '--write') {
  await writeSyntheticOut(process.argv[3], Number(process.argv[4]), 5);
}
