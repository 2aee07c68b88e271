// The report's RGB-D section: how well colour and depth frames are paired in time (skew), in
// space (registration shift), and how much depth each pair holds (valid ratio), with the worst
// pairs drawn as edge overlays. Reads the stats named in RGBD_STATS; the thresholds drawn on
// the charts come from the run's config in the manifest.
import type { Manifest } from '../schemas/manifest.ts';
import type { RunStatsJSON } from '../core/stats.ts';
import { RGBD_STATS } from '../schemas/rgbd.ts';
import type { ClaimedStats } from './claimed-stats.ts';
import { histogramBlock, sketchBlock } from './distribution-blocks.ts';
import { worstSections } from './example-cards.ts';
import { esc } from './html-text.ts';
import { stageFunnelTable } from './html-table.ts';
import { shiftScatterChart } from './svg-charts.ts';

/** The RGB-D filter settings of the run, where the manifest's config has them. */
interface RgbdThresholds {
  maxSkewMs?: number;
  maxShift?: number;
  minConfidence?: number;
  minValidRatio?: number;
  correctShift?: boolean;
}

function thresholdsOf(manifest: Manifest): RgbdThresholds {
  const cfg = manifest.config as { rgbd?: Record<string, unknown> } | null | undefined;
  const q = typeof cfg === 'object' && cfg !== null && typeof cfg.rgbd === 'object' && cfg.rgbd !== null ? cfg.rgbd : {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return {
    maxSkewMs: num(q.max_skew_ms),
    maxShift: num(q.max_registration_shift),
    minConfidence: num(q.min_registration_confidence),
    minValidRatio: num(q.min_valid_ratio),
    correctShift: typeof q.correct_shift === 'boolean' ? q.correct_shift : undefined,
  };
}

const HOW_TO_READ = `<div class="howto">
<p><b>How to read this section.</b> Each colour frame was paired with a depth frame (by timestamp
or by file name), then the depth was checked against the colour image: occlusion boundaries in depth
should sit on object outlines in colour. The <b>confidence</b> says how clearly the best shift
beats every shift at least 2 px away; low values mean the edges allow several shifts (texture
behind objects, edges that all run one way) or are too few. The <b>skew</b> is the colour timestamp minus the depth timestamp
(plus the configured offset); a spread that is wide or off-centre points to a clock offset between
the sensors. The <b>shift</b> chart counts the integer (dx, dy) at which depth edges best match
colour edges: a registered capture piles up at (0, 0); a cluster elsewhere is a systematic
misregistration (wrong extrinsics or an unregistered depth stream), scattered dots are single bad
frames or frames with too little structure to measure (see the confidence). The <b>valid ratio</b>
is the share of depth pixels holding a measurement.</p>
<p>The <b>worst pairs</b> are drawn over a dimmed colour frame: <span class="swatch rgb-edge"></span> colour
(intensity) edges, <span class="swatch depth-edge"></span> depth edges, <span class="swatch both-edge"></span> where
both coincide. When depth is registered, object outlines are white; a misregistered pair shows
each outline twice, the orange one offset from the cyan one by the shift. All pairs that reached
the quality check are counted here, kept or dropped. The <b>weakest kept pairs</b> are the kept
pairs with the lowest confidence, drawn the same way: if their outlines are doubled, the kept
data holds misregistered pairs that the confidence cut let through.</p>
</div>`;

export function rgbdSection(stats: RunStatsJSON, manifest: Manifest): { html: string; claimed: ClaimedStats } | null {
  const S = RGBD_STATS;
  const histograms = new Set([S.skewHistogram, S.validRatioHistogram, S.confidenceHistogram].filter((n) => stats.histograms?.[n]));
  const sketches = new Set([S.absSkewSketch, S.validRatioSketch, S.residualSketch, S.confidenceSketch].filter((n) => stats.sketches?.[n]));
  const counters = new Set([S.shiftCounts].filter((n) => stats.counters?.[n]));
  const worst = new Set([S.worstShift, S.worstResidual, S.worstConfidenceKept].filter((n) => stats.worst?.[n]));
  if (!histograms.size && !counters.size && !worst.size) return null;
  const t = thresholdsOf(manifest);
  const parts = [HOW_TO_READ, overview(stats)];

  parts.push('<h3>Timestamp skew</h3>');
  const skew = stats.histograms?.[S.skewHistogram];
  if (skew) {
    const cuts = t.maxSkewMs === undefined ? [] : [-t.maxSkewMs, t.maxSkewMs];
    parts.push(histogramBlock(S.skewHistogram, skew, cuts, 'skew = rgb − (depth + offset), ms'));
  } else parts.push('<p class="empty">No timestamps: these layouts pair colour and depth by file name.</p>');
  if (stats.sketches?.[S.absSkewSketch]) parts.push(sketchBlock(S.absSkewSketch, stats.sketches[S.absSkewSketch], t.maxSkewMs === undefined ? [] : [t.maxSkewMs], '|skew|, ms'));

  parts.push('<h3>Registration shift</h3>');
  const shifts = stats.counters?.[S.shiftCounts];
  if (shifts && Object.keys(shifts).length) {
    const tolNote = t.maxShift === undefined ? '' : ` Dashed square: shifts the filter accepts (max_registration_shift ${t.maxShift} px${t.correctShift ? '; larger confident shifts were corrected' : ''}); red dots lie outside it.`;
    parts.push(`<div class="chart-block" id="rgbd-shift-scatter"><p class="muted">One circle per measured shift, area proportional to the number of pairs.${esc(tolNote)}</p>${shiftScatterChart(shifts, { tolerance: t.maxShift })}</div>`);
  } else parts.push('<p class="empty">No pair had enough depth edges to measure a shift.</p>');
  if (stats.sketches?.[S.residualSketch]) parts.push(sketchBlock(S.residualSketch, stats.sketches[S.residualSketch], [], 'residual: mean edge distance at the best shift, px'));

  parts.push(confidenceBlock(stats, t));

  parts.push('<h3>Valid depth</h3>');
  const valid = stats.histograms?.[S.validRatioHistogram];
  if (valid) parts.push(histogramBlock(S.validRatioHistogram, valid, t.minValidRatio === undefined ? [] : [t.minValidRatio], 'valid-depth ratio'));
  else if (stats.sketches?.[S.validRatioSketch]) parts.push(sketchBlock(S.validRatioSketch, stats.sketches[S.validRatioSketch], t.minValidRatio === undefined ? [] : [t.minValidRatio], 'valid-depth ratio'));

  parts.push('<h3>Worst pairs</h3>');
  parts.push(
    '<p class="legend"><span class="swatch rgb-edge"></span> colour edges <span class="swatch depth-edge"></span> depth edges <span class="swatch both-edge"></span> both (registered)</p>',
  );
  const described: Record<string, string> = {
    [S.worstShift]: 'largest measured shift max(|dx|, |dy|), ties by confidence; kept and dropped pairs',
    [S.worstResidual]: 'largest residual edge distance at the best shift; kept and dropped pairs',
  };
  const picked = Object.fromEntries([...worst].filter((n) => n !== S.worstConfidenceKept).map((n) => [n, stats.worst[n]]));
  parts.push(Object.keys(picked).length ? worstSections(picked, { describe: (n) => described[n], showValue: false }) : '<p class="empty">No pair had enough depth edges to measure.</p>');
  return { html: parts.join('\n'), claimed: { histograms, sketches, counters, worst } };
}

const CONFIDENCE_TITLE = 'confidence (margin of the best shift over the next basin, 0.15 = 6 standard errors)';

/**
 * Where the registration is weak: the confidence distribution (histogram with the
 * min_registration_confidence cut, and its quantiles), then the kept pairs with the lowest
 * confidence drawn as edge overlays, so an auditor can judge the least certain kept data.
 */
function confidenceBlock(stats: RunStatsJSON, t: RgbdThresholds): string {
  const S = RGBD_STATS;
  const cuts = t.minConfidence ? [t.minConfidence] : [];
  const parts = ['<h3>Registration confidence</h3>'];
  const hist = stats.histograms?.[S.confidenceHistogram];
  if (hist) parts.push(histogramBlock(S.confidenceHistogram, hist, cuts, CONFIDENCE_TITLE));
  if (stats.sketches?.[S.confidenceSketch]) parts.push(sketchBlock(S.confidenceSketch, stats.sketches[S.confidenceSketch], cuts, CONFIDENCE_TITLE, { lo: 0, hi: 1 }));
  const weakest = stats.worst?.[S.worstConfidenceKept];
  parts.push('<h3>Weakest kept pairs</h3>');
  if (!weakest?.items.length) {
    parts.push('<p class="empty">No pair was kept.</p>');
    return parts.join('\n');
  }
  parts.push(
    '<p class="legend"><span class="swatch rgb-edge"></span> colour edges <span class="swatch depth-edge"></span> depth edges <span class="swatch both-edge"></span> both (registered)</p>',
  );
  parts.push(
    worstSections(
      { [S.worstConfidenceKept]: weakest },
      { describe: () => `the ${weakest.items.length} kept pairs with the lowest registration confidence, lowest first (ties by id): where the kept data is least certain`, showValue: false },
    ),
  );
  return parts.join('\n');
}

/** Pairs through each RGB-D stage and what each dropped. */
function overview(stats: RunStatsJSON): string {
  return stageFunnelTable(stats, (stage) => stage.startsWith('rgbd_'), 'Listing and pairing count frames; the later stages count pairs.');
}
