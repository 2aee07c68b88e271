// Builds the readable outputs of an OUT folder from its commit records: manifest.json,
// index.parquet, rejects.parquet, stats.json and report.html. Everything here is derived, so
// `weft report`, `weft merge` and the end of `weft run` all call the same function, and the
// result depends only on the set of committed units (folded in unit order), not on how many
// processes made them.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { readCompletions, streamUnitIndexRows, streamUnitRejects, type IndexRow, type RunInfo, type UnitCompletion } from './out-dir.ts';
import { streamRunWideMarks, type StreamedMarks, type StreamingMarksOptions } from './run-wide-marks.ts';
import { RunStats } from '../core/stats.ts';
import { writeJsonAtomic, writeFileAtomic } from './fs-atomic.ts';
import { INDEX_BASE_COLUMNS, REJECT_COLUMNS, writeFlatParquet } from './parquet-tables.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { SCHEMA_VERSION } from '../schemas/config.ts';
import { WEFT_VERSION } from '../core/version.ts';
import { renderReport } from '../report/report-html.ts';
import { DuplicateCollector } from './duplicate-groups.ts';
import { reportExamplesOf, sampleDroppedExamples } from './dropped-examples.ts';
import { readInvocations, writeInvocation, type Invocation } from './invocations.ts';
import { kindOfRunConfig } from '../kinds/registry.ts';
import type { KindDefinition } from '../kinds/definition.ts';
import { ScoreSelection } from './score-filter.ts';
import { CorpusPasses } from './corpus-passes.ts';

export interface FinaliseResult {
  manifest: Manifest;
  stats: RunStats;
  indexRows: number;
  rejectRows: number;
}

/** What finalise returned for a folder finalised earlier, read back from its files (a rerun of merge or filter that finds its output done). */
export async function readFinaliseResult(root: string, counts: { index_rows: number; reject_rows: number }): Promise<FinaliseResult> {
  const manifest = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8')) as Manifest;
  const { config_fingerprint: _fp, ...stats } = JSON.parse(await readFile(path.join(root, 'stats.json'), 'utf8')) as { config_fingerprint?: string } & Parameters<typeof RunStats.fromJSON>[0];
  return { manifest, stats: RunStats.fromJSON(stats), indexRows: counts.index_rows, rejectRows: counts.reject_rows };
}

export async function readRunInfo(root: string): Promise<RunInfo> {
  return JSON.parse(await readFile(path.join(root, 'run.json'), 'utf8')) as RunInfo;
}

function buildManifest(info: RunInfo, completions: UnitCompletion[]): Manifest {
  const shards = completions.flatMap((c) => c.shards);
  const sidecars = completions.flatMap((c) => c.sidecars ?? []);
  return {
    schema_version: SCHEMA_VERSION,
    weft_version: WEFT_VERSION,
    config_fingerprint: info.fingerprint,
    config: info.config,
    scorers: info.scorers,
    filters: info.filters,
    units: completions.map((c) => ({ id: c.unit, source: c.source, kept: c.kept, dropped: c.dropped, committed_at: c.committed_at })),
    shards,
    ...(sidecars.length ? { sidecars } : {}),
    ...(info.partial ? { partial: info.partial } : {}),
    totals: {
      kept: completions.reduce((a, c) => a + c.kept, 0),
      dropped: completions.reduce((a, c) => a + c.dropped, 0),
      shards: shards.length,
      bytes: shards.reduce((a, s) => a + s.bytes, 0),
    },
  };
}

function foldStats(completions: UnitCompletion[]): RunStats {
  const total = new RunStats();
  for (const c of completions) total.merge(RunStats.fromJSON(c.stats));
  return total;
}

/** Writes only manifest.json: cheap enough to do after every unit commit. */
export async function writeManifest(root: string, info: RunInfo, completions: UnitCompletion[]): Promise<Manifest> {
  const manifest = buildManifest(info, completions);
  await writeJsonAtomic(path.join(root, 'manifest.json'), manifest);
  return manifest;
}

