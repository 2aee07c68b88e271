// The OUT folder and its commit protocol.
//
//   OUT/.staging/<unit>/     shards being written (never read by anyone)
//   OUT/shards/*.arrow       committed shards
//   OUT/parts/<unit>.*.jsonl.gz   the unit's index and reject rows
//   OUT/completions/<unit>.json   the commit record: written last, so it is the commit point
//
// A unit commits by: fsync staged shards -> rename into shards/ -> write parts -> write the
// completion record. A unit without a completion record does not exist: on the next run its
// leftovers (staged files, renamed shards, parts) are deleted and the unit is redone, so a
// SIGKILL at any moment loses nothing and duplicates nothing.
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RejectRecord } from '../core/rejects.ts';
import type { RunStatsJSON } from '../core/stats.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import type { StagedShard } from './arrow-shard-writer.ts';
import type { FlatColumn } from './parquet-tables.ts';
import { SIDECAR_FOLDER } from '../stages/curate/corpus-sidecar.ts';
import { canonicalJson, differingConfigKeys } from '../schemas/config-file.ts';
import { fsyncDir, readJsonLinesGz, streamJsonLinesGz, writeJsonAtomic, writeJsonLinesGzAtomic, TMP_SUFFIX } from './fs-atomic.ts';

export type IndexRow = Record<string, string | number | boolean | null>;

export interface UnitCompletion {
  unit: string;
  source: string;
  fingerprint: string;
  shards: ShardEntry[];
  /** Sidecar files of the unit (OUT/sidecars/), when the run writes them. */
  sidecars?: ShardEntry[];
  kept: number;
  dropped: number;
  committed_at: string;
  /** Fingerprint of the unit's input when it ran (kinds/plugin.ts inputFingerprints): a rerun
   *  compares it with the input now. Absent on commits of merged or filtered folders. */
  input_fingerprint?: string;
  stats: RunStatsJSON;
}

export interface RunInfo {
  fingerprint: string;
  /** Normalised config of the run. */
  config: unknown;
  scorers: { id: string; model_sha256: string; preprocessing_hash: string }[];
  filters: Record<string, unknown>[];
  /** Flat index.parquet columns beyond id/kind/shard/row/unit, from the run's kinds and scorers. */
  index_columns: FlatColumn[];
  /** The run writes per-unit sidecar files (OUT/sidecars/). */
  sidecars?: boolean;
  /** Every unit id the config plans (all ranks), so merge can tell a complete set of parts. */
  planned_units?: string[];
  /** The rank and world size (--rank/--world-size) of the latest run into this folder: it
   *  commits the planned units whose position in sorted order modulo world_size is rank. */
  rank?: number;
  world_size?: number;
  /** Set on a merged OUT built with --allow-partial: the planned units no part committed. */
  partial?: { missing_units: string[] };
}

export class FingerprintMismatchError extends Error {}

export class OutDir {
  private readonly committed = new Map<string, UnitCompletion>();

  private constructor(readonly root: string, readonly info: RunInfo) {}

  get shardsDir() {
    return path.join(this.root, 'shards');
  }
  get sidecarsDir() {
    return path.join(this.root, SIDECAR_FOLDER);
  }
  get partsDir() {
    return path.join(this.root, 'parts');
  }
  get completionsDir() {
    return path.join(this.root, 'completions');
  }
  stagingDir(unitId: string) {
    return path.join(this.root, '.staging', unitId);
  }

  /**
   * Opens (or creates) OUT for a run with this fingerprint. An OUT written under another
   * fingerprint is refused: mixing configs in one output would make its scores meaningless.
   */
  static async open(root: string, info: RunInfo): Promise<OutDir> {
    const out = new OutDir(root, info);
    for (const d of [out.shardsDir, out.partsDir, out.completionsDir]) await mkdir(d, { recursive: true });
    if (info.sidecars) await mkdir(out.sidecarsDir, { recursive: true });
    const runFile = path.join(root, 'run.json');
    if (existsSync(runFile)) {
      const previous = JSON.parse(await readFile(runFile, 'utf8')) as RunInfo;
      if (previous.fingerprint !== info.fingerprint) {
        const keys = differingConfigKeys(previous.config, info.config);
        if (canonicalJson(previous.scorers) !== canonicalJson(info.scorers)) keys.push('scorer models');
        const named = keys.length ? `; keys that differ: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? `, and ${keys.length - 12} more` : ''}` : '';
        throw new FingerprintMismatchError(
          `${root} holds output of another config (fingerprint ${previous.fingerprint.slice(0, 12)}, this run ${info.fingerprint.slice(0, 12)}${named}); use a new --out or delete it`,
        );
      }
    } else {
      await writeJsonAtomic(runFile, info);
    }
    for (const c of await readCompletions(root)) {
      if (c.fingerprint === info.fingerprint) out.committed.set(c.unit, c);
    }
    await rm(path.join(root, '.staging'), { recursive: true, force: true });
    await out.removeStrays();
    return out;
  }

