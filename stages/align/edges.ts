// Edge maps and their distance transform, the raw material of the RGB-D registration check.
//
// Colour edges (colourEdges): Canny's detector: a binomial blur (sigma about 1 px, so the edge
// sits where the depth sensor's one-pixel-sharp silhouette would), Sobel gradient, non-maximum
// suppression to one-pixel-wide edges, and hysteresis (weak edge pixels are kept only when
// connected to strong ones, so texture noise does not scatter edges everywhere). The gradient
// is that of luminance, or per pixel the strongest of the R, G and B gradients (registration's
// choice: an object whose colour has about the luminance of the wall behind it has an outline
// in colour only).
//
// Depth edges (occlusionEdges): occlusion boundaries only. A depth camera sees a jump in depth
// wherever a nearer surface hides a farther one, and that is where the colour image has an
// object outline. A surface seen at a steep angle also changes depth fast from pixel to pixel,
// but smoothly, and has no outline in colour; a fixed "jump of more than x %" rule fires all
// over such surfaces. So the jump between two neighbours is measured in inverse depth (which
// is exactly linear across the image for any plane, however slanted) and must be large
// against the local gradient on both sides, against the frame's depth noise, and against the
// depth itself. Missing depth (0) never makes an edge, nor counts as a neighbour.
//
// Both maps record each edge's orientation (ORIENT_ACROSS_X: the intensity or depth changes
// along x, so the edge runs up and down; ORIENT_ACROSS_Y: it runs left to right; diagonal edges
// carry both), so that the chamfer cost can match each depth edge only against colour edges
// that run the same way. Colour edges also record their gradient direction in 8 bins of 22.5
// degrees (`bins`), and depthEdgeNormalBin gives a depth edge's direction from the line its
// neighbouring edge pixels form, for a finer match.
//
// The per-pixel work (the strongest-channel gradient, suppression and hysteresis, occlusion
// edges, distance codes) runs as WebAssembly SIMD kernels where they can (simd/kernels.ts), with
// the same values as the JavaScript here, which stays as the reference (`kernels: 'js'`) and
// the fallback; the chamfer costs in rgbd-registration.ts likewise.
import { simdKernels, type ComputeSpans } from './simd/kernels.ts';

export interface EdgeMap {
  width: number;
  height: number;
  /** 1 = edge, row-major. */
  edges: Uint8Array;
  count: number;
}

/** The edge's value changes along x (a vertical edge line). */
export const ORIENT_ACROSS_X = 1;
/** The edge's value changes along y (a horizontal edge line). */
export const ORIENT_ACROSS_Y = 2;

export interface OrientedEdgeMap extends EdgeMap {
  /** Per pixel, ORIENT_* bits (0 where there is no edge). */
  orientation: Uint8Array;
}

/** Number of orientation bins of the gradient direction (mod 180 degrees): 22.5 degrees each. */
export const ORIENT_BINS = 8;

/** The bin (0..ORIENT_BINS-1) whose centre is nearest to a gradient direction, in radians (any). */
function orientationBin(angle: number): number {
  const t = angle / Math.PI;
  const b = Math.round((t - Math.floor(t)) * ORIENT_BINS);
  return b === ORIENT_BINS ? 0 : b;
}

export interface ColourEdgeMap extends OrientedEdgeMap {
  /**
   * Per pixel, one bit per orientation bin (bit b: the gradient direction lies within one bin
   * width, 22.5 degrees, of bin b's centre b x 22.5 degrees; so each edge pixel has two bits, or
   * three when it lies on a centre). 0 where there is no edge.
   */
  bins: Uint8Array;
  /** Index of every edge pixel, in no particular order (so that callers need not scan the frame). */
  pixels: Int32Array;
}

export interface DepthEdgeMap extends OrientedEdgeMap {
  /** Per edge pixel, the jump relative to the nearer inverse depth (0 elsewhere). */
  strength: Float32Array;
  /** Index of every edge pixel, ascending. */
  pixels: Int32Array;
}

/** Rec. 601 luma of interleaved 8-bit RGB. */
export function luminance(rgb: Uint8Array, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += 3) out[i] = 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
  return out;
}

// Per-frame working buffers, reused from frame to frame (each worker thread has its own module
// instance, and nothing here is re-entrant): allocating ~10 MB per 640x480 frame made the
// garbage collector a large share of the registration cost. Only interior pixels are ever
// written to the Sobel buffers, so their one-pixel border stays 0 across reuse.
const scratch = new Map<string, Float32Array | Uint16Array | Uint8Array>();
function scratchBuffer<T extends Float32Array | Uint16Array | Uint8Array>(name: string, n: number, make: (n: number) => T): T {
  let a = scratch.get(name) as T | undefined;
  if (!a || a.length !== n) {
    a = make(n);
    scratch.set(name, a);
  }
  return a;
}
const f32 = (n: number) => new Float32Array(n);

/** A growable list of pixel indices, kept from call to call so that its memory is reused. */
class PixelList {
  data = new Int32Array(4096);
  length = 0;
  reset(): this {
    this.length = 0;
    return this;
  }
  push(i: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(2 * this.data.length);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = i;
  }
  /** The entries, as an array of their own. */
  copy(): Int32Array {
    return this.data.slice(0, this.length);
  }
}
// Per-thread lists (nothing here is re-entrant): strong colour edge pixels, and the colour and
// depth edge pixels of the map being built.
const strongPixels = new PixelList();
const colourPixels = new PixelList();
const depthPixels = new PixelList();

// Per-thread 0/1 edge maps, and the pixels the last call set in each: the next call clears just
// those instead of the whole frame.
const flagsSet = new Map<string, Int32Array>();
function clearedFlags(name: string, n: number): Uint8Array {
  const fresh = !scratch.has(name) || scratch.get(name)!.length !== n;
  const flags = scratchBuffer(name, n, (k) => new Uint8Array(k)) as Uint8Array;
  const set = flagsSet.get(name);
  if (!fresh && set) for (let q = 0; q < set.length; q++) flags[set[q]] = 0;
  flagsSet.delete(name);
  return flags;
}
const u16 = (n: number) => new Uint16Array(n);

