// The k items with the highest value (ties broken by id): "worst examples" for the report
// that merge exactly, so the same items are shown whatever the number of processes.
import type { Mergeable } from '../mergeable.ts';
export interface TopKJSON<T> {
  k: number;
  items: { value: number; id: string; item: T }[];
}

export class TopK<T> implements Mergeable<TopK<T>> {
  items: { value: number; id: string; item: T }[] = [];

  constructor(readonly k: number) {}

  private static before(a: { value: number; id: string }, b: { value: number; id: string }): number {
    return b.value - a.value || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /** Whether an item with this value would currently be kept (lets callers skip costly work). */
  wouldKeep(value: number, id: string): boolean {
    if (this.items.length < this.k) return true;
    return TopK.before({ value, id }, this.items[this.items.length - 1]) < 0;
  }

  add(value: number, id: string, item: T): void {
    if (!Number.isFinite(value) || !this.wouldKeep(value, id)) return;
    this.items = this.items.filter((e) => e.id !== id);
    this.items.push({ value, id, item });
    this.items.sort(TopK.before);
    if (this.items.length > this.k) this.items.length = this.k;
  }

  merge(other: TopK<T>): this {
    for (const e of other.items) this.add(e.value, e.id, e.item);
    return this;
  }

  toJSON(): TopKJSON<T> {
    return { k: this.k, items: this.items };
  }

  clone(): TopK<T> {
    return TopK.fromJSON(this.toJSON());
  }

  static fromJSON<T>(j: TopKJSON<T>): TopK<T> {
    const t = new TopK<T>(j.k);
    t.items = [...j.items];
    return t;
  }
}
