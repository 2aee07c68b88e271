// Edge kernels of the RGB-D registration check, compiled to WebAssembly with 128-bit SIMD
// (scripts/build-simd-kernels.sh writes edge-kernels-wasm.ts from this file). Each function gives
// exactly what its JavaScript counterpart in ../edges.ts gives, bit for bit: the blur is in
// integers, and the Sobel magnitudes are compared in doubles against float32-rounded bests
// where the JavaScript compares them so (tests/stages/rgbd/simd-kernels.test.ts checks both
// paths against each other). The frame-sized buffers live in the module's memory, which the
// caller lays out (simd-kernels.ts).
#include <stdint.h>
#include <wasm_simd128.h>

// [1 4 6 4 1] of five vectors of eight 16-bit lanes. Lanes wrap modulo 2^16, which is exact here:
// every result is below 2^16 (rows of 8-bit samples sum to at most 16 x 255, columns of those to
// 256 x 255).
static inline v128_t taps5(v128_t a, v128_t b, v128_t c, v128_t d, v128_t e) {
  return wasm_i16x8_add(wasm_i16x8_add(a, e), wasm_i16x8_add(wasm_i16x8_shl(wasm_i16x8_add(b, d), 2), wasm_i16x8_mul(c, wasm_i16x8_splat(6))));
}

// Which pixels to compute: per tile row (rows y with y / tile_size equal), [x0, x1) spans,
// flattened; tile row t's spans are spans[2 * span_start[t] ..] up to span_start[t + 1] spans.
typedef struct {
  const int32_t* span_start;
  const int32_t* spans;
  int tile_size;
} Region;

#define FOR_SPANS(r, y, x0, x1) \
  for (int _s = (r)->span_start[(y) / (r)->tile_size], _e = (r)->span_start[(y) / (r)->tile_size + 1], x0, x1; \
       _s < _e && ((x0 = (r)->spans[2 * _s]), (x1 = (r)->spans[2 * _s + 1]), 1); _s++)

// [1 4 6 4 1] along rows of interleaved RGB (x 16), the two pixels at each side clamped.
static void blur_rows(const uint8_t* rgb, uint16_t* across, int width, int height, const Region* r) {
  for (int y = 0; y < height; y++) {
    const int row = y * width;
    FOR_SPANS(r, y, x0, x1) {
      const int a0 = x0 > 2 ? x0 : 2;
      const int a1 = x1 < width - 2 ? x1 : width - 2;
      int j = 3 * (row + a0);
      const int end = 3 * (row + a1);
      for (; j + 8 <= end; j += 8) {
        wasm_v128_store(across + j, taps5(wasm_u16x8_load8x8(rgb + j - 6), wasm_u16x8_load8x8(rgb + j - 3), wasm_u16x8_load8x8(rgb + j), wasm_u16x8_load8x8(rgb + j + 3), wasm_u16x8_load8x8(rgb + j + 6)));
      }
      for (; j < end; j++) across[j] = rgb[j - 6] + 4 * (rgb[j - 3] + rgb[j + 3]) + 6 * rgb[j] + rgb[j + 6];
      for (int x = x0; x < x1; x++) {
        if (x >= a0 && x < a1) {
          x = a1 - 1;
          continue;
        }
        const int pa = 3 * (row + (x > 1 ? x - 2 : 0)), pb = 3 * (row + (x > 0 ? x - 1 : 0)), pc = 3 * (row + x);
        const int pd = 3 * (row + (x + 1 < width ? x + 1 : width - 1)), pe = 3 * (row + (x + 2 < width ? x + 2 : width - 1));
        for (int c = 0; c < 3; c++) across[pc + c] = rgb[pa + c] + 4 * (rgb[pb + c] + rgb[pd + c]) + 6 * rgb[pc + c] + rgb[pe + c];
      }
    }
  }
}

