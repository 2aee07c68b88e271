// The one interface every piece of mergeable run state implements (counters, histograms,
// t-digests, example reservoirs): stats from any number of units, processes or machines fold
// into the same result with `merge`, whatever the order of arrival of identical inputs.
export interface Mergeable<T> {
  /** Fold `other` into this one. */
  merge(other: T): this;
  /** An independent copy, so a merged-into value never aliases a source's state. */
  clone(): T;
}

/** Merge every entry of `from` into `into`: entries present in both merge, the rest are cloned in. */
export function mergeMaps<T extends Mergeable<T>>(into: Map<string, T>, from: Map<string, T>): void {
  for (const [name, value] of from) {
    const mine = into.get(name);
    if (mine) mine.merge(value);
    else into.set(name, value.clone());
  }
}
