// The registration's WebAssembly edge kernels (edge-kernels.c), one instance per thread. A
// kernel works on buffers in the module's memory: the caller copies its frame in, and reads the
// results through views into that memory, valid until the next call on this thread (they are
// the per-frame scratch buffers of ../edges.ts, only living here). Where WebAssembly SIMD is
// not available, simdKernels() returns null and the JavaScript versions run instead.
import { EDGE_KERNELS_WASM_BASE64 } from './edge-kernels-wasm.ts';

interface KernelExports {
  suppress_and_grow(width: number, height: number, spanStart: number, spans: number, tileSize: number, mag2: number, gx: number, gy: number, low2: number, high2: number, state: number, orientation: number, strong: number): number;
  depth_stats(depth: number, n: number, out: number): void;
  distance_codes(width: number, height: number, pixels: number, npix: number, selections: number, slots: number, reach: number, offX: number, offY: number, offD: number, offI: number, m: number, codes: number, spanStart: number, spans: number, tileSize: number): void;
  grid_costs(points: number, weights: number, base: number, slotA: number, slotB: number, codes: number, distance: number, count: number, slots: number, width: number, height: number, truncate: number, maxShift: number, stride: number, sum: number, wsum: number, n: number, out: number): void;
  costs_at(points: number, weights: number, base: number, slotA: number, slotB: number, codes: number, distance: number, count: number, slots: number, width: number, height: number, truncate: number, dxs: number, dys: number, m: number, sum: number, wsum: number, n: number, out: number): void;
  occlusion_edges(depth: number, width: number, height: number, relativeJump: number, ratio: number, noiseFloor: number, quick: number, shift: number, edges: number, orientation: number, strength: number, pixels: number): number;
  strongest_channel_gradient(rgb: number, across: number, both: number, width: number, height: number, spanStart: number, spans: number, tileSize: number, rows: number, gx: number, gy: number, mag2: number): void;
}

/** The module's own stack and data sit below this; frame buffers start here. */
const RESERVED_BYTES = 2 * 65536;
const PAGE_BYTES = 65536;

/** Where to compute: per tile row (rows y with the same y / tileSize), [x0, x1) spans, flattened (edges.ts's rowSpans). */
export interface ComputeSpans {
  tileSize: number;
  spans: Int32Array[];
}

/** The parameters of edges.ts's occlusion test, as occlusionEdges derives them. */
export interface OcclusionTest {
  relativeJump: number;
  gradientRatio: number;
  noiseFloor: number;
  /** The integer pre-test's threshold and shift (see occlusionEdges). */
  quick: number;
  shift: number;
}

/** Occlusion edges: views into the module's memory, and the edge pixels in the order found (a copy). */
export interface OcclusionViews {
  edges: Uint8Array;
  orientation: Uint8Array;
  strength: Float32Array;
  pixels: Int32Array;
}

/** Per-pixel results of the strongest-channel gradient: views into the module's memory. */
export interface GradientViews {
  gx: Float32Array;
  gy: Float32Array;
  mag2: Float32Array;
}

export class EdgeKernels {
  private readonly memory = new WebAssembly.Memory({ initial: RESERVED_BYTES / PAGE_BYTES });
  private readonly exports: KernelExports;
  private layoutFor = '';
  private offsets = { rgb: 0, across: 0, both: 0, spanStart: 0, spans: 0, rows: 0, gx: 0, gy: 0, mag2: 0, depth: 0, depthEdges: 0, depthOrientation: 0, depthStrength: 0, depthPixels: 0, state: 0, orientation: 0, strong: 0, codes: 0 };
  private frameEnd = RESERVED_BYTES;
  private arenaEnd = RESERVED_BYTES;
  private views: Views | null = null;

  constructor(module: WebAssembly.Module) {
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
  }

