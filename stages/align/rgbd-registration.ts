// Fine-grained RGB-D pairing: is each depth pixel over the colour pixel it belongs to?
// Occlusion boundaries in depth should sit on object outlines in colour (edges.ts finds both).
// For a shift (dx, dy) we move the depth edge pixels back by it and take the mean distance from
// each to the nearest colour edge running the same way (its gradient direction within about 34
// degrees of the depth edge's normal, taken from the line the neighbouring depth edge pixels
// form; by axis alone where they form none), truncated (a depth edge with no colour
// counterpart, same colour on both sides, costs the same at every shift instead of dominating)
// and weighted by the size of the depth jump: the chamfer cost. Colour edges with no depth
// counterpart (texture) cost nothing, since distances run from depth edges to colour edges.
//
// Search, sampled to full: every shift within max_shift is scored on an even sample of the
// depth edge points; the few best local minima of that grid are then scored with every point on
// a 3x3 window each. Only depth edges at least max_shift from the frame's sides are scored, so
// every shift is judged on the same points. The best fully scored shift is the estimate.
//
// Confidence: a wrong estimate happens when some other shift explains the edges about as well,
// i.e. when the cost surface has a second basin nearly as deep as the best one (a checkerboard
// behind an object, a repeated pattern, edges that all run one way so the shift along them is
// free). So the confidence grows with the margin of the best cost below the second-best basin
// (the lowest cost scored at least 2 px from the best), relative to the cost there, times the
// square root of the number of depth edge pixels scored (the margin's noise shrinks with it),
// and falls when the best shift explains few of the depth edges (a guess, however its margin
// looks). Calibrated on the fixture family (scripts/eval-rgbd-registration.ts): see
// docs/rgbd.md for the measured separation.
import type { RegistrationResult } from '../../schemas/rgbd.ts';
import type { RgbImage } from '../decode/rgb-image.ts';
import type { DepthMap } from '../decode/depth-png.ts';
import { simdKernels, type ChamferInput, type EdgeKernels } from './simd/kernels.ts';
import { cappedDistanceCodes, colourEdges, depthEdgeNormalBin, edgeRegionAround, occlusionEdges, ORIENT_ACROSS_X, ORIENT_ACROSS_Y, ORIENT_BINS, type ColourEdgeMap, type DepthEdgeMap, type EdgeRegion } from './edges.ts';

export interface RegistrationOptions {
  /** Shifts in [-maxShift, maxShift] on both axes are tried. Default 12. */
  maxShift?: number;
  /** Distances above this many pixels count as this much (full resolution). Default 3. */
  truncate?: number;
  /** Sobel magnitude (after the blur) that starts a colour edge. Default 40. */
  intensityThreshold?: number;
  /** Smallest relative inverse-depth jump that makes a depth edge. Default 0.04. */
  relativeJump?: number;
  /** At most this many depth edge pixels are scored (an even subsample beyond). Default 3000. */
  maxEdgePixels?: number;
  /** Fewer depth edge pixels than this: nothing to measure, confidence 0. Default 30. */
  minEdgePixels?: number;
  /** Return the two edge maps too (the report draws them; recomputing costs as much again). */
  keepEdges?: boolean;
  /**
   * Find colour edges over the whole frame, not only in the band the search can reach around
   * the depth edges (the same estimate, at the price of the whole frame; for measurements).
   */
  fullFrameColour?: boolean;
  /**
   * Match each depth edge only against colour edges within about 34 degrees of its direction
   * (default true); false: only by axis (up and down, across, or both), as earlier versions did.
   */
  fineOrientation?: boolean;
  /** Colour edges of the strongest of R, G and B (default true); false: of the luminance. */
  rgbChannels?: boolean;
  /** The colour gradient by the WebAssembly SIMD kernel (default, where it runs) or in JavaScript: the same estimates (edges.ts). */
  kernels?: 'simd' | 'js';
}