/**
 * Where colour edges are wanted: a frame divided into square tiles, of which `need` marks those
 * whose edges are used and `compute` those whose gradients are computed (`need` grown by
 * GRADIENT_REACH, so that every stage's value on a needed pixel is exact). Registration asks only
 * for the band that depth edges can reach within the search radius; most of a textured frame
 * lies outside it. Small tiles keep the band close to that reach (4 px tiles: a fifth of a
 * 640x480 room scene is computed, against a third with 16 px tiles).
 */
export interface EdgeRegion {
  tileSize: number;
  cols: number;
  rows: number;
  need: Uint8Array;
  compute: Uint8Array;
}

/**
 * How far (px, Chebyshev) the value of a needed pixel reaches into the frame: suppression and
 * sub-pixel marking read the gradient 1 px around it, Sobel the blur 1 px further, and the
 * vertical blur the horizontal one 2 px further still.
 */
const GRADIENT_REACH = 4;

/** Tiles within Chebyshev `radius` of any of the points (x, y at stride `stride` in `xy`). */
export function edgeRegionAround(xy: Int32Array, stride: number, width: number, height: number, radius: number, tileSize = 4): EdgeRegion {
  const cols = Math.ceil(width / tileSize);
  const rows = Math.ceil(height / tileSize);
  // Each point's box of tiles, added row by row to a difference array (+1 where a box starts,
  // -1 past its end) and summed along each row. Neighbouring points along an edge mostly reach
  // the same tiles: a box already added is skipped.
  const starts = new Int32Array(rows * (cols + 1));
  let last = -1;
  for (let k = 0; k + 1 < xy.length; k += stride) {
    const x = xy[k];
    const y = xy[k + 1];
    const tx0 = Math.max(0, Math.floor((x - radius) / tileSize));
    const tx1 = Math.min(cols - 1, Math.floor((x + radius) / tileSize));
    const ty0 = Math.max(0, Math.floor((y - radius) / tileSize));
    const ty1 = Math.min(rows - 1, Math.floor((y + radius) / tileSize));
    const box = ((ty0 * rows + ty1) * cols + tx0) * cols + tx1;
    if (box === last) continue;
    last = box;
    for (let ty = ty0; ty <= ty1; ty++) {
      starts[ty * (cols + 1) + tx0]++;
      starts[ty * (cols + 1) + tx1 + 1]--;
    }
  }
  const need = new Uint8Array(cols * rows);
  for (let ty = 0; ty < rows; ty++) {
    for (let tx = 0, open = 0; tx < cols; tx++) {
      open += starts[ty * (cols + 1) + tx];
      need[ty * cols + tx] = open > 0 ? 1 : 0;
    }
  }
  // compute: need grown by `grow` tiles, along rows and then down columns (a square grown).
  const grow = Math.ceil(GRADIENT_REACH / tileSize);
  const across = new Uint8Array(cols * rows);
  for (let ty = 0; ty < rows; ty++) {
    let nearest = -Infinity; // last needed tile at or left of tx + grow
    for (let tx = 0; tx < cols + grow; tx++) {
      if (tx < cols && need[ty * cols + tx]) nearest = tx;
      const at = tx - grow;
      if (at >= 0 && at - nearest <= grow) across[ty * cols + at] = 1;
    }
  }
  const compute = new Uint8Array(cols * rows);
  for (let tx = 0; tx < cols; tx++) {
    let nearest = -Infinity;
    for (let ty = 0; ty < rows + grow; ty++) {
      if (ty < rows && across[ty * cols + tx]) nearest = ty;
      const at = ty - grow;
      if (at >= 0 && at - nearest <= grow) compute[at * cols + tx] = 1;
    }
  }
  return { tileSize, cols, rows, need, compute };
}

/**
 * Per row of pixels, the [x0, x1) spans of marked tiles (flattened pairs), one list per tile
 * row; the whole row when there is no region.
 */
function rowSpans(width: number, height: number, region: EdgeRegion | undefined, mask: 'need' | 'compute'): Spans {
  if (!region) return { tileSize: height, spans: [Int32Array.of(0, width)] };
  // A frame's registration asks for the same region's spans three times (gradient, suppression, distance codes).
  let cached = spansOf.get(region);
  if (!cached) spansOf.set(region, (cached = {}));
  return (cached[mask] ??= regionRowSpans(width, region, mask));
}

const spansOf = new WeakMap<EdgeRegion, { need?: Spans; compute?: Spans }>();

function regionRowSpans(width: number, region: EdgeRegion, mask: 'need' | 'compute'): Spans {
  const { tileSize, cols, rows } = region;
  const m = region[mask];
  const spans: Int32Array[] = [];
  for (let ty = 0; ty < rows; ty++) {
    const list: number[] = [];
    for (let tx = 0; tx < cols; tx++) {
      if (!m[ty * cols + tx]) continue;
      const x0 = tx * tileSize;
      let end = tx;
      while (end + 1 < cols && m[ty * cols + end + 1]) end++;
      list.push(x0, Math.min(width, (end + 1) * tileSize));
      tx = end;
    }
    spans.push(Int32Array.from(list));
  }
  return { tileSize, spans };
}

/**
 * Luminance of interleaved RGB blurred by a separable [1 4 6 4 1] / 16 kernel (sigma 1 px), edges
 * clamped; computed on the spans given (the rest of the buffer holds stale values).
 */