// [1 4 6 4 1] down columns (x 16 again, so 256 x the float blur: at most 65280), rows clamped.
static void blur_cols(const uint16_t* across, uint16_t* both, int width, int height, const Region* r) {
  const int w3 = 3 * width;
  for (int y = 0; y < height; y++) {
    const uint16_t* r0 = across + (y > 1 ? y - 2 : 0) * w3;
    const uint16_t* r1 = across + (y > 0 ? y - 1 : 0) * w3;
    const uint16_t* r2 = across + y * w3;
    const uint16_t* r3 = across + (y + 1 < height ? y + 1 : height - 1) * w3;
    const uint16_t* r4 = across + (y + 2 < height ? y + 2 : height - 1) * w3;
    uint16_t* out = both + y * w3;
    FOR_SPANS(r, y, x0, x1) {
      int j = 3 * x0;
      const int end = 3 * x1;
      for (; j + 8 <= end; j += 8) wasm_v128_store(out + j, taps5(wasm_v128_load(r0 + j), wasm_v128_load(r1 + j), wasm_v128_load(r2 + j), wasm_v128_load(r3 + j), wasm_v128_load(r4 + j)));
      for (; j < end; j++) out[j] = r0[j] + 4 * (r1[j] + r3[j]) + 6 * r2[j] + r4[j];
    }
  }
}

// Sobel of each channel, per interleaved sample: sv = [1 2 1] down the column, dv = [-1 0 1];
// gx = sv(right) - sv(left), gy = dv(left) + 2 dv + dv(right), all integers (|gx|, |gy| < 2^20).
// Then per pixel the strongest channel, compared exactly as the JavaScript version compares
// them: in doubles, against float32-rounded bests.
static void sobel_strongest(const uint16_t* both, int width, int height, const Region* r, int32_t* sv, int32_t* dv, int32_t* gx, int32_t* gy, float* gxs, float* gys, float* mag2) {
  const int w3 = 3 * width;
  const double SCALE = 1.0 / 256, SCALE2 = 1.0 / 65536;
  for (int y = 1; y < height - 1; y++) {
    FOR_SPANS(r, y, s0, s1) {
      const int x0 = s0 > 1 ? s0 : 1;
      const int x1 = s1 < width - 1 ? s1 : width - 1;
      if (x1 <= x0) continue;
      // Samples of pixels x0 - 1 .. x1, relative to k0.
      const int k0 = 3 * (y * width + x0 - 1), n = 3 * (x1 - x0 + 2);
      const uint16_t* up = both + k0 - w3;
      const uint16_t* mid = both + k0;
      const uint16_t* dn = both + k0 + w3;
      int k = 0;
      for (; k + 8 <= n; k += 8) {
        const v128_t u = wasm_v128_load(up + k), m = wasm_v128_load(mid + k), d = wasm_v128_load(dn + k);
        const v128_t uL = wasm_u32x4_extend_low_u16x8(u), uH = wasm_u32x4_extend_high_u16x8(u);
        const v128_t mL = wasm_u32x4_extend_low_u16x8(m), mH = wasm_u32x4_extend_high_u16x8(m);
        const v128_t dL = wasm_u32x4_extend_low_u16x8(d), dH = wasm_u32x4_extend_high_u16x8(d);
        wasm_v128_store(sv + k, wasm_i32x4_add(wasm_i32x4_add(uL, dL), wasm_i32x4_shl(mL, 1)));
        wasm_v128_store(sv + k + 4, wasm_i32x4_add(wasm_i32x4_add(uH, dH), wasm_i32x4_shl(mH, 1)));
        wasm_v128_store(dv + k, wasm_i32x4_sub(dL, uL));
        wasm_v128_store(dv + k + 4, wasm_i32x4_sub(dH, uH));
      }
      for (; k < n; k++) {
        sv[k] = up[k] + 2 * mid[k] + dn[k];
        dv[k] = dn[k] - up[k];
      }
      // gx, gy for the samples of pixels x0 .. x1 - 1 (sample k + 3 of the rows above).
      const int m = 3 * (x1 - x0);
      k = 0;
      for (; k + 4 <= m; k += 4) {
        const v128_t left = wasm_v128_load(sv + k), right = wasm_v128_load(sv + k + 6);
        wasm_v128_store(gx + k, wasm_i32x4_sub(right, left));
        const v128_t dl = wasm_v128_load(dv + k), dc = wasm_v128_load(dv + k + 3), dr = wasm_v128_load(dv + k + 6);
        wasm_v128_store(gy + k, wasm_i32x4_add(wasm_i32x4_add(dl, dr), wasm_i32x4_shl(dc, 1)));
      }
      for (; k < m; k++) {
        gx[k] = sv[k + 6] - sv[k];
        gy[k] = dv[k] + 2 * dv[k + 3] + dv[k + 6];
      }
      float* ox = gxs + y * width + x0;
      float* oy = gys + y * width + x0;
      float* om = mag2 + y * width + x0;
      for (int p = 0, q = 0; p < x1 - x0; p++, q += 3) {
        double bx = gx[q], by = gy[q];
        double best = (float)((bx * bx + by * by) * SCALE2);
        const double gxG = gx[q + 1], gyG = gy[q + 1];
        const double mG = (gxG * gxG + gyG * gyG) * SCALE2;
        if (mG > best) {
          best = (float)mG;
          bx = gxG;
          by = gyG;
        }
        const double gxB = gx[q + 2], gyB = gy[q + 2];
        const double mB = (gxB * gxB + gyB * gyB) * SCALE2;
        if (mB > best) {
          best = mB;
          bx = gxB;
          by = gyB;
        }
        ox[p] = (float)(bx * SCALE);
        oy[p] = (float)(by * SCALE);
        om[p] = (float)best;
      }
    }
  }
}

