// A plain HTML table. Cells are HTML already (callers escape data); `numeric` right-aligns columns.
import type { RunStatsJSON } from '../core/stats.ts';
import { codeHtml, esc, fmtInt, fmtPct } from './html-text.ts';

export function table(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const trs = rows.map((row) => `<tr>${row.map((c, i) => `<td${numeric[i] ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`);
  // The box scrolls sideways on a narrow screen, not the page.
  return `<div class="scroll"><table><thead><tr>${th}</tr></thead><tbody>${trs.join('')}</tbody></table></div>`;
}

/** In, out, kept share and drops by reason of the stages `include` picks (a source's own funnel). */
export function stageFunnelTable(stats: RunStatsJSON, include: (stage: string) => boolean, note: string): string {
  const rows: string[][] = [];
  for (const [stage, s] of Object.entries(stats.stages)) {
    if (!include(stage)) continue;
    const reasons = Object.entries(s.dropped)
      .filter(([, n]) => n > 0)
      .sort(([ra, a], [rb, b]) => b - a || (ra < rb ? -1 : 1))
      .map(([r, n]) => `${codeHtml(r)} ${fmtInt(n)}`)
      .join(', ');
    rows.push([esc(stage), fmtInt(s.in), fmtInt(s.out), fmtPct(s.out, s.in), reasons || '–']);
  }
  if (!rows.length) return '';
  return `<p class="muted">${esc(note)}</p>` + table(['stage', 'in', 'out', 'kept share', 'dropped by reason'], rows, [false, true, true, true, false]);
}
