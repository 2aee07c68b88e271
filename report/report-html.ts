// report.html: the alignment-quality audit of one run, rebuilt from what is in OUT
// (manifest.json, stats.json, optionally the rejects ledger). One self-contained page:
// inline CSS and SVG, thumbnails as data URIs, no script, no external requests. The same
// input always gives the same bytes, so a report made by one process or fifty is identical.
import type { Manifest } from '../schemas/manifest.ts';
import type { RunStatsJSON } from '../core/stats.ts';
import { anchorId, codeHtml, esc, fmtBytes, fmtDuration, fmtInt, fmtPct, truncate } from './html-text.ts';
import { funnelChart } from './svg-charts.ts';
import { table } from './html-table.ts';
import { exampleSections, worstSections } from './example-cards.ts';
import { histogramBlock, sketchBlock } from './distribution-blocks.ts';
import { NOTHING_CLAIMED, type ClaimedStats } from './claimed-stats.ts';
import { REPORT_CSS } from './report-style.ts';
import { duplicatesSection, type DuplicatesSummary } from './duplicates-section.ts';
import { provenanceSection, type RunInvocation } from './provenance-section.ts';
import type { ScoreMixture } from '../stages/score/calibration.ts';

/** Dropped items of one stage and reason, as read back from the rejects ledger. */
export interface RejectsByReason {
  stage: string;
  reason: string;
  count: number;
  examples: { id: string; source: string; detail: string }[];
}

/** A kind's own part of the report, declared by its plugin (kinds/<kind>.ts). */
export interface KindReportSection {
  /** Anchor id and table-of-contents entry. */
  id: string;
  title: string;
  /** The section, and the stats it shows in its own way (left out of the generic sections); null when the run has none of its stats. */
  render(stats: RunStatsJSON, manifest: Manifest): { html: string; claimed: ClaimedStats } | null;
}

export interface ReportInput {
  manifest: Manifest;
  stats: RunStatsJSON;
  /** The run's kind sections, in page order. */
  sections?: readonly KindReportSection[];
  rejectsByReason?: RejectsByReason[];
  /** Shown in the header when given. */
  generatedAt?: string;
  /** The processes that ran into the folder (provenance: times, commands, ranks, missing units). */
  invocations?: readonly RunInvocation[];
  /** Duplicate marks and clusters of the kept rows (finalise collects them from the index). */
  duplicates?: DuplicatesSummary;
}

/** Rows a counter group shows; the rest are summed into one line. */
const TOP_COUNTER_KEYS = 20;

