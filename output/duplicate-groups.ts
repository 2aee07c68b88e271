// Collects, while finalise writes index.parquet, the duplicate marks and clusters of the kept
// rows for the report's Duplicates section, and reads the pictures of a few groups back from
// their shards. Groups are chosen by a hash of the first item's id, so the same for any split.
// Memory is bounded whatever the number of rows: per mark column a count, the few example groups
// (a streaming bottom-k of leaders: a leader among the final k smallest hashes is among the
// smallest at every step, so it is held from its first member on), and the leaders spilled to
// sorted runs for the number of groups; shard and row of the examples are read back from
// index.parquet once it is written (a DuckDB query for those ids only).
import { BottomK } from '../core/sketch/bottom-k.ts';
import { ExternalSorter } from '../core/external-sort.ts';
import { picturesFromShards } from './shard-pictures.ts';
import { selectFlatParquetRowsById } from './parquet-tables.ts';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { IndexRow } from './out-dir.ts';
import type { DuplicatesSummary } from '../report/duplicates-section.ts';

const MARKS: [string, string][] = [
  ['url_sibling_of', 'URL siblings (rows of the same normalised URL, downloaded once)'],
  ['duplicate_of', 'Content duplicates (the same image bytes)'],
  ['near_dup_of', 'Near duplicates (perceptual hash within the distance)'],
  ['semantic_duplicate_of', 'Semantic duplicates (embeddings closer than the threshold)'],
];
const CLUSTERS = ['cluster_id'];
/** A spilled leader id (packed: no string object held per buffered leader). */
const LEADER_RECORD = ['str'] as const;
const EXAMPLE_GROUPS = 4;
const MEMBERS_SHOWN = 3;
const LARGEST_CLUSTERS = 10;

interface MarkGroups {
  marked: number;
  /** Every leader, spilled and sorted for the number of distinct ones. */
  leaders: ExternalSorter<typeof LEADER_RECORD>;
  /** The example groups: leaders with the EXAMPLE_GROUPS smallest priorities, and their first members. */
  examples: Map<string, { priority: string; members: string[] }>;
}

export class DuplicateCollector {
  private kept = 0;
  private readonly groups = new Map<string, MarkGroups>();
  private readonly clusterSizes = new Map<string, Map<string, number>>();
  private readonly balance = { drawn: 0, notDrawn: 0 };

  /** `spillDir`: scratch folder for the sorted leader runs; removed by `summary`. `spillRecords`: leaders per run. */
  constructor(
    private readonly spillDir: string,
    private readonly spillRecords?: number,
  ) {}

  async add(row: IndexRow): Promise<void> {
    this.kept++;
    for (const [col] of MARKS) {
      const leader = row[col];
      if (typeof leader !== 'string' || !leader) continue;
      let g = this.groups.get(col);
      if (!g) this.groups.set(col, (g = { marked: 0, leaders: new ExternalSorter(path.join(this.spillDir, col), LEADER_RECORD, this.spillRecords), examples: new Map() }));
      g.marked++;
      await g.leaders.add([leader]);
      const held = g.examples.get(leader);
      if (held) {
        if (held.members.length < MEMBERS_SHOWN) held.members.push(String(row.id));
        continue;
      }
      const priority = BottomK.priority(leader);
      let worst: [string, string] | null = null;
      for (const [l, e] of g.examples) if (!worst || e.priority > worst[1]) worst = [l, e.priority];
      if (g.examples.size < EXAMPLE_GROUPS) g.examples.set(leader, { priority, members: [String(row.id)] });
      else if (worst && priority < worst[1]) {
        g.examples.delete(worst[0]);
        g.examples.set(leader, { priority, members: [String(row.id)] });
      }
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
  }

  /** The summary, with pictures of the example groups read from the shards under `root` (after index.parquet is written). */
  async summary(root: string): Promise<DuplicatesSummary> {
    const chosen: { col: string; title: string; marked: number; groups: number; ids: string[][] }[] = [];
    try {
      for (const [col, title] of MARKS) {
        const g = this.groups.get(col);
        if (!g) continue;
        let groups = 0;
        let last: string | null = null;
        for await (const [l] of g.leaders.sorted()) if (l !== last) (groups++, (last = l));
        const ids = [...g.examples].sort((a, b) => (a[1].priority < b[1].priority ? -1 : a[1].priority > b[1].priority ? 1 : 0)).map(([leader, e]) => [leader, ...e.members]);
        chosen.push({ col, title, marked: g.marked, groups, ids });
      }
    } finally {
      await rm(this.spillDir, { recursive: true, force: true });
    }
    const ids = new Set(chosen.flatMap((c) => c.ids.flat()));
    const wanted = new Map<string, { shard: string; row: number }>();
    // index.parquet holds ids made well-formed (parquet-tables.ts): an id with a lone surrogate is never found there.
    const findable = [...ids].filter((id) => (id as unknown as { isWellFormed(): boolean }).isWellFormed());
    for (const r of await selectFlatParquetRowsById(path.join(root, 'index.parquet'), ['id', 'shard', 'row'], findable)) {
      const id = String(r.id);
      if (typeof r.shard === 'string' && r.row !== undefined && r.row !== null) wanted.set(id, { shard: r.shard, row: Number(r.row) });
    }
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
