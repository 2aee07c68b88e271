import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
// The in-process executor: lists units, keeps this rank's share, skips committed units, runs
// each remaining unit through its source plugin into Arrow shards, and commits it atomically.
// Stages never know which executor runs them.
import { mkdir, rm } from 'node:fs/promises';
import pLimit from 'p-limit';
import { lockOutDir, type OutLock } from '../output/out-lock.ts';
import { ConfigError, configFingerprint, type LoadedConfig } from '../schemas/config-file.ts';
import { createSourcePlugin } from '../kinds/registry.ts';
import { OutDir, type IndexRow, type UnitCompletion } from '../output/out-dir.ts';
import { duplicateUnitIds, partitionUnits, type Unit } from '../core/units.ts';
import { RejectLedger, type RejectRecord } from '../core/rejects.ts';
import { BottomK } from '../core/sketch/bottom-k.ts';
import { droppedSetName } from '../report/example-sets.ts';
import { RunStats } from '../core/stats.ts';
import { errorMessage, type StageContext, type Traceable } from '../core/stage.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { Progress } from './progress.ts';
import { runUnitPool } from './unit-pool.ts';
import { inputChanges, settleInputChanges } from './input-changes.ts';
import { faultPoint } from '../core/fault-points.ts';
import { everythingDroppedWarning } from './drop-warning.ts';
import { finaliseOutDir, writeManifest, type FinaliseResult } from '../output/finalise.ts';
import { portableCommand, type Invocation } from '../output/invocations.ts';
import { ArrowShardWriter, huggingfaceMetadata, type StagedShard } from '../output/arrow-shard-writer.ts';
import type { SourcePlugin } from '../kinds/plugin.ts';
import type { KindSchema } from '../schemas/kind-schema.ts';
import type { FlatColumn } from '../output/parquet-tables.ts';
import { SCHEMA_VERSION } from '../schemas/config.ts';
import { WEFT_VERSION } from '../core/version.ts';
import { useRunHeapGrowth } from '../core/heap-growth.ts';

export interface RunOptions {
  loaded: LoadedConfig;
  outDir: string;
  rank?: number;
  worldSize?: number;
  signal?: AbortSignal;
  log?: Logger;
  /** Show a progress line (stderr). */
  progress?: boolean;
  /** Discard and redo committed units whose input changed (and drop those no longer in the input) instead of refusing. */
  redoChanged?: boolean;
}

export interface SessionOptions {
  rank?: number;
  worldSize?: number;
  redoChanged?: boolean;
}

/** What an OUT folder holds once finalised (everything committed, this run and earlier ones). */
export interface OutTotals {
  kept: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  shards: number;
}

export interface RunSummary extends OutTotals {
  outDir: string;
  fingerprint: string;
  unitsTotal: number;
  unitsThisRank: number;
  unitsRun: number;
  unitsSkipped: number;
  unitsFailed: { unit: string; error: string }[];
  aborted: boolean;
  wallMs: number;
}

/**
 * What every executor shares: the source plugin, the locked OUT folder and the fingerprint of
 * one run. Executors differ only in which units they hand to `runUnit` and when.
 */
export interface UnitSession {
  readonly plugin: SourcePlugin;
  readonly out: OutDir;
  readonly fingerprint: string;
  readonly allUnits: Unit[];
  /** Runs and commits one unit (skipped, returning undefined, if already committed or aborted).
   *  `onTail` is called once the unit is in its tail (see run/unit-pool.ts): at the latest when
   *  its last row is out, before its shards are finished and committed. */
  runUnit(unit: Unit, onTail?: () => void): Promise<UnitCompletion | undefined>;
  /** Rebuilds manifest, index, rejects, stats and report from what is committed; `invocation` records this process. */
  finish(invocation?: Omit<Invocation, 'ended_at'>): Promise<FinaliseResult>;
  close(): Promise<void>;
}