function blurredLuminance(rgb: Uint8Array, width: number, height: number, region: Spans): Float32Array {
  const n = width * height;
  const lum = scratchBuffer('lum', n, f32);
  const tmp = scratchBuffer('blurTmp', n, f32);
  const out = scratchBuffer('blurOut', n, f32);
  const { tileSize, spans: spanRows } = region;
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const row = y * width;
    for (let s = 0; s < spans.length; s += 2) {
      for (let i = row + spans[s], p = 3 * i, end = row + spans[s + 1]; i < end; i++, p += 3) lum[i] = 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
    }
  }
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const row = y * width;
    for (let s = 0; s < spans.length; s += 2) {
      const x0 = spans[s];
      const x1 = spans[s + 1];
      // Interior pixels need no clamping: the same sum without the index tests.
      // The five taps slide along the row, one new load a pixel.
      const a0 = Math.max(x0, 2);
      const a1 = Math.min(x1, width - 2);
      if (a1 > a0) {
        let a = lum[row + a0 - 2], b = lum[row + a0 - 1], c = lum[row + a0], d = lum[row + a0 + 1];
        for (let i = row + a0, end = row + a1; i < end; i++) {
          const e = lum[i + 2];
          tmp[i] = (a + 4 * b + 6 * c + 4 * d + e) * 0.0625;
          a = b; b = c; c = d; d = e;
        }
      }
      for (let x = x0; x < x1; x++) {
        if (x >= a0 && x < a1) {
          x = a1 - 1;
          continue;
        }
        const a = lum[row + (x > 1 ? x - 2 : 0)];
        const b = lum[row + (x > 0 ? x - 1 : 0)];
        const c = lum[row + x];
        const d = lum[row + (x + 1 < width ? x + 1 : width - 1)];
        const e = lum[row + (x + 2 < width ? x + 2 : width - 1)];
        tmp[row + x] = (a + 4 * b + 6 * c + 4 * d + e) * 0.0625;
      }
    }
  }
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const r0 = (y > 1 ? y - 2 : 0) * width;
    const r1 = (y > 0 ? y - 1 : 0) * width;
    const r2 = y * width;
    const r3 = (y + 1 < height ? y + 1 : height - 1) * width;
    const r4 = (y + 2 < height ? y + 2 : height - 1) * width;
    for (let s = 0; s < spans.length; s += 2) {
      for (let x = spans[s], x1 = spans[s + 1]; x < x1; x++) out[r2 + x] = (tmp[r0 + x] + 4 * tmp[r1 + x] + 6 * tmp[r2 + x] + 4 * tmp[r3 + x] + tmp[r4 + x]) * 0.0625;
    }
  }
  return out;
}

type Spans = ComputeSpans;

/** Sobel gradient (gx, gy and gx² + gy², float32) of the blurred luminance, on the spans given. */
function lumaGradient(rgb: Uint8Array, width: number, height: number, computed: Spans, gxs: Float32Array, gys: Float32Array, mag2: Float32Array): void {
  const lum = blurredLuminance(rgb, width, height, computed);
  for (let y = 1; y < height - 1; y++) {
    const spans = computed.spans[Math.floor(y / computed.tileSize)];
    for (let s = 0; s < spans.length; s += 2) {
      const x0 = Math.max(1, spans[s]);
      const x1 = Math.min(width - 1, spans[s + 1]);
      if (x1 <= x0) continue;
      // The 3x3 window slides along the row: each step loads only its new right-hand column.
      let i = y * width + x0;
      let a = lum[i - width - 1], b = lum[i - width];
      let d = lum[i - 1], e = lum[i];
      let g = lum[i + width - 1], h = lum[i + width];
      for (let x = x0; x < x1; x++, i++) {
        const c = lum[i - width + 1];
        const f = lum[i + 1];
        const k = lum[i + width + 1];
        const gx = c + 2 * f + k - a - 2 * d - g;
        const gy = g + 2 * h + k - a - 2 * b - c;
        gxs[i] = gx;
        gys[i] = gy;
        mag2[i] = gx * gx + gy * gy;
        a = b; b = c;
        d = e; e = f;
        g = h; h = k;
      }
    }
  }
}

/**
 * Per pixel, the Sobel gradient of whichever of R, G and B has the strongest one after the
 * [1 4 6 4 1] / 16 blur (ties: R, then G), on the spans given. The three channels are blurred
 * together, interleaved as they are stored, in integers: the horizontal pass sums to at most
 * 16 x 255 and the vertical to 256 x 255, so both fit 16 bits, and every value is exactly 256
 * times what the float32 blur of one channel gives. gx and gy are stored divided by 256 and the
 * squared magnitude by 65536 (powers of two, so exact), and channels are compared as the
 * channel-by-channel float32 version compared them: the results are that version's, bit for bit.
 */
// The three passes are separate functions, not one: V8 optimises each loop on its own, and one
// function holding all three was compiled again and again (on-stack replacement per loop, then
// the whole), at up to 230 ms of compile time a compile, more than a pair's registration.
function strongestChannelGradient(rgb: Uint8Array, width: number, height: number, computed: Spans, gxs: Float32Array, gys: Float32Array, mag2: Float32Array): void {
  const n3 = 3 * width * height;
  const across = scratchBuffer('blurAcross', n3, u16);
  const both = scratchBuffer('blurBoth', n3, u16);
  blurRowsRgb(rgb, width, height, computed, across);
  blurColumnsRgb(across, width, height, computed, both);
  sobelStrongestChannel(both, width, height, computed, gxs, gys, mag2);
}

/** [1 4 6 4 1] along rows of interleaved RGB (x 16), inside the computed spans. */
function blurRowsRgb(rgb: Uint8Array, width: number, height: number, computed: Spans, across: Uint16Array): void {
  const { tileSize, spans: spanRows } = computed;
  // Along rows: interior pixels in one flat run over the interleaved samples (neighbours 3 apart),
  // the two pixels at each side with clamping.
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const row = y * width;
    for (let s = 0; s < spans.length; s += 2) {
      const x0 = spans[s];
      const x1 = spans[s + 1];
      const a0 = Math.max(x0, 2);
      const a1 = Math.min(x1, width - 2);
      for (let j = 3 * (row + a0), end = 3 * (row + a1); j < end; j++) across[j] = rgb[j - 6] + 4 * (rgb[j - 3] + rgb[j + 3]) + 6 * rgb[j] + rgb[j + 6];
      for (let x = x0; x < x1; x++) {
        if (x >= a0 && x < a1) {
          x = a1 - 1;
          continue;
        }
        const pa = 3 * (row + (x > 1 ? x - 2 : 0));
        const pb = 3 * (row + (x > 0 ? x - 1 : 0));
        const pc = 3 * (row + x);
        const pd = 3 * (row + (x + 1 < width ? x + 1 : width - 1));
        const pe = 3 * (row + (x + 2 < width ? x + 2 : width - 1));
        for (let c = 0; c < 3; c++) across[pc + c] = rgb[pa + c] + 4 * (rgb[pb + c] + rgb[pd + c]) + 6 * rgb[pc + c] + rgb[pe + c];
      }
    }
  }
}

