// Duplicates: what the run found to be the same picture, by each test, with counts and a few
// groups side by side (the first kept item and its duplicates). URL siblings (one download for
// rows of the same normalised URL), content duplicates (same bytes), near duplicates
// (perceptual hash) and, when the index has them, the corpus-level marks (semantic duplicates,
// clusters); plus the items dropped as duplicates within a unit.
import type { RunStatsJSON } from '../core/stats.ts';
import { codeHtml, esc, fmtInt, fmtPct, truncate } from './html-text.ts';
import { table } from './html-table.ts';
import { safeThumb } from '../stages/decode/thumbnails.ts';

/** One mark column of index.parquet (`<col> = id of the first item of its group`). */
export interface DuplicateMarks {
  column: string;
  title: string;
  /** Rows carrying the mark, and distinct groups (leaders). */
  marked: number;
  groups: number;
  /** A few groups, chosen by a hash of the leader id: the leader first, then members. */
  examples: { id: string; caption?: string; thumb?: string }[][];
}

export interface ClusterSummary {
  column: string;
  rows: number;
  clusters: number;
  largest: { cluster: string; size: number }[];
}

export interface DuplicatesSummary {
  kept: number;
  marks: DuplicateMarks[];
  clusters: ClusterSummary[];
  /** Concept balance marks (`balance_kept`), when the index has them. */
  balance?: { drawn: number; notDrawn: number };
}

/** Drop reasons that mean "a duplicate of something else". */
const DUPLICATE_REASON = /dup|sibling|same_url/;

function groupCard(g: { id: string; caption?: string; thumb?: string }[]): string {
  const cells = g.map((e, i) => {
    const img = safeThumb(e.thumb);
    const pic = img ? `<img src="${esc(img.uri)}" alt="${esc(truncate(e.caption ?? e.id, 80))}"${img.width && img.height ? ` width="${img.width}" height="${img.height}"` : ''}>` : '<span class="thumb none">no picture: not readable from its shard</span>';
    return `<figure class="dup-member"><div class="thumb">${pic}</div><figcaption><p class="id">${i === 0 ? 'first: ' : ''}${esc(truncate(e.id, 60))}</p>${e.caption ? `<p>${esc(truncate(e.caption, 120))}</p>` : ''}</figcaption></figure>`;
  });
  return `<div class="dup-group">${cells.join('')}</div>`;
}

export function duplicatesSection(d: DuplicatesSummary | undefined, stats: RunStatsJSON): string {
  const parts: string[] = [];
  const drops: string[][] = [];
  for (const [stage, s] of Object.entries(stats.stages)) {
    for (const [reason, n] of Object.entries(s.dropped)) if (n > 0 && DUPLICATE_REASON.test(reason)) drops.push([esc(stage), codeHtml(reason), fmtInt(n)]);
  }
  if (drops.length) parts.push('<h3>Dropped as duplicates within a unit</h3>', table(['stage', 'reason', 'dropped'], drops, [false, false, true]));
  for (const m of d?.marks ?? []) {
    parts.push(
      `<h3 id="dup-${esc(m.column)}">${esc(m.title)} <small>column <code>${esc(m.column)}</code> of index.parquet</small></h3>`,
      `<p>${fmtInt(m.marked)} kept item${m.marked === 1 ? "" : "s"} (${fmtPct(m.marked, d!.kept)}) ${m.marked === 1 ? "is" : "are"} marked as a copy of another, in ${fmtInt(m.groups)} group${m.groups === 1 ? "" : "s"}.</p>`,
    );
    if (m.examples.length) parts.push(`<div class="dup-groups">${m.examples.map(groupCard).join('')}</div>`);
  }
  for (const c of d?.clusters ?? []) {
    parts.push(
      `<h3>Clusters <small>column <code>${esc(c.column)}</code></small></h3>`,
      `<p>${fmtInt(c.rows)} kept items in ${fmtInt(c.clusters)} clusters.</p>`,
      table(['cluster', 'items', 'share'], c.largest.map((l) => [`<code>${esc(l.cluster)}</code>`, fmtInt(l.size), fmtPct(l.size, c.rows)]), [false, true, true]),
    );
  }
  if (d?.balance) {
    const total = d.balance.drawn + d.balance.notDrawn;
    parts.push(
      `<h3>Concept balance <small>column <code>balance_kept</code></small></h3>`,
      `<p>${fmtInt(d.balance.drawn)} of ${fmtInt(total)} items in the index (${fmtPct(d.balance.drawn, total)}) were drawn by the balance over their concept entries; ${fmtInt(d.balance.notDrawn)} were not (entries too frequent). The entry counts before and after are in Distributions (<code>balance:entry_count_before</code>, <code>balance:entry_count_after</code>).</p>`,
    );
  }
  if (!parts.length) return '<p class="empty">No duplicate tests ran, or nothing was found to be a duplicate.</p>';
  return '<p class="muted">Each test marks later items as copies of the first item of their group; marked items stay in the index (filter on the column to drop them).</p>' + parts.join('\n');
}