export async function openUnitSession(loaded: LoadedConfig, outDir: string, signal: AbortSignal, log: Logger, opts: SessionOptions = {}): Promise<UnitSession> {
  const plugin = await createSourcePlugin(loaded);
  let lock: OutLock | undefined;
  try {
    const allUnits = await plannedUnits(plugin, loaded);
    const fingerprint = configFingerprint(loaded.config, (plugin.scorers ?? []).map((s) => s.model_sha256));
    await mkdir(outDir, { recursive: true });
    lock = await lockOutDir(outDir);
    const out = await OutDir.open(outDir, {
      fingerprint,
      config: loaded.config,
      scorers: plugin.scorers ?? [],
      filters: [],
      index_columns: indexColumnsOf(plugin.kinds),
      ...(plugin.sidecars?.length ? { sidecars: true } : {}),
      planned_units: allUnits.map((u) => u.id).sort(),
      rank: opts.rank ?? 0,
      world_size: opts.worldSize ?? 1,
    });
    // Resume keyed on input: compared before any work (run/input-changes.ts).
    const inputFingerprints = await plugin.inputFingerprints(allUnits);
    await settleInputChanges(out, inputChanges(out, inputFingerprints, new Set(allUnits.map((u) => u.id))), !!opts.redoChanged, log);
    await out.updateRunInfo();
    const heldLock = lock;
    return {
      plugin,
      out,
      fingerprint,
      allUnits,
      async runUnit(unit, onTail) {
        if (out.isCommitted(unit.id) || signal.aborted) return undefined;
        const completion = await runUnit(unit, plugin, out, loaded, fingerprint, inputFingerprints.get(unit.id), signal, log, onTail);
        if (!completion) return undefined;
        await writeManifest(out.root, out.info, out.completions());
        faultPoint('unit-committed');
        return completion;
      },
      finish: (invocation) => finaliseOutDir(out.root, { invocation }),
      async close() {
        await heldLock.release();
        await plugin.close?.();
      },
    };
  } catch (err) {
    await lock?.release();
    await plugin.close?.();
    throw err;
  }
}

export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  useRunHeapGrowth();
  const log = opts.log ?? silentLogger;
  const signal = opts.signal ?? new AbortController().signal;
  const { config } = opts.loaded;
  const session = await openUnitSession(opts.loaded, opts.outDir, signal, log, opts);
  try {
    const { out, allUnits } = session;
    const units = partitionUnits(allUnits, opts.rank ?? 0, opts.worldSize ?? 1);
    const todo = units.filter((u) => !out.isCommitted(u.id));
    log.info(`${allUnits.length} units in input, ${units.length} for rank ${opts.rank ?? 0}/${opts.worldSize ?? 1}, ${units.length - todo.length} already committed`);

    const progress = opts.progress ? new Progress(config.name) : null;
    const totals = { kept: 0, dropped: 0 };
    for (const c of out.completions()) {
      totals.kept += c.kept;
      totals.dropped += c.dropped;
    }
    const failed: RunSummary['unitsFailed'] = [];
    let unitsRun = 0;
    let done = units.length - todo.length;
    progress?.update({ unitsDone: done, unitsTotal: units.length, ...totals }, true);
    // Units run unit_concurrency at a time, and one more starts as soon as a unit reaches its
    // tail (it waits only on its last downloads, or its last row is out and only its commit is
    // left), with up to unit_concurrency units in their tail at once (run/unit-pool.ts). Each unit
    // commits on its own; outputs are folded in unit order, so the result does not depend on
    // which unit finished first.
    const places = config.run.unit_concurrency;
    await runUnitPool(todo, { places, maxTails: places, signal }, async (unit, leaveEarly) => {
      try {
        const completion = await session.runUnit(unit, leaveEarly);
        if (!completion) return false; // aborted mid-unit: left uncommitted, redone on rerun
        unitsRun++;
        totals.kept += completion.kept;
        totals.dropped += completion.dropped;
      } catch (err) {
        // A unit that cannot be read at all (e.g. its list file vanished) fails alone; it stays
        // uncommitted so a rerun retries it, and the run's exit code says so.
        failed.push({ unit: unit.id, error: errorMessage(err) });
        log.error(`unit ${unit.id} (${unit.source}) failed: ${errorMessage(err)}`);
      }
      done++;
      progress?.update({ unitsDone: done, unitsTotal: units.length, ...totals });
      return true;
    });
    progress?.update({ unitsDone: done, unitsTotal: units.length, ...totals }, true);
    progress?.done();

    const final = await session.finish({
      started_at: startedAt,
      weft_version: WEFT_VERSION,
      command: portableCommand(process.argv),
      inputs: inputPaths(config),
      rank: opts.rank ?? 0,
      world_size: opts.worldSize ?? 1,
      units_in_input: allUnits.length,
      units_given: units.map((u) => u.id),
    });
    const finalTotals = totalsOf(final);
    const warning = everythingDroppedWarning(finalTotals);
    if (warning) log.warn(warning);
    return {
      outDir: out.root,
      fingerprint: session.fingerprint,
      unitsTotal: allUnits.length,
      unitsThisRank: units.length,
      unitsRun,
      unitsSkipped: units.length - todo.length,
      unitsFailed: failed,
      aborted: signal.aborted,
      ...finalTotals,
      wallMs: performance.now() - started,
    };
  } finally {
    await session.close();
  }
}