  /**
   * Per interior pixel of the spans, the Sobel gradient of the strongest of R, G and B after the
   * [1 4 6 4 1] blur: what edges.ts's strongestChannelGradient gives, with the same stale values
   * outside the region as anything there may hold (only the region's inner part is ever read).
   * The border pixels of the views stay 0.
   */
  strongestChannelGradient(rgb: Uint8Array, width: number, height: number, computed: ComputeSpans): GradientViews {
    const v = this.layout(width, height);
    v.rgb.set(rgb.subarray(0, 3 * width * height));
    this.loadSpans(v, computed);
    const o = this.offsets;
    this.exports.strongest_channel_gradient(o.rgb, o.across, o.both, width, height, o.spanStart, o.spans, computed.tileSize, o.rows, o.gx, o.gy, o.mag2);
    return { gx: v.gx, gy: v.gy, mag2: v.mag2 };
  }

  /** edges.ts's occlusionEdges rule over the whole depth map; orientation and strength are meaningful at edge pixels only. */
  occlusionEdges(depth: Uint16Array, width: number, height: number, t: OcclusionTest): OcclusionViews {
    const v = this.layout(width, height);
    v.depth.set(depth.subarray(0, width * height));
    v.depthEdges.fill(0);
    const o = this.offsets;
    const count = this.exports.occlusion_edges(o.depth, width, height, t.relativeJump, t.gradientRatio, t.noiseFloor, t.quick, t.shift, o.depthEdges, o.depthOrientation, o.depthStrength, o.depthPixels);
    return { edges: v.depthEdges, orientation: v.depthOrientation, strength: v.depthStrength, pixels: v.depthPixels.slice(0, count) };
  }

  /**
   * edges.ts's cappedDistanceCodes stamping into this thread's code buffer (a view returned,
   * overwritten by the next call); with `need`, only its spans are filled, as there.
   */
  distanceCodes(width: number, height: number, pixels: Int32Array, selections: Uint16Array, slots: number, disc: { offX: Int32Array; offY: Int32Array; offD: Uint8Array; offI: Int32Array; reach: number }, need: ComputeSpans | null): Uint8Array {
    const v = this.layout(width, height);
    const arena = this.arena();
    const px = arena.i32(pixels);
    const sel = arena.u16(selections);
    const offX = arena.i32(disc.offX);
    const offY = arena.i32(disc.offY);
    const offD = arena.u8(disc.offD);
    const offI = arena.i32(disc.offI);
    if (need) this.loadSpans(v, need);
    const o = this.offsets;
    this.exports.distance_codes(width, height, px, pixels.length, sel, slots, disc.reach, offX, offY, offD, offI, disc.offD.length, o.codes, o.spanStart, o.spans, need ? need.tileSize : 0);
    return new Uint8Array(this.memory.buffer, o.codes, width * height * slots);
  }

  /** Whether `codes` is this thread's code buffer (what distanceCodes returned), not a copy. */
  holdsCodes(codes: Uint8Array): boolean {
    return codes.buffer === this.memory.buffer && codes.byteOffset === this.offsets.codes;
  }

  /**
   * ChamferLevel's costs (rgbd-registration.ts): for every shift within maxShift (`grid`), or
   * for the listed ones; the same sums in the same order, so the same costs bit for bit.
   */
  chamferCosts(c: ChamferInput, shifts: { grid: { maxShift: number; stride: number } } | { dxs: Int32Array; dys: Int32Array }): Float64Array {
    const v = this.layout(c.width, c.height);
    if (!this.holdsCodes(c.codes)) v.codes.set(c.codes);
    const arena = this.arena();
    const points = arena.i32(c.points);
    const weights = arena.f32(c.weights);
    const base = arena.i32(c.base);
    const slotA = arena.u8(c.slotA);
    const slotB = arena.u8(c.slotB);
    const distance = arena.f64(c.distance);
    const count = c.points.length / 3;
    const cells = 'grid' in shifts ? (2 * shifts.grid.maxShift + 1) ** 2 : shifts.dxs.length;
    const sum = arena.reserve(8 * cells);
    const wsum = arena.reserve(8 * cells);
    const n = arena.reserve(4 * cells);
    const out = arena.reserve(8 * cells);
    const o = this.offsets;
    if ('grid' in shifts) {
      this.exports.grid_costs(points, weights, base, slotA, slotB, o.codes, distance, count, c.slots, c.width, c.height, c.truncate, shifts.grid.maxShift, shifts.grid.stride, sum, wsum, n, out);
    } else {
      const dxs = arena.i32(shifts.dxs);
      const dys = arena.i32(shifts.dys);
      this.exports.costs_at(points, weights, base, slotA, slotB, o.codes, distance, count, c.slots, c.width, c.height, c.truncate, dxs, dys, cells, sum, wsum, n, out);
    }
    return new Float64Array(this.memory.buffer, out, cells).slice();
  }