export function renderReport(input: ReportInput): string {
  const { manifest, stats } = input;
  const name = runName(manifest);
  // Kind sections (only when the run recorded their stats) show some stats in their own way;
  // the generic sections then leave those out instead of showing them twice.
  const rendered = (input.sections ?? []).flatMap((s) => {
    const r = s.render(stats, manifest);
    return r ? [{ ...r, id: s.id, title: s.title }] : [];
  });
  const claimed = rendered.reduce<ClaimedStats>((a, r) => unionClaimed(a, r.claimed), NOTHING_CLAIMED);
  const body = [
    header(input, name, rendered.map((r) => r.id)),
    section('provenance', 'Provenance', provenanceSection(manifest, input.invocations ?? [], stats.wall_ms)),
    section('funnel', 'Stage funnel', funnel(stats)),
    section('drops', 'Drop reasons', dropReasons(stats, input.rejectsByReason)),
    section('kinds', 'Per kind', kinds(stats)),
    section('counters', 'Counters', counters(stats, claimed)),
    section('distributions', 'Distributions', distributions(stats, manifest, claimed)),
    section('duplicates', 'Duplicates', duplicatesSection(input.duplicates, stats)),
    ...rendered.map((r) => section(r.id, r.title, r.html)),
    // Last on the page: its example sets are nested sections.
    section('examples', 'Examples', EXAMPLES_LEGEND + exampleSections(stats.examples ?? {}, (stage, reason) => stats.stages[stage]?.dropped[reason] ?? 0, reportExamples(manifest)) + worstSections(stats.worst ?? {}, { skip: claimed.worst })),
  ];
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(`weft report: ${name}`)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head><body>',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

/** output.report_examples of the run's config: the dropped cards per kind. */
function reportExamples(m: Manifest): number {
  const n = (m.config as { output?: { report_examples?: unknown } } | null)?.output?.report_examples;
  return typeof n === 'number' && n > 0 ? n : 12;
}

function unionClaimed(a: ClaimedStats, b: ClaimedStats): ClaimedStats {
  const u = (x: ReadonlySet<string>, y: ReadonlySet<string>) => new Set([...x, ...y]);
  return { histograms: u(a.histograms, b.histograms), sketches: u(a.sketches, b.sketches), counters: u(a.counters, b.counters), worst: u(a.worst, b.worst) };
}

function runName(m: Manifest): string {
  const cfg = m.config as { name?: unknown } | null | undefined;
  return typeof cfg === 'object' && cfg !== null && typeof cfg.name === 'string' && cfg.name ? cfg.name : 'weft run';
}

function section(id: string, title: string, html: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${html}\n</section>`;
}

const HOW_TO_READ = `<div class="howto">
<p><b>How to read this report.</b> Every item the run saw either reached a shard (kept) or was
dropped by exactly one stage with a stable reason code; the <a href="#funnel">funnel</a> shows
items in and out of each stage in pipeline order, and <a href="#drops">drop reasons</a> says why
items left. <a href="#distributions">Distributions</a> show measured values and scores: histograms
count values in fixed bins; sketches are mergeable t-digests, drawn as an approximate density
(bars) and cumulative share (red line), with dashed orange lines where a filter cuts.</p>
<p><a href="#examples">Examples</a> are a sample of kept and dropped items chosen by a hash of the
item id, so they do not depend on how the run was split across processes; every drop reason gets
cards in proportion to its count (at least two). Look at the dropped examples of each large
reason: if good pairs were removed, the threshold or rule is too strict.
<a href="#provenance">Provenance</a> says when, how and from what the output was made, and whether
it is complete; <a href="#duplicates">duplicates</a> shows what was found to be the same picture.
All numbers come from stats.json and manifest.json in the same folder; the page makes no network
requests.</p>
</div>`;

const EXAMPLES_LEGEND = `<p class="legend-boxes muted">Each card: the item's picture (or the kind's preview), its caption, and for drops the stage and reason. Coloured boxes are grounding regions: the numbered key under the picture names the caption phrase each box grounds and the phrase's similarity to it (phrases that only give a position, such as "the left", are not grounded). A card that says "no picture" is an item that failed before it had a readable image.</p>`;

function header(input: ReportInput, name: string, kindSections: string[]): string {
  const { manifest: m } = input;
  const t = m.totals;
  const card = (value: string, label: string) => `<div><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
  const facts: [string, string][] = [
    ['config fingerprint', `<code>${esc(m.config_fingerprint)}</code>`],
    ['weft version', esc(m.weft_version)],
    ['manifest schema', esc(m.schema_version)],
  ];
  if (input.generatedAt) facts.push(['generated', esc(input.generatedAt)]);
  const parts = [
    `<header><h1>${esc(name)}</h1><p class="muted">weft alignment-quality report</p>`,
    `<nav class="toc">${['provenance', 'funnel', 'drops', 'kinds', 'counters', 'distributions', 'duplicates', ...kindSections, 'examples']
      .map((id) => `<a href="#${id}">${id}</a>`)
      .join('')}</nav></header>`,
    HOW_TO_READ,
    '<section id="summary"><h2>Summary</h2>',
    `<div class="totals">${[
      card(fmtInt(t.kept), 'kept'),
      card(fmtInt(t.dropped), `dropped (${fmtPct(t.dropped, t.kept + t.dropped)})`),
      card(fmtInt(t.shards), 'shards'),
      card(fmtBytes(t.bytes), 'bytes in shards'),
      card(fmtInt(m.units.length), 'units committed'),
    ].join('')}</div>`,
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`,
  ];
  if (m.scorers.length) {
    parts.push('<h3>Scorers</h3>');
    parts.push(
      table(
        ['scorer id', 'model sha256', 'preprocessing hash'],
        m.scorers.map((s) => [esc(s.id), `<code>${esc(s.model_sha256)}</code>`, `<code>${esc(s.preprocessing_hash)}</code>`]),
      ),
    );
  }
  if (m.filters.length) {
    parts.push('<h3>Filters</h3>');
    parts.push(table(['rule'], m.filters.map((f) => [`<code>${esc(describeFilter(f))}</code>`])));
  }
  if (m.shards.length) parts.push('<h3>Shards per kind</h3>', shardsPerKind(m));
  parts.push('</section>');
  return parts.join('\n');
}

