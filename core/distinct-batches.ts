// Batches in which no two members share a group (e.g. a k-means cluster): a contrastive batch
// with two near-identical pairs pushes them apart as negatives (false negatives). Items arrive in
// a (shuffled) order; an item whose group the open batch already holds waits in a queue and
// opens a later batch. The queue is bounded (`maxWaiting`): when one group is too large to spread
// out, the oldest waiting item joins the open batch anyway, counted in `relaxed`. An item with a
// null group is a group of its own. Every item is emitted exactly once, in full batches of `size`
// except the last.
export class DistinctGroupBatcher<T> {
  private batch: T[] = [];
  private groups = new Set<string | number>();
  private waiting: T[] = [];
  /** Items placed in a batch that already held their group. */
  relaxed = 0;

  constructor(
    private readonly size: number,
    private readonly groupOf: (item: T) => string | number | null,
    private readonly maxWaiting = 4 * size,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be a positive integer, got ${size}`);
  }

  /** Adds an item; returns the batches it completed (usually none or one). */
  push(item: T): T[][] {
    const out: T[][] = [];
    if (!this.tryAdd(item)) this.waiting.push(item);
    while (this.waiting.length > this.maxWaiting) this.force(this.waiting.shift()!, out);
    this.emitFull(out);
    return out;
  }

  /** The remaining batches, once every item was pushed. */
  flush(): T[][] {
    const out: T[][] = [];
    this.emitFull(out);
    while (this.waiting.length) this.force(this.waiting.shift()!, out);
    if (this.batch.length) out.push(this.batch);
    this.batch = [];
    this.groups = new Set();
    return out;
  }

  private tryAdd(item: T): boolean {
    const g = this.groupOf(item);
    if (g !== null && this.groups.has(g)) return false;
    this.batch.push(item);
    if (g !== null) this.groups.add(g);
    return true;
  }

  private force(item: T, out: T[][]): void {
    if (!this.tryAdd(item)) {
      this.batch.push(item);
      this.relaxed++;
    }
    this.emitFull(out);
  }

  /** Emits a full open batch, then opens the next one with the waiting items it can take. */
  private emitFull(out: T[][]): void {
    while (this.batch.length >= this.size) {
      out.push(this.batch);
      this.batch = [];
      this.groups = new Set();
      const still: T[] = [];
      for (const w of this.waiting) if (this.batch.length >= this.size || !this.tryAdd(w)) still.push(w);
      this.waiting = still;
    }
  }
}

/** Every item in batches of `size` with distinct groups where possible (see DistinctGroupBatcher). */
export function distinctGroupBatches<T>(items: Iterable<T>, size: number, groupOf: (item: T) => string | number | null): { batches: T[][]; relaxed: number } {
  const b = new DistinctGroupBatcher(size, groupOf);
  const batches: T[][] = [];
  for (const item of items) batches.push(...b.push(item));
  batches.push(...b.flush());
  return { batches, relaxed: b.relaxed };
}