export function totalsOf(final: FinaliseResult): OutTotals {
  const droppedByReason: Record<string, number> = {};
  for (const s of final.stats.stages.values()) {
    for (const [r, n] of Object.entries(s.droppedByReason)) droppedByReason[r] = (droppedByReason[r] ?? 0) + n;
  }
  const { kept, dropped, shards } = final.manifest.totals;
  return { kept, dropped, droppedByReason, shards };
}

/** Runs one unit to a commit. Returns undefined when aborted (nothing committed). */
async function runUnit(
  unit: Unit,
  plugin: SourcePlugin,
  out: OutDir,
  loaded: LoadedConfig,
  fingerprint: string,
  inputFingerprint: string | undefined,
  signal: AbortSignal,
  log: Logger,
  onTail: () => void = () => undefined,
): Promise<UnitCompletion | undefined> {
  const unitStarted = performance.now();
  const { config } = loaded;
  const stats = new RunStats();
  const rejects = new RejectLedger(detailPathRoots(loaded, out));
  const ctx: StageContext = { config, stats, rejects, log, signal, unit: { id: unit.id, source: unit.source }, unitTail: onTail };
  const schemas = new Map(plugin.kinds.map((k) => [k.kind, k]));
  const writers = new Map<string, ArrowShardWriter<Traceable>>();
  const metadataOf = (kind: string) => ({
    weft: { schema_version: SCHEMA_VERSION, weft_version: WEFT_VERSION, kind, config_fingerprint: fingerprint, scorers: plugin.scorers ?? [] },
  });
  // Sidecar files (one row per kept sample, in shard order) are staged and committed with the shards.
  const sidecars = (plugin.sidecars ?? []).map(
    (schema) =>
      new ArrowShardWriter<Traceable>({
        schema,
        unitId: unit.id,
        stagingDir: out.stagingDir(unit.id),
        maxShardBytes: config.output.max_shard_bytes,
        rowsPerBatch: schema.maxRowsPerBatch,
        metadata: { huggingface: huggingfaceMetadata(schema), ...metadataOf(schema.kind) },
        folder: 'sidecars',
      }),
  );
  const indexRows: IndexRow[] = [];
  const keptExamples = (kind: string) => stats.exampleSet(`kept:${kind}`, config.output.report_examples);
  // Dropped examples: the k lowest id hashes of every (kind, stage, reason), so each reason has
  // its own sample (the report stratifies over them). The dropped item is held until the unit
  // ends, when its picture is made; only candidates that may still win are held.
  const dropCandidates = new Map<string, BottomK<{ row: RejectRecord; item: unknown }>>();
  rejects.onItem = (row, item) => {
    const name = droppedSetName(row.kind, row.stage, row.reason);
    let set = dropCandidates.get(name);
    if (!set) dropCandidates.set(name, (set = new BottomK(config.output.report_examples)));
    if (set.wouldKeep(row.id)) set.add(row.id, { row, item });
  };
  faultPoint('unit-start');

  const writerFor = (kind: string): ArrowShardWriter<Traceable> => {
    let w = writers.get(kind);
    if (w) return w;
    const schema = schemas.get(kind);
    if (!schema) throw new Error(`source emitted a sample of kind ${kind}, which it did not declare`);
    w = new ArrowShardWriter<Traceable>({
      schema,
      unitId: unit.id,
      stagingDir: out.stagingDir(unit.id),
      maxShardBytes: config.output.max_shard_bytes,
      rowsPerBatch: config.output.rows_per_batch,
      format: config.output.arrow_format,
      metadata: {
        huggingface: huggingfaceMetadata(schema),
        weft: {
          schema_version: SCHEMA_VERSION,
          weft_version: WEFT_VERSION,
          kind,
          config_fingerprint: fingerprint,
          scorers: plugin.scorers ?? [],
        },
      },
    });
    writers.set(kind, w);
    return w;
  };

  try {
    let batchRows = 0;
    for await (const sample of plugin.processUnit(unit, ctx)) {
      const schema = schemas.get(sample.kind);
      const loc = await writerFor(sample.kind).add(sample, plugin.approxBytes(sample));
      for (const w of sidecars) await w.add(sample, 4096);
      const row: IndexRow = { id: sample.id, kind: sample.kind, shard: loc.shard, row: loc.row, unit: unit.id };
      for (const c of schema!.index) row[c.name] = c.get(sample) ?? null;
      indexRows.push(row);
      stats.kind(sample.kind).kept++;
      if (plugin.example && keptExamples(sample.kind).wouldKeep(sample.id)) {
        keptExamples(sample.kind).add(sample.id, await plugin.example(sample));
      }
      if (++batchRows === config.output.rows_per_batch) faultPoint('batch-written');
    }
  } catch (err) {
    for (const w of [...writers.values(), ...sidecars]) await w.abort();
    throw err;
  }
  if (signal.aborted) {
    for (const w of [...writers.values(), ...sidecars]) await w.abort();
    await rm(out.stagingDir(unit.id), { recursive: true, force: true });
    log.warn(`interrupted: unit ${unit.id} left uncommitted; rerun to finish it`);
    return undefined;
  }
  // Only finishing is left (shards flushed and hashed, example pictures, the commit): the next
  // unit may start meanwhile.
  onTail();
  const staged: StagedShard[] = [];
  for (const w of writers.values()) staged.push(...(await w.finish()));
  const stagedSidecars: StagedShard[] = [];
  for (const w of sidecars) stagedSidecars.push(...(await w.finish()));

  for (const r of rejects.rows) {
    stats.kind(r.kind).dropped++;
    // Drops recorded without their item (none today) still get a card with their reason.
    const name = droppedSetName(r.kind, r.stage, r.reason);
    if (!dropCandidates.has(name)) stats.exampleSet(name, config.output.report_examples).add(r.id, { id: r.id, source: r.source, stage: r.stage, reason: r.reason, detail: r.detail });
  }
  // Pictures two at a time (their decoding and encoding run off-thread), added in the sets' order.
  const drawLimit = pLimit(2);
  for (const [name, set] of dropCandidates) {
    const pictures = await Promise.all(set.items.map(({ item: { item } }) => drawLimit(() => (plugin.dropExample ? plugin.dropExample(item).catch(() => ({})) : {}))));
    set.items.forEach(({ item: { row } }, k) => {
      stats.exampleSet(name, config.output.report_examples).add(row.id, { ...pictures[k], id: row.id, source: row.source, stage: row.stage, reason: row.reason, detail: row.detail });
    });
  }
  for (const k of stats.kinds.values()) k.seen = k.kept + k.dropped;
  stats.units = 1;
  stats.wallMs = performance.now() - unitStarted;

  const completion: UnitCompletion = {
    unit: unit.id,
    source: unit.source,
    fingerprint,
    shards: staged.map(({ stagedPath: _staged, ...entry }) => entry),
    ...(plugin.sidecars?.length ? { sidecars: stagedSidecars.map(({ stagedPath: _staged, ...entry }) => entry) } : {}),
    kept: indexRows.length,
    dropped: rejects.rows.length,
    committed_at: new Date().toISOString(),
    ...(inputFingerprint ? { input_fingerprint: inputFingerprint } : {}),
    stats: stats.toJSON(),
  };
  await out.commitUnit(completion, [...staged, ...stagedSidecars], indexRows, rejects.rows, () => faultPoint('shards-renamed'));
  log.debug(`committed ${unit.id}: kept ${completion.kept}, dropped ${completion.dropped}, ${staged.length} shard(s)`);
  return completion;
}

