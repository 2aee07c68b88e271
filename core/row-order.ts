// Row order restored after a section of stages whose items finish out of order (a fetch stage in
// completion order, and whatever follows it). Inside the section a slow item (a hanging URL)
// holds only its own slot: the items behind it are fetched and decoded meanwhile, and wait here,
// already processed, until it is done. The section's output is in row order, so everything after
// it (exact dedup, near-duplicate marks, the shards) is the same on every run.
//
// Each item is numbered as it enters the section. An item leaves when every earlier number has
// left or was rejected (the section's rejects pass through a ledger that notes them). Memory: what
// waits here is bounded by `maxBytes` through the StartGate: while the waiting bytes are over it
// and the row everyone waits for is still held by the gated stage (running, or waiting in its
// per-host queue), that stage starts nothing new but that row. (A row held elsewhere in the
// section is never waited on, so the gate cannot deadlock.)
import type { RejectLedger, RejectRecord } from './rejects.ts';
import type { Stage, StartGate, Traceable } from './stage.ts';

/** Bookkeeping charged per waiting item on top of sizeOf. */
const WAITING_ENTRY_BYTES = 1024;

export class RowOrder<T extends Traceable> implements StartGate {
  private nextSeq = 0;
  private readonly seqsOf = new Map<string, number[]>();
  private readonly idOfSeq = new Map<number, string>();
  private readonly waiting = new Map<number, { item: T; bytes: number; blocked: boolean }>();
  private readonly gone = new Set<number>();
  /** The lowest number neither arrived nor rejected: the row everything after it waits for. */
  private head = 0;
  /** The lowest number not yet handed on. */
  private flushed = 0;
  /** Bytes of arrived items behind the head. */
  private blockedBytes = 0;
  /** Most bytes that ever waited behind the head (for tests and benchmarks). */
  peakBlockedBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {}

  holdBack(heldIds: ReadonlyMap<string, number>): boolean {
    if (this.blockedBytes < this.maxBytes) return false;
    const headId = this.idOfSeq.get(this.head);
    return headId !== undefined && heldIds.has(headId);
  }

  awaits(id: string): boolean {
    return this.idOfSeq.get(this.head) === id;
  }

  /** Wraps `inner` so that its output comes out in the order its input went in. */
  section<I extends Traceable>(inner: Stage<I, T>): Stage<I, T> {
    return (input, ctx) => {
      const order = this;
      async function* numbered(): AsyncGenerator<I> {
        for await (const item of input) {
          order.enter(item.id);
          yield item;
        }
      }
      const rejects = noting(ctx.rejects, (row) => order.rejected(row.id));
      return (async function* () {
        for await (const out of inner(numbered(), { ...ctx, rejects })) {
          const stray = order.arrived(out);
          if (stray) yield stray;
          yield* order.ready();
        }
        order.finish();
        yield* order.ready();
      })();
    };
  }

  private enter(id: string): void {
    const seq = this.nextSeq++;
    const list = this.seqsOf.get(id);
    if (list) list.push(seq);
    else this.seqsOf.set(id, [seq]);
    this.idOfSeq.set(seq, id);
  }

  private take(id: string): number | undefined {
    const list = this.seqsOf.get(id);
    if (!list) return undefined;
    const seq = list.shift();
    if (list.length === 0) this.seqsOf.delete(id);
    return seq;
  }

  /** Returns the item itself when it never entered the section (passed on at once). */
  private arrived(item: T): T | undefined {
    const seq = this.take(item.id);
    if (seq === undefined) return item;
    const blocked = seq > this.head;
    const bytes = WAITING_ENTRY_BYTES + this.sizeOf(item);
    this.waiting.set(seq, { item, bytes, blocked });
    if (blocked) {
      this.blockedBytes += bytes;
      this.peakBlockedBytes = Math.max(this.peakBlockedBytes, this.blockedBytes);
    }
    this.advance();
    return undefined;
  }

  private rejected(id: string): void {
    const seq = this.take(id);
    if (seq === undefined) return;
    this.gone.add(seq);
    this.advance();
  }

  private advance(): void {
    for (;;) {
      const w = this.waiting.get(this.head);
      if (w) {
        if (w.blocked) {
          this.blockedBytes -= w.bytes;
          w.blocked = false;
        }
      } else if (this.gone.has(this.head)) {
        this.gone.delete(this.head);
      } else {
        return;
      }
      this.idOfSeq.delete(this.head);
      this.head++;
    }
  }

  /** The input ended: numbers that neither arrived nor were rejected (an aborted run) are skipped. */
  private finish(): void {
    while (this.head < this.nextSeq) {
      const w = this.waiting.get(this.head);
      if (w?.blocked) {
        this.blockedBytes -= w.bytes;
        w.blocked = false;
      }
      this.gone.delete(this.head);
      this.idOfSeq.delete(this.head);
      this.head++;
    }
  }

  private *ready(): Generator<T> {
    while (this.flushed < this.head) {
      const w = this.waiting.get(this.flushed);
      this.waiting.delete(this.flushed);
      this.flushed++;
      if (w) yield w.item;
    }
  }
}

/** A ledger that tells `onReject` about every row it records. */
function noting(ledger: RejectLedger, onReject: (row: RejectRecord) => void): RejectLedger {
  return {
    rows: ledger.rows,
    reject(row: RejectRecord, item?: unknown): void {
      ledger.reject(row, item);
      onReject(row);
    },
  } as RejectLedger;
}
