// Report cards for pairs dropped after the run sampled its examples: the finalise-time cuts
// (min_p_aligned, keep_top) and `weft filter`. Per kind, stage and reason the k lowest id hashes
// are chosen, as the run-time drops are, so the sample is the same for one process or many.
import type { RejectRecord } from '../core/rejects.ts';
import type { RunStats } from '../core/stats.ts';
import { BottomK } from '../core/sketch/bottom-k.ts';
import { droppedSetName } from '../report/example-sets.ts';
import { picturesFromShards } from './shard-pictures.ts';

/** Where the shards holding the wanted ids lie: the OUT folder and each id's (shard, row). */
export interface ShardLocator {
  root: string;
  locate(wanted: ReadonlySet<string>): Promise<Map<string, { shard: string; row: number }>>;
}

/**
 * Adds the dropped sample of `dropped` to the stats' example sets. A pair the kept sample already
 * holds moves over with its picture (and grounding boxes) and leaves the kept sample; the others'
 * pictures and captions are read back from their shards.
 */
export async function sampleDroppedExamples(stats: RunStats, dropped: Iterable<RejectRecord> | AsyncIterable<RejectRecord>, k: number, shards: ShardLocator): Promise<void> {
  // One pass over the dropped rows (a file at finalise), holding only the kept sample's ids and the bottom-k.
  const keptIds = new Set<string>();
  for (const [name, set] of stats.examples) if (name.startsWith('kept:')) for (const e of set.items) keptIds.add(String(e.item.id));
  const droppedKept = new Set<string>();
  const chosen = new Map<string, BottomK<RejectRecord>>();
  for await (const r of dropped) {
    if (keptIds.has(r.id)) droppedKept.add(r.id);
    const name = droppedSetName(r.kind, r.stage, r.reason);
    let set = chosen.get(name);
    if (!set) chosen.set(name, (set = new BottomK(k)));
    if (set.wouldKeep(r.id)) set.add(r.id, r);
  }
  const sampled = new Map<string, Record<string, unknown>>();
  for (const [name, set] of [...stats.examples]) {
    if (!name.startsWith('kept:')) continue;
    for (const e of set.items) if (droppedKept.has(String(e.item.id))) sampled.set(String(e.item.id), e.item);
    set.items = set.items.filter((e) => !droppedKept.has(String(e.item.id)));
  }
  const wanted = new Set([...chosen.values()].flatMap((s) => s.items.map((e) => e.item.id)).filter((id) => !sampled.has(id)));
  const pictures = wanted.size ? await picturesFromShards(shards.root, await shards.locate(wanted)) : new Map();
  for (const [name, set] of chosen) {
    for (const { item: r } of set.items) {
      const base = sampled.get(r.id) ?? { ...pictures.get(r.id), id: r.id, source: r.source };
      stats.exampleSet(name, k).add(r.id, { ...base, stage: r.stage, reason: r.reason, detail: r.detail });
    }
  }
}

/** output.report_examples of a run's config. */
export function reportExamplesOf(config: unknown): number {
  const n = (config as { output?: { report_examples?: unknown } } | null)?.output?.report_examples;
  return typeof n === 'number' && n > 0 ? n : 12;
}
