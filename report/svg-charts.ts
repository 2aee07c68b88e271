// Inline SVG charts for the report. Plain SVG elements only (no script, no external refs), so
// the page renders offline, prints, and needs no JS. Charts use <rect> only for data bars, so
// a histogram with n bins holds exactly n <rect> elements; frames and ticks are <line>s.
import type { HistogramJSON } from '../core/sketch/histogram.ts';
import type { TDigest } from '../core/sketch/tdigest.ts';
import { esc, fmtInt, fmtNum, truncate } from './html-text.ts';

const W = 600;
const PLOT = { left: 64, right: 40, top: 22, bottom: 46 };

/** Coordinates rounded to 0.1 px: identical input gives identical text, and the page stays small. */
const r = (x: number) => String(Math.round(x * 10) / 10);

function svgOpen(width: number, height: number, label: string, cls: string): string {
  return `<svg class="chart ${cls}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label)}">`;
}

function line(x1: number, y1: number, x2: number, y2: number, cls: string): string {
  return `<line class="${cls}" x1="${r(x1)}" y1="${r(y1)}" x2="${r(x2)}" y2="${r(y2)}"/>`;
}

function text(x: number, y: number, s: string, cls: string, anchor: 'start' | 'middle' | 'end' = 'middle', extra = ''): string {
  return `<text class="${cls}" x="${r(x)}" y="${r(y)}" text-anchor="${anchor}"${extra}>${esc(s)}</text>`;
}

