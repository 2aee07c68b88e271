// Run statistics that merge with `merge`: counters add, histograms add bins, t-digests merge,
// example reservoirs merge by hash priority. stats.json is RunStats.toJSON() of the fold of
// every committed unit's stats in unit order.
import { TDigest, type TDigestJSON } from './sketch/tdigest.ts';
import { Histogram, type HistogramJSON } from './sketch/histogram.ts';
import { BottomK, type BottomKJSON } from './sketch/bottom-k.ts';
import { TopK, type TopKJSON } from './sketch/top-k.ts';
import { mergeMaps, type Mergeable } from './mergeable.ts';

export class StageStats implements Mergeable<StageStats> {
  in = 0;
  out = 0;
  droppedByReason: Record<string, number> = {};
  busyMs = 0;

  dropped(reason: string, n = 1): void {
    this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + n;
  }

  get droppedTotal(): number {
    return Object.values(this.droppedByReason).reduce((a, b) => a + b, 0);
  }

  merge(o: StageStats): this {
    this.in += o.in;
    this.out += o.out;
    this.busyMs += o.busyMs;
    for (const [r, n] of Object.entries(o.droppedByReason)) this.dropped(r, n);
    return this;
  }

  clone(): StageStats {
    return new StageStats().merge(this);
  }
}

export interface KindTotals {
  /** Items that entered the pipeline for this kind. */
  seen: number;
  kept: number;
  dropped: number;
}

/** An example item kept for the report (a thumbnail as a data URI, caption, scores, reason). */
export type Example = Record<string, unknown>;

export interface RunStatsJSON {
  stages: Record<string, { in: number; out: number; dropped: Record<string, number>; busy_ms: number }>;
  kinds: Record<string, KindTotals>;
  /** Counters that are not per stage, e.g. failures per host. */
  counters: Record<string, Record<string, number>>;
  sketches: Record<string, TDigestJSON>;
  histograms: Record<string, HistogramJSON>;
  examples: Record<string, BottomKJSON<Example>>;
  /** Highest-valued examples per name (e.g. worst registration residuals). */
  worst: Record<string, TopKJSON<Example>>;
  units: number;
  wall_ms: number;
}

export class RunStats implements Mergeable<RunStats> {
  readonly stages = new Map<string, StageStats>();
  readonly kinds = new Map<string, KindTotals>();
  readonly counters = new Map<string, Map<string, number>>();
  readonly sketches = new Map<string, TDigest>();
  readonly histograms = new Map<string, Histogram>();
  readonly examples = new Map<string, BottomK<Example>>();
  readonly worst = new Map<string, TopK<Example>>();
  units = 0;
  wallMs = 0;

  stage(name: string): StageStats {
    let s = this.stages.get(name);
    if (!s) this.stages.set(name, (s = new StageStats()));
    return s;
  }

  kind(name: string): KindTotals {
    let k = this.kinds.get(name);
    if (!k) this.kinds.set(name, (k = { seen: 0, kept: 0, dropped: 0 }));
    return k;
  }

  count(group: string, key: string, n = 1): void {
    let g = this.counters.get(group);
    if (!g) this.counters.set(group, (g = new Map()));
    g.set(key, (g.get(key) ?? 0) + n);
  }

  sketch(name: string): TDigest {
    let d = this.sketches.get(name);
    if (!d) this.sketches.set(name, (d = new TDigest(100)));
    return d;
  }

  histogram(name: string, lo: number, hi: number, bins: number): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram(lo, hi, bins)));
    return h;
  }

  exampleSet(name: string, k = 12): BottomK<Example> {
    let b = this.examples.get(name);
    if (!b) this.examples.set(name, (b = new BottomK<Example>(k)));
    return b;
  }

  worstSet(name: string, k = 8): TopK<Example> {
    let t = this.worst.get(name);
    if (!t) this.worst.set(name, (t = new TopK<Example>(k)));
    return t;
  }

  merge(o: RunStats): this {
    for (const [n, s] of o.stages) this.stage(n).merge(s);
    for (const [n, k] of o.kinds) {
      const t = this.kind(n);
      t.seen += k.seen;
      t.kept += k.kept;
      t.dropped += k.dropped;
    }
    for (const [g, m] of o.counters) for (const [k, n] of m) this.count(g, k, n);
    mergeMaps(this.sketches, o.sketches);
    mergeMaps(this.histograms, o.histograms);
    mergeMaps(this.examples, o.examples);
    mergeMaps(this.worst, o.worst);
    this.units += o.units;
    this.wallMs += o.wallMs;
    return this;
  }

  clone(): RunStats {
    return new RunStats().merge(this);
  }

  toJSON(): RunStatsJSON {
    const obj = <V, J>(m: Map<string, V>, f: (v: V) => J) => Object.fromEntries([...m].map(([k, v]) => [k, f(v)]));
    return {
      stages: obj(this.stages, (s) => ({ in: s.in, out: s.out, dropped: { ...s.droppedByReason }, busy_ms: Math.round(s.busyMs) })),
      kinds: obj(this.kinds, (k) => ({ ...k })),
      counters: obj(this.counters, (m) => Object.fromEntries(m)),
      sketches: obj(this.sketches, (d) => d.toJSON()),
      histograms: obj(this.histograms, (h) => h.toJSON()),
      examples: obj(this.examples, (b) => b.toJSON()),
      worst: obj(this.worst, (t) => t.toJSON()),
      units: this.units,
      wall_ms: Math.round(this.wallMs),
    };
  }

  static fromJSON(j: RunStatsJSON): RunStats {
    const r = new RunStats();
    for (const [n, s] of Object.entries(j.stages)) {
      const st = r.stage(n);
      st.in = s.in;
      st.out = s.out;
      st.busyMs = s.busy_ms;
      st.droppedByReason = { ...s.dropped };
    }
    for (const [n, k] of Object.entries(j.kinds)) r.kinds.set(n, { ...k });
    for (const [g, m] of Object.entries(j.counters ?? {})) r.counters.set(g, new Map(Object.entries(m)));
    for (const [n, d] of Object.entries(j.sketches)) r.sketches.set(n, TDigest.fromJSON(d));
    for (const [n, h] of Object.entries(j.histograms)) r.histograms.set(n, Histogram.fromJSON(h));
    for (const [n, b] of Object.entries(j.examples)) r.examples.set(n, BottomK.fromJSON(b));
    for (const [n, t] of Object.entries(j.worst ?? {})) r.worst.set(n, TopK.fromJSON(t));
    r.units = j.units;
    r.wallMs = j.wall_ms;
    return r;
  }
}