export type Registration = Omit<RegistrationResult, 'corrected'> & {
  /** Depth edge pixels scored; 0 when the frame had too few to measure. */
  edgePixels: number;
  /** (second-best basin cost - best cost) / second-best basin cost; 0 when nothing was measured. */
  margin?: number;
  /** Share of depth edge pixels within 1.5 px of a matching colour edge at the best shift. */
  support?: number;
  /** With keepEdges: the colour and depth edge pixels. */
  edges?: RegistrationEdges;
};

/** Edge pixels as row-major indices (y x width + x), ascending for depth, in no order for colour. */
export interface RegistrationEdges {
  colour: Int32Array;
  depth: Int32Array;
}

/** The two edge maps registration compares (exposed for the report's overlay). */
export function registrationEdgeMaps(rgb: RgbImage, depth: DepthMap, options: Pick<RegistrationOptions, 'intensityThreshold' | 'relativeJump' | 'rgbChannels'> = {}): { colour: ColourEdgeMap; depth: DepthEdgeMap } {
  const { width, height } = rgb;
  return {
    colour: colourEdges(rgb.data, width, height, { highThreshold: options.intensityThreshold ?? 40, channels: options.rgbChannels === false ? 'luma' : 'rgb' }),
    depth: occlusionEdges(depth.data, width, height, { relativeJump: options.relativeJump ?? 0.04 }),
  };
}

/** Points scored per shift on the full search grid (an even sample of the depth edge points). */
const SAMPLE_POINTS = 600;
/** Local minima of the sampled grid that are scored again with every point. */
const GRID_CANDIDATES = 6;
/** Window half-width around each candidate scored with every point. */
const REFINE_RADIUS = 1;
/** Fewer interior depth edge points than this: score all of them, border ones included. */
const MIN_INTERIOR_POINTS = 30;
/** Balancing the two edge orientations scales a point's weight by at most this much. */
const BALANCE_LIMIT = 4;
/** A second basin must lie at least this far (Chebyshev, px) from the best shift. */
const BASIN_SEPARATION = 2;

