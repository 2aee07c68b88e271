// diff.html: the page of `weft diff OUT_A OUT_B`. Counts of each change, drops per reason in A
// and in B side by side, and the changed samples (the first few hundred; all of them are in
// changed.parquet). Self-contained like report.html: inline CSS, no script, no requests.
import { codeHtml, esc, fmtInt, fmtNum } from './html-text.ts';
import { table } from './html-table.ts';
import { REPORT_CSS } from './report-style.ts';

export interface Fate {
  kept: boolean;
  kind: string;
  stage: string | null;
  reason: string | null;
  score: number | null;
}

export type ChangeKind = 'kept_to_dropped' | 'dropped_to_kept' | 'reason_changed' | 'score_moved' | 'only_in_a' | 'only_in_b';

export interface SampleChange {
  id: string;
  kind: string;
  change: ChangeKind;
  a: Fate | null;
  b: Fate | null;
  score_delta: number | null;
}

export interface RunDiff {
  a: { dir: string; name: string; scoreColumn: string | null; samples: number };
  b: { dir: string; name: string; scoreColumn: string | null; samples: number };
  delta: number;
  changes: SampleChange[];
  /** Change kind -> count. */
  counts: Record<ChangeKind, number>;
  /** `stage/reason` (or `kept`) -> count in A and in B. */
  reasons: { key: string; a: number; b: number }[];
}


/** Changed samples listed on the page; the Parquet file holds all. */
const LISTED = 300;

const CHANGE_WORDS: Record<ChangeKind, string> = {
  kept_to_dropped: 'kept in A, dropped in B',
  dropped_to_kept: 'dropped in A, kept in B',
  reason_changed: 'dropped in both, for another reason',
  score_moved: 'kept in both, score moved by more than delta',
  only_in_a: 'only in A',
  only_in_b: 'only in B',
};

function fateText(f: Fate | null): string {
  if (!f) return '<span class="muted">absent</span>';
  const score = f.score === null ? '' : ` <span class="muted">score ${esc(fmtNum(f.score))}</span>`;
  return f.kept ? `kept${score}` : `${esc(f.stage ?? '')} · ${codeHtml(f.reason ?? '')}${score}`;
}

export function renderDiff(d: RunDiff): string {
  const changed = d.changes.length;
  const body = [
    `<header><h1>${esc(`weft diff: ${d.a.name} → ${d.b.name}`)}</h1><p class="muted">A = <code>${esc(d.a.dir)}</code> (${fmtInt(d.a.samples)} samples), B = <code>${esc(d.b.dir)}</code> (${fmtInt(d.b.samples)} samples); score column ${esc(d.a.scoreColumn ?? 'none')}${d.b.scoreColumn !== d.a.scoreColumn ? ` / ${esc(d.b.scoreColumn ?? 'none')}` : ''}, delta ${esc(fmtNum(d.delta))}</p>`,
    `<nav class="toc"><a href="#changes">changes</a><a href="#reasons">reasons</a><a href="#samples">samples</a></nav></header>`,
    `<section id="changes"><h2>Changes</h2><p>${fmtInt(changed)} samples changed; every one is a row of <code>changed.parquet</code> next to this page.</p>`,
    table(['change', 'samples'], (Object.keys(CHANGE_WORDS) as ChangeKind[]).map((k) => [`${codeHtml(k)} <span class="muted">${esc(CHANGE_WORDS[k])}</span>`, fmtInt(d.counts[k])]), [false, true]),
    '</section>',
    `<section id="reasons"><h2>Fates per reason, before and after</h2>`,
    table(
      ['fate', 'A', 'B', 'B − A'],
      d.reasons.map((r) => [r.key === 'kept' ? '<b>kept</b>' : codeHtml(r.key), fmtInt(r.a), fmtInt(r.b), `${r.b - r.a > 0 ? '+' : ''}${fmtInt(r.b - r.a)}`]),
      [false, true, true, true],
    ),
    '</section>',
    `<section id="samples"><h2>Changed samples</h2><p class="muted">${changed > LISTED ? `the first ${fmtInt(LISTED)} of ${fmtInt(changed)} by id` : `all ${fmtInt(changed)}, by id`}</p>`,
    changed
      ? table(
          ['id', 'change', 'in A', 'in B', 'score B − A'],
          d.changes.slice(0, LISTED).map((c) => [`<code>${esc(c.id)}</code>`, codeHtml(c.change), fateText(c.a), fateText(c.b), c.score_delta === null ? '' : esc(fmtNum(c.score_delta))]),
          [false, false, false, false, true],
        )
      : '<p class="empty">No sample changed.</p>',
    '</section>',
  ];
  return ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">', `<title>${esc(`weft diff: ${d.a.name} → ${d.b.name}`)}</title>`, `<style>${REPORT_CSS}</style>`, '</head><body>', ...body, '</body></html>', ''].join('\n');
}
