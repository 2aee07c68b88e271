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
}

export interface DepthEdgeMap extends OrientedEdgeMap {
  /** Per edge pixel, the jump relative to the nearer inverse depth (0 elsewhere). */
  strength: Float32Array;
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
const scratch = new Map<string, Float32Array | Uint8Array>();
function scratchBuffer<T extends Float32Array | Uint8Array>(name: string, n: number, make: (n: number) => T): T {
  let a = scratch.get(name) as T | undefined;
  if (!a || a.length !== n) {
    a = make(n);
    scratch.set(name, a);
  }
  return a;
}
const f32 = (n: number) => new Float32Array(n);

/**
 * Where colour edges are wanted: a frame divided into square tiles, of which `need` marks those
 * whose edges are used and `compute` those whose gradients are computed (`need` grown by one
 * tile, so that every stage's value on a needed pixel is exact: the blur, Sobel, suppression and
 * sub-pixel marking together read at most 7 px around it). Registration asks only for the band
 * that depth edges can reach within the search radius; most of a textured frame lies outside it.
 */
export interface EdgeRegion {
  tileSize: number;
  cols: number;
  rows: number;
  need: Uint8Array;
  compute: Uint8Array;
}

/** Tiles within Chebyshev `radius` of any of the points (x, y at stride `stride` in `xy`). */
export function edgeRegionAround(xy: Int32Array, stride: number, width: number, height: number, radius: number, tileSize = 16): EdgeRegion {
  const cols = Math.ceil(width / tileSize);
  const rows = Math.ceil(height / tileSize);
  const need = new Uint8Array(cols * rows);
  for (let k = 0; k + 1 < xy.length; k += stride) {
    const x = xy[k];
    const y = xy[k + 1];
    const tx0 = Math.max(0, Math.floor((x - radius) / tileSize));
    const tx1 = Math.min(cols - 1, Math.floor((x + radius) / tileSize));
    const ty0 = Math.max(0, Math.floor((y - radius) / tileSize));
    const ty1 = Math.min(rows - 1, Math.floor((y + radius) / tileSize));
    for (let ty = ty0; ty <= ty1; ty++) need.fill(1, ty * cols + tx0, ty * cols + tx1 + 1);
  }
  const compute = new Uint8Array(cols * rows);
  for (let ty = 0; ty < rows; ty++) {
    for (let tx = 0; tx < cols; tx++) {
      if (!need[ty * cols + tx]) continue;
      for (let oy = Math.max(0, ty - 1); oy <= Math.min(rows - 1, ty + 1); oy++) compute.fill(1, oy * cols + Math.max(0, tx - 1), oy * cols + Math.min(cols - 1, tx + 1) + 1);
    }
  }
  return { tileSize, cols, rows, need, compute };
}

/**
 * Per row of pixels, the [x0, x1) spans of marked tiles (flattened pairs), one list per tile
 * row; the whole row when there is no region.
 */
function rowSpans(width: number, height: number, region: EdgeRegion | undefined, mask: 'need' | 'compute'): { tileSize: number; spans: Int32Array[] } {
  if (!region) return { tileSize: height, spans: [Int32Array.of(0, width)] };
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
function blurredLuminance(rgb: Uint8Array, width: number, height: number, region: { tileSize: number; spans: Int32Array[] }, channel = -1): Float32Array {
  const n = width * height;
  const lum = scratchBuffer('lum', n, f32);
  const tmp = scratchBuffer('blurTmp', n, f32);
  const out = scratchBuffer('blurOut', n, f32);
  const { tileSize, spans: spanRows } = region;
  for (let y = 0; y < height; y++) {
    const spans = spanRows[Math.floor(y / tileSize)];
    const row = y * width;
    for (let s = 0; s < spans.length; s += 2) {
      if (channel < 0) for (let i = row + spans[s], p = 3 * i, end = row + spans[s + 1]; i < end; i++, p += 3) lum[i] = 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
      else for (let i = row + spans[s], p = 3 * i + channel, end = row + spans[s + 1]; i < end; i++, p += 3) lum[i] = rgb[p];
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

export interface ColourEdgeOptions {
  /** Sobel magnitude (after the blur) that starts an edge; a 255-level step scores about 640. Default 40. */
  highThreshold?: number;
  /** Sobel magnitude an edge pixel connected to a strong one needs. Default 0.4 x high. */
  lowThreshold?: number;
  /** 'luma' (default): edges of the luminance; 'rgb': of the strongest of R, G and B per pixel. */
  channels?: 'luma' | 'rgb';
  /**
   * The returned `orientation` is a per-thread buffer that the next call overwrites (for a caller
   * that is done with it before then, like registration: a frame-sized array less per frame).
   */
  scratchOrientation?: boolean;
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
  const mag2 = scratchBuffer('mag2', n, f32);
  const gxs = scratchBuffer('gx', n, f32);
  const gys = scratchBuffer('gy', n, f32);
  // Luminance, or each of R, G and B keeping per pixel the channel whose gradient is strongest
  // (an outline between two colours of about the same luminance has an edge only in colour).
  const channels = options.channels === 'rgb' ? [0, 1, 2] : [-1];
  for (const channel of channels) {
    const lum = blurredLuminance(rgb, width, height, computed, channel);
    const first = channel <= 0;
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
          const m = gx * gx + gy * gy;
          if (first || m > mag2[i]) {
            gxs[i] = gx;
            gys[i] = gy;
            mag2[i] = m;
          }
          a = b; b = c;
          d = e; e = f;
          g = h; h = k;
        }
      }
    }
  }
  // 2 = strong, 1 = weak candidate (a ridge pixel between the thresholds).
  const state = scratchBuffer('state', n, (k) => new Uint8Array(k)).fill(0);
  const orientation = scratchBuffer('orientation', n, (k) => new Uint8Array(k)).fill(0);
  const tan22 = 0.41421356;
  const low2 = low * low;
  const high2 = high * high;
  const stack: number[] = [];
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
          stack.push(i);
        } else state[i] = 1;
      }
    }
  }
  const around = Int32Array.of(-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1);
  while (stack.length > 0) {
    const i = stack.pop()!;
    for (let o = 0; o < 8; o++) {
      const j = i + around[o];
      if (state[j] === 1) {
        state[j] = 2;
        stack.push(j);
      }
    }
  }
  // Each edge is marked on the pixel just past its sub-pixel position along the dominant
  // gradient axis (the peak of a parabola through the magnitudes either side), the convention
  // occlusionEdges uses too: a step between pixels x and x + 1 is marked at x + 1 whichever of
  // the two won the suppression, so colour and depth edges agree to well under a pixel.
  const edges = new Uint8Array(n);
  const marked = options.scratchOrientation ? scratchBuffer('markedOrientation', n, (k) => new Uint8Array(k)).fill(0) : new Uint8Array(n);
  const bins = options.scratchOrientation ? scratchBuffer('markedBins', n, (k) => new Uint8Array(k)).fill(0) : new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (state[i] !== 2) continue;
    const s = Math.abs(gxs[i]) >= Math.abs(gys[i]) ? 1 : width;
    const m0 = Math.sqrt(mag2[i - s]);
    const m1 = Math.sqrt(mag2[i]);
    const m2 = Math.sqrt(mag2[i + s]);
    const curvature = m0 - 2 * m1 + m2;
    const offset = curvature < 0 ? (m0 - m2) / (2 * curvature) : 0;
    const k = offset > 0 ? i + s : i;
    marked[k] |= orientation[i];
    bins[k] |= binMask(Math.atan2(gys[i], gxs[i]));
    if (!edges[k]) {
      edges[k] = 1;
      count++;
    }
  }
  return { width, height, edges, count, orientation: marked, bins };
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
   * The returned `orientation` and `strength` are per-thread buffers that the next call
   * overwrites (for a caller done with them by then, like registration).
   */
  scratchOrientation?: boolean;
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
  const edges = new Uint8Array(n);
  const orientation = options.scratchOrientation ? scratchBuffer('depthOrientation', n, (k) => new Uint8Array(k)).fill(0) : new Uint8Array(n);
  const strength = options.scratchOrientation ? scratchBuffer('depthStrength', n, f32).fill(0) : new Float32Array(n);
  // Most neighbour pairs differ by far less than relativeJump. The relative inverse-depth jump
  // of raw depths lo < hi is (hi - lo) / hi exactly, and the float32 test below differs from it
  // by under 1e-6; so a pair whose raw jump is below 0.9 x relativeJump can fail only, and is
  // skipped on integers, without computing any inverse depth. Every other pair is judged by
  // the exact test on float32 inverse depths (fround(1 / d), as a stored Float32Array holds).
  const quick = relativeJump >= 1e-3 ? 0.9 * relativeJump : 0;
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
    edges[k] = 1;
    orientation[k] |= bit;
    if (jump / near > strength[k]) strength[k] = jump / near;
  };
  // One pass over the pixels judges each pixel's pair to the right and the pair below. The
  // quick test rejects most pairs on integers: with lo < hi it needs hi - lo < quick * hi, which
  // is diff < quick * da and -diff < quick * db whichever of the two is larger.
  for (let y = 0; y < height; y++) {
    const hasBelow = y + 1 < height;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const da = depth[i];
      if (da === 0) continue;
      const qa = quick * da;
      if (x + 1 < width) {
        const db = depth[i + 1];
        const diff = da - db;
        if (db !== 0 && !(diff < qa && -diff < quick * db)) judge(i, da, db, 1, x >= 1, x + 2 < width, ORIENT_ACROSS_X);
      }
      if (hasBelow) {
        const db = depth[i + width];
        const diff = da - db;
        if (db !== 0 && !(diff < qa && -diff < quick * db)) judge(i, da, db, width, y >= 1, y + 2 < height, ORIENT_ACROSS_Y);
      }
    }
  }
  let count = 0;
  for (let i = 0; i < n; i++) count += edges[i];
  return { width, height, edges, count, orientation, strength };
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
 * pixel whose orientation has that bit): what a chamfer cost truncated at
 * `cap` needs, by stamping a disc of radius `cap` around each edge pixel. Equals
 * Math.min(distanceTransform(map)[i], cap) exactly, and is much cheaper when edges are sparse.
 */
