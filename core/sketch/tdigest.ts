// Merging t-digest (Dunning & Ertl), for quantiles of scores that merge across processes.
// Merge results are deterministic for a given merge order; the executor always folds unit
// stats in unit order, so one process and many processes produce the same digest.
import type { Mergeable } from '../mergeable.ts';

export interface TDigestJSON {
  compression: number;
  count: number;
  min: number;
  max: number;
  /** [mean, weight] pairs sorted by mean. */
  centroids: [number, number][];
}

export class TDigest implements Mergeable<TDigest> {
  private means: number[] = [];
  private weights: number[] = [];
  private buffer: number[] = [];
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly compression = 100) {}

  add(value: number, weight = 1): void {
    if (!Number.isFinite(value)) return;
    this.buffer.push(value, weight);
    this.count += weight;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.buffer.length >= 20 * this.compression) this.compress();
  }

  merge(other: TDigest): this {
    other.compress();
    for (let i = 0; i < other.means.length; i++) this.buffer.push(other.means[i], other.weights[i]);
    this.count += other.count;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    this.compress();
    return this;
  }

  /** Value below which a fraction q of the mass lies. NaN when empty. */
  quantile(q: number): number {
    this.compress();
    const n = this.means.length;
    if (n === 0) return NaN;
    if (n === 1 || q <= 0) return q <= 0 ? this.min : this.means[0];
    if (q >= 1) return this.max;
    const target = q * this.count;
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[i];
      const mid = cumulative + w / 2;
      if (target < mid) {
        if (i === 0) {
          // Between min and the first centroid's centre.
          const t = target / (w / 2);
          return this.min + t * (this.means[0] - this.min);
        }
        const prevMid = cumulative - this.weights[i - 1] / 2;
        const t = (target - prevMid) / (mid - prevMid);
        return this.means[i - 1] + t * (this.means[i] - this.means[i - 1]);
      }
      cumulative += w;
    }
    const lastMid = this.count - this.weights[n - 1] / 2;
    const t = (target - lastMid) / (this.count - lastMid);
    return this.means[n - 1] + t * (this.max - this.means[n - 1]);
  }

  /** Fraction of the mass at or below value. */
  cdf(value: number): number {
    this.compress();
    const n = this.means.length;
    if (n === 0) return NaN;
    if (value < this.min) return 0;
    if (value >= this.max) return 1;
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      if (value < this.means[i]) {
        const prevMean = i === 0 ? this.min : this.means[i - 1];
        const prevCum = i === 0 ? 0 : cumulative - this.weights[i - 1] / 2;
        const curCum = cumulative + this.weights[i] / 2;
        const t = (value - prevMean) / Math.max(1e-300, this.means[i] - prevMean);
        return (prevCum + t * (curCum - prevCum)) / this.count;
      }
      cumulative += this.weights[i];
    }
    return 1;
  }

  toJSON(): TDigestJSON {
    this.compress();
    return {
      compression: this.compression,
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.count ? this.max : 0,
      centroids: this.means.map((m, i) => [m, this.weights[i]]),
    };
  }

  clone(): TDigest {
    return TDigest.fromJSON(this.toJSON());
  }

  static fromJSON(json: TDigestJSON): TDigest {
    const d = new TDigest(json.compression);
    d.means = json.centroids.map((c) => c[0]);
    d.weights = json.centroids.map((c) => c[1]);
    d.count = json.count;
    d.min = json.count ? json.min : Infinity;
    d.max = json.count ? json.max : -Infinity;
    return d;
  }

  private compress(): void {
    if (this.buffer.length === 0) return;
    const points: [number, number][] = [];
    for (let i = 0; i < this.means.length; i++) points.push([this.means[i], this.weights[i]]);
    for (let i = 0; i < this.buffer.length; i += 2) points.push([this.buffer[i], this.buffer[i + 1]]);
    this.buffer = [];
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const total = points.reduce((s, p) => s + p[1], 0);
    const means: number[] = [];
    const weights: number[] = [];
    // k1 scale function: centroids are small near the tails, so extreme quantiles stay sharp.
    const k = (q: number) => (this.compression / (2 * Math.PI)) * Math.asin(2 * q - 1);
    let soFar = 0;
    let curMean = points[0][0];
    let curWeight = points[0][1];
    let kLeft = k(0);
    for (let i = 1; i < points.length; i++) {
      const [m, w] = points[i];
      const qRight = (soFar + curWeight + w) / total;
      if (k(qRight) - kLeft <= 1) {
        curMean += ((m - curMean) * w) / (curWeight + w);
        curWeight += w;
      } else {
        means.push(curMean);
        weights.push(curWeight);
        soFar += curWeight;
        kLeft = k(soFar / total);
        curMean = m;
        curWeight = w;
      }
    }
    means.push(curMean);
    weights.push(curWeight);
    this.means = means;
    this.weights = weights;
  }
}