/** Measure the shift of `depth` relative to `rgb` (same size). Pure and synchronous. */
export function registerDepthToRgb(rgb: RgbImage, depth: DepthMap, options: RegistrationOptions = {}): Registration {
  const { width, height } = rgb;
  if (depth.width !== width || depth.height !== height) throw new RangeError(`rgb ${width}x${height} and depth ${depth.width}x${depth.height} differ`);
  const maxShift = options.maxShift ?? 12;
  if (!Number.isInteger(maxShift) || maxShift < 0 || maxShift > 64) throw new RangeError(`maxShift must be an integer in [0, 64], got ${maxShift}`);
  const truncate = options.truncate ?? 3;
  const minEdgePixels = options.minEdgePixels ?? 30;
  const intensity = { highThreshold: options.intensityThreshold ?? 40, scratch: true, channels: options.rgbChannels === false ? ('luma' as const) : ('rgb' as const), kernels: options.kernels };
  const depthEdges = occlusionEdges(depth.data, width, height, { relativeJump: options.relativeJump ?? 0.04, scratch: true, kernels: options.kernels });
  const nothing = (colour: ColourEdgeMap | null): Registration => ({
    dx: 0,
    dy: 0,
    residual: truncate,
    confidence: 0,
    zeroGain: 0,
    edgePixels: 0,
    ...(options.keepEdges ? { edges: { colour: (colour ?? colourEdges(rgb.data, width, height, intensity)).pixels, depth: depthEdges.pixels } } : {}),
  });
  if (depthEdges.count < minEdgePixels) return nothing(null);

  // The depth edge points that will be scored, and then colour edges only where a scored point
  // can reach one: within max_shift plus the truncation distance. A colour edge farther from
  // every depth edge adds nothing to any cost, and finding it was most of the time on a
  // textured frame.
  const scored = scoredDepthPoints(depthEdges, options.maxEdgePixels ?? 3000, maxShift, options.fineOrientation ?? true);
  const region = options.fullFrameColour ? undefined : edgeRegionAround(scored.points, 3, width, height, maxShift + Math.ceil(truncate) + 2);
  const colour = colourEdges(rgb.data, width, height, intensity, region);
  if (colour.count === 0) return nothing(colour);
  const edges = options.keepEdges ? { edges: { colour: colour.pixels, depth: depthEdges.pixels } } : {};

  // Full resolution: distance transforms per orientation, computed once, and the sampled points.
  const fine = new ChamferLevel(colour, scored, truncate, region, options.kernels);
  const side = 2 * maxShift + 1;
  const costs = new Float64Array(side * side).fill(NaN);
  const inGrid = (dx: number, dy: number) => Math.abs(dx) <= maxShift && Math.abs(dy) <= maxShift;
  /** Scores, with every point, the shifts of the list not scored yet. */
  const scoreAll = (shifts: [number, number][]) => {
    const todo = shifts.filter(([dx, dy]) => inGrid(dx, dy) && Number.isNaN(costs[(dy + maxShift) * side + dx + maxShift]));
    const unique = [...new Map(todo.map((s) => [`${s[0]},${s[1]}`, s])).values()];
    const got = fine.costsAt(unique);
    unique.forEach(([dx, dy], q) => (costs[(dy + maxShift) * side + dx + maxShift] = got[q]));
  };

  // Every shift is scored on an even sample of the points (the cost is a mean, so a sample of
  // SAMPLE_POINTS ranks the basins almost as the full set does, at a fraction of the price);
  // the best few local minima of that grid, and zero, are then scored with every point.
  // (A pooled half-resolution grid was cheaper still, but its 2 px steps missed narrow basins.)
  const sampleStride = Math.max(1, Math.ceil(fine.points.length / 3 / SAMPLE_POINTS));
  const sampled = fine.gridCosts(maxShift, sampleStride);
  const candidates = sampleStride === 1 ? [] : localMinima(sampled, side).slice(0, GRID_CANDIDATES);
  if (sampleStride === 1) costs.set(sampled);
  // Zero shift is always scored: it is the answer for most pairs, and zero_gain needs it.
  const window = (cx: number, cy: number, r: number) => {
    const out: [number, number][] = [];
    for (let dy = cy - r; dy <= cy + r; dy++) for (let dx = cx - r; dx <= cx + r; dx++) out.push([dx, dy]);
    return out;
  };
  scoreAll([...candidates.map((k) => [(k % side) - maxShift, Math.floor(k / side) - maxShift]), [0, 0]].flatMap(([cx, cy]) => window(cx, cy, REFINE_RADIUS)));

  // Best shift; ties (within float noise) go to the smaller shift, so a flat cost says "aligned".
  let best = -1;
  for (let k = 0; k < costs.length; k++) {
    if (Number.isNaN(costs[k])) continue;
    if (best < 0) {
      best = k;
      continue;
    }
    const diff = costs[k] - costs[best];
    if (diff < -1e-9 || (Math.abs(diff) <= 1e-9 && shiftNorm(k, side, maxShift) < shiftNorm(best, side, maxShift))) best = k;
  }
  const bx = (best % side) - maxShift;
  const by = Math.floor(best / side) - maxShift;
  // Make sure the best shift's own neighbourhood is scored, so its basin is known around it.
  scoreAll(window(bx, by, BASIN_SEPARATION));
  const bestCost = costs[best];
  const second = secondBasin(costs, side, maxShift, bx, by);
  const inliers = fine.inlierShare(bx, by, 1.5);
  // A second basin as deep as the best, even at cost 0 (edges that all run one way, matched
  // exactly all along a valley), leaves no margin; only when nothing that far was scored is the
  // margin taken as whole.
  const margin = !Number.isFinite(second) ? 1 : second > 0 ? Math.max(0, second - bestCost) / second : 0;
  return {
    dx: bx,
    dy: by,
    residual: bestCost,
    confidence: calibratedConfidence(margin, inliers, fine.points.length / 3),
    margin,
    support: inliers,
    zeroGain: costs[maxShift * side + maxShift] - bestCost,
    edgePixels: fine.points.length / 3,
    ...edges,
  };
}


/**
 * Confidence in [0, 1]. The margin is a difference of two means over the scored depth edge
 * pixels, so its noise shrinks with the square root of their number: margin x sqrt(pixels) is
 * about how many standard errors (per-pixel distances spread about 1 px) the best basin lies
 * below the next. CONFIDENCE_SCALE maps 6 of them to the default cut 0.15 (fitted on the fixture
 * family, seeds 1-6; docs/rgbd.md gives the separation measured on other seeds). A frame whose
 * best shift explains under a fifth of its depth edges is not trusted at all.
 */
