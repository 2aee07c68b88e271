// Calibrated scores: a two-component Gaussian mixture fitted to the run's score distribution,
// giving each pair the posterior probability that it belongs to the higher ("aligned")
// component. A raw cosine means different things on different corpora and scorers (a true
// clip-art pair scores 0.33 where a true demo pair scores 0.6); the posterior is relative to the
// run's own two populations, so `min_p_aligned: 0.5` means "more likely aligned than not" on any
// corpus.
//
// The fit reads only the run-wide merged t-digest of the scores (its centroids as weighted
// points), which every unit's stats carry and which merges across ranks: one process and many
// processes plus `weft merge` fit the same mixture. EM starts from the 25% and 75% quantiles, so
// the fit is deterministic.
//
// Both components share one variance (as in linear discriminant analysis). With a variance each,
// the smaller, wider misaligned component also claims the lower tail of the aligned scores (a
// true pair at 0.6 when most score 0.8) and the posterior drops well inside the aligned
// population; with a shared one the posterior is a logistic function of the score, rising
// monotonically through the valley between the two means.
import type { TDigest } from '../../core/sketch/tdigest.ts';

export interface ScoreMixture {
  /** Low ("misaligned") and high ("aligned") components: weight, mean and standard deviation. */
  low: { weight: number; mean: number; std: number };
  high: { weight: number; mean: number; std: number };
  /** Scores the fit saw, EM iterations run, and the final mean log-likelihood per score. */
  count: number;
  iterations: number;
  logLikelihood: number;
}

/** Below this a component is a spike on one value; its density would swamp the posterior. */
const MIN_STD = 1e-3;

/** Fits the mixture to weighted points [value, weight]; needs at least two distinct values. */
export function fitScoreMixture(points: [number, number][], maxIterations = 500): ScoreMixture {
  const pts = points.filter(([v, w]) => Number.isFinite(v) && w > 0).sort((a, b) => a[0] - b[0]);
  const total = pts.reduce((a, [, w]) => a + w, 0);
  if (pts.length < 2 || pts[0][0] === pts.at(-1)![0]) throw new Error(`a score mixture needs at least two distinct scores, got ${pts.length} value(s)`);
  const quantile = (q: number) => {
    let acc = 0;
    for (const [v, w] of pts) if ((acc += w) >= q * total) return v;
    return pts.at(-1)![0];
  };
  let mean = 0;
  for (const [v, w] of pts) mean += (v * w) / total;
  let variance = 0;
  for (const [v, w] of pts) variance += ((v - mean) ** 2 * w) / total;
  const spread = Math.max(Math.sqrt(variance), MIN_STD);
  let c = [
    { weight: 0.5, mean: quantile(0.25), std: spread / 2 },
    { weight: 0.5, mean: quantile(0.75), std: spread / 2 },
  ];
  if (c[0].mean === c[1].mean) c[1].mean = c[0].mean + spread;
  const resp = new Float64Array(pts.length);
  let previous = -Infinity;
  let logLikelihood = -Infinity;
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    // E step: responsibility of the high component, and the log-likelihood.
    logLikelihood = 0;
    for (let i = 0; i < pts.length; i++) {
      const a = Math.log(c[0].weight) + logNormal(pts[i][0], c[0].mean, c[0].std);
      const b = Math.log(c[1].weight) + logNormal(pts[i][0], c[1].mean, c[1].std);
      const m = Math.max(a, b);
      const lse = m + Math.log(Math.exp(a - m) + Math.exp(b - m));
      resp[i] = Math.exp(b - lse);
      logLikelihood += pts[i][1] * lse;
    }
    logLikelihood /= total;
    // M step: weights and means per component, one variance shared by both (see above).
    let pooled = 0;
    c = [0, 1].map((k) => {
      let w = 0;
      let s = 0;
      for (let i = 0; i < pts.length; i++) {
        const r = (k === 1 ? resp[i] : 1 - resp[i]) * pts[i][1];
        w += r;
        s += r * pts[i][0];
      }
      const mu = w > 0 ? s / w : c[k].mean;
      for (let i = 0; i < pts.length; i++) pooled += (k === 1 ? resp[i] : 1 - resp[i]) * pts[i][1] * (pts[i][0] - mu) ** 2;
      const weight = Math.min(1 - 1e-6, Math.max(1e-6, w / total));
      return { weight, mean: mu, std: 0 };
    });
    const std = Math.max(MIN_STD, Math.sqrt(pooled / total));
    for (const k of c) k.std = std;
    if (Math.abs(logLikelihood - previous) < 1e-9) break;
    previous = logLikelihood;
  }
  const [low, high] = c[0].mean <= c[1].mean ? c : [c[1], c[0]];
  return { low, high, count: total, iterations, logLikelihood };
}

/** The mixture of the scores in a merged t-digest (its centroids as weighted points). */
export function fitDigestMixture(digest: TDigest): ScoreMixture {
  return fitScoreMixture(digest.toJSON().centroids);
}

function logNormal(x: number, mean: number, std: number): number {
  return -0.5 * ((x - mean) / std) ** 2 - Math.log(std) - 0.5 * Math.log(2 * Math.PI);
}

function rawPosterior(m: ScoreMixture, s: number): number {
  const a = Math.log(m.low.weight) + logNormal(s, m.low.mean, m.low.std);
  const b = Math.log(m.high.weight) + logNormal(s, m.high.mean, m.high.std);
  return 1 / (1 + Math.exp(a - b));
}

/**
 * Posterior probability that a pair with score `s` is aligned. With the shared variance of the
 * fit it rises monotonically with the score; for a mixture with two spreads (read from elsewhere)
 * the raw posterior turns back down far out in a tail, so beyond the component means it is held
 * at least (above the high mean) or at most (below the low mean) its value at that mean.
 */
export function pAligned(m: ScoreMixture, s: number): number {
  if (!Number.isFinite(s)) return NaN;
  const p = rawPosterior(m, s);
  if (s > m.high.mean) return Math.max(p, rawPosterior(m, m.high.mean));
  if (s < m.low.mean) return Math.min(p, rawPosterior(m, m.low.mean));
  return p;
}

/** The score where p_aligned first reaches `p` (bisection between the component means, where it rises); null if it never does. */
export function scoreWherePAligned(m: ScoreMixture, p: number): number | null {
  let lo = m.low.mean - 10 * m.low.std;
  let hi = m.high.mean + 10 * m.high.std;
  if (pAligned(m, hi) < p) return null;
  if (pAligned(m, lo) >= p) return lo;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (pAligned(m, mid) >= p) hi = mid;
    else lo = mid;
  }
  return Math.round(hi * 1e6) / 1e6;
}

/** Mixture density at `s` (for drawing the fit over the histogram). */
export function mixtureDensity(m: ScoreMixture, s: number): { low: number; high: number } {
  return { low: m.low.weight * Math.exp(logNormal(s, m.low.mean, m.low.std)), high: m.high.weight * Math.exp(logNormal(s, m.high.mean, m.high.std)) };
}

/** `p_aligned_<id>` from `score_<id>`. */
export function pAlignedColumnName(scoreColumn: string): string {
  return scoreColumn.replace(/^score_/, 'p_aligned_');
}
