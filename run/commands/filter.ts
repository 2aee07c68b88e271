// weft filter OUT (--keep-top F | --threshold T | --where SQL) --out OUT2: re-thresholds stored
// scores without running the model, and/or keeps the rows where a SQL expression over
// index.parquet holds (DuckDB; keep_top then cuts within that selection). OUT2 is a complete OUT folder: per unit of OUT, shards rewritten with only
// the pairs that pass (same columns and metadata), index and rejects parts (OUT's rejects, the
// pairs OUT's own keep_top cut left out of its index, and the pairs this filter drops), and a
// commit record; then the usual finalise builds manifest, index.parquet, rejects.parquet,
// stats.json and report.html. The rule and its cut go into manifest.filters, marked
// `materialised` (the shards hold exactly the selection).
//
// The pool is what OUT's index.parquet lists. keep_top's cut is the (1 - F) quantile of a
// t-digest of the pool's scores, as in `weft run`. --scores FILE takes the scores from a
// Parquet file (id + one score column, e.g. the out-of-sample scores of `weft train-scorer`)
// instead of OUT's score column, and adds that column to OUT2's shards and index.
// The corpus sidecars of OUT (curate.corpus: ids, captions, scores, embeddings) are carried
// into OUT2 with the rows OUT2 keeps, so OUT2's finalise runs the corpus passes over its own
// selection without the model.
import type { Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import * as arrow from 'apache-arrow';
import parquet from 'parquetjs-lite';
import { UsageError, fraction } from '../usage.ts';
import { OutDir, readCompletions, readUnitIndexRows, readUnitRejects, type IndexRow, type UnitCompletion } from '../../output/out-dir.ts';
import { finaliseOutDir, readFinaliseResult, readRunInfo, type FinaliseResult } from '../../output/finalise.ts';
import { buildDigest, sameBuildAt, writeBuildRecord } from '../../output/staged-folder.ts';
import { commitsOf } from '../../output/merge.ts';
import { canonicalJson } from '../../schemas/config-file.ts';
import { RunStats } from '../../core/stats.ts';
import { hostOf, type RejectRecord } from '../../core/rejects.ts';
import { TDigest } from '../../core/sketch/tdigest.ts';
import { ArrowShardWriter, type ArrowFormat, type StagedShard } from '../../output/arrow-shard-writer.ts';
import type { ColumnSpec, KindSchema } from '../../schemas/kind-schema.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { KEEP_TOP_REASON, keepTopEntry, thresholdEntry, type FilterEntry } from '../../output/score-filter.ts';
import { scoreColumnName } from '../../stages/score/score-columns.ts';
import { IndexQueryError, selectIndexRows } from '../../output/index-query.ts';
import { readFlatParquet } from '../../output/parquet-tables.ts';
import { reportExamplesOf, sampleDroppedExamples } from '../../output/dropped-examples.ts';
import { buildFolderAtomically } from '../../output/staged-folder.ts';
import { corpusSidecarSchema } from '../../stages/curate/corpus-sidecar.ts';
import type { ScoredSample } from '../../stages/score/score-columns.ts';

const FILTER_STAGE = 'filter';
const WHERE_REASON = 'where_false';

export interface FilterOptions {
  /** At most one of keepTop and threshold; at least one of them or `where`. */
  keepTop?: number;
  threshold?: number;
  /** Score column of OUT to filter on (default: the run's scorer column). */
  column?: string;
  /** Parquet file with `id` and one DOUBLE score column to filter on instead. */
  scoresFile?: string;
  /** SQL expression over index.parquet's columns: rows where it does not hold are dropped. */
  where?: string;
}

export function register(program: Command): void {
  program
    .command('filter')
    .description('re-threshold stored scores without running the model: writes a new OUT with only the pairs that pass')
    .argument('<out>', 'an OUT folder made by weft run (or weft filter)')
    .requiredOption('--out <dir>', 'new output folder (must not exist or be empty)')
    .option('--keep-top <fraction>', 'keep this fraction of the pool with the highest scores (cut from a t-digest of the pool)')
    .option('--threshold <score>', 'keep pairs whose score is at or above this')
    .option('--column <name>', 'score column to filter on (default: the run\'s scorer column)')
    .option('--where <sql>', 'keep only rows where this SQL expression over index.parquet holds, e.g. "score_weft_reference > 0.3 AND near_dup_of IS NULL"')
    .option('--scores <file>', 'Parquet file of id + score (e.g. out-of-sample scores from weft train-scorer) to filter on instead')
    .exitOverride()
    .action(async (from: string, o: { out: string; keepTop?: string; threshold?: string; column?: string; scores?: string; where?: string }) => {
      if (o.keepTop !== undefined && o.threshold !== undefined) throw new UsageError('filter: give at most one of --keep-top and --threshold');
      if (o.keepTop === undefined && o.threshold === undefined && o.where === undefined) throw new UsageError('filter: give --keep-top, --threshold or --where');
      if (!existsSync(path.join(from, 'run.json'))) throw new UsageError(`${from} is not a weft OUT folder (no run.json)`);
      const threshold = o.threshold === undefined ? undefined : Number(o.threshold);
      if (threshold !== undefined && !Number.isFinite(threshold)) throw new UsageError(`--threshold: got ${JSON.stringify(o.threshold)}; expected a number`);
      const r = await filterOutDir(from, o.out, {
        keepTop: o.keepTop === undefined ? undefined : fraction(o.keepTop, '--keep-top'),
        threshold,
        column: o.column,
        scoresFile: o.scores,
        where: o.where,
      });
      const rule = r.manifest.filters.at(-1)!;
      const what = rule.rule === 'where' ? `where ${String(rule.expression)}` : `${rule.column} ${rule.rule} cut ${Number(rule.threshold).toFixed(4)}`;
      process.stdout.write(`${o.out}: ${r.alreadyBuilt ? 'already filtered from the same folder and options (left as it is): ' : ''}kept ${r.manifest.totals.kept}, dropped ${r.manifest.totals.dropped}; ${what}\n`);
    });
}

/** `alreadyBuilt`: `to` already held the finished result of the same folder and options; nothing was written. */
export async function filterOutDir(from: string, to: string, o: FilterOptions): Promise<FinaliseResult & { alreadyBuilt?: boolean }> {
  const info = await readRunInfo(from);
  const manifest = JSON.parse(await readFile(path.join(from, 'manifest.json'), 'utf8')) as Manifest;
  if (path.resolve(from) === path.resolve(to)) throw new UsageError('--out must differ from the folder being filtered');
  // What the filtered folder is made of: a rerun that finds the finished result of the same
  // folder and options at the target (a kill after the rename) leaves it as it is.
  const digest = buildDigest({
    from: path.resolve(from),
    fingerprint: info.fingerprint,
    commits: commitsOf(await readCompletions(from)),
    options: { ...o, scoresFile: o.scoresFile && existsSync(o.scoresFile) ? createHash('sha256').update(await readFile(o.scoresFile)).digest('hex') : (o.scoresFile ?? null) },
  });
  const finished = async (): Promise<FinaliseResult & { alreadyBuilt?: boolean }> => {
    const done = await sameBuildAt(to, 'filter', digest);
    if (done) return { ...(await readFinaliseResult(to, done)), alreadyBuilt: true };
    throw new UsageError(`${to} is not empty; filter writes into a new folder`);
  };
  if (existsSync(to) && (await readdir(to)).length > 0) return finished();

  // The pool: what OUT's index lists, with the value each pair is judged on.
  const listed = new Set((await readFlatParquet(path.join(from, 'index.parquet'))).map((r) => String(r.id)));
  const scoring = o.keepTop !== undefined || o.threshold !== undefined;
  let selected: Set<string> | null = null;
  if (o.where !== undefined) {
    try {
      selected = new Set((await selectIndexRows(from, o.where)).rows.map((r) => String(r.id)));
    } catch (err) {
      if (err instanceof IndexQueryError) throw new UsageError(err.message);
      throw err;
    }
  }
  const external = o.scoresFile ? await readScoreFile(o.scoresFile) : null;
  const column = external?.column ?? o.column ?? (info.scorers[0] ? scoreColumnName(info.scorers[0].id) : null);
  if (scoring && !column) throw new UsageError('filter: OUT has no scorer; name a --column or give --scores');
  if (scoring && !external && !info.index_columns.some((c) => c.name === column)) throw new UsageError(`filter: OUT has no score column ${column}; its index columns: ${info.index_columns.map((c) => c.name).join(', ')}`);
  const completions = (await readCompletions(from)).filter((c) => c.fingerprint === info.fingerprint);
  const unitRows = new Map<string, IndexRow[]>();
  const valueOf = (row: IndexRow): number | null => {
    const v = external ? external.scores.get(String(row.id)) : row[column!];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  const pool = new TDigest(100);
  for (const c of completions) {
    const rows = await readUnitIndexRows(from, c.unit);
    unitRows.set(c.unit, rows);
    for (const r of rows) if (listed.has(String(r.id)) && (!selected || selected.has(String(r.id)))) pool.add(valueOf(r) ?? NaN);
  }
  const rules: FilterEntry[] = [];
  if (selected) {
    const kept = [...listed].filter((id) => selected!.has(id)).length;
    rules.push({ rule: 'where', expression: o.where, stage: FILTER_STAGE, reason: WHERE_REASON, count: listed.size, kept, dropped: listed.size - kept, materialised: true });
  }
  let cut = NaN;
  const reason = o.keepTop !== undefined ? KEEP_TOP_REASON : 'score_below_threshold';
  if (scoring) {
    const base: FilterEntry = o.keepTop !== undefined ? keepTopEntry(column!, o.keepTop, pool) : thresholdEntry(column!, o.threshold!, { count: pool.count });
    const rule: FilterEntry = { ...base, stage: FILTER_STAGE, reason, materialised: true, ...(o.scoresFile ? { scores: path.basename(o.scoresFile) } : {}) };
    cut = Number(rule.threshold);
    rules.push(rule);
  }

  const carried = manifest.filters.map((f) => ({ ...f, materialised: true }));
  const filters = [...carried, ...rules];
  const fingerprint = createHash('sha256').update(canonicalJson({ from: info.fingerprint, filters })).digest('hex');
  const extraIndex = external && !info.index_columns.some((c) => c.name === column) ? [{ name: column!, type: 'DOUBLE' as const, optional: true }] : [];
  // Built in a hidden sibling and renamed into place: a kill leaves no half-filtered target.
  return buildFolderAtomically<FinaliseResult & { alreadyBuilt?: boolean }>(to, async (staging) => {
    const out = await OutDir.open(staging, { ...info, fingerprint, filters, index_columns: [...info.index_columns, ...extraIndex] });

    // Rejects of OUT made at finalise (its keep_top cut and min_p_aligned) are in rejects.parquet only.
    const finaliseRejects = new Map<string, RejectRecord>();
    for (const r of await readFlatParquet(path.join(from, 'rejects.parquet'))) {
      if (r.stage !== 'keep_top' && r.stage !== 'calibration') continue;
      finaliseRejects.set(String(r.id), r as unknown as RejectRecord);
    }
    const output = (info.config as { output?: { max_shard_bytes?: number; rows_per_batch?: number; arrow_format?: ArrowFormat } }).output ?? {};
    for (const c of completions) {
      await filterUnit(c, {
        from,
        out,
        fingerprint,
        rows: unitRows.get(c.unit)!,
        listed,
        finaliseRejects,
        keep: (row) => {
          if (selected && !selected.has(String(row.id))) return { reason: WHERE_REASON, detail: `not selected by --where ${o.where}` };
          if (!scoring) return true;
          const v = valueOf(row);
          if (v === null) return { reason: 'score_missing', detail: `no ${column} for this pair` };
          return v >= cut ? true : { reason, detail: `${column} ${v.toFixed(4)} < cut ${cut.toFixed(4)}${o.keepTop !== undefined ? ` (keep top ${o.keepTop} of ${pool.count})` : ''}`, score: v, threshold: cut };
        },
        extraColumn: external ? { name: column!, values: external.scores } : null,
        maxShardBytes: output.max_shard_bytes ?? 256 * 1024 * 1024,
        rowsPerBatch: output.rows_per_batch ?? 100,
        format: output.arrow_format ?? 'stream',
        filters,
        reportExamples: reportExamplesOf(info.config),
      });
    }
    const result = await finaliseOutDir(staging);
    await writeBuildRecord(staging, { command: 'filter', inputs_digest: digest, index_rows: result.indexRows, reject_rows: result.rejectRows });
    return result;
  }, finished);
}

interface UnitFilter {
  from: string;
  out: OutDir;
  fingerprint: string;
  rows: IndexRow[];
  listed: Set<string>;
  finaliseRejects: Map<string, RejectRecord>;
  keep(row: IndexRow): true | { reason: string; detail: string; score?: number; threshold?: number };
  extraColumn: { name: string; values: Map<string, number> } | null;
  maxShardBytes: number;
  rowsPerBatch: number;
  format: ArrowFormat;
  filters: FilterEntry[];
  reportExamples: number;
}

async function filterUnit(c: UnitCompletion, f: UnitFilter): Promise<void> {
  const stats = RunStats.fromJSON(c.stats);
  const rejects: RejectRecord[] = await readUnitRejects(f.from, c.unit);
  const kept = new Map<string, IndexRow>();
  const filterStage = stats.stage(FILTER_STAGE);
  // The filter's own drops get report cards too, their pictures read from OUT's shards.
  const filtered: RejectRecord[] = [];
  const where = new Map<string, { shard: string; row: number }>();
  for (const row of f.rows) {
    const id = String(row.id);
    const kind = String(row.kind);
    if (!f.listed.has(id)) {
      // Left out of OUT's index by its own finalise-time cut: carry that reject over.
      const earlier = f.finaliseRejects.get(id) ?? { id, kind, source: String(row.source ?? row.unit), stage: 'keep_top', reason: 'not_in_index', detail: 'listed in the unit but not in index.parquet' };
      rejects.push(earlier);
      stats.stage(earlier.stage).dropped(earlier.reason);
      stats.kind(kind).kept--;
      stats.kind(kind).dropped++;
      continue;
    }
    filterStage.in++;
    const verdict = f.keep(row);
    if (verdict === true) {
      filterStage.out++;
      kept.set(`${row.shard}\u0000${row.row}`, row);
      continue;
    }
    filterStage.dropped(verdict.reason);
    const url = typeof row.url === 'string' ? row.url : null;
    const reject: RejectRecord = { id, kind, source: String(row.source ?? row.unit), stage: FILTER_STAGE, reason: verdict.reason, detail: verdict.detail, url, host: hostOf(url), score: verdict.score ?? null, threshold: verdict.threshold ?? null };
    rejects.push(reject);
    filtered.push(reject);
    where.set(id, { shard: String(row.shard), row: Number(row.row) });
    stats.kind(kind).kept--;
    stats.kind(kind).dropped++;
  }

  await sampleDroppedExamples(stats, filtered, f.reportExamples, { root: f.from, locate: async (wanted) => new Map([...where].filter(([id]) => wanted.has(id))) });

  const staged: StagedShard[] = [];
  const indexRows: IndexRow[] = [];
  const writers = new Map<string, ArrowShardWriter<Record<string, unknown>>>();
  try {
    for (const shard of c.shards) {
      const table = arrow.tableFromIPC(await readFile(path.join(f.from, shard.path)));
      for (let i = 0; i < table.numRows; i++) {
        const row = kept.get(`${shard.path}\u0000${i}`);
        if (!row) continue;
        let writer = writers.get(shard.kind);
        if (!writer) {
          writer = writerFor(shard.kind, table.schema, c.unit, f);
          writers.set(shard.kind, writer);
        }
        const sample = plainRow(table, i);
        if (f.extraColumn) sample[f.extraColumn.name] = f.extraColumn.values.get(String(row.id)) ?? null;
        const loc = await writer.add(sample, approxBytes(sample));
        const indexRow: IndexRow = { ...row, shard: loc.shard, row: loc.row };
        if (f.extraColumn) indexRow[f.extraColumn.name] = (sample[f.extraColumn.name] as number | null) ?? null;
        indexRows.push(indexRow);
      }
    }
    for (const w of writers.values()) staged.push(...(await w.finish()));
  } catch (err) {
    for (const w of writers.values()) await w.abort();
    throw err;
  }
  const sidecars = c.sidecars ? await filterSidecars(c, new Set(indexRows.map((r) => String(r.id))), f) : null;
  staged.push(...(sidecars ?? []));
  const completion: UnitCompletion = {
    unit: c.unit,
    source: c.source,
    fingerprint: f.fingerprint,
    shards: staged.filter((s) => !sidecars?.includes(s)).map(({ stagedPath: _staged, ...entry }) => entry),
    ...(sidecars ? { sidecars: sidecars.map(({ stagedPath: _staged, ...entry }) => entry) } : {}),
    kept: indexRows.length,
    dropped: rejects.length,
    committed_at: new Date().toISOString(),
    stats: stats.toJSON(),
  };
  await f.out.commitUnit(completion, staged, indexRows, rejects);
}

/** The unit's sidecar rows whose ids OUT2 keeps, rewritten with the same columns (float16 values pass through unchanged). */
async function filterSidecars(c: UnitCompletion, keep: Set<string>, f: UnitFilter): Promise<StagedShard[]> {
  let writer: ArrowShardWriter<ScoredSample> | null = null;
  try {
    for (const entry of c.sidecars!) {
      const table = arrow.tableFromIPC(await readFile(path.join(f.from, entry.path)));
      const image = table.getChild('image_embedding');
      const text = table.getChild('text_embedding');
      if (!writer) {
        const dim = image ? (image.type as arrow.FixedSizeList).listSize : null;
        const meta = Object.fromEntries([...table.schema.metadata].map(([k, v]) => [k, JSON.parse(v)])) as Record<string, any>;
        if (meta.weft) meta.weft = { ...meta.weft, config_fingerprint: f.fingerprint };
        const schema = corpusSidecarSchema(dim);
        writer = new ArrowShardWriter<ScoredSample>({ schema, unitId: c.unit, stagingDir: f.out.stagingDir(c.unit), maxShardBytes: f.maxShardBytes, rowsPerBatch: schema.maxRowsPerBatch, metadata: meta, folder: 'sidecars' });
      }
      const vector = (v: Iterable<number> | null | undefined) => (v ? Float32Array.from(v) : undefined);
      for (let i = 0; i < table.numRows; i++) {
        const id = String(table.getChild('id')!.get(i));
        if (!keep.has(id)) continue;
        const sample = { id, caption: table.getChild('caption')!.get(i) ?? '', score: table.getChild('score')!.get(i), imageEmbedding: vector(image?.get(i)), textEmbedding: vector(text?.get(i)) } as unknown as ScoredSample;
        await writer.add(sample, 200);
      }
    }
    return writer ? await writer.finish() : [];
  } catch (err) {
    await writer?.abort();
    throw err;
  }
}

/** A shard writer with the source shard's columns and metadata (plus the filter rules, and an added score column). */
function writerFor(kind: string, schema: arrow.Schema, unitId: string, f: UnitFilter): ArrowShardWriter<Record<string, unknown>> {
  const meta = Object.fromEntries([...schema.metadata].map(([k, v]) => [k, JSON.parse(v)])) as Record<string, any>;
  const features: Record<string, unknown> = meta.huggingface?.info?.features ?? {};
  const columns: ColumnSpec<Record<string, unknown>>[] = schema.fields.map((field) => ({
    name: field.name,
    type: field.type,
    nullable: field.nullable,
    hf: features[field.name] ?? null,
    get: (r) => r[field.name] ?? null,
  }));
  if (f.extraColumn && !columns.some((c) => c.name === f.extraColumn!.name)) {
    const name = f.extraColumn.name;
    columns.push({ name, type: new arrow.Float64(), nullable: true, hf: { _type: 'Value', dtype: 'float64' }, get: (r) => r[name] ?? null });
    if (meta.huggingface?.info?.features) meta.huggingface.info.features[name] = { _type: 'Value', dtype: 'float64' };
  }
  if (meta.weft) meta.weft = { ...meta.weft, config_fingerprint: f.fingerprint, filters: f.filters };
  const kindSchema: KindSchema<Record<string, unknown>> = { kind, columns, index: [], maxRowsPerBatch: 100 };
  return new ArrowShardWriter({ schema: kindSchema, unitId, stagingDir: f.out.stagingDir(unitId), maxShardBytes: f.maxShardBytes, rowsPerBatch: f.rowsPerBatch, format: f.format, metadata: meta });
}

/** Row i of a table as plain values the shard writer can build vectors from again. */
function plainRow(table: arrow.Table, i: number): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const field of table.schema.fields) row[field.name] = plain(table.getChild(field.name)!.get(i), field.type);
  return row;
}