export function calibratedConfidence(margin: number, inlierShare: number, edgePixels: number): number {
  const fromMargin = Math.min(1, (margin * Math.sqrt(edgePixels)) / CONFIDENCE_SCALE);
  const fromSupport = Math.max(0, Math.min(1, (inlierShare - 0.2) / 0.3));
  return fromMargin * fromSupport;
}

const CONFIDENCE_SCALE = 6 / 0.15;

/**
 * Lowest scored cost at least BASIN_SEPARATION (Chebyshev) from (bx, by): the deepest other
 * basin, or the best basin's own floor 2 px away when the basin is a valley (edges that all run
 * one way leave the shift along them free); Infinity if nothing that far was scored.
 */
function secondBasin(costs: Float64Array, side: number, maxShift: number, bx: number, by: number): number {
  let second = Infinity;
  for (let k = 0; k < costs.length; k++) {
    const c = costs[k];
    if (Number.isNaN(c) || c >= second) continue;
    const x = (k % side) - maxShift;
    const y = Math.floor(k / side) - maxShift;
    if (Math.max(Math.abs(x - bx), Math.abs(y - by)) >= BASIN_SEPARATION) second = c;
  }
  return second;
}

/** Indices of the local minima (<= all 8 neighbours) of a square grid, lowest first. */
function localMinima(costs: Float64Array, side: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < costs.length; k++) {
    const x = k % side;
    const y = Math.floor(k / side);
    let isMin = true;
    for (let oy = -1; oy <= 1 && isMin; oy++) {
      for (let ox = -1; ox <= 1; ox++) {
        const nx = x + ox;
        const ny = y + oy;
        if ((ox === 0 && oy === 0) || nx < 0 || ny < 0 || nx >= side || ny >= side) continue;
        if (costs[ny * side + nx] < costs[k] - 1e-12) {
          isMin = false;
          break;
        }
      }
    }
    if (isMin) out.push(k);
  }
  return out.sort((a, b) => costs[a] - costs[b]);
}

interface ScoredPoints {
  /** Triples x, y, orientation bits. */
  points: Int32Array;
  weights: Float32Array;
  /** Per point, the bin of its normal (-1: not a line, match by orientation bits); null: bits only. */
  bins: Int8Array | null;
}

/**
 * The depth edge points the search scores, with their weights. Only depth edges at least
 * `border` (the search radius) from the frame's sides are scored, so every shift scores the
 * same points. Letting points that leave the frame drop out made large shifts cheap whenever
 * they pushed the worst-matching edges (a floor line, a shelf near the bottom) out of view.
 * Small frames with too few such edges keep them all. At most `maxPoints` (an even subsample).
 */