/** [1 4 6 4 1] down columns (x 16 again), rows clamped at the top and bottom. */
function blurColumnsRgb(across: Uint16Array, width: number, height: number, computed: Spans, both: Uint16Array): void {
  const { tileSize, spans: spanRows } = computed;
  const w3 = 3 * width;
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const o0 = ((y > 1 ? y - 2 : 0) - y) * w3;
    const o1 = ((y > 0 ? y - 1 : 0) - y) * w3;
    const o3 = ((y + 1 < height ? y + 1 : height - 1) - y) * w3;
    const o4 = ((y + 2 < height ? y + 2 : height - 1) - y) * w3;
    for (let s = 0; s < spans.length; s += 2) {
      for (let j = 3 * (y * width + spans[s]), end = 3 * (y * width + spans[s + 1]); j < end; j++) {
        both[j] = across[j + o0] + 4 * (across[j + o1] + across[j + o3]) + 6 * across[j] + across[j + o4];
      }
    }
  }
}

/** Sobel of each of R, G and B; per pixel the gradient of the channel with the largest magnitude. */
function sobelStrongestChannel(both: Uint16Array, width: number, height: number, computed: Spans, gxs: Float32Array, gys: Float32Array, mag2: Float32Array): void {
  const { tileSize, spans: spanRows } = computed;
  const w3 = 3 * width;
  // Sobel, separably: per column the vertical smoothing [1 2 1] (sv) and difference [-1 0 1]
  // (dv); gx is sv's difference across the pixel and gy dv's smoothing. The window slides along
  // the row, so each step loads only the new right-hand column of each channel.
  const SCALE = 1 / 256;
  const SCALE2 = 1 / 65536;
  for (let y = 1; y < height - 1; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    for (let s = 0; s < spans.length; s += 2) {
      const x0 = Math.max(1, spans[s]);
      const x1 = Math.min(width - 1, spans[s + 1]);
      if (x1 <= x0) continue;
      let i = y * width + x0;
      let j = 3 * (i - 1);
      // Columns x - 1 and x of each channel.
      let svR0 = both[j - w3] + 2 * both[j] + both[j + w3], dvR0 = both[j + w3] - both[j - w3];
      let svG0 = both[j + 1 - w3] + 2 * both[j + 1] + both[j + 1 + w3], dvG0 = both[j + 1 + w3] - both[j + 1 - w3];
      let svB0 = both[j + 2 - w3] + 2 * both[j + 2] + both[j + 2 + w3], dvB0 = both[j + 2 + w3] - both[j + 2 - w3];
      j += 3;
      let svR1 = both[j - w3] + 2 * both[j] + both[j + w3], dvR1 = both[j + w3] - both[j - w3];
      let svG1 = both[j + 1 - w3] + 2 * both[j + 1] + both[j + 1 + w3], dvG1 = both[j + 1 + w3] - both[j + 1 - w3];
      let svB1 = both[j + 2 - w3] + 2 * both[j + 2] + both[j + 2 + w3], dvB1 = both[j + 2 + w3] - both[j + 2 - w3];
      for (let x = x0; x < x1; x++, i++) {
        j += 3;
        const svR2 = both[j - w3] + 2 * both[j] + both[j + w3], dvR2 = both[j + w3] - both[j - w3];
        const svG2 = both[j + 1 - w3] + 2 * both[j + 1] + both[j + 1 + w3], dvG2 = both[j + 1 + w3] - both[j + 1 - w3];
        const svB2 = both[j + 2 - w3] + 2 * both[j + 2] + both[j + 2 + w3], dvB2 = both[j + 2 + w3] - both[j + 2 - w3];
        let gx = svR2 - svR0;
        let gy = dvR0 + 2 * dvR1 + dvR2;
        let best = Math.fround((gx * gx + gy * gy) * SCALE2);
        const gxG = svG2 - svG0;
        const gyG = dvG0 + 2 * dvG1 + dvG2;
        const mG = (gxG * gxG + gyG * gyG) * SCALE2;
        if (mG > best) {
          best = Math.fround(mG);
          gx = gxG;
          gy = gyG;
        }
        const gxB = svB2 - svB0;
        const gyB = dvB0 + 2 * dvB1 + dvB2;
        const mB = (gxB * gxB + gyB * gyB) * SCALE2;
        if (mB > best) {
          best = mB;
          gx = gxB;
          gy = gyB;
        }
        gxs[i] = gx * SCALE;
        gys[i] = gy * SCALE;
        mag2[i] = best;
        svR0 = svR1; svR1 = svR2; dvR0 = dvR1; dvR1 = dvR2;
        svG0 = svG1; svG1 = svG2; dvG0 = dvG1; dvG1 = dvG2;
        svB0 = svB1; svB1 = svB2; dvB0 = dvB1; dvB1 = dvB2;
      }
    }
  }
}

export interface ColourEdgeOptions {
  /** Sobel magnitude (after the blur) that starts an edge; a 255-level step scores about 640. Default 40. */
  highThreshold?: number;
  /** Sobel magnitude an edge pixel connected to a strong one needs. Default 0.4 x high. */
  lowThreshold?: number;
  /** 'luma' (default): edges of the luminance; 'rgb': of the strongest of R, G and B per pixel. */
  channels?: 'luma' | 'rgb';
  /**
   * The returned `edges`, `orientation` and `bins` are per-thread buffers that the next call
   * overwrites, `orientation` and `bins` meaningful at edge pixels only (for a caller that is done
   * with them before then and reads them there, like registration: three frame-sized arrays less
   * to allocate and collect per frame; `pixels` stays the caller's).
   */
  scratch?: boolean;
  /**
   * The strongest-channel gradient by the WebAssembly SIMD kernel ('simd', the default where it
   * runs) or in JavaScript ('js'); both give the same edges (for tests and measurements).
   */
  kernels?: 'simd' | 'js';
}

/**
 * Canny edges of the luminance of interleaved RGB: blur, Sobel, non-maximum suppression along
 * the gradient (quantised to 0/45/90/135 degrees), hysteresis with 8-connectivity.
 */
