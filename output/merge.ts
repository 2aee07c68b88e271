// weft merge: combine the OUT folders of independent ranks into one. Shard and part files
// are named by unit, so ranks never collide; the merged outputs are rebuilt by the same
// finalise step as a single-process run, folding unit stats in unit order, so the content
// equals that of one process doing all units.
import { copyFile, link, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readCompletions, type RunInfo, type UnitCompletion } from './out-dir.ts';
import { finaliseOutDir, readFinaliseResult, readRunInfo, type FinaliseResult } from './finalise.ts';
import { copyInvocations } from './invocations.ts';
import { writeJsonAtomic } from './fs-atomic.ts';
import { UsageError } from '../core/usage-error.ts';
import { buildDigest, buildFolderAtomically, sameBuildAt, writeBuildRecord } from './staged-folder.ts';

/** `alreadyBuilt`: the target already held the finished merge of the same parts; nothing was written. */
export async function mergeOutDirs(inputs: string[], target: string, opts: { allowPartial?: boolean } = {}): Promise<FinaliseResult & { alreadyBuilt?: boolean }> {
  if (inputs.length === 0) throw new Error('merge needs at least one OUT folder');
  const infos: RunInfo[] = [];
  for (const d of inputs) infos.push(await readRunInfo(d));
  const fp = infos[0].fingerprint;
  inputs.forEach((d, i) => {
    if (infos[i].fingerprint !== fp) throw new Error(`${d} was made with another config (fingerprint ${infos[i].fingerprint.slice(0, 12)} vs ${fp.slice(0, 12)} in ${inputs[0]})`);
  });
  const targetAbs = path.resolve(target);
  if (inputs.some((d) => path.resolve(d) === targetAbs)) throw new Error('--out must differ from the folders being merged');
  // What the merge is made of: a rerun that finds the finished merge of the same parts at the
  // target (a kill after the rename) leaves it as it is.
  const digest = buildDigest({ inputs: await Promise.all(inputs.map(async (d) => ({ dir: path.resolve(d), fingerprint: fp, commits: commitsOf(await readCompletions(d)) }))), allowPartial: !!opts.allowPartial });
  const finished = async (): Promise<FinaliseResult & { alreadyBuilt?: boolean }> => {
    const done = await sameBuildAt(target, 'merge', digest);
    if (done) return { ...(await readFinaliseResult(target, done)), alreadyBuilt: true };
    throw new UsageError(`${target} is not empty; merge writes into a new folder`);
  };
  if (existsSync(target) && (await readdir(target)).length > 0) return finished();
  // Built in a hidden sibling and renamed into place: a kill leaves no half-merged target.
  return buildFolderAtomically<FinaliseResult & { alreadyBuilt?: boolean }>(target, async (staging) => {
    for (const sub of ['shards', 'sidecars', 'parts', 'completions']) await mkdir(path.join(staging, sub), { recursive: true });

    // The queue executor delivers at least once, so a unit may be committed by two workers. With
    // identical shards that is the same unit twice; with different content (a non-deterministic
    // fetch), the earliest commit is kept (ties: the earlier input folder) and the others are
    // recorded in superseded.json: deterministic, and nothing is dropped without a trace.
    const byUnit = new Map<string, { dir: string; c: UnitCompletion; order: number }[]>();
    let order = 0;
    for (const dir of inputs) {
      for (const c of await readCompletions(dir)) {
        if (c.fingerprint !== fp) continue;
        byUnit.set(c.unit, [...(byUnit.get(c.unit) ?? []), { dir, c, order: order++ }]);
      }
    }
    // Completeness: every unit the config plans must be committed in some part.
    const planned = infos.every((i) => i.planned_units) ? new Set(infos.flatMap((i) => i.planned_units!)) : undefined;
    const missing = planned ? [...planned].filter((u) => !byUnit.has(u)).sort() : [];
    if (missing.length && !opts.allowPartial) {
      throw new Error(`the parts miss ${missing.length} planned unit(s): ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}; rerun the rank or worker that owns them, or merge with --allow-partial`);
    }
    const all: { dir: string; c: UnitCompletion }[] = [];
    const superseded: { unit: string; kept: { dir: string; committed_at: string }; superseded: { dir: string; committed_at: string } }[] = [];
    for (const unit of [...byUnit.keys()].sort()) {
      const commits = byUnit.get(unit)!.sort((a, b) => (a.c.committed_at < b.c.committed_at ? -1 : a.c.committed_at > b.c.committed_at ? 1 : a.order - b.order));
      const keep = commits[0];
      all.push(keep);
      for (const other of commits.slice(1)) {
        if (sameShards(keep.c, other.c)) continue;
        superseded.push({ unit, kept: { dir: keep.dir, committed_at: keep.c.committed_at }, superseded: { dir: other.dir, committed_at: other.c.committed_at } });
      }
    }
    if (superseded.length) await writeJsonAtomic(path.join(staging, 'superseded.json'), superseded);
    // Index columns: the union, in first-seen order.
    const indexColumns = infos.flatMap((i) => i.index_columns).filter((c, i, arr) => arr.findIndex((x) => x.name === c.name) === i);
    await writeJsonAtomic(path.join(staging, 'run.json'), { ...infos[0], index_columns: indexColumns, rank: 0, world_size: 1, ...(planned ? { planned_units: [...planned].sort() } : {}), ...(missing.length ? { partial: { missing_units: missing } } : {}) });
    for (const { dir, c } of all) {
      for (const s of [...c.shards, ...(c.sidecars ?? [])]) await linkOrCopy(path.join(dir, s.path), path.join(staging, s.path));
      for (const part of ['index', 'rejects']) {
        const f = `${c.unit}.${part}.jsonl.gz`;
        await linkOrCopy(path.join(dir, 'parts', f), path.join(staging, 'parts', f));
      }
      await writeJsonAtomic(path.join(staging, 'completions', `${c.unit}.json`), c);
    }
    for (const d of inputs) await copyInvocations(d, staging);
    const result = await finaliseOutDir(staging);
    await writeBuildRecord(staging, { command: 'merge', inputs_digest: digest, index_rows: result.indexRows, reject_rows: result.rejectRows });
    return result;
  }, finished);
}

function sameShards(a: UnitCompletion, b: UnitCompletion): boolean {
  const key = (c: UnitCompletion) => JSON.stringify(c.shards.map((s) => [s.path, s.sha256, s.rows]));
  return a.kept === b.kept && a.dropped === b.dropped && key(a) === key(b);
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/** The commits of a folder as a build input: unit, config, commit time and shard checksums. */
export function commitsOf(completions: UnitCompletion[]): unknown[] {
  return completions.map((c) => [c.unit, c.fingerprint, c.committed_at, [...c.shards, ...(c.sidecars ?? [])].map((s) => s.sha256)]);
}