// The strongest-channel gradient on the region: the blur, then per interior pixel the Sobel
// gradient (gx and gy / 256, squared magnitude / 65536) of the strongest of R, G and B. `rows`
// is scratch for four rows of 32-bit samples. The one-pixel border of the outputs is not written.
void strongest_channel_gradient(const uint8_t* rgb, uint16_t* across, uint16_t* both, int width, int height,
                                const int32_t* span_start, const int32_t* spans, int tile_size,
                                int32_t* rows, float* gxs, float* gys, float* mag2) {
  const Region r = {span_start, spans, tile_size};
  const int stride = 3 * width + 16;
  blur_rows(rgb, across, width, height, &r);
  blur_cols(across, both, width, height, &r);
  sobel_strongest(both, width, height, &r, rows, rows + stride, rows + 2 * stride, rows + 3 * stride, gxs, gys, mag2);
}

// Occlusion edges of a depth map (edges.ts's occlusionEdges, whose comments give the rule):
// every pixel's pair to the right and the pair below, rejected on integers where the jump is
// surely too small, judged on float32 inverse depths otherwise. `edges` must be all 0 on entry;
// the edge pixels are listed in `pixels` in the order found. Returns their number.
static inline double inverse_depth(int d) { return d == 0 ? 0.0 : (double)(float)(1.0 / d); }

typedef struct {
  const uint16_t* depth;
  double relative_jump, ratio, noise_floor;
  uint8_t* edges;
  uint8_t* orientation;
  float* strength;
  int32_t* pixels;
  int count;
} DepthEdges;

static void judge(DepthEdges* e, int i, int da, int db, int step, int has_before, int has_after, int bit) {
  const double a = inverse_depth(da), b = inverse_depth(db);
  const double jump = a > b ? a - b : b - a;
  const double near = a > b ? a : b;
  if (jump <= e->relative_jump * near || jump <= e->noise_floor) return;
  const double before = has_before ? inverse_depth(e->depth[i - step]) : 0;
  const double after = has_after ? inverse_depth(e->depth[i + 2 * step]) : 0;
  const double g_before = before == 0 ? 0 : (a - before < 0 ? before - a : a - before);
  const double g_after = after == 0 ? 0 : (after - b < 0 ? b - after : after - b);
  if (jump <= e->ratio * (g_before < g_after ? g_before : g_after)) return;
  const int k = i + step;
  const double rel = jump / near;
  if (!e->edges[k]) {
    e->edges[k] = 1;
    e->orientation[k] = bit;
    e->strength[k] = (float)rel;
    e->pixels[e->count++] = k;
    return;
  }
  e->orientation[k] |= bit;
  if (rel > e->strength[k]) e->strength[k] = (float)rel;
}

