// Resume keyed on input: before a rerun does any work, each committed unit's recorded input
// fingerprint is compared with its input now. A unit whose input changed, and a committed unit
// the input no longer plans, would make the resumed output disagree with its input; the run
// refuses (exit 2) naming them, unless --redo-changed, which discards their commits (the
// changed units are then redone, the vanished ones stay gone).
import { UsageError } from '../core/usage-error.ts';
import type { Logger } from '../core/logger.ts';
import type { OutDir } from '../output/out-dir.ts';

export class InputChangedError extends UsageError {}

export interface InputChanges {
  /** Committed units whose input fingerprint differs now (or was never recorded). */
  changed: string[];
  /** Committed units that the input no longer plans. */
  vanished: string[];
}

export function inputChanges(out: OutDir, fingerprints: Map<string, string>, plannedIds: Set<string>): InputChanges {
  const changed: string[] = [];
  const vanished: string[] = [];
  for (const c of out.completions()) {
    if (!plannedIds.has(c.unit)) vanished.push(c.unit);
    else if (fingerprints.has(c.unit) && c.input_fingerprint !== fingerprints.get(c.unit)) changed.push(c.unit);
  }
  return { changed, vanished };
}

/** Refuses (InputChangedError) or, with redoChanged, discards the commits of changed and vanished units. */
export async function settleInputChanges(out: OutDir, changes: InputChanges, redoChanged: boolean, log: Logger): Promise<void> {
  const { changed, vanished } = changes;
  if (changed.length === 0 && vanished.length === 0) return;
  const list = (ids: string[]) => `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, and ${ids.length - 10} more` : ''}`;
  const parts = [
    ...(changed.length ? [`${changed.length} committed unit(s) whose input changed: ${list(changed)}`] : []),
    ...(vanished.length ? [`${vanished.length} committed unit(s) no longer in the input: ${list(vanished)}`] : []),
  ];
  if (!redoChanged) {
    throw new InputChangedError(`${out.root}: ${parts.join('; ')}. Rerun with --redo-changed to discard those commits and redo the changed units, or use a new --out`);
  }
  for (const unit of [...changed, ...vanished]) await out.discardUnit(unit);
  log.warn(`--redo-changed: discarded the commits of ${parts.join('; ')}`);
}
