// Sample type and Arrow layout for RGB-D pairs: a colour frame, its depth frame, and the
// measured quality of their pairing (timestamp skew, registration shift, valid depth).
import * as arrow from 'apache-arrow';
import type { Traceable } from '../core/stage.ts';
import type { Media } from './media.ts';
import { hf, mediaType, type KindSchema } from './kind-schema.ts';

const RGBD = 'rgbd' as const;

export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

/** Depth-to-colour registration measured by edge chamfer matching (stages/align/rgbd-registration.ts). */
export interface RegistrationResult {
  /** Integer shift of the depth content relative to the colour frame, in pixels (+x right, +y down). */
  dx: number;
  dy: number;
  /** Mean truncated distance, in pixels, from depth edges to colour edges at the best shift. */
  residual: number;
  /** (median - best) / median over all tried shifts, in [0, 1]; 0 when there is nothing to match. */
  confidence: number;
  /** Cost at zero shift minus cost at the best shift, in pixels (0 when the best shift is zero). */
  zeroGain: number;
  /** True when the stored depth was shifted back by (dx, dy). */
  corrected: boolean;
}

export interface RgbdSample extends Traceable {
  kind: typeof RGBD;
  /** Sequence (unit) the frame pair belongs to. */
  sequence: string;
  /** PNG or JPEG bytes of the colour frame. */
  rgb: Media;
  /** 16-bit grey PNG bytes; metres = value / depthScale, 0 = missing. */
  depth: Media;
  width: number;
  height: number;
  /** Depth units per metre. */
  depthScale: number;
  /** Seconds; null when the layout pairs by name and carries no times. */
  rgbTimestamp: number | null;
  depthTimestamp: number | null;
  /** rgbTimestamp - (depthTimestamp + offset) in milliseconds; null without timestamps. */
  skewMs: number | null;
  registration: RegistrationResult;
  /** Fraction of depth pixels that hold a measurement. */
  validRatio: number;
  /** Smallest and largest measured depth in metres (0 when nothing is valid). */
  depthMinM: number;
  depthMaxM: number;
  intrinsics: Intrinsics | null;
}

const f64 = () => new arrow.Float64();
const i32 = () => new arrow.Int32();
const field = (name: string, type: arrow.DataType, nullable = false) => new arrow.Field(name, type, nullable);

export const rgbdSchema: KindSchema<RgbdSample> = {
  kind: RGBD,
  maxRowsPerBatch: 100,
  columns: [
    { name: 'id', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.id },
    { name: 'source', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.source },
    { name: 'sequence', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.sequence },
    { name: 'rgb', type: mediaType(), hf: hf.image, get: (s) => ({ bytes: s.rgb.bytes, path: s.rgb.path }) },
    { name: 'depth', type: mediaType(), hf: hf.image, get: (s) => ({ bytes: s.depth.bytes, path: s.depth.path }) },
    { name: 'width', type: i32(), hf: hf.int32, get: (s) => s.width },
    { name: 'height', type: i32(), hf: hf.int32, get: (s) => s.height },
    { name: 'depth_scale', type: f64(), hf: hf.float64, get: (s) => s.depthScale },
    { name: 'rgb_timestamp', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.rgbTimestamp },
    { name: 'depth_timestamp', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.depthTimestamp },
    { name: 'skew_ms', type: f64(), nullable: true, hf: hf.float64, get: (s) => s.skewMs },
    {
      name: 'registration',
      type: new arrow.Struct([
        field('dx', i32()),
        field('dy', i32()),
        field('residual', f64()),
        field('confidence', f64()),
        field('zero_gain', f64()),
        field('corrected', new arrow.Bool()),
      ]),
      hf: { dx: hf.int32, dy: hf.int32, residual: hf.float64, confidence: hf.float64, zero_gain: hf.float64, corrected: hf.bool },
      get: (s) => ({
        dx: s.registration.dx,
        dy: s.registration.dy,
        residual: s.registration.residual,
        confidence: s.registration.confidence,
        zero_gain: s.registration.zeroGain,
        corrected: s.registration.corrected,
      }),
    },
    { name: 'valid_ratio', type: f64(), hf: hf.float64, get: (s) => s.validRatio },
    { name: 'depth_min_m', type: f64(), hf: hf.float64, get: (s) => s.depthMinM },
    { name: 'depth_max_m', type: f64(), hf: hf.float64, get: (s) => s.depthMaxM },
    {
      name: 'intrinsics',
      type: new arrow.Struct([field('fx', f64()), field('fy', f64()), field('cx', f64()), field('cy', f64())]),
      nullable: true,
      hf: { fx: hf.float64, fy: hf.float64, cx: hf.float64, cy: hf.float64 },
      get: (s) => s.intrinsics,
    },
  ],
  index: [
    { name: 'source', type: 'UTF8', get: (s) => s.source },
    { name: 'sequence', type: 'UTF8', get: (s) => s.sequence },
    { name: 'skew_ms', type: 'DOUBLE', get: (s) => s.skewMs },
    { name: 'reg_dx', type: 'INT32', get: (s) => s.registration.dx },
    { name: 'reg_dy', type: 'INT32', get: (s) => s.registration.dy },
    { name: 'reg_residual', type: 'DOUBLE', get: (s) => s.registration.residual },
    { name: 'reg_confidence', type: 'DOUBLE', get: (s) => s.registration.confidence },
    { name: 'valid_ratio', type: 'DOUBLE', get: (s) => s.validRatio },
  ],
};

/**
 * Names of what RGB-D runs record in stats.json, shared by the quality stage (writer) and the
 * report's RGB-D section (reader).
 */
export const RGBD_STATS = {
  /** Histogram of signed skew rgb - (depth + offset) in ms, over [-max_difference, max_difference]. */
  skewHistogram: 'rgbd.skew_ms',
  /** Histogram of the valid-depth ratio over [0, 1]. */
  validRatioHistogram: 'rgbd.valid_ratio',
  /** Counter group: key "dx,dy" -> pairs measured at that shift (pairs with too few edges to measure are not counted). */
  shiftCounts: 'rgbd.shift_px',
  /** t-digests. */
  absSkewSketch: 'rgbd.abs_skew_ms',
  validRatioSketch: 'rgbd.valid_ratio',
  residualSketch: 'rgbd.registration_residual_px',
  confidenceSketch: 'rgbd.registration_confidence',
  /** Histogram of registration confidence over [0, 1] (RGBD_CONFIDENCE_BINS), kept and dropped pairs. */
  confidenceHistogram: 'rgbd.registration_confidence_histogram',
  /** Worst examples (kept and dropped) by max(|dx|, |dy|) + confidence, and by residual. */
  worstShift: 'rgbd.largest_shift',
  worstResidual: 'rgbd.highest_residual',
  /** Kept pairs with the lowest registration confidence: where the kept data is least certain. */
  worstConfidenceKept: 'rgbd.lowest_confidence_kept',
} as const;

/** Bins of the two RGB-D histograms; fixed so that stats from every unit and process merge. */
export const RGBD_SKEW_BINS = 40;
export const RGBD_VALID_RATIO_BINS = 20;
export const RGBD_CONFIDENCE_BINS = 20;