function scoredDepthPoints(depth: DepthEdgeMap, maxPoints: number, border: number, fine: boolean): ScoredPoints {
  const { width: w, height: h, edges, pixels } = depth;
  const interior = (i: number) => {
    const y = Math.floor(i / w);
    const x = i - y * w;
    return x >= border && x < w - border && y >= border && y < h - border;
  };
  let usable = 0;
  for (let q = 0; q < pixels.length; q++) if (interior(pixels[q])) usable++;
  // Below MIN_INTERIOR_POINTS, the whole frame.
  const whole = usable < MIN_INTERIOR_POINTS;
  if (whole) usable = pixels.length;
  const stride = Math.max(1, Math.ceil(usable / maxPoints));
  const n = Math.ceil(usable / stride);
  const points = new Int32Array(3 * n);
  const weights = new Float32Array(n);
  const bins = fine ? new Int8Array(n) : null;
  let seen = 0;
  let p = 0;
  // The edge pixels are listed in raster order, so the subsample is an even one along rows.
  for (let q = 0; q < pixels.length; q++) {
    const i = pixels[q];
    if (!whole && !interior(i)) continue;
    if (seen++ % stride !== 0) continue;
    const y = Math.floor(i / w);
    const x = i - y * w;
    points[3 * p] = x;
    points[3 * p + 1] = y;
    points[3 * p + 2] = depth.orientation[i];
    if (bins) bins[p] = depthEdgeNormalBin(edges, w, h, x, y);
    // Weight by the jump: a 4 % step weighs 0.4, a 10 % step or more weighs 1.
    weights[p] = Math.min(1, depth.strength[i] / 0.1);
    p++;
  }
  // Edges running up and down fix dx; edges running across fix dy. A scene of poles has far
  // more of the first, and would leave dy to chance; so each orientation carries half the
  // total weight (edges with both bits count towards both), when both are present.
  let wx = 0;
  let wy = 0;
  for (let q = 0; q < n; q++) {
    const o = points[3 * q + 2];
    if (o & ORIENT_ACROSS_X) wx += weights[q];
    if (o & ORIENT_ACROSS_Y) wy += weights[q];
  }
  if (wx > 0 && wy > 0) {
    const total = wx + wy;
    for (let q = 0; q < n; q++) {
      const o = points[3 * q + 2];
      const scale = o === ORIENT_ACROSS_X ? total / (2 * wx) : o === ORIENT_ACROSS_Y ? total / (2 * wy) : total / (wx + wy);
      weights[q] *= Math.min(BALANCE_LIMIT, scale);
    }
  }
  return { points, weights, bins };
}

/**
 * The chamfer search's cost: capped distances to the colour edges of each selection a depth
 * point matches against (an orientation bin, or an axis for points whose edge forms no line),
 * computed once per frame as interleaved codes, and the depth edge points with their weights.
 */
class ChamferLevel {
  readonly width: number;
  readonly height: number;
  /** Triples x, y, orientation bits. */
  readonly points: Int32Array;
  private readonly weights: Float32Array;
  private readonly codes: Uint8Array;
  private readonly distance: Float64Array;
  /** Per point: its pixel's index in `codes` (pixel x slots), and the one or two slots it reads (the nearer counts). */
  private readonly base: Int32Array;
  private readonly slotA: Uint8Array;
  private readonly slotB: Uint8Array;
  /** The WebAssembly cost kernels, where they run (the same costs as the loops below). */
  private readonly simd: EdgeKernels | null;

  constructor(colour: ColourEdgeMap, scored: ScoredPoints, private readonly truncate: number, region: EdgeRegion | undefined, kernels: 'simd' | 'js' = 'simd') {
    const { width, height } = colour;
    this.width = width;
    this.height = height;
    this.points = scored.points;
    this.weights = scored.weights;
    const count = scored.points.length / 3;
    // Selections: each orientation bin some point uses, then the two axes where points without
    // a bin need them (a point with both axis bits takes the nearer of the two).
    const slotOf = new Int8Array(ORIENT_BINS + 2).fill(-1);
    let slots = 0;
    const need = (k: number) => (slotOf[k] < 0 ? (slotOf[k] = slots++) : slotOf[k]);
    this.slotA = new Uint8Array(count);
    this.slotB = new Uint8Array(count);
    this.base = new Int32Array(count);
    for (let p = 0; p < count; p++) {
      const b = scored.bins ? scored.bins[p] : -1;
      const o = scored.points[3 * p + 2];
      if (b >= 0) this.slotA[p] = this.slotB[p] = need(b);
      else {
        this.slotA[p] = need(o & ORIENT_ACROSS_X ? ORIENT_BINS : ORIENT_BINS + 1);
        this.slotB[p] = need(o & ORIENT_ACROSS_Y ? ORIENT_BINS + 1 : ORIENT_BINS);
      }
    }
    for (let p = 0; p < count; p++) this.base[p] = (scored.points[3 * p + 1] * width + scored.points[3 * p]) * slots;
    const binBits = new Uint16Array(256);
    for (let mask = 0; mask < 256; mask++) {
      for (let b = 0; b < ORIENT_BINS; b++) if (mask & (1 << b) && slotOf[b] >= 0) binBits[mask] |= 1 << slotOf[b];
    }
    const xBit = slotOf[ORIENT_BINS] >= 0 ? 1 << slotOf[ORIENT_BINS] : 0;
    const yBit = slotOf[ORIENT_BINS + 1] >= 0 ? 1 << slotOf[ORIENT_BINS + 1] : 0;
    const selections = new Uint16Array(colour.pixels.length);
    colour.pixels.forEach((i, q) => {
      const o = colour.orientation[i];
      selections[q] = binBits[colour.bins[i]] | (o & ORIENT_ACROSS_X ? xBit : 0) | (o & ORIENT_ACROSS_Y ? yBit : 0);
    });
    const d = cappedDistanceCodes(width, height, colour.pixels, selections, Math.max(1, slots), truncate, region, kernels);
    this.codes = d.codes;
    this.distance = d.distance;
    this.simd = kernels === 'simd' ? simdKernels() : null;
  }