/** Ticks at even fractions of [lo, hi]. */
function ticks(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

/** A round step (1, 2 or 5 times a power of ten) giving about `n` intervals over `span`. */
function niceStep(span: number, n: number): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

/** [lo, hi] widened to multiples of a round step, so axis labels read 0, 0.2, 0.4 ... */
function niceDomain(lo: number, hi: number, n = 4): { lo: number; hi: number; step: number } {
  const step = niceStep(hi - lo, n);
  // Rounding through toPrecision drops float noise such as 0.30000000000000004.
  const clean = (v: number) => Number(v.toPrecision(12));
  return { lo: clean(Math.floor(lo / step) * step), hi: clean(Math.ceil(hi / step) * step), step };
}

/** Multiples of step within [lo, hi]. */
function stepTicks(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let i = first; i * step <= hi + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** The y axis top: the data maximum rounded up to a round step. */
function niceMax(max: number, integer: boolean): number {
  const step = integer ? Math.max(1, niceStep(max, 4)) : niceStep(max, 4);
  return Math.ceil(max / step - 1e-9) * step || step;
}

export interface FunnelRow {
  stage: string;
  in: number;
  out: number;
  dropped: number;
}

/** One pair of bars per stage: items in (grey) over items out (blue), labelled with the drop count. */
export function funnelChart(rows: FunnelRow[]): string {
  const labelW = 150;
  const rowH = 34;
  const height = PLOT.top + rows.length * rowH + 8;
  const barW = W - labelW - 150;
  const max = Math.max(1, ...rows.map((s) => Math.max(s.in, s.out)));
  const parts = [svgOpen(W, height, 'items in and out per stage', 'funnel')];
  rows.forEach((s, i) => {
    const y = PLOT.top + i * rowH;
    parts.push(text(labelW - 8, y + 17, truncate(s.stage, 22), 'label', 'end'));
    parts.push(`<rect class="bar-in" x="${labelW}" y="${r(y + 2)}" width="${r((barW * s.in) / max)}" height="13"><title>${esc(`${s.stage}: ${fmtInt(s.in)} in`)}</title></rect>`);
    parts.push(`<rect class="bar-out" x="${labelW}" y="${r(y + 16)}" width="${r((barW * s.out) / max)}" height="13"><title>${esc(`${s.stage}: ${fmtInt(s.out)} out`)}</title></rect>`);
    const note = `${fmtInt(s.in)} → ${fmtInt(s.out)}` + (s.dropped ? `  (−${fmtInt(s.dropped)})` : '');
    parts.push(text(labelW + barW + 8, y + 20, note, s.dropped ? 'value dropped' : 'value', 'start'));
  });
  parts.push(line(labelW, PLOT.top - 4, labelW, height - 6, 'axis'));
  parts.push('</svg>');
  return parts.join('');
}

/** Frame, y gridlines with labels, x ticks with labels and the two axis titles. */
function axes(
  height: number,
  x: { lo: number; hi: number; title: string },
  y: { max: number; title: string; fmt?: (v: number) => string; integer?: boolean },
): string {
  const x0 = PLOT.left;
  const x1 = W - PLOT.right;
  const y0 = height - PLOT.bottom;
  const y1 = PLOT.top;
  const fmtY = y.fmt ?? fmtNum;
  const parts: string[] = [];
  const yStep = y.integer ? Math.max(1, niceStep(y.max, 4)) : niceStep(y.max, 4);
  for (const v of stepTicks(0, y.max, yStep)) {
    const yy = y0 - ((y0 - y1) * v) / (y.max || 1);
    parts.push(line(x0, yy, x1, yy, v === 0 ? 'axis' : 'grid'));
    parts.push(text(x0 - 6, yy + 4, fmtY(v), 'tick', 'end'));
  }
  for (const v of stepTicks(x.lo, x.hi, niceStep(x.hi - x.lo, 4))) {
    const xx = x0 + ((x1 - x0) * (v - x.lo)) / (x.hi - x.lo);
    parts.push(line(xx, y0, xx, y0 + 4, 'axis'));
    parts.push(text(xx, y0 + 16, fmtNum(v), 'tick'));
  }
  parts.push(line(x0, y0, x0, y1, 'axis'));
  parts.push(text((x0 + x1) / 2, height - 8, x.title, 'axis-title'));
  parts.push(text(14, (y0 + y1) / 2, y.title, 'axis-title', 'middle', ` transform="rotate(-90 14 ${r((y0 + y1) / 2)})"`));
  return parts.join('');
}

/** A dashed vertical marker with a label, clipped to the plot; nothing when outside [lo, hi]. */
function marker(height: number, lo: number, hi: number, value: number, label: string, cls: string, labelRow = 0): string {
  if (!(value >= lo && value <= hi)) return '';
  const xx = PLOT.left + ((W - PLOT.right - PLOT.left) * (value - lo)) / (hi - lo);
  const y0 = height - PLOT.bottom;
  // Labels near the right edge go on the left of the line so they stay inside the chart.
  const leftSide = xx > W - PLOT.right - 110;
  const ly = PLOT.top - 8 + 12 * labelRow;
  return line(xx, y0, xx, PLOT.top - 4, cls) + text(leftSide ? xx - 3 : xx + 3, ly, label, `${cls}-label`, leftSide ? 'end' : 'start');
}

export interface HistogramChartOptions {
  /** What the x axis measures, e.g. the histogram's name. */
  xTitle: string;
  /** Vertical lines where filters cut (e.g. a score threshold). */
  thresholds?: number[];
  /** Densities drawn over the bars as lines, in values per unit of x (scaled to counts per bin). */
  curves?: { label: string; cls: string; density: (x: number) => number }[];
}

/** A fixed-bin histogram: one <rect> per bin, counts below lo and above hi written beside the axis. */
export function histogramChart(h: HistogramJSON, opts: HistogramChartOptions): string {
  const height = 230;
  const n = h.bins.length;
  const max = niceMax(Math.max(1, ...h.bins), true);
  const x0 = PLOT.left;
  const plotW = W - PLOT.right - PLOT.left;
  const y0 = height - PLOT.bottom;
  const plotH = y0 - PLOT.top;
  const parts = [svgOpen(W, height, `histogram of ${opts.xTitle}`, 'histogram')];
  parts.push(axes(height, { lo: h.lo, hi: h.hi, title: opts.xTitle }, { max, title: 'count', integer: true }));
  const binW = plotW / n;
  h.bins.forEach((count, i) => {
    const bh = (plotH * count) / max;
    const from = h.lo + ((h.hi - h.lo) * i) / n;
    const to = h.lo + ((h.hi - h.lo) * (i + 1)) / n;
    parts.push(
      `<rect class="bar" x="${r(x0 + i * binW + 0.5)}" y="${r(y0 - bh)}" width="${r(Math.max(0.5, binW - 1))}" height="${r(bh)}">` +
        `<title>${esc(`[${fmtNum(from)}, ${fmtNum(to)}): ${fmtInt(count)}`)}</title></rect>`,
    );
  });
  opts.curves?.forEach((c, k) => {
    const width = (h.hi - h.lo) / n;
    const points = ticks(h.lo, h.hi, 200).map((v) => `${r(x0 + (plotW * (v - h.lo)) / (h.hi - h.lo))},${r(y0 - Math.min(plotH, (plotH * c.density(v) * width) / max))}`);
    parts.push(`<polyline class="curve ${c.cls}" points="${points.join(' ')}"><title>${esc(c.label)}</title></polyline>`);
    parts.push(text(W - PLOT.right, PLOT.top + 10 + 12 * k, c.label, `curve-label ${c.cls}`, 'end'));
  });
  for (const t of opts.thresholds ?? []) parts.push(marker(height, h.lo, h.hi, t, `threshold ${fmtNum(t)}`, 'threshold'));
  if (h.under) parts.push(text(x0, height - 24, `${fmtInt(h.under)} below ${fmtNum(h.lo)}`, 'outside', 'start'));
  if (h.over) parts.push(text(W - PLOT.right, height - 24, `${fmtInt(h.over)} above ${fmtNum(h.hi)}`, 'outside', 'end'));
  parts.push('</svg>');
  return parts.join('');
}

export interface SketchChartOptions {
  xTitle: string;
  thresholds?: number[];
  /** Density bars between min and max; default 40. */
  bins?: number;
  /** The x range, when another chart of the same value (its histogram) fixes it; values outside it are clipped. */
  domain?: { lo: number; hi: number };
}

/**
 * A t-digest drawn as an approximate density (bars: the digest's mass per bin) under its CDF
 * (line, right-hand scale 0..1). The digest only keeps centroids, so both are approximations.
 */
export function sketchChart(d: TDigest, opts: SketchChartOptions): string {
  const height = 230;
  const bins = opts.bins ?? 40;
  const { lo, hi } = opts.domain ?? (d.max > d.min ? niceDomain(d.min, d.max) : { lo: d.min - 0.5, hi: d.max + 0.5 });
  const x0 = PLOT.left;
  const plotW = W - PLOT.right - PLOT.left;
  const y0 = height - PLOT.bottom;
  const plotH = y0 - PLOT.top;
  const edges = ticks(lo, hi, bins);
  const mass = edges.slice(1).map((e, i) => Math.max(0, d.cdf(e) - (i === 0 ? 0 : d.cdf(edges[i]))));
  const maxPct = niceMax(100 * Math.max(...mass), false);
  const max = maxPct / 100;
  const parts = [svgOpen(W, height, `distribution of ${opts.xTitle}`, 'sketch')];
  parts.push(axes(height, { lo, hi, title: opts.xTitle }, { max: maxPct, title: '% of items per bin' }));
  const binW = plotW / bins;
  mass.forEach((m, i) => {
    const bh = (plotH * m) / max;
    parts.push(
      `<rect class="bar density" x="${r(x0 + i * binW + 0.5)}" y="${r(y0 - bh)}" width="${r(Math.max(0.5, binW - 1))}" height="${r(bh)}">` +
        `<title>${esc(`[${fmtNum(edges[i])}, ${fmtNum(edges[i + 1])}): ~${(100 * m).toFixed(1)}%`)}</title></rect>`,
    );
  });
  const cdfPoints = ticks(lo, hi, 100).map((v) => `${r(x0 + (plotW * (v - lo)) / (hi - lo))},${r(y0 - plotH * d.cdf(v))}`);
  parts.push(`<polyline class="cdf" points="${cdfPoints.join(' ')}"/>`);
  // Right-hand scale for the CDF line.
  for (const q of [0, 0.5, 1]) parts.push(text(W - PLOT.right + 3, y0 - plotH * q + 4, q === 0 ? '' : `${q * 100}%`, 'tick cdf-tick', 'start'));
  parts.push(marker(height, lo, hi, d.quantile(0.5), 'p50', 'median', 1));
  for (const t of opts.thresholds ?? []) parts.push(marker(height, lo, hi, t, `threshold ${fmtNum(t)}`, 'threshold'));
  parts.push('</svg>');
  return parts.join('');
}

export interface ShiftScatterOptions {
  /** Largest |dx| or |dy| a filter accepts; drawn as a dashed square, dots outside it in red. */
  tolerance?: number;
}

/** Counts per integer shift from keys "dx,dy"; malformed keys (they come from data) are skipped. */
export function parseShiftCounts(counts: Record<string, number>): { dx: number; dy: number; count: number }[] {
  const out: { dx: number; dy: number; count: number }[] = [];
  for (const [key, count] of Object.entries(counts)) {
    const m = /^(-?\d{1,4}),(-?\d{1,4})$/.exec(key);
    if (!m || !(count > 0)) continue;
    out.push({ dx: Number(m[1]), dy: Number(m[2]), count });
  }
  return out.sort((a, b) => a.dy - b.dy || a.dx - b.dx);
}

/**
 * Measured registration shifts as a grid of circles, one per (dx, dy) that occurred, with area
 * proportional to the number of pairs. Image axes: +dx right, +dy down, (0, 0) at the centre.
 */
export function shiftScatterChart(counts: Record<string, number>, opts: ShiftScatterOptions = {}): string {
  const points = parseShiftCounts(counts);
  const tol = opts.tolerance;
  const reach = Math.max(2, tol === undefined ? 0 : tol + 1, ...points.map((p) => Math.max(Math.abs(p.dx), Math.abs(p.dy))));
  const cells = 2 * reach + 1;
  const plot = 330;
  const cell = plot / cells;
  const left = 64;
  const top = 22;
  const width = left + plot + 150;
  const height = top + plot + 46;
  const cx = (dx: number) => left + (dx + reach + 0.5) * cell;
  const cy = (dy: number) => top + (dy + reach + 0.5) * cell;
  const maxCount = Math.max(1, ...points.map((p) => p.count));
  const total = points.reduce((a, p) => a + p.count, 0);
  const parts = [svgOpen(width, height, 'measured registration shifts, circle area = pairs', 'scatter')];
  const step = reach <= 8 ? 1 : reach <= 20 ? 2 : 5;
  for (let v = -reach; v <= reach; v++) {
    if (v % step !== 0) continue;
    const cls = v === 0 ? 'axis' : 'grid';
    parts.push(line(cx(v), top, cx(v), top + plot, cls));
    parts.push(line(left, cy(v), left + plot, cy(v), cls));
    parts.push(text(cx(v), top + plot + 16, String(v), 'tick'));
    parts.push(text(left - 6, cy(v) + 4, String(v), 'tick', 'end'));
  }
  parts.push(`<rect class="frame" x="${r(left)}" y="${r(top)}" width="${r(plot)}" height="${r(plot)}"/>`);
  if (tol !== undefined) {
    const a = cx(-tol) - cell / 2;
    const b = cx(tol) + cell / 2;
    parts.push(`<rect class="tolerance" x="${r(a)}" y="${r(cy(-tol) - cell / 2)}" width="${r(b - a)}" height="${r(b - a)}"/>`);
  }
  for (const p of points) {
    const outside = tol !== undefined && Math.max(Math.abs(p.dx), Math.abs(p.dy)) > tol;
    const radius = Math.max(1.2, 0.48 * cell * Math.sqrt(p.count / maxCount));
    parts.push(
      `<circle class="shift-dot${outside ? ' outside-tol' : ''}" cx="${r(cx(p.dx))}" cy="${r(cy(p.dy))}" r="${r(radius)}">` +
        `<title>${esc(`shift (${p.dx}, ${p.dy}) px: ${fmtInt(p.count)} pairs (${((100 * p.count) / total).toFixed(1)}%)`)}</title></circle>`,
    );
  }
  parts.push(text(left + plot / 2, height - 8, 'dx (px, + = depth right of colour)', 'axis-title'));
  parts.push(text(14, top + plot / 2, 'dy (px, + = down)', 'axis-title', 'middle', ` transform="rotate(-90 14 ${r(top + plot / 2)})"`));
  const lx = left + plot + 14;
  parts.push(text(lx, top + 12, `${fmtInt(total)} pairs measured`, 'label', 'start'));
  parts.push(text(lx, top + 28, `largest circle: ${fmtInt(maxCount)}`, 'tick', 'start'));
  if (tol !== undefined) parts.push(text(lx, top + 44, `dashed: |shift| ≤ ${tol} px`, 'tick', 'start'));
  parts.push('</svg>');
  return parts.join('');
}