export function cappedDistanceTransform(map: EdgeMap, cap: number, only?: { orientation: Uint8Array; bit: number }, into?: Float32Array): Float32Array {
  return cappedDistanceTransforms(map, cap, [only ?? null], [into])[0];
}

/**
 * Several capped distance transforms of one edge map at once, one per selection (null: every
 * edge pixel; else those whose orientation has the bit), each as cappedDistanceTransform would
 * give it. The frame is scanned for edge pixels once, not once per map.
 */
export function cappedDistanceTransforms(map: EdgeMap, cap: number, selections: ({ orientation: Uint8Array; bit: number } | null)[], into: (Float32Array | undefined)[] = []): Float32Array[] {
  const { width, height, edges } = map;
  const n = width * height;
  let count = 0;
  for (let i = 0; i < n; i++) count += edges[i] ? 1 : 0;
  const pixels = new Int32Array(count);
  for (let i = 0, p = 0; i < n; i++) if (edges[i]) pixels[p++] = i;
  const reach = Math.ceil(cap);
  const dxs: number[] = [];
  const dys: number[] = [];
  const ds: number[] = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) {
      const d = Math.fround(Math.sqrt(dx * dx + dy * dy));
      if (d < cap) {
        dxs.push(dx);
        dys.push(dy);
        ds.push(d);
      }
    }
  }
  const m = ds.length;
  const offX = Int32Array.from(dxs);
  const offY = Int32Array.from(dys);
  const offI = Int32Array.from(dxs.map((dx, k) => dys[k] * width + dx));
  const offD = Float32Array.from(ds);
  return selections.map((only, s) => {
    const orient = only?.orientation;
    const bit = only?.bit ?? 0;
    // `into` (frame-sized) saves allocating a new map per call; it is overwritten entirely.
    const target = into[s];
    const out = (target && target.length === n ? target : new Float32Array(n)).fill(cap);
    for (let p = 0; p < count; p++) {
      const i = pixels[p];
      if (orient && !(orient[i] & bit)) continue;
      const y = Math.floor(i / width);
      const x = i - y * width;
      if (x >= reach && y >= reach && x + reach < width && y + reach < height) {
        for (let k = 0; k < m; k++) {
          const t = i + offI[k];
          if (offD[k] < out[t]) out[t] = offD[k];
        }
        continue;
      }
      for (let k = 0; k < m; k++) {
        const tx = x + offX[k];
        const ty = y + offY[k];
        if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
        const t = ty * width + tx;
        if (offD[k] < out[t]) out[t] = offD[k];
      }
    }
    return out;
  });
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
