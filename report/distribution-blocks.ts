// One titled chart block per recorded histogram or t-digest, shared by the generic
// Distributions section and the kind sections (e.g. RGB-D) that show some of them in context.
import type { HistogramJSON } from '../core/sketch/histogram.ts';
import { TDigest, type TDigestJSON } from '../core/sketch/tdigest.ts';
import { anchorId, esc, fmtInt, fmtNum, fmtPct } from './html-text.ts';
import { table } from './html-table.ts';
import { histogramChart, sketchChart } from './svg-charts.ts';
import { mixtureDensity, type ScoreMixture } from '../stages/score/calibration.ts';

const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

export function histogramBlock(name: string, h: HistogramJSON, thresholds: number[] = [], xTitle = name, mixture?: ScoreMixture): string {
  const n = h.bins.reduce((a, b) => a + b, 0) + h.under + h.over;
  const curves = mixture
    ? (['low', 'high'] as const).map((k) => ({
        label: `${k === 'high' ? 'aligned' : 'misaligned'}: ${fmtPct(mixture[k].weight, 0)}, mean ${fmtNum(mixture[k].mean)}, sd ${fmtNum(mixture[k].std)}`,
        cls: `mixture-${k}`,
        density: (x: number) => n * mixtureDensity(mixture, x)[k],
      }))
    : undefined;
  const note = mixture ? `<p>Lines: the two-component mixture fitted to these scores at finalise; a pair's p_aligned is the aligned component's share of the density at its score.</p>` : '';
  return (
    `<div class="chart-block" id="${esc(anchorId('histogram', name))}"><h3>${esc(name)} <small>histogram, ${fmtInt(n)} values, ${h.bins.length} bins over [${fmtNum(h.lo)}, ${fmtNum(h.hi)}]</small></h3>` +
    histogramChart(h, { xTitle, thresholds, curves }) +
    note +
    '</div>'
  );
}

/** Quantile table, the share below each threshold, and the density/CDF chart of a t-digest. */
export function sketchBlock(name: string, json: TDigestJSON, thresholds: number[] = [], xTitle = name, domain?: { lo: number; hi: number }): string {
  const d = TDigest.fromJSON(json);
  const range = domain ? `, drawn over [${fmtNum(domain.lo)}, ${fmtNum(domain.hi)}] like its histogram` : '';
  const title = `<h3>${esc(name)} <small>t-digest, ${fmtInt(d.count)} values${range}</small></h3>`;
  if (!d.count) return `<div class="chart-block">${title}<p class="empty">no values</p></div>`;
  const head = ['min', ...QUANTILES.map((q) => `p${Math.round(q * 100)}`), 'max'];
  const values = [d.min, ...QUANTILES.map((q) => d.quantile(q)), d.max].map((v) => esc(fmtNum(v)));
  const cuts = thresholds.map((t) => `<p>≈ ${fmtPct(d.cdf(t), 1)} of values at or below the threshold ${esc(fmtNum(t))}.</p>`).join('');
  return (
    `<div class="chart-block" id="${esc(anchorId('sketch', name))}">${title}` +
    table(head, [values], head.map(() => true)) +
    cuts +
    sketchChart(d, { xTitle, thresholds, domain }) +
    '</div>'
  );
}