  /** This level as the WebAssembly cost kernels take it. */
  private get chamferInput(): ChamferInput {
    return { width: this.width, height: this.height, points: this.points, weights: this.weights, base: this.base, slotA: this.slotA, slotB: this.slotB, codes: this.codes, slots: this.codes.length / (this.width * this.height), distance: this.distance, truncate: this.truncate };
  }

  /**
   * Weighted mean truncated distance of the depth edge points moved by (-dx, -dy) to colour
   * edges of their orientation, for every shift within maxShift, scoring every `stride`-th
   * point; indexed (dy + maxShift) x side + dx + maxShift. Points that leave the frame are not
   * scored; a shift that more than half leave scores `truncate`. The loop runs point by point
   * over all shifts, so that one point's reads stay in a small window of the code array; each
   * shift's sum still adds the points up in their order, so the costs are those of a
   * shift-by-shift loop, bit for bit.
   */
  gridCosts(maxShift: number, stride = 1): Float64Array {
    if (this.simd) return this.simd.chamferCosts(this.chamferInput, { grid: { maxShift, stride } });
    const { width, height, points, weights, codes, distance, base, slotA, slotB } = this;
    const slots = codes.length / (width * height);
    const side = 2 * maxShift + 1;
    const sum = new Float64Array(side * side);
    const wsum = new Float64Array(side * side);
    const n = new Int32Array(side * side);
    const count = points.length / 3;
    // Usually every point stays in the frame at every shift (points lie at least maxShift from
    // the sides); then the weight sums and counts are the same for all shifts, summed once in
    // the same order, and the inner loop adds distances only.
    let everywhere = true;
    for (let k = 0; k < points.length && everywhere; k += 3 * stride) {
      everywhere = points[k] >= maxShift && points[k] + maxShift < width && points[k + 1] >= maxShift && points[k + 1] + maxShift < height;
    }
    if (everywhere) {
      let w0 = 0;
      let n0 = 0;
      const rowStep = width * slots;
      for (let p = 0; p < count; p += stride) {
        const w = weights[p];
        w0 += w;
        n0++;
        const sa = slotA[p];
        const sb = slotB[p];
        // Shift (dx, dy) reads base - (dy x width + dx) x slots: the first grid entry, (-maxShift,
        // -maxShift), reads farthest on, and each step along the grid reads one pixel back.
        let at = base[p] + maxShift * rowStep + maxShift * slots;
        for (let row = 0; row < side * side; row += side, at -= rowStep) {
          if (sa === sb) {
            for (let gx = 0, t = at + sa; gx < side; gx++, t -= slots) sum[row + gx] += w * distance[codes[t]];
          } else {
            for (let gx = 0, t = at; gx < side; gx++, t -= slots) {
              const a = codes[t + sa];
              const b = codes[t + sb];
              sum[row + gx] += w * distance[a < b ? a : b];
            }
          }
        }
      }
      wsum.fill(w0);
      n.fill(n0);
    } else for (let k = 0, p = 0; p < count; k += 3 * stride, p += stride) {
      const x = points[k];
      const y = points[k + 1];
      const w = weights[p];
      const sa = slotA[p];
      const sb = slotB[p];
      // Shifts that keep the point in the frame: 0 <= x - dx < width, 0 <= y - dy < height.
      const dx0 = Math.max(-maxShift, x - width + 1);
      const dx1 = Math.min(maxShift, x);
      const dy0 = Math.max(-maxShift, y - height + 1);
      const dy1 = Math.min(maxShift, y);
      for (let dy = dy0; dy <= dy1; dy++) {
        const row = (dy + maxShift) * side + maxShift;
        const rowAt = base[p] - dy * width * slots;
        for (let dx = dx0; dx <= dx1; dx++) {
          const at = rowAt - dx * slots;
          const a = codes[at + sa];
          const b = codes[at + sb];
          const g = row + dx;
          sum[g] += w * distance[a < b ? a : b];
          wsum[g] += w;
          n[g]++;
        }
      }
    }
    const total = Math.ceil(count / stride);
    const out = new Float64Array(side * side);
    for (let g = 0; g < out.length; g++) out[g] = n[g] * 2 >= total && wsum[g] > 0 ? sum[g] / wsum[g] : this.truncate;
    return out;
  }

