// Per-pair quality of RGB-D samples and the filters on it. Consumes measured pairs (decoded,
// registration estimated), emits finished RgbdSample rows with their media encoded.
// Drops, checked in this order:
//   low_valid_depth              too few depth pixels hold a measurement
//   skew_too_large               |rgb - depth timestamp| above max_skew_ms
//   low_registration_confidence  the best shift is not clearly better than the rest
//   misregistered                a confident shift larger than max_registration_shift
//                                (with correct_shift, the depth is shifted back instead)
// Every pair that reaches this stage, kept or dropped, is recorded for the report's RGB-D
// section (RGBD_STATS): skew and valid-ratio histograms, shift counts, sketches, and the worst
// pairs with an edge overlay picture.
import pLimit from 'p-limit';
import { drop, mapStage, type Drop, type Stage } from '../../core/stage.ts';
import type { RgbdQualityConfig } from '../../schemas/rgbd-config.ts';
import { RGBD_CONFIDENCE_BINS, RGBD_SKEW_BINS, RGBD_STATS, RGBD_VALID_RATIO_BINS, type RgbdSample } from '../../schemas/rgbd.ts';
import type { Example, RunStats } from '../../core/stats.ts';
import type { TopK } from '../../core/sketch/top-k.ts';
import { registrationOverlay } from '../align/rgbd-overlay.ts';
import { translateDepth, type Registration } from '../align/rgbd-registration.ts';
import type { RgbdMeasured } from '../align/registration-stage.ts';
import { encodeDepthPng, type DepthMap } from '../decode/depth-png.ts';
import { encodeRgbPng, isNetpbmPath } from '../decode/rgb-image.ts';
import { simdKernels } from '../align/simd/kernels.ts';

const RGBD_QUALITY_STAGE = 'rgbd_quality';

export interface DepthStats {
  /** Fraction of pixels with a measurement (non-zero). */
  validRatio: number;
  /** Smallest and largest measured depth in metres; 0 when nothing is valid. */
  minM: number;
  maxM: number;
}

