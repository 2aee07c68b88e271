// weft report: rebuilds the derived outputs of an OUT folder, but only of a complete one. A
// folder that a run is still writing (it holds the lock), or whose committed units are not all
// the units its run.json plans for it (its rank's share of planned_units), would give a report
// that looks complete and is not: refused (exit 2) naming the missing units, unless
// allowPartial, which marks the output partial in the manifest and the report, as merge does.
import { lockOutDir, OutLockedError, type OutLock } from './out-lock.ts';
import { finaliseOutDir, readRunInfo, type FinaliseResult } from './finalise.ts';
import { readCompletions, type RunInfo } from './out-dir.ts';
import { partitionUnits } from '../core/units.ts';
import { UsageError } from '../core/usage-error.ts';

export class IncompleteOutError extends UsageError {}

/** The units this folder should hold: its rank's share of the planned units (undefined when run.json plans none). */
export function expectedUnits(info: RunInfo): string[] | undefined {
  if (!info.planned_units) return undefined;
  const units = info.planned_units.map((id) => ({ id, source: id, spec: null }));
  return partitionUnits(units, info.rank ?? 0, info.world_size ?? 1).map((u) => u.id);
}

export async function reportOutDir(root: string, opts: { allowPartial?: boolean } = {}): Promise<FinaliseResult> {
  let lock: OutLock;
  try {
    // Held while finalising, so no run starts writing under the report either.
    lock = await lockOutDir(root);
  } catch (err) {
    if (err instanceof OutLockedError) throw new IncompleteOutError(`${err.message}; weft report runs once it has finished (the run builds the report itself when it ends)`);
    throw err;
  }
  try {
    const info = await readRunInfo(root);
    const committed = new Set((await readCompletions(root)).filter((c) => c.fingerprint === info.fingerprint).map((c) => c.unit));
    const accepted = new Set(info.partial?.missing_units ?? []); // a partial merge, already marked
    const missing = (expectedUnits(info) ?? []).filter((u) => !committed.has(u) && !accepted.has(u)).sort();
    if (missing.length === 0) return await finaliseOutDir(root);
    if (!opts.allowPartial) {
      throw new IncompleteOutError(
        `${root} misses ${missing.length} planned unit(s) with no commit: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? `, and ${missing.length - 10} more` : ''}; rerun weft run to finish it, or report it with --allow-partial`,
      );
    }
    return await finaliseOutDir(root, { partial: { missing_units: [...accepted, ...missing].sort() } });
  } finally {
    await lock.release();
  }
}