  /** As gridCosts with stride 1, for the listed shifts only. */
  costsAt(shifts: [number, number][]): Float64Array {
    if (this.simd) return this.simd.chamferCosts(this.chamferInput, { dxs: Int32Array.from(shifts, (s) => s[0]), dys: Int32Array.from(shifts, (s) => s[1]) });
    const { width, height, points, weights, codes, distance, base, slotA, slotB } = this;
    const slots = codes.length / (width * height);
    const m = shifts.length;
    const dxs = Int32Array.from(shifts, (s) => s[0]);
    const dys = Int32Array.from(shifts, (s) => s[1]);
    const offsets = Int32Array.from(shifts, ([dx, dy]) => (dy * width + dx) * slots);
    const sum = new Float64Array(m);
    const wsum = new Float64Array(m);
    const n = new Int32Array(m);
    const count = points.length / 3;
    for (let k = 0, p = 0; p < count; k += 3, p++) {
      const x = points[k];
      const y = points[k + 1];
      const w = weights[p];
      const sa = slotA[p];
      const sb = slotB[p];
      for (let q = 0; q < m; q++) {
        const tx = x - dxs[q];
        const ty = y - dys[q];
        if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
        const at = base[p] - offsets[q];
        const a = codes[at + sa];
        const b = codes[at + sb];
        sum[q] += w * distance[a < b ? a : b];
        wsum[q] += w;
        n[q]++;
      }
    }
    const out = new Float64Array(m);
    for (let q = 0; q < m; q++) out[q] = n[q] * 2 >= count && wsum[q] > 0 ? sum[q] / wsum[q] : this.truncate;
    return out;
  }

  /** Share of the (in-frame) depth edge points within `radius` of a matching colour edge at this shift. */
  inlierShare(dx: number, dy: number, radius: number): number {
    const { width, height, points, codes, distance, base, slotA, slotB } = this;
    const shift = (dy * width + dx) * (codes.length / (width * height));
    let hit = 0;
    let n = 0;
    for (let k = 0, p = 0; k < points.length; k += 3, p++) {
      const x = points[k] - dx;
      const y = points[k + 1] - dy;
      if (x < 0 || y < 0 || x >= width || y >= height) continue;
      const at = base[p] - shift;
      const a = codes[at + slotA[p]];
      const b = codes[at + slotB[p]];
      if (distance[a < b ? a : b] <= radius) hit++;
      n++;
    }
    return n ? hit / n : 0;
  }
}


function shiftNorm(k: number, side: number, maxShift: number): number {
  const dx = (k % side) - maxShift;
  const dy = Math.floor(k / side) - maxShift;
  return dx * dx + dy * dy;
}

/**
 * Move depth content by (dx, dy): out(x, y) = in(x - dx, y - dy), 0 where nothing moves in.
 * Injecting a misregistration of (dx, dy) is translateDepth(d, dx, dy); correcting a measured
 * one is translateDepth(d, -dx, -dy).
 */
export function translateDepth(depth: DepthMap, dx: number, dy: number): DepthMap {
  const { width, height, data } = depth;
  const out = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < width) out[y * width + x] = data[sy * width + sx];
    }
  }
  return { width, height, data: out };
}
