// Collects, while finalise writes index.parquet, the duplicate marks and clusters of the kept
// rows for the report's Duplicates section, and reads the pictures of a few groups back from
// their shards. Groups are chosen by a hash of the first item's id, so the same for any split.
import { BottomK } from '../core/sketch/bottom-k.ts';
import { picturesFromShards } from './shard-pictures.ts';
import type { IndexRow } from './out-dir.ts';
import type { DuplicatesSummary } from '../report/duplicates-section.ts';

const MARKS: [string, string][] = [
  ['url_sibling_of', 'URL siblings (rows of the same normalised URL, downloaded once)'],
  ['duplicate_of', 'Content duplicates (the same image bytes)'],
  ['near_dup_of', 'Near duplicates (perceptual hash within the distance)'],
  ['semantic_duplicate_of', 'Semantic duplicates (embeddings closer than the threshold)'],
];
const CLUSTERS = ['cluster_id'];
const EXAMPLE_GROUPS = 4;
const MEMBERS_SHOWN = 3;
const LARGEST_CLUSTERS = 10;

export class DuplicateCollector {
  private kept = 0;
  private readonly groups = new Map<string, Map<string, string[]>>();
  private readonly clusterSizes = new Map<string, Map<string, number>>();
  private readonly where = new Map<string, { shard: string; row: number }>();
  private readonly balance = { drawn: 0, notDrawn: 0 };

  add(row: IndexRow): void {
    this.kept++;
    for (const [col] of MARKS) {
      const leader = row[col];
      if (typeof leader !== 'string' || !leader) continue;
      let g = this.groups.get(col);
      if (!g) this.groups.set(col, (g = new Map()));
      const members = g.get(leader) ?? [];
      members.push(String(row.id));
      g.set(leader, members);
    }
    for (const col of CLUSTERS) {
      const c = row[col];
      if (c === null || c === undefined || c === '') continue;
      let m = this.clusterSizes.get(col);
      if (!m) this.clusterSizes.set(col, (m = new Map()));
      m.set(String(c), (m.get(String(c)) ?? 0) + 1);
    }
    if (row.balance_kept === true) this.balance.drawn++;
    else if (row.balance_kept === false) this.balance.notDrawn++;
    if (typeof row.shard === 'string' && typeof row.row === 'number') this.where.set(String(row.id), { shard: row.shard, row: row.row });
  }

  /** The summary, with pictures of the example groups read from the shards under `root`. */
  async summary(root: string): Promise<DuplicatesSummary> {
    const chosen: { col: string; title: string; marked: number; groups: number; ids: string[][] }[] = [];
    for (const [col, title] of MARKS) {
      const g = this.groups.get(col);
      if (!g) continue;
      const pick = new BottomK<string[]>(EXAMPLE_GROUPS);
      for (const [leader, members] of g) pick.add(leader, [leader, ...members.slice(0, MEMBERS_SHOWN)]);
      chosen.push({ col, title, marked: [...g.values()].reduce((a, m) => a + m.length, 0), groups: g.size, ids: pick.items.map((e) => e.item) });
    }
    const wanted = new Map<string, { shard: string; row: number }>();
    for (const id of chosen.flatMap((c) => c.ids.flat())) if (this.where.has(id)) wanted.set(id, this.where.get(id)!);
    const pictures = await picturesFromShards(root, wanted);
    return {
      kept: this.kept,
      marks: chosen.map((c) => ({ column: c.col, title: c.title, marked: c.marked, groups: c.groups, examples: c.ids.map((g) => g.map((id) => ({ id, ...pictures.get(id) }))) })),
      clusters: [...this.clusterSizes].map(([column, sizes]) => ({
        column,
        rows: [...sizes.values()].reduce((a, b) => a + b, 0),
        clusters: sizes.size,
        largest: [...sizes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, LARGEST_CLUSTERS).map(([cluster, size]) => ({ cluster, size })),
      })),
      ...(this.balance.drawn + this.balance.notDrawn > 0 ? { balance: { ...this.balance } } : {}),
    };
  }
}
