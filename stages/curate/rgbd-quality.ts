// Per-pair quality of RGB-D samples and the filters on it. Consumes measured pairs (decoded,
// registration estimated), emits finished RgbdSample rows with their media encoded.
// Drops, checked in this order:
//   low_valid_depth              too few depth pixels hold a measurement
//   skew_too_large               |rgb - depth timestamp| above max_skew_ms
//   low_registration_confidence  the best shift is not clearly better than the rest
//   misregistered                a confident shift larger than max_registration_shift
//                                (with correct_shift, the depth is shifted back instead)
import { drop, mapStage, type Drop, type Stage } from '../../pipeline/stage.ts';
import type { RgbdQualityConfig } from '../../schemas/rgbd-config.ts';
import type { RgbdSample } from '../../schemas/rgbd.ts';
import { translateDepth, type Registration, type RgbdMeasured } from '../align/rgbd-registration.ts';
import { encodeDepthPng, type DepthMap } from '../sources/rgbd/depth-png.ts';
import { encodeRgbPng, isNetpbmPath } from '../sources/rgbd/rgb-image.ts';

export const RGBD_QUALITY_STAGE = 'rgbd_quality';

export interface DepthStats {
  /** Fraction of pixels with a measurement (non-zero). */
  validRatio: number;
  /** Smallest and largest measured depth in metres; 0 when nothing is valid. */
  minM: number;
  maxM: number;
}

export function depthStats(depth: DepthMap, depthScale: number): DepthStats {
  let valid = 0;
  let min = Infinity;
  let max = 0;
  for (const d of depth.data) {
    if (d === 0) continue;
    valid++;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  if (valid === 0) return { validRatio: 0, minM: 0, maxM: 0 };
  return { validRatio: valid / depth.data.length, minM: min / depthScale, maxM: max / depthScale };
}

export interface PairMeasures {
  skewMs: number | null;
  registration: Registration;
  validRatio: number;
}

/** Keep, keep after shifting the depth back ('correct'), or drop with the reason. */
export function judgeRgbdPair(m: PairMeasures, q: RgbdQualityConfig): 'keep' | 'correct' | Drop {
  if (m.validRatio < q.min_valid_ratio) return drop('low_valid_depth', `valid ratio ${m.validRatio.toFixed(3)} < ${q.min_valid_ratio}`);
  if (m.skewMs !== null && Math.abs(m.skewMs) > q.max_skew_ms) return drop('skew_too_large', `|skew| ${Math.abs(m.skewMs).toFixed(2)} ms > ${q.max_skew_ms} ms`);
  const r = m.registration;
  if (r.confidence < q.min_registration_confidence) {
    const why = r.edgePixels === 0 ? 'too few depth edges to measure' : `shift (${r.dx}, ${r.dy}) px`;
    return drop('low_registration_confidence', `confidence ${r.confidence.toFixed(3)} < ${q.min_registration_confidence}; ${why}`);
  }
  if (Math.max(Math.abs(r.dx), Math.abs(r.dy)) > q.max_registration_shift) {
    if (q.correct_shift) return 'correct';
    return drop('misregistered', `shift (${r.dx}, ${r.dy}) px > ${q.max_registration_shift} px, confidence ${r.confidence.toFixed(3)}, residual ${r.residual.toFixed(2)} px`);
  }
  return 'keep';
}

export function rgbdQualityStage(q: RgbdQualityConfig): Stage<RgbdMeasured, RgbdSample> {
  return mapStage(RGBD_QUALITY_STAGE, async (m, ctx) => {
    const stats = depthStats(m.depthMap, m.depthScale);
    const skewMs = m.skew === null ? null : m.skew * 1000;
    if (skewMs !== null) ctx.stats.sketch('rgbd.abs_skew_ms').add(Math.abs(skewMs));
    ctx.stats.sketch('rgbd.valid_ratio').add(stats.validRatio);
    ctx.stats.sketch('rgbd.registration_residual_px').add(m.registration.residual);
    ctx.stats.sketch('rgbd.registration_confidence').add(m.registration.confidence);
    const verdict = judgeRgbdPair({ skewMs, registration: m.registration, validRatio: stats.validRatio }, q);
    if (typeof verdict !== 'string') return verdict;
    return toSample(m, skewMs, stats, verdict === 'correct');
  });
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
