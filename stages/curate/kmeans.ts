// Spherical k-means over stored embeddings, as passes over a corpus that is never held in
// memory: k-means++ seeding on a seeded sample, then Lloyd iterations, each one pass in which
// every unit computes its per-centroid partial sums (CentroidSums, a Mergeable) and the partials
// are merged in unit-id order. Sums are float64 and each unit's partial depends only on that
// unit's rows, so the centroids are the same whether one process or many computed the partials.
// Vectors are L2-normalised; similarity is the dot product (cosine), distance 1 - cosine.
// Memory: k x dim centroids and sums, plus the seeding sample.
import { createHash } from 'node:crypto';
import type { Mergeable } from '../../core/mergeable.ts';
import { mulberry32 } from '../../core/random.ts';

/** One stored sample as a pass sees it. */
export interface EmbeddedRow {
  id: string;
  vector: Float32Array;
  score: number | null;
}

/** A corpus of stored embeddings: its units in a fixed order, each read as a stream of rows. */
export interface EmbeddingSource {
  dim: number;
  units: string[];
  rows(unit: string): AsyncIterable<EmbeddedRow>;
}

export interface KMeansOptions {
  k: number;
  seed: number;
  iterations: number;
  tolerance: number;
  seedSample: number;
}

export interface KMeansPass {
  pass: number;
  /** Largest 1 - cosine between a centroid before and after the pass. */
  moved: number;
  /** Mean 1 - cosine of each sample to its centroid (before the update). */
  meanDistance: number;
  empty: number;
  ms: number;
  /** CPU time of this process during the pass (wall time counts other processes' load). */
  cpuMs: number;
}

export interface KMeansResult {
  centroids: Float32Array[];
  passes: KMeansPass[];
  count: number;
}

/** Per-centroid float64 sums and counts of the vectors assigned to each: one unit's partial. */
export class CentroidSums implements Mergeable<CentroidSums> {
  readonly sums: Float64Array;
  readonly counts: Float64Array;
  distance = 0;
  constructor(readonly k: number, readonly dim: number) {
    this.sums = new Float64Array(k * dim);
    this.counts = new Float64Array(k);
  }
  add(cluster: number, v: Float32Array, distance: number): void {
    const o = cluster * this.dim;
    for (let d = 0; d < this.dim; d++) this.sums[o + d] += v[d];
    this.counts[cluster]++;
    this.distance += distance;
  }
  merge(other: CentroidSums): this {
    for (let i = 0; i < this.sums.length; i++) this.sums[i] += other.sums[i];
    for (let i = 0; i < this.k; i++) this.counts[i] += other.counts[i];
    this.distance += other.distance;
    return this;
  }
  clone(): CentroidSums {
    return new CentroidSums(this.k, this.dim).merge(this);
  }
}

export function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The nearest centroid (highest cosine; ties: lowest index) and 1 - cosine to it. */
export function nearestCentroid(v: Float32Array, centroids: Float32Array[]): { cluster: number; distance: number } {
  let best = 0;
  let bestSim = -Infinity;
  for (let c = 0; c < centroids.length; c++) {
    const s = dot(v, centroids[c]);
    if (s > bestSim) {
      bestSim = s;
      best = c;
    }
  }
  return { cluster: best, distance: Math.max(0, 1 - bestSim) };
}

/** A uniform value in [0, 1) from a hash of (seed, key): the same on any machine and in any order. */
export function hashUniform(seed: number, key: string): number {
  const h = createHash('sha256').update(`${seed}\u0000${key}`).digest();
  return (h.readUInt32BE(0) * 2 ** 21 + (h.readUInt32BE(4) >>> 11)) / 2 ** 53;
}

/** The `size` rows with the lowest seeded id hash: a sample that does not depend on read order. */
export async function seededSample(source: EmbeddingSource, size: number, seed: number): Promise<{ rows: { key: number; id: string; vector: Float32Array }[]; count: number }> {
  let kept: { key: number; id: string; vector: Float32Array }[] = [];
  let count = 0;
  const byKey = (a: { key: number; id: string }, b: { key: number; id: string }) => a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  for (const unit of source.units) {
    for await (const r of source.rows(unit)) {
      count++;
      kept.push({ key: hashUniform(seed, r.id), id: r.id, vector: r.vector });
      if (kept.length >= 2 * size) kept = kept.sort(byKey).slice(0, size);
    }
  }
  return { rows: kept.sort(byKey).slice(0, size), count };
}

