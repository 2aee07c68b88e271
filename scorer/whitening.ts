// ZCA whitening of image patches, for the reference scorer's first conv layer: filters are random
// whitened patches of the training images (Coates & Ng), which respond to the edges and colour
// contrasts the data actually has. Whitening is linear, so it folds into the conv weights.

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations. Returns eigenvalues and column eigenvectors. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

export interface Whitening {
  size: number;
  mean: Float64Array;
  /** Symmetric ZCA matrix [size, size]. */
  matrix: Float64Array;
}

/** Mean and (population) covariance [size, size] of `count` rows of `size` values, one centred row at a time. */
function meanAndCovariance(rows: Float32Array, count: number, size: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(size);
  for (let i = 0; i < count; i++) for (let j = 0; j < size; j++) mean[j] += rows[i * size + j] / count;
  const cov = new Float64Array(size * size);
  const centred = new Float64Array(size);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < size; j++) centred[j] = rows[i * size + j] - mean[j];
    for (let j = 0; j < size; j++) {
      const cj = centred[j];
      if (cj === 0) continue;
      const base = j * size;
      for (let k = j; k < size; k++) cov[base + k] += cj * centred[k];
    }
  }
  for (let j = 0; j < size; j++) {
    for (let k = j; k < size; k++) cov[j * size + k] /= count;
    for (let k = 0; k < j; k++) cov[j * size + k] = cov[k * size + j];
  }
  return { mean, cov };
}

/** ZCA from `count` patch rows of `size` values: W = U diag(1 / sqrt(lambda + epsilon)) U^T. */
export function zcaWhitening(patches: Float32Array, count: number, size: number, epsilon = 0.01): Whitening {
  const { mean, cov } = meanAndCovariance(patches, count, size);
  const { values, vectors } = symmetricEigen(cov, size);
  const matrix = new Float64Array(size * size);
  for (let e = 0; e < size; e++) {
    const scale = 1 / Math.sqrt(Math.max(values[e], 0) + epsilon);
    for (let j = 0; j < size; j++) {
      const uj = vectors[j * size + e] * scale;
      for (let k = 0; k < size; k++) matrix[j * size + k] += uj * vectors[k * size + e];
    }
  }
  return { size, mean, matrix };
}

/**
 * Conv filters from whitened patches: response = <W(p - mu), W(x - mu)> / |W(p - mu)|, i.e.
 * weights W^T W (p - mu) / |.| and bias -weights . mu. Each filter row has `size` values.
 */
export function whitenedPatchFilters(w: Whitening, chosen: Float32Array, count: number): { weight: Float32Array; bias: Float32Array } {
  const n = w.size;
  const weight = new Float32Array(count * n);
  const bias = new Float32Array(count);
  const whitened = new Float64Array(n);
  for (let f = 0; f < count; f++) {
    whitened.fill(0);
    for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) whitened[j] += w.matrix[j * n + k] * (chosen[f * n + k] - w.mean[k]);
    const norm = Math.sqrt(whitened.reduce((a, x) => a + x * x, 0)) || 1;
    let b = 0;
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += w.matrix[j * n + k] * whitened[j];
      weight[f * n + k] = s / norm;
      b -= (s / norm) * w.mean[k];
    }
    bias[f] = b;
  }
  return { weight, bias };
}

/**
 * Whitening of `n` standardised feature rows of `F` values (the backbone's pooled features, whose
 * channels are correlated): the covariance shrunk towards the identity, C' = (1 - shrinkage) C +
 * shrinkage I, factored as C' = L L^T, and Z = L^-T (upper triangular, [F, F] row-major), so
 * that the rows x Z have covariance close to I. Unlike ZCA it needs no eigen-decomposition
 * (cubic Jacobi sweeps are too slow for 1280 features in JS); whitened rows are one rotation
 * away from ZCA's.
 */
export function choleskyWhitening(x: Float32Array, n: number, F: number, shrinkage: number): Float64Array {
  if (!(shrinkage > 0 && shrinkage <= 1)) throw new Error(`whitening shrinkage must be in (0, 1], got ${shrinkage}`);
  const { cov } = meanAndCovariance(x, n, F);
  for (let j = 0; j < F * F; j++) cov[j] *= 1 - shrinkage;
  for (let j = 0; j < F; j++) cov[j * F + j] += shrinkage;
  // Cholesky, C' = L L^T (L lower, in place of the lower triangle).
  const L = new Float64Array(F * F);
  for (let j = 0; j < F; j++) {
    let d = cov[j * F + j];
    for (let k = 0; k < j; k++) d -= L[j * F + k] ** 2;
    if (!(d > 0)) throw new Error(`whitening: covariance not positive definite at feature ${j}`);
    const ljj = Math.sqrt(d);
    L[j * F + j] = ljj;
    for (let i = j + 1; i < F; i++) {
      let s = cov[i * F + j];
      for (let k = 0; k < j; k++) s -= L[i * F + k] * L[j * F + k];
      L[i * F + j] = s / ljj;
    }
  }
  // M = L^-1 (lower) by forward substitution, column by column; Z = M^T.
  const Z = new Float64Array(F * F);
  for (let c = 0; c < F; c++) {
    // Column c of M: M[i][c] for i >= c, stored as Z[c][i].
    for (let i = c; i < F; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s -= L[i * F + k] * Z[c * F + k];
      Z[c * F + i] = s / L[i * F + i];
    }
  }
  return Z;
}

/** Rows x (n x F) replaced by x Z for an upper-triangular Z [F, F] (choleskyWhitening). */
export function whitenRows(x: Float32Array, n: number, F: number, Z: Float64Array): void {
  const out = new Float64Array(F);
  for (let i = 0; i < n; i++) {
    out.fill(0);
    for (let j = 0; j < F; j++) {
      const v = x[i * F + j];
      if (v === 0) continue;
      const base = j * F;
      for (let k = j; k < F; k++) out[k] += v * Z[base + k];
    }
    for (let k = 0; k < F; k++) x[i * F + k] = out[k];
  }
}