function indexColumnsOf(kinds: KindSchema<any>[]): FlatColumn[] {
  const cols: FlatColumn[] = [];
  for (const k of kinds) {
    for (const c of k.index) if (!cols.some((x) => x.name === c.name)) cols.push({ name: c.name, type: c.type, optional: true });
  }
  return cols;
}

/** Folders cut from reject details: the source's own folder and OUT (see RejectLedger). */
function detailPathRoots(loaded: LoadedConfig, out: OutDir): string[] {
  const sourcePath = path.resolve(loaded.baseDir, loaded.config.source.path);
  const sourceRoot = existsSync(sourcePath) && statSync(sourcePath).isDirectory() ? sourcePath : path.dirname(sourcePath);
  return [sourceRoot, path.resolve(out.root)];
}

/** The config's input paths as written there (source.path, and a list file when the source has one). */
export function inputPaths(config: unknown): string[] {
  const src = (config as { source?: Record<string, unknown> }).source ?? {};
  return ['path', 'list', 'urls'].flatMap((k) => (typeof src[k] === 'string' ? [src[k] as string] : []));
}

/** The plugin's units, refused (config error) when two of them share an id: their commits would overwrite each other. */
export async function plannedUnits(plugin: SourcePlugin, loaded: LoadedConfig): Promise<Unit[]> {
  // A source path that is not there is a config error (exit 2), not a failed run.
  const sourcePath = path.resolve(loaded.baseDir, loaded.config.source.path);
  if (!existsSync(sourcePath)) throw new ConfigError(`source.path: ${sourcePath} does not exist`);
  const units = await plugin.listUnits();
  const dups = duplicateUnitIds(units);
  if (dups.length) {
    const [a, b] = dups[0];
    throw new ConfigError(`two inputs map to unit id ${a.id}: ${a.source} and ${b.source}${dups.length > 1 ? ` (and ${dups.length - 1} more collisions)` : ''}; rename one of them`);
  }
  return units;
}