/** `invocation`: the process finalising after its run records itself (ended now) for the report's provenance. */
/** `partial`: the output is known to miss these planned units (weft report --allow-partial): the manifest and report say so. */
/** `dedupSpill`: spill threshold and block size of the run-wide dedup pass (tests force several runs with small ones). */
export async function finaliseOutDir(root: string, options: { invocation?: Omit<Invocation, 'ended_at'>; partial?: { missing_units: string[] }; dedupSpill?: Omit<StreamingMarksOptions, 'dir'> } = {}): Promise<FinaliseResult> {
  await removeDeadTempFiles(root);
  if (options.invocation) await writeInvocation(root, { ...options.invocation, ended_at: new Date().toISOString() });
  const info = { ...(await readRunInfo(root)), ...(options.partial ? { partial: options.partial } : {}) };
  const kind = await kindOfRunConfig(info.config);
  const completions = (await readCompletions(root)).filter((c) => c.fingerprint === info.fingerprint);
  const stats = foldStats(completions);
  // Score rules applied at finalise (keep_top's cut needs every unit's scores): see score-filter.ts.
  const selection = new ScoreSelection(info, stats);
  const manifest = await writeManifest(root, selection.infoWithFilters(info), completions);

  // Corpus passes (curate.corpus) over the units' sidecars: see corpus-passes.ts.
  const corpus = await CorpusPasses.run(root, info, completions);
  for (const f of await readdir(root)) if (f.startsWith(SPILL_PREFIX)) await rm(path.join(root, f), { recursive: true, force: true });
  // The finalise-time cuts' reject rows wait on disk for rejects.parquet, not in memory.
  const cutsDir = path.join(root, `${SPILL_PREFIX}cuts-${process.pid}`);
  selection.rejectsTo(path.join(cutsDir, 'score.jsonl'));
  corpus?.rejectsTo(path.join(cutsDir, 'corpus.jsonl'));
  let indexRows = 0;
  let duplicatesSummary: Awaited<ReturnType<DuplicateCollector['summary']>>;
  const indexColumns = [...INDEX_BASE_COLUMNS, ...info.index_columns.filter((c) => !INDEX_BASE_COLUMNS.some((b) => b.name === c.name))];
  const marks = await runWideMarks(root, kind, info, completions, options.dedupSpill);
  const footer = { weft: JSON.stringify({ schema_version: SCHEMA_VERSION, weft_version: WEFT_VERSION, config_fingerprint: info.fingerprint, scorers: info.scorers }) };
  try {
    const duplicates = new DuplicateCollector(path.join(root, `${SPILL_PREFIX}groups-${process.pid}`));
    if (marks && !indexColumns.some((c) => c.name === 'duplicate_of')) indexColumns.push({ name: 'duplicate_of', type: 'UTF8', optional: true });
    if (selection.pAlignedColumn && !indexColumns.some((c) => c.name === selection.pAlignedColumn)) indexColumns.push({ name: selection.pAlignedColumn, type: 'DOUBLE', optional: true });
    for (const c of corpus?.columns ?? []) if (!indexColumns.some((x) => x.name === c.name)) indexColumns.push(c);
    // Rows carry their canonical number (SEQ) through the score and corpus passes, which drop
    // rows but keep the order, so the marks, sorted by that number, are read in step.
    const selected = selection.index(numbered(rowsOf(completions, (u) => streamUnitIndexRows(root, u))));
    indexRows = await writeFlatParquet(
      path.join(root, 'index.parquet'),
      indexColumns,
      // Marked in place: each row object is this pass's own (parsed from its unit's file), and
      // the SEQ key is no column, so index.parquet and the duplicate groups never see it. (A
      // copy per row here was garbage enough to count in the peak RSS at 200k rows.)
      tap(mapRowsAsync(corpus ? corpus.index(selected) : selected, async (row) => {
        if (!marks) return row;
        const m = await marks.at(Number(row[SEQ]));
        row.duplicate_of = m.duplicateOf ?? null;
        if ('near_dup_of' in row) row.near_dup_of = m.nearDupOf ?? null;
        if ('url_sibling_of' in row) row.url_sibling_of = m.urlSiblingOf ?? null;
        return row;
      }), (row) => duplicates.add(row)),
      footer,
    );
    duplicatesSummary = await duplicates.summary(root);
  } finally {
    await marks?.close();
  }

  const rejectsByReason = new Map<string, { stage: string; reason: string; count: number; examples: { id: string; source: string; detail: string }[] }>();
  const rejectRows = await writeFlatParquet(
    path.join(root, 'rejects.parquet'),
    REJECT_COLUMNS,
    tap(withSelectionRejects(rowsOf(completions, (u) => streamUnitRejects(root, u) as AsyncIterable<unknown> as AsyncIterable<Record<string, unknown>>), selection, corpus), (r) => {
      const key = `${r.stage}\u0000${r.reason}`;
      let entry = rejectsByReason.get(key);
      if (!entry) rejectsByReason.set(key, (entry = { stage: String(r.stage), reason: String(r.reason), count: 0, examples: [] }));
      entry.count++;
      if (entry.examples.length < 5) entry.examples.push({ id: String(r.id), source: String(r.source), detail: String(r.detail) });
    }),
    footer,
  );

  if (selection.active) {
    selection.applyTo(stats, manifest);
    await sampleDroppedExamples(stats, selection.rejects(), reportExamplesOf(info.config), {
      root,
      // The dropped pairs are still in the shards; only the index leaves them out.
      locate: async (wanted) => {
        const where = new Map<string, { shard: string; row: number }>();
        for await (const row of rowsOf(completions, (u) => streamUnitIndexRows(root, u))) {
          if (wanted.has(String(row.id))) where.set(String(row.id), { shard: String(row.shard), row: Number(row.row) });
        }
        return where;
      },
    });
  }
  await rm(cutsDir, { recursive: true, force: true });
  corpus?.applyTo(stats, manifest);
  if (selection.active || corpus) await writeJsonAtomic(path.join(root, 'manifest.json'), manifest);
  await writeJsonAtomic(path.join(root, 'stats.json'), { config_fingerprint: info.fingerprint, ...stats.toJSON() });
  const html = renderReport({ manifest, stats: stats.toJSON(), rejectsByReason: [...rejectsByReason.values()], sections: kind.report, invocations: await readInvocations(root), duplicates: duplicatesSummary });
  await writeFileAtomic(path.join(root, 'report.html'), html);
  return { manifest, stats, indexRows, rejectRows };
}