int occlusion_edges(const uint16_t* depth, int width, int height, double relative_jump, double ratio, double noise_floor,
                    double quick, int shift, uint8_t* edges, uint8_t* orientation, float* strength, int32_t* pixels) {
  DepthEdges e = {depth, relative_jump, ratio, noise_floor, edges, orientation, strength, pixels, 0};
  const v128_t zero = wasm_i16x8_splat(0);
  const int sh = shift < 16 ? shift : 16;
  for (int y = 0; y < height; y++) {
    const int has_below = y + 1 < height;
    const int row = y * width;
    for (int x = 0, i = row; x + 1 < width; x++, i++) {
      // Eight pixels at a time, the integer pre-test only: a pair fails it when its neighbour lies
      // in (da - q, da + q] (q = da >> shift <= da, so da - q never wraps; da + q saturates, and
      // no neighbour exceeds 65535). Where no pair of the eight passes, none is judged below.
      if ((x & 7) == 0 && x + 8 < width) {
        const v128_t da = wasm_v128_load(depth + i);
        const v128_t q = sh == 16 ? zero : wasm_u16x8_shr(da, sh);
        const v128_t lo = wasm_i16x8_sub(da, q), hi = wasm_u16x8_add_sat(da, q);
        const v128_t valid = wasm_v128_not(wasm_i16x8_eq(da, zero));
        const v128_t dr = wasm_v128_load(depth + i + 1);
        const v128_t right_fails = wasm_v128_and(wasm_u16x8_gt(dr, lo), wasm_u16x8_le(dr, hi));
        v128_t pass = wasm_v128_andnot(wasm_v128_and(valid, wasm_v128_not(wasm_i16x8_eq(dr, zero))), right_fails);
        if (has_below) {
          const v128_t db = wasm_v128_load(depth + i + width);
          const v128_t below_fails = wasm_v128_and(wasm_u16x8_gt(db, lo), wasm_u16x8_le(db, hi));
          pass = wasm_v128_or(pass, wasm_v128_andnot(wasm_v128_and(valid, wasm_v128_not(wasm_i16x8_eq(db, zero))), below_fails));
        }
        if (!wasm_v128_any_true(pass)) {
          x += 7;
          i += 7;
          continue;
        }
      }
      const int da = depth[i];
      if (da == 0) continue;
      const int q = da >> shift;
      const int dr = depth[i + 1];
      const int diff_r = da - dr;
      if ((uint32_t)(diff_r + q) >= (uint32_t)(2 * q) && dr != 0 && !(diff_r < quick * da && -diff_r < quick * dr)) judge(&e, i, da, dr, 1, x >= 1, x + 2 < width, 1);
      if (!has_below) continue;
      const int db = depth[i + width];
      const int diff_b = da - db;
      if ((uint32_t)(diff_b + q) >= (uint32_t)(2 * q) && db != 0 && !(diff_b < quick * da && -diff_b < quick * db)) judge(&e, i, da, db, width, y >= 1, y + 2 < height, 2);
    }
    const int i = row + width - 1;
    const int da = depth[i];
    if (!has_below || da == 0) continue;
    const int db = depth[i + width];
    const int diff_b = da - db;
    if (db != 0 && !(diff_b < quick * da && -diff_b < quick * db)) judge(&e, i, da, db, width, y >= 1, y + 2 < height, 2);
  }
  return e.count;
}

// Capped distance codes (edges.ts's cappedDistanceCodes): FAR (255) over the region's needed
// spans, or the whole frame when tile_size is 0, then a disc of squared-distance codes stamped
// around every edge pixel for each selection it belongs to.
void distance_codes(int width, int height, const int32_t* pixels, int npix, const uint16_t* selections, int slots, int reach,
                    const int32_t* off_x, const int32_t* off_y, const uint8_t* off_d, const int32_t* off_i, int m, uint8_t* codes,
                    const int32_t* span_start, const int32_t* spans, int tile_size) {
  if (tile_size == 0) {
    __builtin_memset(codes, 255, (unsigned)(width * height * slots));
  } else {
    const Region r = {span_start, spans, tile_size};
    for (int y = 0; y < height; y++) {
      FOR_SPANS(&r, y, x0, x1) __builtin_memset(codes + (y * width + x0) * slots, 255, (unsigned)((x1 - x0) * slots));
    }
  }
  for (int q = 0; q < npix; q++) {
    const int i = pixels[q];
    const int y = i / width;
    const int x = i - y * width;
    const int inside = x >= reach && y >= reach && x + reach < width && y + reach < height;
    for (unsigned bits = selections[q]; bits != 0; bits &= bits - 1) {
      const int slot = __builtin_ctz(bits);
      const int at = i * slots + slot;
      if (inside) {
        for (int k = 0; k < m; k++) {
          const int t = at + off_i[k];
          if (off_d[k] < codes[t]) codes[t] = off_d[k];
        }
        continue;
      }
      for (int k = 0; k < m; k++) {
        const int tx = x + off_x[k], ty = y + off_y[k];
        if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
        const int t = (ty * width + tx) * slots + slot;
        if (off_d[k] < codes[t]) codes[t] = off_d[k];
      }
    }
  }
}

// The chamfer costs of ChamferLevel (rgbd-registration.ts): per shift, the weighted mean
// distance of the depth edge points moved back by it, each shift's sum adding the points in
// their order, so the costs are the JavaScript ones bit for bit. `sum`, `wsum` and `n` are
// scratch of `cells` entries.
typedef struct {
  const int32_t* points;  // x, y, orientation triples
  const float* weights;
  const int32_t* base;
  const uint8_t* slot_a;
  const uint8_t* slot_b;
  const uint8_t* codes;
  const double* distance;
  int count, slots, width, height;
  double truncate;
} Chamfer;