/** Greedy k-means++ (as scikit-learn): each step draws 2 + ln k candidates by D² weighting
 *  (on unit vectors the squared distance is 2 (1 - cosine)) and keeps the one that lowers the total potential most; seeded draws. */
export function kmeansPlusPlus(sample: Float32Array[], k: number, seed: number): Float32Array[] {
  if (sample.length === 0) return [];
  const rand = mulberry32(seed);
  const trials = 2 + Math.floor(Math.log(k));
  const centroids: Float32Array[] = [Float32Array.from(sample[Math.floor(rand() * sample.length)])];
  let d2 = Float64Array.from(sample, (v) => Math.max(0, 1 - dot(v, centroids[0])));
  let trial = new Float64Array(sample.length);
  let best = new Float64Array(sample.length);
  while (centroids.length < Math.min(k, sample.length)) {
    let total = 0;
    for (const d of d2) total += d;
    let bestPick = -1;
    let bestPotential = Infinity;
    for (let t = 0; t < trials; t++) {
      let pick: number;
      if (total <= 0) pick = Math.floor(rand() * sample.length); // every sample sits on a centroid
      else {
        let r = rand() * total;
        pick = 0;
        while (pick < sample.length - 1 && (r -= d2[pick]) > 0) pick++;
      }
      const c = sample[pick];
      let potential = 0;
      for (let i = 0; i < sample.length; i++) {
        const d = Math.min(d2[i], Math.max(0, 1 - dot(sample[i], c)));
        trial[i] = d;
        potential += d;
      }
      if (potential < bestPotential) {
        bestPotential = potential;
        bestPick = pick;
        [best, trial] = [trial, best];
      }
    }
    centroids.push(Float32Array.from(sample[bestPick]));
    [d2, best] = [best, d2];
  }
  return centroids;
}

/** One Lloyd pass: every unit's partial sums, merged in unit order. */
export async function lloydPass(source: EmbeddingSource, centroids: Float32Array[]): Promise<CentroidSums> {
  const total = new CentroidSums(centroids.length, source.dim);
  for (const unit of source.units) total.merge(await unitPartial(source, unit, centroids));
  return total;
}

/** What one unit contributes to a pass (what a rank would compute for its units). */
export async function unitPartial(source: EmbeddingSource, unit: string, centroids: Float32Array[]): Promise<CentroidSums> {
  const part = new CentroidSums(centroids.length, source.dim);
  for await (const r of source.rows(unit)) {
    const { cluster, distance } = nearestCentroid(r.vector, centroids);
    part.add(cluster, r.vector, distance);
  }
  return part;
}

/** New centroids from merged sums: the normalised mean; an empty cluster keeps its centroid. */
export function updateCentroids(sums: CentroidSums, old: Float32Array[]): { centroids: Float32Array[]; moved: number; empty: number } {
  let moved = 0;
  let empty = 0;
  const centroids = old.map((prev, c) => {
    if (sums.counts[c] === 0) {
      empty++;
      return prev;
    }
    const v = new Float32Array(sums.dim);
    for (let d = 0; d < sums.dim; d++) v[d] = sums.sums[c * sums.dim + d];
    normalise(v);
    moved = Math.max(moved, 1 - dot(v, prev));
    return v;
  });
  return { centroids, moved, empty };
}

export async function runKMeans(source: EmbeddingSource, o: KMeansOptions): Promise<KMeansResult> {
  const sample = await seededSample(source, Math.max(o.seedSample, o.k), o.seed);
  let centroids = kmeansPlusPlus(sample.rows.map((r) => r.vector), o.k, o.seed);
  const passes: KMeansPass[] = [];
  if (centroids.length === 0) return { centroids, passes, count: 0 };
  for (let pass = 1; pass <= o.iterations; pass++) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const sums = await lloydPass(source, centroids);
    const next = updateCentroids(sums, centroids);
    centroids = next.centroids;
    passes.push({ pass, moved: next.moved, meanDistance: sums.distance / Math.max(1, sample.count), empty: next.empty, ms: performance.now() - started, cpuMs: cpuMsSince(cpu) });
    if (next.moved <= o.tolerance) break;
  }
  return { centroids, passes, count: sample.count };
}

export function cpuMsSince(before: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(before);
  return (u.user + u.system) / 1000;
}