export function depthStats(depth: DepthMap, depthScale: number, kernels: 'simd' | 'js' = 'simd'): DepthStats {
  const simd = kernels === 'simd' ? simdKernels() : null;
  if (simd) {
    const { valid, min, max } = simd.depthStats(depth.data, depth.width, depth.height);
    return valid === 0 ? { validRatio: 0, minM: 0, maxM: 0 } : { validRatio: valid / depth.data.length, minM: min / depthScale, maxM: max / depthScale };
  }
  let valid = 0;
  let min = Infinity;
  let max = 0;
  // One indexed pass over the typed array (an iterator here cost more than the rest of the stage).
  const data = depth.data;
  for (let i = 0, n = data.length; i < n; i++) {
    const d = data[i];
    if (d === 0) continue;
    valid++;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  if (valid === 0) return { validRatio: 0, minM: 0, maxM: 0 };
  return { validRatio: valid / data.length, minM: min / depthScale, maxM: max / depthScale };
}

export interface PairMeasures {
  skewMs: number | null;
  registration: Registration;
  validRatio: number;
}

/** Keep, keep after shifting the depth back ('correct'), or drop with the reason. */
export function judgeRgbdPair(m: PairMeasures, q: RgbdQualityConfig): 'keep' | 'correct' | Drop {
  if (m.validRatio < q.min_valid_ratio) return drop('low_valid_depth', `valid ratio ${m.validRatio.toFixed(3)} < ${q.min_valid_ratio}`, { value: m.validRatio, threshold: q.min_valid_ratio });
  if (m.skewMs !== null && Math.abs(m.skewMs) > q.max_skew_ms) return drop('skew_too_large', `|skew| ${Math.abs(m.skewMs).toFixed(2)} ms > ${q.max_skew_ms} ms`, { value: Math.abs(m.skewMs), threshold: q.max_skew_ms });
  const r = m.registration;
  if (r.confidence < q.min_registration_confidence) {
    const why = r.edgePixels === 0 ? 'too few depth edges to measure' : `shift (${r.dx}, ${r.dy}) px`;
    return drop('low_registration_confidence', `confidence ${r.confidence.toFixed(3)} < ${q.min_registration_confidence}; ${why}`, { value: r.confidence, threshold: q.min_registration_confidence });
  }
  if (Math.max(Math.abs(r.dx), Math.abs(r.dy)) > q.max_registration_shift) {
    if (q.correct_shift) return 'correct';
    return drop('misregistered', `shift (${r.dx}, ${r.dy}) px > ${q.max_registration_shift} px, confidence ${r.confidence.toFixed(3)}, residual ${r.residual.toFixed(2)} px`, { value: Math.max(Math.abs(r.dx), Math.abs(r.dy)), threshold: q.max_registration_shift });
  }
  return 'keep';
}

export interface RgbdQualityStageOptions {
  /** Half-width of the skew histogram in ms: the pairing window (source.max_difference). Default 20. */
  skewRangeMs?: number;
  /** Worst examples kept per set for the report. Default 8. */
  worstK?: number;
  /** Lowest-confidence kept pairs kept for the report. Default 6. */
  weakestK?: number;
}

export function rgbdQualityStage(q: RgbdQualityConfig, options: RgbdQualityStageOptions = {}): Stage<RgbdMeasured, RgbdSample> {
  return async function* (input, ctx) {
    const overlays = new PendingOverlays();
    yield* mapStage<RgbdMeasured, RgbdSample>(RGBD_QUALITY_STAGE, async (m, c) => {
      const stats = depthStats(m.depthMap, m.depthScale);
      const skewMs = m.skew === null ? null : m.skew * 1000;
      const verdict = judgeRgbdPair({ skewMs, registration: m.registration, validRatio: stats.validRatio }, q);
      // Recorded for kept and dropped pairs alike, before a drop, so the report shows both.
      recordRgbdPair(c.stats, m, skewMs, stats, verdict, overlays, options);
      if (typeof verdict !== 'string') return verdict;
      return toSample(m, skewMs, stats, verdict === 'correct');
    })(input, ctx);
    // Once every pair has been seen: only the pairs still in a worst set get their picture
    // (report work, after the stage's last item, so not in its busy time).
    await overlays.draw();
  };
}

/**
 * Overlay pictures of the worst-set examples, drawn when the stage has seen every pair rather
 * than when a pair enters a set: early pairs enter every set and most are pushed out again, so
 * drawing on entry drew about four times as many pictures as the report shows (48 for 60
 * pairs). A pair's frames are held only while it is in some set, so at most the sets' sizes.
 */
class PendingOverlays {
  private readonly pending = new Map<string, { m: RgbdMeasured; example: Example }>();
  private readonly sets = new Set<TopK<Example>>();

  add(m: RgbdMeasured, example: Example, sets: TopK<Example>[]): void {
    for (const s of sets) this.sets.add(s);
    this.pending.set(m.id, { m, example });
    // Let go of the frames of pairs that no set holds any more.
    const held = new Set<string>();
    for (const s of this.sets) for (const e of s.items) held.add(e.id);
    for (const id of this.pending.keys()) if (!held.has(id)) this.pending.delete(id);
  }

  async draw(): Promise<void> {
    // Two at a time: one picture's pixels are drawn here while the last one is encoded off-thread.
    const limit = pLimit(2);
    await Promise.all(
      [...this.pending.values()].map(({ m, example }) =>
        limit(async () => {
          try {
            example.thumb = await registrationOverlay(m.rgbImage, m.depthMap, { edges: m.registration.edges });
          } catch {
            // no picture; the card still shows the figures
          }
        }),
      ),
    );
    this.pending.clear();
  }
}

/** What the report's RGB-D section reads: histograms, shift counts, sketches and worst examples. */
function recordRgbdPair(
  stats: RunStats,
  m: RgbdMeasured,
  skewMs: number | null,
  depth: DepthStats,
  verdict: 'keep' | 'correct' | Drop,
  overlays: PendingOverlays,
  options: RgbdQualityStageOptions = {},
): void {
  const r = m.registration;
  const skewRange = options.skewRangeMs ?? 20;
  if (skewMs !== null) {
    stats.histogram(RGBD_STATS.skewHistogram, -skewRange, skewRange, RGBD_SKEW_BINS).add(skewMs);
    stats.sketch(RGBD_STATS.absSkewSketch).add(Math.abs(skewMs));
  }
  stats.histogram(RGBD_STATS.validRatioHistogram, 0, 1, RGBD_VALID_RATIO_BINS).add(depth.validRatio);
  stats.sketch(RGBD_STATS.validRatioSketch).add(depth.validRatio);
  stats.sketch(RGBD_STATS.residualSketch).add(r.residual);
  stats.sketch(RGBD_STATS.confidenceSketch).add(r.confidence);
  stats.histogram(RGBD_STATS.confidenceHistogram, 0, 1, RGBD_CONFIDENCE_BINS).add(r.confidence);
  if (r.edgePixels > 0) stats.count(RGBD_STATS.shiftCounts, `${r.dx},${r.dy}`);

  const k = options.worstK ?? 8;
  const byShift = stats.worstSet(RGBD_STATS.worstShift, k);
  const byResidual = stats.worstSet(RGBD_STATS.worstResidual, k);
  // Confidence (< 1) only orders pairs with the same Chebyshev shift: confident shifts first.
  const shiftValue = Math.max(Math.abs(r.dx), Math.abs(r.dy)) + r.confidence;
  const wantShift = r.edgePixels > 0 && byShift.wouldKeep(shiftValue, m.id);
  const wantResidual = r.edgePixels > 0 && byResidual.wouldKeep(r.residual, m.id);
  // The weakest kept pairs: lowest confidence first, ties by id, so every split of the run keeps the same ones.
  const byConfidence = stats.worstSet(RGBD_STATS.worstConfidenceKept, options.weakestK ?? 6);
  const wantConfidence = typeof verdict === 'string' && byConfidence.wouldKeep(1 - r.confidence, m.id);
  if (!wantShift && !wantResidual && !wantConfidence) return;
  const example: Example = {
    id: m.id,
    source: m.source,
    caption: `shift (${r.dx}, ${r.dy}) px, confidence ${r.confidence.toFixed(2)}`,
    // Drawn once the stage has seen every pair (PendingOverlays); here so the key keeps its place.
    thumb: undefined,
    residual_px: Number(r.residual.toFixed(3)),
    valid_ratio: Number(depth.validRatio.toFixed(3)),
    ...(skewMs === null ? {} : { skew_ms: Number(skewMs.toFixed(2)) }),
    ...(typeof verdict === 'string'
      ? { verdict: verdict === 'correct' ? 'kept, depth shifted back' : 'kept' }
      : { verdict: 'dropped', stage: RGBD_QUALITY_STAGE, reason: verdict.reason, detail: verdict.detail }),
  };
  if (wantShift) byShift.add(shiftValue, m.id, example);
  if (wantResidual) byResidual.add(r.residual, m.id, example);
  if (wantConfidence) byConfidence.add(1 - r.confidence, m.id, example);
  overlays.add(m, example, [byShift, byResidual, byConfidence]);
}

async function toSample(m: RgbdMeasured, skewMs: number | null, measuredStats: DepthStats, correct: boolean): Promise<RgbdSample> {
  const { dx, dy, residual, confidence, zeroGain } = m.registration;
  let depthBytes = m.depthPngBytes;
  let stats = measuredStats;
  if (correct) {
    const corrected = translateDepth(m.depthMap, -dx, -dy);
    depthBytes = await encodeDepthPng(corrected);
    stats = depthStats(corrected, m.depthScale);
  } else if (!depthBytes) depthBytes = await encodeDepthPng(m.depthMap);
  // Dataset loaders read PNG and JPEG; a PPM colour frame is stored as lossless PNG.
  const rgbBytes = isNetpbmPath(m.rgbFrame.path) ? await encodeRgbPng(m.rgbImage) : m.rgbBytes;
  return {
    id: m.id,
    kind: 'rgbd',
    source: m.source,
    sequence: m.sequence,
    rgb: { bytes: rgbBytes, path: m.rgbFrame.name.replace(/\.ppm$/i, '.png') },
    depth: { bytes: depthBytes, path: m.depthFrame.name.replace(/\.pgm$/i, '.png') },
    width: m.depthMap.width,
    height: m.depthMap.height,
    depthScale: m.depthScale,
    rgbTimestamp: m.rgbFrame.timestamp,
    depthTimestamp: m.depthFrame.timestamp,
    skewMs,
    registration: { dx, dy, residual, confidence, zeroGain, corrected: correct },
    validRatio: stats.validRatio,
    depthMinM: stats.minM,
    depthMaxM: stats.maxM,
    intrinsics: m.intrinsics,
  };
}