export function colourEdges(rgb: Uint8Array, width: number, height: number, options: ColourEdgeOptions = {}, region?: EdgeRegion): ColourEdgeMap {
  const high = options.highThreshold ?? 40;
  const low = options.lowThreshold ?? 0.4 * high;
  const computed = rowSpans(width, height, region, 'compute');
  const needed = rowSpans(width, height, region, 'need');
  const n = width * height;
  // Luminance, or per pixel the strongest of the R, G and B gradients (an outline between two
  // colours of about the same luminance has an edge only in colour).
  const kernels = options.channels === 'rgb' && options.kernels !== 'js' ? simdKernels() : null;
  if (kernels) {
    const { gx, gy, mag2 } = kernels.strongestChannelGradient(rgb, width, height, computed);
    const { orientation, strong } = kernels.suppressAndGrow(width, height, needed, low * low, high * high);
    return markSubPixelEdges(width, height, mag2, gx, gy, orientation, strong, options.scratch === true);
  }
  const mag2 = scratchBuffer('mag2', n, f32);
  const gxs = scratchBuffer('gx', n, f32);
  const gys = scratchBuffer('gy', n, f32);
  if (options.channels === 'rgb') strongestChannelGradient(rgb, width, height, computed, gxs, gys, mag2);
  else lumaGradient(rgb, width, height, computed, gxs, gys, mag2);
  // 2 = strong, 1 = weak candidate (a ridge pixel between the thresholds).
  const state = scratchBuffer('state', n, (k) => new Uint8Array(k)).fill(0);
  // Set on every pixel that suppression keeps, and read only there.
  const orientation = scratchBuffer('orientation', n, (k) => new Uint8Array(k));
  // Strong pixels, in the order found; hysteresis appends the weak ones it reaches.
  const strong = strongPixels.reset();
  // Suppression, hysteresis and marking are separate functions so that V8 compiles each loop
  // once, on its own, instead of recompiling one large function per loop it reaches.
  suppressNonMaxima(width, height, needed, mag2, gxs, gys, low * low, high * high, state, orientation, strong);
  growHysteresis(width, state, strong);
  return markSubPixelEdges(width, height, mag2, gxs, gys, orientation, strong, options.scratch === true);
}

/** Non-maximum suppression along the quantised gradient: ridge pixels get state 2 (strong, listed) or 1 (weak). */
function suppressNonMaxima(width: number, height: number, needed: Spans, mag2: Float32Array, gxs: Float32Array, gys: Float32Array, low2: number, high2: number, state: Uint8Array, orientation: Uint8Array, strong: PixelList): void {
  const tan22 = 0.41421356;
  for (let y = 1; y < height - 1; y++) {
    const spans = needed.spans[Math.floor(y / needed.tileSize)];
    for (let s = 0; s < spans.length; s += 2) {
      const x1 = Math.min(width - 1, spans[s + 1]);
      for (let x = Math.max(1, spans[s]), i = y * width + x; x < x1; x++, i++) {
        const m = mag2[i];
        if (m < low2) continue;
        const ax = Math.abs(gxs[i]);
        const ay = Math.abs(gys[i]);
        let step: number;
        if (ay <= ax * tan22) step = 1;
        else if (ax <= ay * tan22) step = width;
        else step = gxs[i] * gys[i] > 0 ? width + 1 : width - 1;
        // >= on one side and > on the other keeps exactly one pixel of a symmetric two-pixel ridge.
        if (!(m >= mag2[i - step] && m > mag2[i + step])) continue;
        // Orientation bins overlap (up to about 63 degrees either way), so diagonals carry both.
        orientation[i] = (ax >= 0.5 * ay ? ORIENT_ACROSS_X : 0) | (ay >= 0.5 * ax ? ORIENT_ACROSS_Y : 0);
        if (m >= high2) {
          state[i] = 2;
          strong.push(i);
        } else state[i] = 1;
      }
    }
  }
}

/** Hysteresis with 8-connectivity: weak pixels touching a strong one become strong, appended to the list. */
function growHysteresis(width: number, state: Uint8Array, strong: PixelList): void {
  const around = Int32Array.of(-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1);
  for (let q = 0; q < strong.length; q++) {
    const i = strong.data[q];
    for (let o = 0; o < 8; o++) {
      const j = i + around[o];
      if (state[j] === 1) {
        state[j] = 2;
        strong.push(j);
      }
    }
  }
  // Each edge is marked on the pixel just past its sub-pixel position along the dominant
  // gradient axis (the peak of a parabola through the magnitudes either side), the convention
  // occlusionEdges uses too: a step between pixels x and x + 1 is marked at x + 1 whichever of
  // the two won the suppression, so colour and depth edges agree to well under a pixel.
}

function markSubPixelEdges(width: number, height: number, mag2: Float32Array, gxs: Float32Array, gys: Float32Array, orientation: Uint8Array, strong: { data: Int32Array; length: number }, scratch: boolean): ColourEdgeMap {
  const n = width * height;
  const edges = scratch ? clearedFlags('colourEdges', n) : new Uint8Array(n);
  // Scratch buffers are not cleared: a pixel's entries are set when it first becomes an edge.
  const marked = scratch ? scratchBuffer('markedOrientation', n, (k) => new Uint8Array(k)) : new Uint8Array(n);
  const bins = scratch ? scratchBuffer('markedBins', n, (k) => new Uint8Array(k)) : new Uint8Array(n);
  const pixels = colourPixels.reset();
  for (let q = 0; q < strong.length; q++) {
    const i = strong.data[q];
    const s = Math.abs(gxs[i]) >= Math.abs(gys[i]) ? 1 : width;
    const m0 = Math.sqrt(mag2[i - s]);
    const m1 = Math.sqrt(mag2[i]);
    const m2 = Math.sqrt(mag2[i + s]);
    const curvature = m0 - 2 * m1 + m2;
    const offset = curvature < 0 ? (m0 - m2) / (2 * curvature) : 0;
    const k = offset > 0 ? i + s : i;
    const mask = binMask(Math.atan2(gys[i], gxs[i]));
    if (!edges[k]) {
      edges[k] = 1;
      marked[k] = orientation[i];
      bins[k] = mask;
      pixels.push(k);
    } else {
      marked[k] |= orientation[i];
      bins[k] |= mask;
    }
  }
  const list = pixels.copy();
  if (scratch) flagsSet.set('colourEdges', list.slice()); // a copy: the caller may transfer `pixels` away
  return { width, height, edges, count: list.length, orientation: marked, bins, pixels: list };
}

