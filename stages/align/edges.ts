// Edge maps and their distance transform, the raw material of the RGB-D registration check.
// Colour edges: Sobel on luminance, thinned by non-maximum suppression so that an edge is one
// pixel wide (a thick edge would make the chamfer cost flat within a pixel or two). Depth edges:
// jumps between neighbouring valid depths, marked on the nearer (occluding) side, which is where
// the object's silhouette shows in the colour frame. Missing depth (0) never makes an edge.

export interface EdgeMap {
  width: number;
  height: number;
  /** 1 = edge, row-major. */
  edges: Uint8Array;
  count: number;
}

/** Rec. 601 luma of interleaved 8-bit RGB. */
export function luminance(rgb: Uint8Array, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += 3) out[i] = 0.299 * rgb[p] + 0.587 * rgb[p + 1] + 0.114 * rgb[p + 2];
  return out;
}

/**
 * Thin intensity edges: Sobel gradient magnitude (a unit step of 255 grey levels scores 1020),
 * kept where it reaches `threshold` and is a local maximum across the edge. Squared magnitudes
 * are compared throughout (same order, no square roots).
 */
export function intensityEdges(lum: Float32Array, width: number, height: number, threshold = 60): EdgeMap {
  const mag2 = new Float32Array(width * height);
  const gxs = new Float32Array(width * height);
  const gys = new Float32Array(width * height);
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1, i = y * width + 1; x < width - 1; x++, i++) {
      const a = lum[i - width - 1], b = lum[i - width], c = lum[i - width + 1];
      const d = lum[i - 1], f = lum[i + 1];
      const g = lum[i + width - 1], h = lum[i + width], k = lum[i + width + 1];
      const gx = c + 2 * f + k - a - 2 * d - g;
      const gy = g + 2 * h + k - a - 2 * b - c;
      gxs[i] = gx;
      gys[i] = gy;
      mag2[i] = gx * gx + gy * gy;
    }
  }
  const edges = new Uint8Array(width * height);
  let count = 0;
  const tan22 = 0.41421356;
  const threshold2 = threshold * threshold;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1, i = y * width + 1; x < width - 1; x++, i++) {
      const m = mag2[i];
      if (m < threshold2) continue;
      const ax = Math.abs(gxs[i]);
      const ay = Math.abs(gys[i]);
      // Neighbours along the gradient direction, quantised to 0, 45, 90 or 135 degrees.
      let step: number;
      if (ay <= ax * tan22) step = 1;
      else if (ax <= ay * tan22) step = width;
      else step = gxs[i] * gys[i] > 0 ? width + 1 : width - 1;
      // >= on one side and > on the other keeps exactly one pixel of a symmetric two-pixel ridge.
      if (m >= mag2[i - step] && m > mag2[i + step]) {
        edges[i] = 1;
        count++;
      }
    }
  }
  return { width, height, edges, count };
}

/**
 * Depth discontinuities: neighbours (right, down) that are both valid and differ by more than
 * `relativeJump` of the nearer depth; the nearer pixel becomes the edge.
 */
export function depthEdges(depth: Uint16Array, width: number, height: number, relativeJump = 0.04): EdgeMap {
  const edges = new Uint8Array(width * height);
  // Each pixel against its right and lower neighbour; the test is written out twice (rather
  // than in a helper) because this loop runs on every pixel of every frame.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const a = depth[i];
      if (a === 0) continue;
      if (x + 1 < width) {
        const b = depth[i + 1];
        if (b !== 0) {
          if (a < b) {
            if (b - a > relativeJump * a) edges[i] = 1;
          } else if (a - b > relativeJump * b) edges[i + 1] = 1;
        }
      }
      if (y + 1 < height) {
        const b = depth[i + width];
        if (b !== 0) {
          if (a < b) {
            if (b - a > relativeJump * a) edges[i] = 1;
          } else if (a - b > relativeJump * b) edges[i + width] = 1;
        }
      }
    }
  }
  let count = 0;
  for (let i = 0; i < edges.length; i++) count += edges[i];
  return { width, height, edges, count };
}

/**
 * min(distance to the nearest edge pixel, cap) for every pixel: what a chamfer cost truncated at
 * `cap` needs, by stamping a disc of radius `cap` around each edge pixel. Equals
 * Math.min(distanceTransform(map)[i], cap) exactly, and is much cheaper when edges are sparse.
 */
export function cappedDistanceTransform(map: EdgeMap, cap: number): Float32Array {
  const { width, height, edges } = map;
  const out = new Float32Array(width * height).fill(cap);
  const reach = Math.ceil(cap);
  const offsets: { dx: number; dy: number; d: number }[] = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) {
      const d = Math.fround(Math.sqrt(dx * dx + dy * dy));
      if (d < cap) offsets.push({ dx, dy, d });
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!edges[y * width + x]) continue;
      const inside = x >= reach && y >= reach && x + reach < width && y + reach < height;
      for (const o of offsets) {
        const tx = x + o.dx;
        const ty = y + o.dy;
        if (!inside && (tx < 0 || ty < 0 || tx >= width || ty >= height)) continue;
        const k = ty * width + tx;
        if (o.d < out[k]) out[k] = o.d;
      }
    }
  }
  return out;
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