  private loadSpans(v: Views, computed: ComputeSpans): void {
    let k = 0;
    computed.spans.forEach((list, t) => {
      v.spanStart[t] = k / 2;
      v.spans.set(list, k);
      k += list.length;
    });
    v.spanStart[computed.spans.length] = k / 2;
  }

  /**
   * Per-call arrays (a call's inputs and results, dead once it returns) go after the frame
   * buffers, in space laid out with them: the memory never grows between layouts, since growing
   * it would detach every view handed out for the current frame.
   */
  private arena() {
    let at = this.frameEnd;
    const reserve = (bytes: number) => {
      const start = Math.ceil(at / 16) * 16;
      at = start + bytes;
      if (at > this.arenaEnd) throw new RangeError(`edge kernels: ${at - this.frameEnd} bytes of call arrays exceed the ${this.arenaEnd - this.frameEnd} laid out`);
      return start;
    };
    const put = <T extends ArrayLike<number>>(make: (buf: ArrayBuffer, at: number, n: number) => { set(a: T): void }, bytesPer: number) => (a: T) => {
      const start = reserve(bytesPer * a.length);
      make(this.memory.buffer, start, a.length).set(a);
      return start;
    };
    return {
      reserve,
      i32: put<Int32Array>((b, s, n) => new Int32Array(b, s, n), 4),
      u16: put<Uint16Array>((b, s, n) => new Uint16Array(b, s, n), 2),
      u8: put<Uint8Array>((b, s, n) => new Uint8Array(b, s, n), 1),
      f32: put<Float32Array>((b, s, n) => new Float32Array(b, s, n), 4),
      f64: put<Float64Array>((b, s, n) => new Float64Array(b, s, n), 8),
    };
  }

  /**
   * Non-maximum suppression and hysteresis (edges.ts's suppressNonMaxima and growHysteresis) on
   * the gradient the last strongestChannelGradient call left here, over the needed spans:
   * per kept pixel its orientation bits, and the strong pixels (hysteresis's included) in order.
   */
  suppressAndGrow(width: number, height: number, needed: ComputeSpans, low2: number, high2: number): { orientation: Uint8Array; strong: { data: Int32Array; length: number } } {
    const v = this.layout(width, height);
    this.loadSpans(v, needed);
    v.state.fill(0);
    const o = this.offsets;
    const length = this.exports.suppress_and_grow(width, height, o.spanStart, o.spans, needed.tileSize, o.mag2, o.gx, o.gy, low2, high2, o.state, o.orientation, o.strong);
    return { orientation: v.orientation, strong: { data: v.strong, length } };
  }

  /** Valid (non-zero) pixels of a depth map, and the smallest and largest valid value (0 and 0 when none is valid). */
  depthStats(depth: Uint16Array, width: number, height: number): { valid: number; min: number; max: number } {
    const v = this.layout(width, height);
    const n = width * height;
    v.depth.set(depth.subarray(0, n));
    const out = this.arena().reserve(12);
    this.exports.depth_stats(this.offsets.depth, n, out);
    const [valid, min, max] = new Uint32Array(this.memory.buffer, out, 3);
    return valid === 0 ? { valid: 0, min: 0, max: 0 } : { valid, min, max };
  }