  /**
   * Records this run's info in run.json once it may proceed: its cosmetic keys (the name is the
   * report's title), rank, world size and planned units (the input may have grown since).
   */
  async updateRunInfo(): Promise<void> {
    const runFile = path.join(this.root, 'run.json');
    const previous = JSON.parse(await readFile(runFile, 'utf8')) as RunInfo;
    const next = { ...previous, ...this.info };
    if (canonicalJson(previous) !== canonicalJson(next)) await writeJsonAtomic(runFile, next);
  }

  /**
   * Undoes a unit's commit: its completion record first (the commit point), then the shards,
   * sidecars and parts it owned. A kill in between leaves strays that the next open removes.
   */
  async discardUnit(unitId: string): Promise<void> {
    const c = this.committed.get(unitId);
    if (!c) return;
    await rm(path.join(this.completionsDir, `${unitId}.json`), { force: true });
    await fsyncDir(this.completionsDir);
    this.committed.delete(unitId);
    for (const s of [...c.shards, ...(c.sidecars ?? [])]) await rm(path.join(this.root, s.path), { force: true });
    for (const part of ['index', 'rejects']) await rm(path.join(this.partsDir, `${unitId}.${part}.jsonl.gz`), { force: true });
  }

  isCommitted(unitId: string): boolean {
    return this.committed.has(unitId);
  }

  completions(): UnitCompletion[] {
    return [...this.committed.values()].sort((a, b) => cmp(a.unit, b.unit));
  }

  /** Commits one unit. `staged` shards must already be fsynced. */
  async commitUnit(
    completion: UnitCompletion,
    staged: StagedShard[],
    indexRows: IndexRow[],
    rejects: RejectRecord[],
    afterRename: () => void = () => undefined,
  ): Promise<void> {
    for (const s of staged) await rename(s.stagedPath, path.join(this.root, s.path));
    if (staged.some((s) => s.path.startsWith('shards/'))) await fsyncDir(this.shardsDir);
    if (staged.some((s) => s.path.startsWith('sidecars/'))) await fsyncDir(this.sidecarsDir);
    afterRename();
    await writeJsonLinesGzAtomic(path.join(this.partsDir, `${completion.unit}.index.jsonl.gz`), indexRows);
    await writeJsonLinesGzAtomic(path.join(this.partsDir, `${completion.unit}.rejects.jsonl.gz`), rejects);
    await writeJsonAtomic(path.join(this.completionsDir, `${completion.unit}.json`), completion);
    await rm(this.stagingDir(completion.unit), { recursive: true, force: true });
    this.committed.set(completion.unit, completion);
  }

  /** Shards, parts and temp files that no completion record owns: leftovers of a killed run. */
  private async removeStrays(): Promise<void> {
    const owned = new Set(this.completions().flatMap((c) => [...c.shards, ...(c.sidecars ?? [])].map((s) => s.path)));
    for (const dir of [this.shardsDir, this.sidecarsDir]) {
      if (!existsSync(dir)) continue;
      for (const f of await readdir(dir)) {
        if (!owned.has(`${path.basename(dir)}/${f}`)) await rm(path.join(dir, f), { force: true });
      }
    }
    for (const f of await readdir(this.partsDir)) {
      const unit = f.replace(/\.(index|rejects)\.jsonl\.gz$/, '');
      if (!this.committed.has(unit) || f.endsWith(TMP_SUFFIX) || f.startsWith('.')) await rm(path.join(this.partsDir, f), { force: true });
    }
    for (const f of await readdir(this.root)) {
      // Temporary files of the derived outputs (manifest.json, index.parquet, ...) of a killed run.
      if (f.startsWith('.') && f.endsWith(TMP_SUFFIX)) await rm(path.join(this.root, f), { force: true });
    }
    for (const f of await readdir(this.completionsDir)) {
      if (f.startsWith('.') || f.endsWith(TMP_SUFFIX)) await rm(path.join(this.completionsDir, f), { force: true });
    }
  }
}

export async function readCompletions(root: string): Promise<UnitCompletion[]> {
  const dir = path.join(root, 'completions');
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
  const out: UnitCompletion[] = [];
  for (const f of files) out.push(JSON.parse(await readFile(path.join(dir, f), 'utf8')) as UnitCompletion);
  return out.sort((a, b) => cmp(a.unit, b.unit));
}

export async function readUnitIndexRows(root: string, unit: string): Promise<IndexRow[]> {
  return readJsonLinesGz<IndexRow>(path.join(root, 'parts', `${unit}.index.jsonl.gz`));
}

/** The unit's index rows one by one, without holding the unit in memory (finalise's passes). */
export function streamUnitIndexRows(root: string, unit: string): AsyncGenerator<IndexRow> {
  return streamJsonLinesGz<IndexRow>(path.join(root, 'parts', `${unit}.index.jsonl.gz`));
}

export function streamUnitRejects(root: string, unit: string): AsyncGenerator<RejectRecord> {
  return streamJsonLinesGz<RejectRecord>(path.join(root, 'parts', `${unit}.rejects.jsonl.gz`));
}

export async function readUnitRejects(root: string, unit: string): Promise<RejectRecord[]> {
  return readJsonLinesGz<RejectRecord>(path.join(root, 'parts', `${unit}.rejects.jsonl.gz`));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