/**
 * Temporary files of the derived outputs (`.index.parquet.<pid>-<n>.tmp`, ...) and invocation
 * records that a killed finalise left (a `weft report` killed mid-write; `weft run` also clears
 * them when it opens OUT). Only those of processes no longer running are removed.
 */
async function removeDeadTempFiles(root: string): Promise<void> {
  for (const dir of [root, path.join(root, 'invocations')]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const f of names) {
      const m = /^\..+\.(\d+)-\d+\.tmp$/.exec(f);
      if (m && Number(m[1]) !== process.pid && !pidRuns(Number(m[1]))) await rm(path.join(dir, f), { force: true });
    }
  }
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Scratch folders of finalise in OUT (sorted runs of the dedup marks and duplicate groups); a killed finalise's are removed by the next. */
const SPILL_PREFIX = '.finalise-spill-';
/** The canonical row number, carried through the index passes (never a column). */
const SEQ = '\u0000seq';

/** Run-wide dedup marks, for kinds whose samples carry content hashes (the kind says), computed in bounded memory (run-wide-marks.ts). */
async function runWideMarks(root: string, kind: KindDefinition, info: RunInfo, completions: UnitCompletion[], spill: Omit<StreamingMarksOptions, 'dir'> = {}): Promise<StreamedMarks | null> {
  const dedup = kind.runWideDedup(info.config);
  if (!dedup) return null;
  const rows = mapRows(rowsOf(completions, (u) => streamUnitIndexRows(root, u)), (r) => ({ id: String(r.id), sha256: r.sha256, url: r.url, phash: r.phash }));
  return streamRunWideMarks(rows, dedup.phashMaxDistance, { ...spill, dir: path.join(root, `${SPILL_PREFIX}marks-${process.pid}`) });
}

async function* numbered(rows: AsyncIterable<IndexRow>): AsyncGenerator<IndexRow> {
  let seq = 0;
  for await (const r of rows) {
    r[SEQ] = seq++;
    yield r;
  }
}

async function* mapRowsAsync<T, U>(rows: AsyncIterable<T>, f: (row: T) => Promise<U>): AsyncGenerator<U> {
  for await (const r of rows) yield await f(r);
}

async function* withSelectionRejects(rows: AsyncIterable<Record<string, unknown>>, selection: ScoreSelection, corpus: CorpusPasses | null): AsyncGenerator<Record<string, unknown>> {
  yield* rows;
  yield* selection.rejects() as AsyncIterable<unknown> as AsyncIterable<Record<string, unknown>>;
  if (corpus) yield* corpus.rejects() as AsyncIterable<unknown> as AsyncIterable<Record<string, unknown>>;
}

async function* mapRows<T, U>(rows: AsyncIterable<T>, f: (row: T) => U): AsyncGenerator<U> {
  for await (const r of rows) yield f(r);
}

async function* rowsOf<T>(completions: UnitCompletion[], read: (unit: string) => AsyncIterable<T>): AsyncGenerator<T> {
  for (const c of completions) yield* read(c.unit);
}

async function* tap<T>(rows: AsyncIterable<T>, f: (row: T) => void | Promise<void>): AsyncGenerator<T> {
  for await (const r of rows) {
    await f(r);
    yield r;
  }
}