/** The bins within one bin width of a gradient direction (radians): the two it lies between. */
function binMask(angle: number): number {
  let t = (angle / Math.PI) * ORIENT_BINS;
  t -= ORIENT_BINS * Math.floor(t / ORIENT_BINS);
  const lo = Math.floor(t);
  let mask = (1 << (lo % ORIENT_BINS)) | (1 << ((lo + 1) % ORIENT_BINS));
  if (t - lo < 1e-6) mask |= 1 << ((lo + ORIENT_BINS - 1) % ORIENT_BINS);
  return mask;
}

/**
 * The bin of the normal of the depth edge line through pixel (x, y), from the principal axis of
 * the depth edge pixels within `radius` (Chebyshev); -1 where they do not form a line (fewer
 * than 3, or spread about as much across as along: a corner, a blob).
 */
export function depthEdgeNormalBin(edges: Uint8Array, width: number, height: number, x: number, y: number, radius = 3): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  const y0 = Math.max(0, y - radius);
  const y1 = Math.min(height - 1, y + radius);
  const x0 = Math.max(0, x - radius);
  const x1 = Math.min(width - 1, x + radius);
  for (let yy = y0; yy <= y1; yy++) {
    for (let xx = x0, i = yy * width + x0; xx <= x1; xx++, i++) {
      if (!edges[i]) continue;
      const dx = xx - x;
      const dy = yy - y;
      n++;
      sx += dx;
      sy += dy;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  }
  if (n < 3) return -1;
  const mx = sx / n;
  const my = sy / n;
  const cxx = sxx / n - mx * mx;
  const cyy = syy / n - my * my;
  const cxy = sxy / n - mx * my;
  const half = (cxx - cyy) / 2;
  const root = Math.sqrt(half * half + cxy * cxy);
  const l1 = (cxx + cyy) / 2 + root;
  const l2 = (cxx + cyy) / 2 - root;
  if (l1 <= 0 || l2 > 0.3 * l1) return -1;
  // The line runs at 0.5 atan2(2 cxy, cxx - cyy); its normal a quarter turn on.
  return orientationBin(0.5 * Math.atan2(2 * cxy, cxx - cyy) + Math.PI / 2);
}

export interface OcclusionEdgeOptions {
  /** Smallest jump, relative to the nearer inverse depth (0.04: about a 4 % step in depth). Default 0.04. */
  relativeJump?: number;
  /** The jump must exceed this many times the inverse-depth gradient on each side. Default 3. */
  gradientRatio?: number;
  /** The jump must exceed this many standard deviations of the frame's inverse-depth noise. Default 8. */
  noiseSigmas?: number;
  /**
   * The returned `edges`, `orientation` and `strength` are per-thread buffers that the next call
   * overwrites, `orientation` and `strength` meaningful at edge pixels only (for a caller done
   * with them by then that reads them there, like registration; `pixels` stays the caller's).
   */
  scratch?: boolean;
  /** By the WebAssembly kernel ('simd', the default where it runs) or in JavaScript ('js'): the same edges. */
  kernels?: 'simd' | 'js';
}

/**
 * Occlusion boundaries of a depth map (0 = missing), marked on the second pixel (right or
 * below) of each jumping pair, as the colour edges are. See the header comment.
 */
