// A unit of work is one input shard: a file, a row range of a list, one video, one RGB-D
// sequence. Units are the grain of commits, resume and partitioning.
import { createHash } from 'node:crypto';

export interface Unit<Spec = unknown> {
  /** Stable, file-name-safe id; sorting ids gives the canonical unit order. */
  id: string;
  /** What the unit reads, for people (a path, a path with a row range). */
  source: string;
  /** Reader-specific description (JSON-serialisable), e.g. { file, firstRow, rowCount }: typed
   *  by the kind that planned the unit, which is the one that reads it back. */
  spec: Spec;
}

/** Deterministic partition for --rank/--world-size: unit i of the sorted list goes to rank i mod n. */
export function partitionUnits<U extends Unit>(units: U[], rank: number, worldSize: number): U[] {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new Error(`world size must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new Error(`rank must be in [0, ${worldSize - 1}], got ${rank}`);
  const sorted = [...units].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sorted.filter((_, i) => i % worldSize === rank);
}

/** Make a string safe and readable as part of a unit id or file name. */
export function safeIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'x';
}

/**
 * Unit id of an input named by its path relative to the source root: a readable slug plus 8 hex
 * of the sha256 of the exact relative path, so paths that slug alike (`a b.tar`, `a_b.tar`;
 * `a.tar`, `a.tgz`) still get different ids, and the id of a file never depends on its neighbours.
 */
export function pathUnitId(prefix: string, relPath: string): string {
  const hash = createHash('sha256').update(relPath).digest('hex').slice(0, 8);
  return `${prefix}${safeIdPart(relPath)}-${hash}`;
}

/** Pairs of units that share an id (ids name commit files: two units on one id lose samples). */
export function duplicateUnitIds(units: Unit[]): [Unit, Unit][] {
  const seen = new Map<string, Unit>();
  const dups: [Unit, Unit][] = [];
  for (const u of units) {
    const first = seen.get(u.id);
    if (first) dups.push([first, u]);
    else seen.set(u.id, u);
  }
  return dups;
}