static inline double code_distance(const Chamfer* c, int at, int p) {
  const uint8_t a = c->codes[at + c->slot_a[p]], b = c->codes[at + c->slot_b[p]];
  return c->distance[a < b ? a : b];
}

void grid_costs(const int32_t* points, const float* weights, const int32_t* base, const uint8_t* slot_a, const uint8_t* slot_b,
                const uint8_t* codes, const double* distance, int count, int slots, int width, int height, double truncate,
                int max_shift, int stride, double* sum, double* wsum, int32_t* n, double* out) {
  const Chamfer c = {points, weights, base, slot_a, slot_b, codes, distance, count, slots, width, height, truncate};
  const int side = 2 * max_shift + 1, cells = side * side;
  for (int g = 0; g < cells; g++) { sum[g] = 0; wsum[g] = 0; n[g] = 0; }
  int everywhere = 1;
  for (int k = 0; k < 3 * count && everywhere; k += 3 * stride) {
    everywhere = points[k] >= max_shift && points[k] + max_shift < width && points[k + 1] >= max_shift && points[k + 1] + max_shift < height;
  }
  if (everywhere) {
    double w0 = 0;
    int n0 = 0;
    const int row_step = width * slots;
    for (int p = 0; p < count; p += stride) {
      const double w = weights[p];
      w0 += w;
      n0++;
      const int sa = slot_a[p], sb = slot_b[p];
      int at = base[p] + max_shift * row_step + max_shift * slots;
      for (int row = 0; row < cells; row += side, at -= row_step) {
        if (sa == sb) {
          for (int gx = 0, t = at + sa; gx < side; gx++, t -= slots) sum[row + gx] += w * distance[codes[t]];
        } else {
          for (int gx = 0, t = at; gx < side; gx++, t -= slots) {
            const uint8_t a = codes[t + sa], b = codes[t + sb];
            sum[row + gx] += w * distance[a < b ? a : b];
          }
        }
      }
    }
    for (int g = 0; g < cells; g++) { wsum[g] = w0; n[g] = n0; }
  } else {
    for (int k = 0, p = 0; p < count; k += 3 * stride, p += stride) {
      const int x = points[k], y = points[k + 1];
      const double w = weights[p];
      const int dx0 = -max_shift > x - width + 1 ? -max_shift : x - width + 1;
      const int dx1 = max_shift < x ? max_shift : x;
      const int dy0 = -max_shift > y - height + 1 ? -max_shift : y - height + 1;
      const int dy1 = max_shift < y ? max_shift : y;
      for (int dy = dy0; dy <= dy1; dy++) {
        const int row = (dy + max_shift) * side + max_shift;
        const int row_at = base[p] - dy * width * slots;
        for (int dx = dx0; dx <= dx1; dx++) {
          const int g = row + dx;
          sum[g] += w * code_distance(&c, row_at - dx * slots, p);
          wsum[g] += w;
          n[g]++;
        }
      }
    }
  }
  const int total = (count + stride - 1) / stride;
  for (int g = 0; g < cells; g++) out[g] = n[g] * 2 >= total && wsum[g] > 0 ? sum[g] / wsum[g] : truncate;
}

void costs_at(const int32_t* points, const float* weights, const int32_t* base, const uint8_t* slot_a, const uint8_t* slot_b,
              const uint8_t* codes, const double* distance, int count, int slots, int width, int height, double truncate,
              const int32_t* dxs, const int32_t* dys, int m, double* sum, double* wsum, int32_t* n, double* out) {
  const Chamfer c = {points, weights, base, slot_a, slot_b, codes, distance, count, slots, width, height, truncate};
  for (int q = 0; q < m; q++) { sum[q] = 0; wsum[q] = 0; n[q] = 0; }
  for (int k = 0, p = 0; p < count; k += 3, p++) {
    const int x = points[k], y = points[k + 1];
    const double w = weights[p];
    for (int q = 0; q < m; q++) {
      const int tx = x - dxs[q], ty = y - dys[q];
      if (tx < 0 || ty < 0 || tx >= width || ty >= height) continue;
      sum[q] += w * code_distance(&c, base[p] - (dys[q] * width + dxs[q]) * slots, p);
      wsum[q] += w;
      n[q]++;
    }
  }
  for (int q = 0; q < m; q++) out[q] = n[q] * 2 >= count && wsum[q] > 0 ? sum[q] / wsum[q] : truncate;
}