export function occlusionEdges(depth: Uint16Array, width: number, height: number, options: OcclusionEdgeOptions = {}): DepthEdgeMap {
  const relativeJump = options.relativeJump ?? 0.04;
  const ratio = options.gradientRatio ?? 3;
  const n = width * height;
  const noiseFloor = (options.noiseSigmas ?? 8) * inverseDepthNoise(depth, width, height);
  // The integer pre-test's threshold and shift (explained at the loop below).
  const quick = relativeJump >= 1e-3 ? 0.9 * relativeJump : 0;
  const shift = quick >= 2 ** -15 ? Math.ceil(-Math.log2(quick)) : 31;
  const kernels = options.kernels !== 'js' ? simdKernels() : null;
  if (kernels) {
    const found = kernels.occlusionEdges(depth, width, height, { relativeJump, gradientRatio: ratio, noiseFloor, quick, shift });
    const list = found.pixels.sort();
    if (options.scratch) return { width, height, edges: found.edges, count: list.length, orientation: found.orientation, strength: found.strength, pixels: list };
    // Arrays of the caller's own, 0 away from the edges as below.
    const edges = new Uint8Array(n);
    const orientation = new Uint8Array(n);
    const strength = new Float32Array(n);
    for (const k of list) {
      edges[k] = 1;
      orientation[k] = found.orientation[k];
      strength[k] = found.strength[k];
    }
    return { width, height, edges, count: list.length, orientation, strength, pixels: list.slice() };
  }
  const edges = options.scratch ? clearedFlags('depthEdges', n) : new Uint8Array(n);
  // Scratch buffers are not cleared: a pixel's entries are set when it first becomes an edge, and
  // only edge pixels' entries are meaningful.
  const orientation = options.scratch ? scratchBuffer('depthOrientation', n, (k) => new Uint8Array(k)) : new Uint8Array(n);
  const strength = options.scratch ? scratchBuffer('depthStrength', n, f32) : new Float32Array(n);
  const pixels = depthPixels.reset();
  // Most neighbour pairs differ by far less than relativeJump. The relative inverse-depth jump
  // of raw depths lo < hi is (hi - lo) / hi exactly, and the float32 test below differs from it
  // by under 1e-6; so a pair whose raw jump is below 0.9 x relativeJump can fail only, and is
  // skipped on integers, without computing any inverse depth. Every other pair is judged by
  // the exact test on float32 inverse depths (fround(1 / d), as a stored Float32Array holds).
  // Neighbours (i, i + step), with i - step and i + 2 step giving the gradient on each side
  // when they are valid and inside the frame.
  //  - A slope changes as fast on both sides as across the pair; the smaller side gradient is
  //    the test, so that a one-pixel-wide pole (a jump on each side) still counts.
  //  - The boundary lies between the two pixels; the colour detector marks a step between x and
  //    x + 1 at x + 1 (see colourEdges), so the depth edge is marked there too (marking the
  //    nearer pixel would put edges half a pixel to one side or the other).
  const judge = (i: number, da: number, db: number, step: number, hasBefore: boolean, hasAfter: boolean, bit: number) => {
    const a = inverse(da);
    const b = inverse(db);
    const jump = a > b ? a - b : b - a;
    const near = a > b ? a : b;
    if (jump <= relativeJump * near || jump <= noiseFloor) return;
    const before = hasBefore ? inverse(depth[i - step]) : 0;
    const after = hasAfter ? inverse(depth[i + 2 * step]) : 0;
    const gBefore = before === 0 ? 0 : Math.abs(a - before);
    const gAfter = after === 0 ? 0 : Math.abs(after - b);
    if (jump <= ratio * Math.min(gBefore, gAfter)) return;
    const k = i + step;
    if (!edges[k]) {
      edges[k] = 1;
      orientation[k] = bit;
      strength[k] = jump / near;
      pixels.push(k);
      return;
    }
    orientation[k] |= bit;
    if (jump / near > strength[k]) strength[k] = jump / near;
  };
  // One pass over the pixels judges each pixel's pair to the right and the pair below. The
  // quick test rejects most pairs on integers: with lo < hi it needs hi - lo < quick * hi, which
  // is diff < quick * da and -diff < quick * db whichever of the two is larger.
  // Before even that, an integer test skips the pairs whose difference is below da / 2^shift,
  // with 2^-shift <= quick: then hi - lo < lo / 2^shift <= hi / 2^shift <= quick x hi whichever of
  // the two da is, so the pair fails. |diff| < q is one unsigned comparison, (diff + q) >>> 0 < 2q.
  // The last column has no right-hand pair and the last row no pair below: the inner loop runs
  // to width - 1 and the last column is judged after it, so the loop tests no bounds.
  for (let y = 0; y < height; y++) {
    const hasBelow = y + 1 < height;
    const row = y * width;
    for (let x = 0, i = row; x + 1 < width; x++, i++) {
      const da = depth[i];
      if (da === 0) continue;
      const q = da >> shift;
      const dr = depth[i + 1];
      const diffR = da - dr;
      if ((diffR + q) >>> 0 >= 2 * q && dr !== 0 && !(diffR < quick * da && -diffR < quick * dr)) judge(i, da, dr, 1, x >= 1, x + 2 < width, ORIENT_ACROSS_X);
      if (!hasBelow) continue;
      const db = depth[i + width];
      const diffB = da - db;
      if ((diffB + q) >>> 0 >= 2 * q && db !== 0 && !(diffB < quick * da && -diffB < quick * db)) judge(i, da, db, width, y >= 1, y + 2 < height, ORIENT_ACROSS_Y);
    }
    const i = row + width - 1;
    const da = depth[i];
    if (!hasBelow || da === 0) continue;
    const db = depth[i + width];
    const diffB = da - db;
    if (db !== 0 && !(diffB < quick * da && -diffB < quick * db)) judge(i, da, db, width, y >= 1, y + 2 < height, ORIENT_ACROSS_Y);
  }
  const list = pixels.copy().sort();
  if (options.scratch) flagsSet.set('depthEdges', list.slice()); // a copy: the caller may transfer `pixels` away
  return { width, height, edges, count: list.length, orientation, strength, pixels: list };
}

/** Inverse depth as float32 (0 for a missing measurement). */
function inverse(d: number): number {
  return d === 0 ? 0 : Math.fround(1 / d);
}

/**
 * Standard deviation of the inverse-depth noise, from the median absolute second difference
 * along rows (zero on any plane, so slopes do not count as noise; occlusions are too rare to
 * move the median).
 */
function inverseDepthNoise(depth: Uint16Array, width: number, height: number): number {
  // At most ~4096 samples, spread over the frame: the median needs no more.
  const rowStep = Math.max(1, Math.floor(height / 32));
  const colStep = Math.max(1, Math.floor(width / 128));
  const diffs = new Float32Array(Math.ceil(height / rowStep) * Math.ceil(width / colStep));
  let n = 0;
  for (let y = 0; y < height; y += rowStep) {
    const row = y * width;
    for (let x = 1; x + 1 < width; x += colStep) {
      const a = inverse(depth[row + x - 1]);
      const b = inverse(depth[row + x]);
      const c = inverse(depth[row + x + 1]);
      if (a === 0 || b === 0 || c === 0) continue;
      diffs[n++] = Math.abs(a - 2 * b + c);
    }
  }
  if (n === 0) return 0;
  // For Gaussian noise, a - 2b + c has sigma sqrt(6) sigma_w and median |.| 0.6745 of that.
  return kthSmallest(diffs, n, n >> 1) / (0.6745 * Math.sqrt(6));
}

