// Collects, while finalise writes index.parquet, the duplicate marks and clusters of the kept
// rows for the report's Duplicates section, and reads the pictures of a few groups back from
// their shards. Groups are chosen by a hash of the first item's id, so the same for any split.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { BottomK } from '../core/sketch/bottom-k.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';
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
    const pictures = await this.pictures(root, new Set(chosen.flatMap((c) => c.ids.flat())));
    return {
      kept: this.kept,
      marks: chosen.map((c) => ({ column: c.col, title: c.title, marked: c.marked, groups: c.groups, examples: c.ids.map((g) => g.map((id) => ({ id, ...pictures.get(id) }))) })),
      clusters: [...this.clusterSizes].map(([column, sizes]) => ({
        column,
        rows: [...sizes.values()].reduce((a, b) => a + b, 0),
        clusters: sizes.size,
        largest: [...sizes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, LARGEST_CLUSTERS).map(([cluster, size]) => ({ cluster, size })),
      })),
    };
  }

  /** Caption and thumbnail of each id, streamed from its shard (a leader dropped later has none). */
  private async pictures(root: string, ids: Set<string>): Promise<Map<string, { caption?: string; thumb?: string }>> {
    const out = new Map<string, { caption?: string; thumb?: string }>();
    const byShard = new Map<string, Map<number, string>>();
    for (const id of ids) {
      const w = this.where.get(id);
      if (!w) continue;
      const m = byShard.get(w.shard) ?? new Map<number, string>();
      m.set(w.row, id);
      byShard.set(w.shard, m);
    }
    for (const [shard, rows] of byShard) {
      try {
        const reader = await arrow.RecordBatchReader.from(createReadStream(path.join(root, shard)));
        let offset = 0;
        for await (const batch of reader) {
          for (const [r, id] of rows) {
            if (r < offset || r >= offset + batch.numRows) continue;
            const image = batch.getChild('image')?.get(r - offset) as { bytes?: Uint8Array } | null;
            const caption = batch.getChild('caption')?.get(r - offset);
            const entry: { caption?: string; thumb?: string } = typeof caption === 'string' ? { caption } : {};
            if (image?.bytes) entry.thumb = await makeThumbnail(image.bytes).catch(() => undefined);
            out.set(id, entry);
          }
          offset += batch.numRows;
        }
      } catch {
        // an unreadable shard leaves its members without pictures; the card says so
      }
    }
    return out;
  }
}
