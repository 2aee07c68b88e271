// Fixed-bin histogram: merging is adding bin counts, so it is exact across processes.
import type { Mergeable } from '../mergeable.ts';

export interface HistogramJSON {
  lo: number;
  hi: number;
  bins: number[];
  /** Values below lo and above hi. */
  under: number;
  over: number;
}

export class Histogram implements Mergeable<Histogram> {
  bins: number[];
  under = 0;
  over = 0;

  constructor(readonly lo: number, readonly hi: number, binCount: number) {
    if (!(hi > lo) || binCount < 1) throw new Error(`bad histogram range [${lo}, ${hi}) x ${binCount}`);
    this.bins = new Array(binCount).fill(0);
  }

  add(value: number): void {
    if (!Number.isFinite(value)) return;
    if (value < this.lo) this.under++;
    else if (value > this.hi) this.over++;
    else {
      const i = Math.min(this.bins.length - 1, Math.floor(((value - this.lo) / (this.hi - this.lo)) * this.bins.length));
      this.bins[i]++;
    }
  }

  merge(other: Histogram): this {
    if (other.lo !== this.lo || other.hi !== this.hi || other.bins.length !== this.bins.length) {
      throw new Error('cannot merge histograms with different bins');
    }
    for (let i = 0; i < this.bins.length; i++) this.bins[i] += other.bins[i];
    this.under += other.under;
    this.over += other.over;
    return this;
  }

  get count(): number {
    return this.bins.reduce((a, b) => a + b, 0) + this.under + this.over;
  }

  toJSON(): HistogramJSON {
    return { lo: this.lo, hi: this.hi, bins: [...this.bins], under: this.under, over: this.over };
  }

  clone(): Histogram {
    return Histogram.fromJSON(this.toJSON());
  }

  static fromJSON(j: HistogramJSON): Histogram {
    const h = new Histogram(j.lo, j.hi, j.bins.length);
    h.bins = [...j.bins];
    h.under = j.under;
    h.over = j.over;
    return h;
  }
}