/** The k-th smallest (0-based) of a[0..n), as a full sort would put at k; reorders a. Quickselect. */
function kthSmallest(a: Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/**
 * min(distance to the nearest edge pixel, cap) for every pixel (with `only`, the nearest edge
 * pixel whose orientation has that bit): what a chamfer cost truncated at `cap` needs. Equals
 * Math.min(distanceTransform(map)[i], cap) exactly (see cappedDistanceCodes).
 */
export function cappedDistanceTransform(map: EdgeMap, cap: number, only?: { orientation: Uint8Array; bit: number }): Float32Array {
  const { width, height, edges } = map;
  const list: number[] = [];
  for (let i = 0; i < edges.length; i++) if (edges[i] && (!only || only.orientation[i] & only.bit)) list.push(i);
  const pixels = Int32Array.from(list);
  const { codes, distance } = cappedDistanceCodes(width, height, pixels, new Uint16Array(pixels.length).fill(1), 1, cap);
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = distance[codes[i]];
  return out;
}

/** The code of "cap or farther" in DistanceCodes. */
export const FAR_CODE = 255;

export interface DistanceCodes {
  /** Selections per pixel: codes[i * slots + s] is pixel i's code for selection s. */
  slots: number;
  /** Squared distance to the nearest edge pixel of the selection (an integer below cap²), or FAR_CODE. */
  codes: Uint8Array;
  /**
   * The distance each code stands for: float32 sqrt of the squared distance (as a float32
   * distance map holds it), and cap for FAR_CODE. Codes order as distances do, so the nearer of
   * two codes is the smaller.
   */
  distance: Float64Array;
}

/**
 * min(distance to the nearest edge pixel of a selection, cap) for every pixel, for several
 * selections of edge pixels at once: `pixels` lists the edge pixels and bit s of
 * `selections[q]` says whether pixels[q] belongs to selection s (at most 16). Built by stamping
 * a disc of radius cap around each edge pixel, which costs far less than a full transform when
 * edges are sparse. Codes are one byte and interleaved per pixel, so that the selections of a
 * pixel share a cache line and the whole is a quarter of float32 maps.
 * With `region`, only its `need` tiles are filled and exact (elsewhere codes are stale, left
 * from an earlier frame, and must not be read), and the array is a per-thread buffer that the
 * next call with a region overwrites. cap must lie in (0, 15].
 */
export function cappedDistanceCodes(width: number, height: number, pixels: Int32Array, selections: Uint16Array, slots: number, cap: number, region?: EdgeRegion, kernels: 'simd' | 'js' = 'simd'): DistanceCodes {
  if (!(cap > 0 && cap <= 15)) throw new RangeError(`distance cap must lie in (0, 15], got ${cap}`);
  if (!Number.isInteger(slots) || slots < 1 || slots > 16) throw new RangeError(`selections per pixel must be 1 to 16, got ${slots}`);
  const n = width * height;
  const reach = Math.ceil(cap);
  const dxs: number[] = [];
  const dys: number[] = [];
  const d2s: number[] = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) {
      // The same test a float32 distance map would make.
      if (Math.fround(Math.sqrt(dx * dx + dy * dy)) < cap) {
        dxs.push(dx);
        dys.push(dy);
        d2s.push(dx * dx + dy * dy);
      }
    }
  }
  const distance = new Float64Array(FAR_CODE + 1).fill(cap);
  for (const d2 of d2s) distance[d2] = Math.fround(Math.sqrt(d2));
  const offX = Int32Array.from(dxs);
  const offY = Int32Array.from(dys);
  const offD = Uint8Array.from(d2s);
  // Offsets in the interleaved array, for edge pixels whose disc lies inside the frame.
  const offI = Int32Array.from(dxs.map((dx, k) => (dys[k] * width + dx) * slots));
  const simd = kernels === 'simd' ? simdKernels() : null;
  if (simd) {
    const stamped = simd.distanceCodes(width, height, pixels, selections, slots, { offX, offY, offD, offI, reach }, region ? rowSpans(width, height, region, 'need') : null);
    return { slots, codes: region ? stamped : stamped.slice(), distance };
  }
  const codes = region ? scratchBuffer('distanceCodes', n * slots, (k) => new Uint8Array(k)) : new Uint8Array(n * slots);
  if (region) {
    const { tileSize, spans: spanRows } = rowSpans(width, height, region, 'need');
    for (let y = 0; y < height; y++) {
      const spans = spanRows[Math.floor(y / tileSize)];
      for (let s = 0; s < spans.length; s += 2) codes.fill(FAR_CODE, (y * width + spans[s]) * slots, (y * width + spans[s + 1]) * slots);
    }
  } else codes.fill(FAR_CODE);
  // The stamping loop is a function of its own: V8 compiles it once instead of recompiling the
  // whole of this function for each of its loops.
  stampDistanceDiscs(width, height, pixels, selections, slots, reach, offX, offY, offD, offI, codes);
  return { slots, codes, distance };
}

/** Per edge pixel and selected slot, the smallest squared distance code over its disc of offsets. */
function stampDistanceDiscs(width: number, height: number, pixels: Int32Array, selections: Uint16Array, slots: number, reach: number, offX: Int32Array, offY: Int32Array, offD: Uint8Array, offI: Int32Array, codes: Uint8Array): void {
  const m = offD.length;
  for (let q = 0; q < pixels.length; q++) {
    const i = pixels[q];
    const y = Math.floor(i / width);
    const x = i - y * width;
    const inside = x >= reach && y >= reach && x + reach < width && y + reach < height;
    for (let bits = selections[q]; bits !== 0; bits &= bits - 1) {
      const slot = 31 - Math.clz32(bits & -bits);
      const at = i * slots + slot;
      if (inside) {
        for (let k = 0; k < m; k++) {
          const t = at + offI[k];
          if (offD[k] < codes[t]) codes[t] = offD[k];
        }
        continue;
      }
      for (let k = 0; k < m; k++) {
        const tx = x + offX[k];
        const ty = y + offY[k];
        if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
        const t = (ty * width + tx) * slots + slot;
        if (offD[k] < codes[t]) codes[t] = offD[k];
      }
    }
  }
}

/**
 * Exact Euclidean distance from every pixel to the nearest edge pixel (Felzenszwalb and
 * Huttenlocher's two-pass lower-envelope algorithm, O(width * height)). With no edges at all
 * every distance is Infinity.
 */
export function distanceTransform(map: EdgeMap): Float32Array {
  const { width, height, edges } = map;
  const INF = 1e20;
  const sq = new Float64Array(width * height);
  for (let i = 0; i < sq.length; i++) sq[i] = edges[i] ? 0 : INF;
  const n = Math.max(width, height);
  const f = new Float64Array(n);
  const d = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = sq[y * width + x];
    edt1d(f, height, d, v, z);
    for (let y = 0; y < height; y++) sq[y * width + x] = d[y];
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) f[x] = sq[row + x];
    edt1d(f, width, d, v, z);
    for (let x = 0; x < width; x++) sq[row + x] = d[x];
  }
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = sq[i] >= INF / 2 ? Infinity : Math.sqrt(sq[i]);
  return out;
}

/** Squared-distance transform of a sampled 1-D function (lower envelope of parabolas). */
function edt1d(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    const dq = q - v[k];
    d[q] = dq * dq + f[v[k]];
  }
}
