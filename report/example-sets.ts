// Names of the example sets in stats.json and how the report picks its dropped sample from them.
// Dropped examples are kept per (kind, stage, reason), each the k lowest id hashes of its drops,
// so they merge exactly across ranks; the report then shows every reason, in proportion to its
// count with a minimum per reason, the lowest hashes first: identical for one process or fifty.
import type { BottomKJSON } from '../core/sketch/bottom-k.ts';
import type { Example } from '../core/stats.ts';

const DROPPED_PREFIX = 'dropped-reason:';

export function droppedSetName(kind: string, stage: string, reason: string): string {
  return `${DROPPED_PREFIX}${kind}:${stage}:${reason}`;
}

export function parseDroppedSetName(name: string): { kind: string; stage: string; reason: string } | null {
  if (!name.startsWith(DROPPED_PREFIX)) return null;
  const [kind, stage, ...reason] = name.slice(DROPPED_PREFIX.length).split(':');
  return reason.length ? { kind, stage, reason: reason.join(':') } : null;
}

/** Minimum cards per reason (or all its examples, if fewer). */
export const MIN_PER_REASON = 2;

/**
 * The dropped cards of one kind: `budget` cards shared over the reasons in proportion to their
 * drop counts, at least MIN_PER_REASON each (so the budget grows when there are many reasons).
 * Reasons in descending count; within one, lowest id hash first.
 */
export function stratifiedDropped(
  sets: { stage: string; reason: string; set: BottomKJSON<Example> }[],
  counts: (stage: string, reason: string) => number,
  budget: number,
): { stage: string; reason: string; count: number; items: Example[] }[] {
  const rows = sets
    .map((s) => ({ ...s, count: Math.max(counts(s.stage, s.reason), s.set.items.length) }))
    .filter((s) => s.set.items.length > 0)
    .sort((a, b) => b.count - a.count || (a.stage + a.reason < b.stage + b.reason ? -1 : 1));
  const total = rows.reduce((a, r) => a + r.count, 0);
  return rows.map((r) => {
    const share = Math.max(MIN_PER_REASON, Math.round((budget * r.count) / Math.max(1, total)));
    return { stage: r.stage, reason: r.reason, count: r.count, items: r.set.items.slice(0, share).map((e) => e.item) };
  });
}