  /** Buffers for a frame size: laid out once per size, the memory grown (never shrunk) to fit. */
  private layout(width: number, height: number): Views {
    const key = `${width}x${height}`;
    if (this.views && this.layoutFor === key) return this.views;
    const n = width * height;
    const align = (k: number) => Math.ceil(k / 16) * 16;
    let at = RESERVED_BYTES;
    const take = (bytes: number) => {
      const start = at;
      at = align(at + bytes);
      return start;
    };
    // Spans: a tile row holds at most ceil(width / 2) of them (they are disjoint, with gaps), and there are at most height tile rows.
    const spanInts = 2 * Math.ceil(width / 2) * height + 2;
    this.offsets = {
      rgb: take(3 * n),
      across: take(6 * n),
      both: take(6 * n),
      spanStart: take(4 * (height + 2)),
      spans: take(4 * spanInts),
      rows: take(4 * 4 * (3 * width + 16)),
      gx: take(4 * n),
      gy: take(4 * n),
      mag2: take(4 * n),
      depth: take(2 * n),
      depthEdges: take(n),
      depthOrientation: take(n),
      depthStrength: take(4 * n),
      depthPixels: take(4 * n),
      state: take(n),
      orientation: take(n),
      strong: take(4 * n),
      // Distance codes: at most 16 selections a pixel.
      codes: take(16 * n),
    };
    this.frameEnd = at;
    // The largest call: distance codes (every pixel an edge: pixel list and selections, the disc
    // offsets for cap 15), or chamfer costs (every pixel a point: triples, weight, base, two
    // slots; the distance table; four arrays per shift for max_shift 64).
    const disc = 31 * 31 * 13;
    const cells = 129 * 129 * (8 + 8 + 4 + 8 + 8);
    take(Math.max(6 * n + disc, 22 * n + 256 * 8 + cells) + 16 * 16);
    this.arenaEnd = at;
    const pages = Math.ceil(at / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) this.memory.grow(pages);
    const buf = this.memory.buffer;
    const o = this.offsets;
    this.views = {
      rgb: new Uint8Array(buf, o.rgb, 3 * n),
      spanStart: new Int32Array(buf, o.spanStart, height + 2),
      spans: new Int32Array(buf, o.spans, spanInts),
      gx: new Float32Array(buf, o.gx, n),
      gy: new Float32Array(buf, o.gy, n),
      mag2: new Float32Array(buf, o.mag2, n),
      depth: new Uint16Array(buf, o.depth, n),
      depthEdges: new Uint8Array(buf, o.depthEdges, n),
      depthOrientation: new Uint8Array(buf, o.depthOrientation, n),
      depthStrength: new Float32Array(buf, o.depthStrength, n),
      depthPixels: new Int32Array(buf, o.depthPixels, n),
      state: new Uint8Array(buf, o.state, n),
      orientation: new Uint8Array(buf, o.orientation, n),
      strong: new Int32Array(buf, o.strong, n),
      codes: new Uint8Array(buf, o.codes, 16 * n),
    };
    // A new layout leaves stale values where the old one had other buffers: the outputs' border is never written, so clear it.
    this.views.gx.fill(0);
    this.views.gy.fill(0);
    this.views.mag2.fill(0);
    this.layoutFor = key;
    return this.views;
  }
}

type Views = GradientViews & {
  rgb: Uint8Array;
  spanStart: Int32Array;
  spans: Int32Array;
  depth: Uint16Array;
  depthEdges: Uint8Array;
  depthOrientation: Uint8Array;
  depthStrength: Float32Array;
  depthPixels: Int32Array;
  state: Uint8Array;
  orientation: Uint8Array;
  strong: Int32Array;
  codes: Uint8Array;
};

/** What ChamferLevel scores with: its points and their weights and code slots, and the distance codes. */
export interface ChamferInput {
  width: number;
  height: number;
  /** x, y, orientation triples. */
  points: Int32Array;
  weights: Float32Array;
  /** Per point, its pixel's index in `codes` (pixel x slots). */
  base: Int32Array;
  slotA: Uint8Array;
  slotB: Uint8Array;
  codes: Uint8Array;
  slots: number;
  distance: Float64Array;
  truncate: number;
}

let kernels: EdgeKernels | null | undefined;

/** This thread's kernels, compiled on first use; null where WebAssembly SIMD cannot run. */
export function simdKernels(): EdgeKernels | null {
  if (kernels !== undefined) return kernels;
  try {
    kernels = new EdgeKernels(new WebAssembly.Module(Buffer.from(EDGE_KERNELS_WASM_BASE64, 'base64')));
  } catch {
    kernels = null;
  }
  return kernels;
}