function plain(v: any, type: arrow.DataType): unknown {
  if (v === null || v === undefined) return null;
  if (arrow.DataType.isStruct(type)) return Object.fromEntries(type.children.map((c) => [c.name, plain(v[c.name], c.type)]));
  if (arrow.DataType.isList(type)) return [...(v as Iterable<unknown>)].map((x) => plain(x, type.children[0].type));
  return v;
}

function approxBytes(row: Record<string, unknown>): number {
  let n = 200;
  for (const v of Object.values(row)) {
    if (v instanceof Uint8Array) n += v.byteLength;
    else if (typeof v === 'string') n += v.length;
    else if (v && typeof v === 'object') for (const x of Object.values(v)) if (x instanceof Uint8Array) n += x.byteLength;
  }
  return n;
}

/** id -> score from a Parquet file with an `id` column and one floating-point score column. */
async function readScoreFile(file: string): Promise<{ column: string; scores: Map<string, number> }> {
  if (!existsSync(file)) throw new UsageError(`--scores: ${file} does not exist`);
  const rows = await readFlatParquet(file);
  const reader = await parquet.ParquetReader.openFile(file);
  const fields = (reader as unknown as { schema: { fields: Record<string, { primitiveType?: string }> } }).schema.fields;
  await reader.close();
  const columns = Object.keys(fields).filter((k) => k !== 'id' && (fields[k].primitiveType === 'DOUBLE' || fields[k].primitiveType === 'FLOAT'));
  if (!('id' in fields) || columns.length !== 1) throw new UsageError(`--scores: ${file} must have an id column and exactly one DOUBLE score column (has ${Object.keys(fields).join(', ')})`);
  const scores = new Map<string, number>();
  for (const r of rows) if (typeof r[columns[0]] === 'number') scores.set(String(r.id), r[columns[0]] as number);
  return { column: columns[0], scores };
}