function describeFilter(f: Record<string, unknown>): string {
  return Object.keys(f)
    .sort()
    .map((k) => `${k}=${typeof f[k] === 'string' ? f[k] : JSON.stringify(f[k])}`)
    .join('  ');
}

function shardsPerKind(m: Manifest): string {
  const byKind = new Map<string, { shards: number; rows: number; bytes: number }>();
  for (const s of m.shards) {
    const k = byKind.get(s.kind) ?? { shards: 0, rows: 0, bytes: 0 };
    k.shards++;
    k.rows += s.rows;
    k.bytes += s.bytes;
    byKind.set(s.kind, k);
  }
  const rows = [...byKind].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [esc(k), fmtInt(v.shards), fmtInt(v.rows), esc(fmtBytes(v.bytes))]);
  return table(['kind', 'shards', 'rows', 'bytes'], rows, [false, true, true, true]);
}

function droppedTotal(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

function funnel(stats: RunStatsJSON): string {
  const rows = Object.entries(stats.stages).map(([stage, s]) => ({ stage, in: s.in, out: s.out, dropped: droppedTotal(s.dropped), busy: s.busy_ms }));
  if (!rows.length) return '<p class="empty">No stage recorded any item.</p>';
  return (
    `<div class="scroll">${funnelChart(rows)}</div>` +
    table(
      ['stage', 'in', 'out', 'dropped', 'dropped share', 'busy (summed over units)'],
      rows.map((r) => [esc(r.stage), fmtInt(r.in), fmtInt(r.out), fmtInt(r.dropped), fmtPct(r.dropped, r.in), esc(fmtDuration(r.busy))]),
      [false, true, true, true, true, true],
    )
  );
}

function dropReasons(stats: RunStatsJSON, ledger: RejectsByReason[] | undefined): string {
  const key = (stage: string, reason: string) => `${stage}\u0000${reason}`;
  const fromLedger = new Map((ledger ?? []).map((r) => [key(r.stage, r.reason), r]));
  const rows: { stage: string; reason: string; count: number; stageIn: number }[] = [];
  for (const [stage, s] of Object.entries(stats.stages)) {
    for (const [reason, count] of Object.entries(s.dropped)) if (count > 0) rows.push({ stage, reason, count, stageIn: s.in });
  }
  // A reason only the ledger knows means stats and ledger disagree: show it rather than hide it.
  const inStats = new Set(rows.map((r) => key(r.stage, r.reason)));
  for (const r of ledger ?? []) if (!inStats.has(key(r.stage, r.reason))) rows.push({ stage: r.stage, reason: r.reason, count: 0, stageIn: stats.stages[r.stage]?.in ?? 0 });
  if (!rows.length) return '<p class="empty">Nothing was dropped.</p>';
  rows.sort((a, b) => b.count - a.count || (a.stage < b.stage ? -1 : a.stage > b.stage ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
  const total = rows.reduce((a, r) => a + r.count, 0);
  const head = ['stage', 'reason', 'count', 'share of drops', 'share of stage input'];
  const numeric = [false, false, true, true, true];
  if (ledger) head.push('ledger rows', 'examples'), numeric.push(true, false);
  const body = rows.map((r) => {
    const cells = [esc(r.stage), codeHtml(r.reason), fmtInt(r.count), fmtPct(r.count, total), fmtPct(r.count, r.stageIn)];
    if (ledger) {
      const l = fromLedger.get(key(r.stage, r.reason));
      const n = l?.count ?? 0;
      cells.push(n === r.count ? fmtInt(n) : `<span class="warn" title="stats.json and the rejects ledger disagree">${fmtInt(n)}</span>`);
      cells.push(l?.examples.length ? `<ul>${l.examples.map(rejectExample).join('')}</ul>` : '');
    }
    return cells;
  });
  return `<p class="muted">${fmtInt(total)} items dropped in total.</p>` + table(head, body, numeric);
}

function rejectExample(e: { id: string; source: string; detail: string }): string {
  return `<li><code title="${esc(e.source)}">${esc(truncate(e.id, 60))}</code> ${esc(truncate(e.detail, 200))}</li>`;
}

function kinds(stats: RunStatsJSON): string {
  const names = Object.keys(stats.kinds).sort();
  if (!names.length) return '<p class="empty">No per kind totals recorded.</p>';
  return table(
    ['kind', 'seen', 'kept', 'dropped', 'kept share'],
    names.map((k) => {
      const t = stats.kinds[k];
      return [esc(k), fmtInt(t.seen), fmtInt(t.kept), fmtInt(t.dropped), fmtPct(t.kept, t.seen)];
    }),
    [false, true, true, true, true],
  );
}

function counters(stats: RunStatsJSON, claimed: ClaimedStats): string {
  const groups = Object.keys(stats.counters ?? {})
    .filter((g) => !claimed.counters.has(g))
    .sort();
  if (!groups.length) return '<p class="empty">No counters recorded.</p>';
  return groups
    .map((g) => {
      const entries = Object.entries(stats.counters[g]).sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : ka > kb ? 1 : 0));
      const total = entries.reduce((s, [, n]) => s + n, 0);
      const top = entries.slice(0, TOP_COUNTER_KEYS);
      const rows = top.map(([k, n]) => [`<code>${esc(truncate(k, 120))}</code>`, fmtInt(n), fmtPct(n, total)]);
      const rest = entries.slice(TOP_COUNTER_KEYS);
      if (rest.length) rows.push([`<i>${fmtInt(rest.length)} more keys</i>`, fmtInt(rest.reduce((s, [, n]) => s + n, 0)), '']);
      return `<h3 id="${esc(anchorId('counter', g))}">${esc(g)} <small>${fmtInt(entries.length)} keys, ${fmtInt(total)} total</small></h3>` + table(['key', 'count', 'share'], rows, [false, true, true]);
    })
    .join('\n');
}

/** Cuts that filters apply to a score column, for `score:<column>` histograms and sketches. */
export function thresholdsFor(name: string, filters: Record<string, unknown>[]): number[] {
  if (!name.startsWith('score:')) return [];
  const column = name.slice('score:'.length);
  const direct = filters.filter((f) => f.column === column && typeof f.threshold === 'number' && Number.isFinite(f.threshold)).map((f) => f.threshold as number);
  // min_p_aligned cuts p_aligned; on the score axis that is the score where p_aligned crosses it.
  const calibrated = filters.filter((f) => f.from === column && typeof f.score_cut === 'number' && Number.isFinite(f.score_cut)).map((f) => f.score_cut as number);
  return [...direct, ...calibrated];
}

/** The score mixture fitted at finalise for a `score:<column>` stat, if any. */
export function mixtureFor(name: string, filters: Record<string, unknown>[]): ScoreMixture | undefined {
  if (!name.startsWith('score:')) return undefined;
  const column = name.slice('score:'.length);
  return filters.find((f) => f.from === column && f.mixture)?.mixture as ScoreMixture | undefined;
}

function distributions(stats: RunStatsJSON, manifest: Manifest, claimed: ClaimedStats): string {
  const parts: string[] = [];
  for (const name of Object.keys(stats.histograms ?? {}).sort()) {
    if (!claimed.histograms.has(name)) parts.push(histogramBlock(name, stats.histograms[name], thresholdsFor(name, manifest.filters), name, mixtureFor(name, manifest.filters)));
  }
  for (const name of Object.keys(stats.sketches ?? {}).sort()) {
    // One x range per measured value: a sketch with a histogram of the same name uses its range.
    const h = stats.histograms?.[name];
    if (!claimed.sketches.has(name)) parts.push(sketchBlock(name, stats.sketches[name], thresholdsFor(name, manifest.filters), name, h ? { lo: h.lo, hi: h.hi } : undefined));
  }
  const elsewhere = claimed.histograms.size + claimed.sketches.size;
  const note = elsewhere ? `<p class="muted">${fmtInt(elsewhere)} more are shown in their kind's section below.</p>` : '';
  return parts.length ? note + parts.join('\n') : note || '<p class="empty">No histograms or sketches recorded.</p>';
}
