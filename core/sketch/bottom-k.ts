// Bottom-k sample by a hash of the item id: a reservoir that merges exactly. Whichever
// process saw an item, the k items with the smallest hashes win, so a report's examples are
// the same for one process or fifty.
import type { Mergeable } from '../mergeable.ts';
import { createHash } from 'node:crypto';

export interface BottomKJSON<T> {
  k: number;
  items: { priority: string; item: T }[];
}

export class BottomK<T> implements Mergeable<BottomK<T>> {
  items: { priority: string; item: T }[] = [];

  constructor(readonly k: number) {}

  static priority(id: string): string {
    return createHash('sha1').update(id).digest('hex').slice(0, 16);
  }

  /** Whether an item with this id would currently be kept (lets callers skip making a thumbnail). */
  wouldKeep(id: string): boolean {
    if (this.items.length < this.k) return true;
    return BottomK.priority(id) < this.items[this.items.length - 1].priority;
  }

  add(id: string, item: T): void {
    const priority = BottomK.priority(id);
    if (this.items.length >= this.k && priority >= this.items[this.items.length - 1].priority) return;
    this.items.push({ priority, item });
    this.items.sort((a, b) => (a.priority < b.priority ? -1 : a.priority > b.priority ? 1 : 0));
    if (this.items.length > this.k) this.items.length = this.k;
  }

  merge(other: BottomK<T>): this {
    const all = [...this.items, ...other.items].sort((a, b) => (a.priority < b.priority ? -1 : a.priority > b.priority ? 1 : 0));
    const seen = new Set<string>();
    this.items = all.filter((e) => (seen.has(e.priority) ? false : (seen.add(e.priority), true))).slice(0, this.k);
    return this;
  }

  toJSON(): BottomKJSON<T> {
    return { k: this.k, items: this.items };
  }

  clone(): BottomK<T> {
    return BottomK.fromJSON(this.toJSON());
  }

  static fromJSON<T>(j: BottomKJSON<T>): BottomK<T> {
    const b = new BottomK<T>(j.k);
    b.items = [...j.items];
    return b;
  }
}
