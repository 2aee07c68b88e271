// Fine-grained RGB-D pairing: is each depth pixel over the colour pixel it belongs to?
// Depth discontinuities should sit on intensity edges. For every integer shift (dx, dy) in
// [-maxShift, maxShift]^2 we take the depth edge pixels, move them back by the shift, and average
// their (truncated) distance to the nearest colour edge: the chamfer cost. The best shift is
// the measured misregistration; the cost there is the residual; how far the best cost sits
// below the median cost over all shifts is the confidence (SyncNet's median - min, normalised).
// Truncation keeps depth edges with no colour counterpart (same colour on both sides) from
// dominating; colour edges with no depth counterpart (texture) cost nothing, since distances
// are measured from depth edges to colour edges only.
import type { RegistrationResult } from '../../schemas/rgbd.ts';
import type { RgbImage } from '../decode/rgb-image.ts';
import type { DepthMap } from '../decode/depth-png.ts';
import { cappedDistanceTransform, depthEdges, intensityEdges, luminance, type EdgeMap } from './edges.ts';

export interface RegistrationOptions {
  /** Shifts in [-maxShift, maxShift] on both axes are tried. Default 8. */
  maxShift?: number;
  /** Distances above this many pixels count as this much. Default 4. */
  truncate?: number;
  /** Sobel magnitude a colour edge must reach. Default 60. */
  intensityThreshold?: number;
  /** Relative depth jump that makes a depth edge. Default 0.04. */
  relativeJump?: number;
  /** At most this many depth edge pixels are scored (an even subsample beyond). Default 6000. */
  maxEdgePixels?: number;
  /** Fewer depth edge pixels than this: nothing to measure, confidence 0. Default 30. */
  minEdgePixels?: number;
  /** Return the two edge maps too (the report draws them; recomputing costs as much again). */
  keepEdges?: boolean;
}

export type Registration = Omit<RegistrationResult, 'corrected'> & {
  /** Depth edge pixels scored; 0 when the frame had too few to measure. */
  edgePixels: number;
  /** With keepEdges: colour and depth edge maps (1 = edge, row-major, frame size). */
  edges?: RegistrationEdges;
};

export interface RegistrationEdges {
  colour: Uint8Array;
  depth: Uint8Array;
}

/** Measure the shift of `depth` relative to `rgb` (same size). Pure and synchronous. */
export function registerDepthToRgb(rgb: RgbImage, depth: DepthMap, options: RegistrationOptions = {}): Registration {
  const { width, height } = rgb;
  if (depth.width !== width || depth.height !== height) throw new RangeError(`rgb ${width}x${height} and depth ${depth.width}x${depth.height} differ`);
  const maxShift = options.maxShift ?? 8;
  const truncate = options.truncate ?? 4;
  const minEdgePixels = options.minEdgePixels ?? 30;
  const colourEdges = intensityEdges(luminance(rgb.data, width, height), width, height, options.intensityThreshold ?? 60);
  const depthEdgeMap = depthEdges(depth.data, width, height, options.relativeJump ?? 0.04);
  const points = edgePoints(depthEdgeMap, options.maxEdgePixels ?? 6000);
  const edges = options.keepEdges ? { edges: { colour: colourEdges.edges, depth: depthEdgeMap.edges } } : {};
  const nothing: Registration = { dx: 0, dy: 0, residual: truncate, confidence: 0, zeroGain: 0, edgePixels: 0, ...edges };
  if (points.length / 2 < minEdgePixels || colourEdges.count === 0) return nothing;

  // Costs clamp distances at `truncate`, so distances beyond it need not be exact.
  const dist = cappedDistanceTransform(colourEdges, truncate);
  const side = 2 * maxShift + 1;
  const costs = new Float64Array(side * side);
  for (let dy = -maxShift; dy <= maxShift; dy++) {
    for (let dx = -maxShift; dx <= maxShift; dx++) {
      costs[(dy + maxShift) * side + (dx + maxShift)] = chamferCost(points, dist, width, height, dx, dy, truncate);
    }
  }
  // Best shift; ties (within float noise) go to the smaller shift, so a flat cost says "aligned".
  let best = 0;
  for (let k = 1; k < costs.length; k++) {
    const diff = costs[k] - costs[best];
    if (diff < -1e-9 || (Math.abs(diff) <= 1e-9 && shiftNorm(k, side, maxShift) < shiftNorm(best, side, maxShift))) best = k;
  }
  const bestCost = costs[best];
  const zeroCost = costs[maxShift * side + maxShift];
  const median = medianOf(costs);
  return {
    dx: (best % side) - maxShift,
    dy: Math.floor(best / side) - maxShift,
    residual: bestCost,
    confidence: median > 0 ? Math.max(0, Math.min(1, (median - bestCost) / median)) : 0,
    zeroGain: zeroCost - bestCost,
    edgePixels: points.length / 2,
    ...edges,
  };
}

/**
 * Mean truncated distance to colour edges of the depth edge points moved by (-dx, -dy): if the
 * depth content sits (dx, dy) away from where it belongs, undoing that lands it on the colour
 * edges. Points that leave the frame are not scored; if most leave, the shift scores `truncate`.
 */
function chamferCost(points: Int32Array, dist: Float32Array, width: number, height: number, dx: number, dy: number, truncate: number): number {
  let sum = 0;
  let n = 0;
  for (let k = 0; k < points.length; k += 2) {
    const x = points[k] - dx;
    const y = points[k + 1] - dy;
    if (x < 0 || y < 0 || x >= width || y >= height) continue;
    const d = dist[y * width + x];
    sum += d < truncate ? d : truncate;
    n++;
  }
  return n * 2 >= points.length / 2 ? sum / n : truncate;
}

function edgePoints(map: EdgeMap, maxPoints: number): Int32Array {
  const stride = Math.max(1, Math.ceil(map.count / maxPoints));
  const out = new Int32Array(2 * Math.ceil(map.count / stride));
  let seen = 0;
  let n = 0;
  for (let i = 0; i < map.edges.length; i++) {
    if (!map.edges[i]) continue;
    if (seen++ % stride !== 0) continue;
    out[n++] = i % map.width;
    out[n++] = Math.floor(i / map.width);
  }
  return out.subarray(0, n);
}

function shiftNorm(k: number, side: number, maxShift: number): number {
  const dx = (k % side) - maxShift;
  const dy = Math.floor(k / side) - maxShift;
  return dx * dx + dy * dy;
}

function medianOf(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