// Valid (non-zero) depth pixels, and the smallest and largest valid value (rgbd-quality.ts's
// depthStats): out[0] = count, out[1] = min (65535 when none), out[2] = max (0 when none).
void depth_stats(const uint16_t* depth, int n, uint32_t* out) {
  v128_t count = wasm_i32x4_splat(0), lo = wasm_i16x8_splat(-1), hi = wasm_i16x8_splat(0);
  const v128_t zero = wasm_i16x8_splat(0), ones = wasm_i16x8_splat(-1);
  int i = 0;
  // Counts per lane stay below 2^16 in blocks of 65535 vectors, then go into 32-bit lanes.
  while (i + 8 <= n) {
    v128_t block = wasm_i16x8_splat(0);
    for (int k = 0; k < 65535 && i + 8 <= n; k++, i += 8) {
      const v128_t d = wasm_v128_load(depth + i);
      const v128_t missing = wasm_i16x8_eq(d, zero);
      block = wasm_i16x8_sub(block, wasm_v128_xor(missing, ones));  // +1 where valid
      lo = wasm_u16x8_min(lo, wasm_v128_or(d, missing));             // a missing pixel reads 65535
      hi = wasm_u16x8_max(hi, d);
    }
    count = wasm_i32x4_add(count, wasm_i32x4_add(wasm_u32x4_extend_low_u16x8(block), wasm_u32x4_extend_high_u16x8(block)));
  }
  uint32_t c = wasm_i32x4_extract_lane(count, 0) + wasm_i32x4_extract_lane(count, 1) + wasm_i32x4_extract_lane(count, 2) + wasm_i32x4_extract_lane(count, 3);
  uint32_t mn = 65535, mx = 0;
  uint16_t los[8], his[8];
  wasm_v128_store(los, lo);
  wasm_v128_store(his, hi);
  for (int l = 0; l < 8; l++) {
    if (los[l] < mn) mn = los[l];
    if (his[l] > mx) mx = his[l];
  }
  for (; i < n; i++) {
    const uint32_t d = depth[i];
    if (d == 0) continue;
    c++;
    if (d < mn) mn = d;
    if (d > mx) mx = d;
  }
  out[0] = c;
  out[1] = mn;
  out[2] = mx;
}

// Canny's non-maximum suppression along the quantised gradient over the region's needed spans,
// then hysteresis with 8-connectivity (edges.ts's suppressNonMaxima and growHysteresis, in the
// same order): ridge pixels get their orientation bits, strong ones are listed in `strong`,
// and weak ones touching a listed pixel are appended. `state` must be all 0 on entry. Returns
// the length of the list.
int suppress_and_grow(int width, int height, const int32_t* span_start, const int32_t* spans, int tile_size,
                      const float* mag2, const float* gxs, const float* gys, double low2, double high2,
                      uint8_t* state, uint8_t* orientation, int32_t* strong) {
  const Region r = {span_start, spans, tile_size};
  const double tan22 = 0.41421356;
  int count = 0;
  for (int y = 1; y < height - 1; y++) {
    FOR_SPANS(&r, y, s0, s1) {
      const int x1 = width - 1 < s1 ? width - 1 : s1;
      for (int x = s0 > 1 ? s0 : 1, i = y * width + x; x < x1; x++, i++) {
        const double m = mag2[i];
        if (m < low2) continue;
        const double gx = gxs[i], gy = gys[i];
        const double ax = gx < 0 ? -gx : gx, ay = gy < 0 ? -gy : gy;
        int step;
        if (ay <= ax * tan22) step = 1;
        else if (ax <= ay * tan22) step = width;
        else step = gx * gy > 0 ? width + 1 : width - 1;
        if (!(m >= mag2[i - step] && m > mag2[i + step])) continue;
        orientation[i] = (ax >= 0.5 * ay ? 1 : 0) | (ay >= 0.5 * ax ? 2 : 0);
        if (m >= high2) {
          state[i] = 2;
          strong[count++] = i;
        } else state[i] = 1;
      }
    }
  }
  const int around[8] = {-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1};
  for (int q = 0; q < count; q++) {
    const int i = strong[q];
    for (int o = 0; o < 8; o++) {
      const int j = i + around[o];
      if (state[j] == 1) {
        state[j] = 2;
        strong[count++] = j;
      }
    }
  }
  return count;
}
