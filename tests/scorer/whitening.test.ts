import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choleskyWhitening, symmetricEigen, whitenRows, zcaWhitening, whitenedPatchFilters } from '../../scorer/whitening.ts';
import { gaussian, seededRandom } from '../../scorer/onnx/random.ts';

test('Jacobi eigen-decomposition reconstructs a symmetric matrix', () => {
  const n = 6;
  const r = gaussian(seededRandom(1), n * n);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = r[i * n + j] + r[j * n + i];
  const { values, vectors } = symmetricEigen(m, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let e = 0; e < n; e++) s += vectors[i * n + e] * values[e] * vectors[j * n + e];
      assert.ok(Math.abs(s - m[i * n + j]) < 1e-9, `(${i},${j}) ${s} vs ${m[i * n + j]}`);
    }
});

test('ZCA makes correlated data white, and whitened-patch filters compute the whitened dot product', () => {
  const random = seededRandom(2);
  const size = 4;
  const count = 20000;
  // x = A g + offset with a strongly non-identity A.
  const A = [2, 0, 0, 0, 1.5, 0.5, 0, 0, 0.3, 0.2, 1, 0, 1, 1, 1, 0.2];
  const g = gaussian(random, count * size);
  const x = new Float32Array(count * size);
  for (let i = 0; i < count; i++)
    for (let j = 0; j < size; j++) {
      let s = 3 + j;
      for (let k = 0; k < size; k++) s += A[j * size + k] * g[i * size + k];
      x[i * size + j] = s;
    }
  const w = zcaWhitening(x, count, size, 1e-6);
  const cov = new Float64Array(size * size);
  const y = new Float64Array(size);
  for (let i = 0; i < count; i++) {
    y.fill(0);
    for (let j = 0; j < size; j++) for (let k = 0; k < size; k++) y[j] += w.matrix[j * size + k] * (x[i * size + k] - w.mean[k]);
    for (let j = 0; j < size; j++) for (let k = 0; k < size; k++) cov[j * size + k] += (y[j] * y[k]) / count;
  }
  for (let j = 0; j < size; j++) for (let k = 0; k < size; k++) assert.ok(Math.abs(cov[j * size + k] - (j === k ? 1 : 0)) < 1e-3, `cov(${j},${k}) = ${cov[j * size + k]}`);

  // A filter made from patch p answers <W(p - mu), W(q - mu)> / |W(p - mu)| for an input q.
  const p = x.slice(0, size);
  const q = x.slice(size, 2 * size);
  const { weight, bias } = whitenedPatchFilters(w, p, 1);
  const white = (v: Float32Array) => Array.from({ length: size }, (_, j) => w.matrix.slice(j * size, (j + 1) * size).reduce((s, m, k) => s + m * (v[k] - w.mean[k]), 0));
  const wp = white(p);
  const wq = white(q);
  const expected = wp.reduce((s, v, j) => s + v * wq[j], 0) / Math.hypot(...wp);
  const got = weight.reduce((s, v, k) => s + v * q[k], 0) + bias[0];
  assert.ok(Math.abs(got - expected) < 1e-3 * Math.max(1, Math.abs(expected)), `${got} vs ${expected}`);
});

test('Cholesky whitening: upper-triangular Z whose rows x Z have identity covariance; shrinkage keeps a constant feature finite', () => {
  const random = seededRandom(3);
  const F = 5;
  const n = 20000;
  // Standardised-like data: correlated columns, one constant (a dead channel).
  const g = gaussian(random, n * F);
  const x = new Float32Array(n * F);
  for (let i = 0; i < n; i++) {
    const r = g.subarray(i * F, (i + 1) * F);
    x[i * F] = r[0];
    x[i * F + 1] = 0.9 * r[0] + 0.3 * r[1];
    x[i * F + 2] = r[2] - 0.5 * r[1];
    x[i * F + 3] = 0;
    x[i * F + 4] = 0.2 * r[4] + r[0] - r[2];
  }
  // Shrinkage leaves the whitened covariance at (I - shrinkage L^-1 L^-T) / (1 - shrinkage): tiny here.
  const shrinkage = 1e-7;
  const Z = choleskyWhitening(x, n, F, shrinkage);
  for (let j = 0; j < F; j++) for (let k = 0; k < j; k++) assert.equal(Z[j * F + k], 0, `Z(${j},${k}) below the diagonal`);
  const y = Float32Array.from(x);
  whitenRows(y, n, F, Z);
  const mean = new Float64Array(F);
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) mean[f] += y[i * F + f] / n;
  for (let j = 0; j < F; j++)
    for (let k = 0; k < F; k++) {
      let c = 0;
      for (let i = 0; i < n; i++) c += ((y[i * F + j] - mean[j]) * (y[i * F + k] - mean[k])) / n;
      // The constant feature stays 0 (its shrunk variance is the shrinkage alone); the others come out white.
      const want = j === 3 || k === 3 ? 0 : j === k ? 1 : 0;
      assert.ok(Math.abs(c - want) < 1e-3, `cov(${j},${k}) = ${c}`);
    }
  assert.throws(() => choleskyWhitening(x, n, F, 0), /shrinkage/);
});
