// Turns rejects-ledger rows into the report's drop-reason summary: a count per (stage, reason)
// and a few examples of each. Examples are the rows with the smallest id hash, so the same
// rows give the same examples whatever order units or processes wrote them in.
import type { RejectRecord } from '../core/rejects.ts';
import { BottomK } from '../core/sketch/bottom-k.ts';
import type { RejectsByReason } from './report-html.ts';

type RejectExample = RejectsByReason['examples'][number];

export async function summariseRejects(rows: Iterable<RejectRecord> | AsyncIterable<RejectRecord>, examplesPerReason = 3): Promise<RejectsByReason[]> {
  const groups = new Map<string, { stage: string; reason: string; count: number; sample: BottomK<RejectExample> }>();
  for await (const row of rows) {
    const key = `${row.stage}\u0000${row.reason}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { stage: row.stage, reason: row.reason, count: 0, sample: new BottomK(examplesPerReason) }));
    g.count++;
    if (examplesPerReason > 0) g.sample.add(row.id, { id: row.id, source: row.source, detail: row.detail });
  }
  return [...groups.values()]
    .map((g) => ({ stage: g.stage, reason: g.reason, count: g.count, examples: g.sample.items.map((e) => e.item) }))
    .sort((a, b) => b.count - a.count || (a.stage < b.stage ? -1 : a.stage > b.stage ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}
