// k-means over an in-memory embedding source: planted clusters are recovered, a seed gives the
// same centroids whatever the unit split, per-unit partials merged in unit order equal one pass,
// and different seeds still find the same partition of well-separated data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CentroidSums, dot, kmeansPlusPlus, lloydPass, nearestCentroid, normalise, runKMeans, seededSample, unitPartial, type EmbeddedRow, type EmbeddingSource } from '../../../stages/curate/kmeans.ts';
import { mulberry32 } from '../../../core/random.ts';

/** `clusters` random unit directions in `dim` (at least 60 degrees apart); each row is one of them plus noise, normalised. */
function plantedRows(n: number, clusters: number, dim: number, noise: number, seed: number): { rows: EmbeddedRow[]; truth: Map<string, number>; centres: Float32Array[] } {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  // Centres at least 60 degrees apart, so the planted partition is the k-means optimum.
  const centres: Float32Array[] = [];
  while (centres.length < clusters) {
    const c = normalise(Float32Array.from({ length: dim }, gauss));
    if (centres.every((o) => dot(o, c) < 0.5)) centres.push(c);
  }
  const truth = new Map<string, number>();
  const rows = Array.from({ length: n }, (_, i) => {
    const c = Math.floor(rand() * clusters);
    const id = `s-${String(i).padStart(5, '0')}`;
    truth.set(id, c);
    return { id, score: rand(), vector: normalise(Float32Array.from(centres[c], (x) => x + noise * gauss())) };
  });
  return { rows, truth, centres };
}

function sourceOf(rows: EmbeddedRow[], units: number, dim: number): EmbeddingSource {
  const names = Array.from({ length: units }, (_, u) => `unit-${String(u).padStart(3, '0')}`);
  const per = Math.ceil(rows.length / units);
  return {
    dim,
    units: names,
    rows: async function* (unit) {
      const u = names.indexOf(unit);
      yield* rows.slice(u * per, (u + 1) * per);
    },
  };
}

/** Whether two labelings are the same partition up to renaming clusters, allowing a few
 *  boundary points (noise can put a point nearer another centre than its own): each cluster of
 *  `a` maps to one distinct cluster of `b`, and at least 99% of the points agree. */
function samePartition(a: Map<string, number>, b: Map<string, number>): boolean {
  const votes = new Map<number, Map<number, number>>();
  for (const [id, x] of a) {
    const m = votes.get(x) ?? new Map<number, number>();
    m.set(b.get(id)!, (m.get(b.get(id)!) ?? 0) + 1);
    votes.set(x, m);
  }
  const mapping = new Map([...votes].map(([x, m]) => [x, [...m].sort((p, q) => q[1] - p[1])[0][0]]));
  if (new Set(mapping.values()).size !== mapping.size) return false;
  let agree = 0;
  for (const [id, x] of a) if (mapping.get(x) === b.get(id)) agree++;
  return agree >= 0.99 * a.size;
}

const opts = { k: 6, seed: 3, iterations: 30, tolerance: 1e-9, seedSample: 500 };

for (const [n, dim, seed] of [[1200, 16, 1], [2000, 32, 2], [800, 8, 3]] as const) {
  test(`planted clusters are recovered (n ${n}, dim ${dim}, data seed ${seed})`, async () => {
    const { rows, truth } = plantedRows(n, 6, dim, 0.6 / Math.sqrt(dim), seed);
    const source = sourceOf(rows, 7, dim);
    const result = await runKMeans(source, opts);
    assert.equal(result.centroids.length, 6);
    assert.equal(result.count, n);
    const found = new Map(rows.map((r) => [r.id, nearestCentroid(r.vector, result.centroids).cluster]));
    assert.ok(samePartition(found, truth), 'each planted cluster is one k-means cluster');
    assert.ok(result.passes.at(-1)!.moved <= 1e-9 || result.passes.length === 30);
    assert.ok(result.passes.at(-1)!.meanDistance < result.passes[0].meanDistance + 1e-12, 'the mean distance does not grow');
  });
}

test('a seed gives the same centroids however the corpus is split into units', async () => {
  const dim = 16;
  const { rows } = plantedRows(900, 5, dim, 0.4, 9);
  const a = await runKMeans(sourceOf(rows, 1, dim), { ...opts, k: 5 });
  const b = await runKMeans(sourceOf(rows, 9, dim), { ...opts, k: 5 });
  assert.equal(a.centroids.length, b.centroids.length);
  for (let c = 0; c < a.centroids.length; c++) for (let d = 0; d < dim; d++) assert.ok(Math.abs(a.centroids[c][d] - b.centroids[c][d]) < 1e-5, `centroid ${c} dim ${d}`);
  const again = await runKMeans(sourceOf(rows, 9, dim), { ...opts, k: 5 });
  assert.deepEqual(again.centroids, b.centroids, 'bit-identical for the same split and seed');
});

test('different seeds agree on well-separated data; the seeded sample does not depend on read order', async () => {
  const dim = 12;
  const { rows, truth } = plantedRows(1000, 4, dim, 0.1, 5);
  for (const seed of [0, 1, 17, 123]) {
    const r = await runKMeans(sourceOf(rows, 4, dim), { ...opts, k: 4, seed });
    const found = new Map(rows.map((x) => [x.id, nearestCentroid(x.vector, r.centroids).cluster]));
    assert.ok(samePartition(found, truth), `seed ${seed}`);
  }
  const forward = await seededSample(sourceOf(rows, 4, dim), 50, 7);
  const backward = await seededSample(sourceOf([...rows].reverse(), 3, dim), 50, 7);
  assert.deepEqual(forward.rows.map((r) => r.id), backward.rows.map((r) => r.id));
  const other = await seededSample(sourceOf(rows, 4, dim), 50, 8);
  assert.notDeepEqual(other.rows.map((r) => r.id), forward.rows.map((r) => r.id), 'another seed, another sample');
});

test('per-unit partial sums merged in unit order equal one pass; k-means++ picks distinct points', async () => {
  const dim = 8;
  const { rows } = plantedRows(300, 3, dim, 0.3, 4);
  const source = sourceOf(rows, 5, dim);
  const centroids = kmeansPlusPlus(rows.slice(0, 100).map((r) => r.vector), 3, 1);
  assert.equal(new Set(centroids.map((c) => c.join(','))).size, 3);
  const whole = await lloydPass(source, centroids);
  // What two ranks would do: each its own units' partials, then merged in unit order.
  const partials = await Promise.all(source.units.map((u) => unitPartial(source, u, centroids)));
  const rank0 = new CentroidSums(3, dim);
  const rank1 = new CentroidSums(3, dim);
  partials.forEach((p, i) => (i % 2 === 0 ? rank0 : rank1).merge(p));
  const inOrder = new CentroidSums(3, dim);
  for (const p of partials) inOrder.merge(p.clone());
  assert.deepEqual(inOrder.sums, whole.sums);
  assert.deepEqual(inOrder.counts, whole.counts);
  const total = rank0.clone().merge(rank1);
  assert.deepEqual(total.counts, whole.counts);
  for (let i = 0; i < whole.sums.length; i++) assert.ok(Math.abs(total.sums[i] - whole.sums[i]) < 1e-9);
  assert.equal([...whole.counts].reduce((a, b) => a + b, 0), 300);
});
