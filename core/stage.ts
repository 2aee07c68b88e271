// The stage contract: a stage is a function from an async iterable to an async iterable.
// Backpressure comes from pulling: a stage only asks upstream for the next item when its
// consumer asks it for one, and concurrent stages keep at most `concurrency` items in flight.
import pLimit from 'p-limit';
import type { RejectLedger, RejectValues } from './rejects.ts';
import type { RunStats, StageStats } from './stats.ts';
import type { Logger } from './logger.ts';

/** What every stage gets besides its input. */
export interface StageContext {
  /** The validated run config (see schemas/config.ts). Stages read their own section. */
  readonly config: unknown;
  readonly stats: RunStats;
  readonly rejects: RejectLedger;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** The unit being processed (one input shard). */
  readonly unit: { id: string; source: string };
  /**
   * Called once the unit waits only on work outside this process (the web pipeline: every row
   * is downloading and decode has caught up, stages/fetch/download-tail.ts). The executor may
   * then start its next unit (run/unit-pool.ts). Idempotent; absent where the executor does not
   * overlap units.
   */
  readonly unitTail?: () => void;
}

export type Stage<I, O> = (input: AsyncIterable<I>, ctx: StageContext) => AsyncIterable<O>;

/** The fields every item travelling through the pipeline carries, so it can be rejected. */
export interface Traceable {
  id: string;
  kind: string;
  source: string;
  /** Items that ride on this one's work and share its fate when it is dropped. */
  riders?: Riders;
}

/**
 * Items carried by another (rows naming one URL ride on a single download): when a stage drops
 * the carrier, the base drops each rider with the same stage and reason, counts it as an input
 * of that stage, and notes `why` in its detail.
 */
export interface Riders {
  readonly items: readonly Traceable[];
  readonly why: string;
}

/** A stage's verdict on one item that it does not pass on. */
export interface Drop {
  readonly drop: true;
  readonly reason: string;
  readonly detail: string;
  /** The measured value (or score) and the limit, as typed reject columns. */
  readonly values?: RejectValues;
}

export function drop(reason: string, detail = '', values?: RejectValues): Drop {
  return values ? { drop: true, reason, detail, values } : { drop: true, reason, detail };
}

export function isDrop(x: unknown): x is Drop {
  return typeof x === 'object' && x !== null && (x as Drop).drop === true && typeof (x as Drop).reason === 'string';
}

/** Thrown by a stage function to say "drop this item" from deep inside helper code. */
export class DropError extends Error {
  constructor(readonly reason: string, readonly detail = '', readonly values?: RejectValues) {
    super(`${reason}: ${detail}`);
  }
}

/**
 * Thrown when an input cannot be read at all (missing, no permission, I/O error, out of file
 * handles): a fact about the file system now, not about the content, so it fails the whole unit
 * (left uncommitted, retried on rerun) instead of becoming a permanent reject. Stages rethrow it.
 */
export class UnitFailure extends Error {}

/** Error codes of open/read failures that say nothing about the bytes. */
const READ_FAILURE_CODES = new Set(['ENOENT', 'EIO', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EBUSY', 'ENOTDIR', 'ESTALE', 'ETIMEDOUT']);

export function isReadFailure(err: unknown): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && READ_FAILURE_CODES.has((err as NodeJS.ErrnoException).code ?? '');
}

/** A UnitFailure naming the file and the code. */
export function readFailure(file: string, err: NodeJS.ErrnoException): UnitFailure {
  return new UnitFailure(`cannot read ${file}: ${err.code}${err.syscall ? ` (${err.syscall})` : ''}`);
}

/** A drop that names the item it drops: sources and expanding stages decide on items other
 *  than their input (a bad list row, a frame left without a partner, a skipped window). */
export interface ItemDrop extends Drop {
  readonly item: Traceable;
}

/** The item is kept whole (the ledger records only its id, kind, source and url), so the
 *  report's dropped example can show what it held, e.g. the picture of an image without a caption. */
export function dropItem<T extends Traceable>(item: T, reason: string, detail = '', values?: RejectValues): ItemDrop {
  return { drop: true, reason, detail, item, ...(values ? { values } : {}) };
}

function isItemDrop(x: unknown): x is ItemDrop {
  return isDrop(x) && typeof (x as ItemDrop).item === 'object';
}

export interface MapOptions<O = unknown, I = unknown> {
  /** Items processed at once; output order always equals input order. Default 1. */
  concurrency?: number;
  /** Reason code used when the function throws something other than DropError. */
  errorReason?: string;
  /**
   * Set for stages whose items take very different times (network fetches): items then finish
   * out of order and wait, in input order, in a buffer bounded by these bytes (byteWindowPool)
   * instead of a window of 2 x concurrency items, so one slow item does not idle the others.
   */
  reorderBufferBytes?: number;
  /** Bytes an output item holds while it waits in the reorder buffer (default 0; drops are 0). */
  sizeOf?: (out: O) => number;
  /**
   * Set to emit items in the order they finish (completionPool) instead of input order; a
   * RowOrder section downstream restores row order. The gate may hold new starts back while the
   * item the section waits for is one of this stage's own running items.
   */
  completionOrder?: StartGate;
  /**
   * Fair admission by key (a fetch stage: by host). At most `perKey` items of one key run at
   * once; the others wait, not started, in a queue per key that does not count against
   * `concurrency`, so one slow key cannot fill the stage's places and idle the other keys.
   * Only with `reorderBufferBytes` or `completionOrder`.
   */
  admission?: KeyedAdmission<I>;
}

export interface KeyedAdmission<I> {
  /** The key of an item; '' puts it under no per-key limit. */
  keyOf: (item: I) => string;
  /** Items of one key running at once. */
  perKey: number;
  /** Bytes of waiting, not yet started items (sizeOf plus 1 KiB each) past which nothing more
   *  is pulled from upstream. */
  maxWaitingBytes: number;
  sizeOf: (item: I) => number;
  /** Called as an item starts with a function that gives its key's place back early (the item
   *  goes on without it, e.g. a download redirected to another host); idempotent. */
  bind?: (item: I, leave: () => void) => void;
}

/** Asked by a completion-order pool before it starts another item. */
export interface StartGate {
  /** True to start nothing new until one of the held items (by id: running, or waiting in
   *  the pool's per-key queues) finishes. */
  holdBack(heldIds: ReadonlyMap<string, number>): boolean;
  /** True for the item the gate waits for: it may start even while the gate holds back. */
  awaits(id: string): boolean;
}

/**
 * A stage that maps each item to one output item or a Drop. Every drop goes to the rejects
 * ledger and the stage's counters; an unexpected exception on one item becomes a reject with
 * `errorReason` (default `<name>_failed`), never a crashed run.
 */
export function mapStage<I extends Traceable, O>(
  name: string,
  fn: (item: I, ctx: StageContext) => Promise<O | Drop> | O | Drop,
  options: MapOptions<O, I> = {},
): Stage<I, O> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const errorReason = options.errorReason ?? `${name}_failed`;
  return (input, ctx) => {
    // Registered when the first item arrives, so stats list stages in the order items reach
    // them (a source generator registers itself on its first read, before any stage).
    let registered: StageStats | undefined;
    const stats = () => (registered ??= ctx.stats.stage(name));
    const run = async (item: I): Promise<{ item: I; result: O | Drop }> => {
      const started = performance.now();
      try {
        return { item, result: await fn(item, ctx) };
      } catch (err) {
        if (err instanceof UnitFailure) throw err;
        if (err instanceof DropError) return { item, result: drop(err.reason, err.detail, err.values) };
        return { item, result: drop(errorReason, errorMessage(err)) };
      } finally {
        stats().busyMs += performance.now() - started;
      }
    };
    const settle = (r: { item: I; result: O | Drop }): O | undefined => {
      if (isDrop(r.result)) {
        recordDrop(ctx, stats(), name, r.item, r.result);
        return undefined;
      }
      stats().out += 1;
      return r.result;
    };
    const begin = (item: I) => {
      stats().in += 1;
      return run(item);
    };
    const admission = options.admission ? { admission: options.admission } : {};
    if (options.completionOrder) return completionPool(input, concurrency, ctx.signal, begin, settle, { idOf: (item: I) => item.id, gate: options.completionOrder, ...admission });
    if (options.reorderBufferBytes !== undefined) {
      const sizeOf = options.sizeOf ?? (() => 0);
      const bytes = (r: { result: O | Drop }) => (isDrop(r.result) ? 0 : sizeOf(r.result));
      return byteWindowPool(input, concurrency, ctx.signal, begin, settle, { maxBufferedBytes: options.reorderBufferBytes, sizeOf: bytes, ...admission });
    }
    return orderedPool(input, concurrency, ctx.signal, begin, settle);
  };
}

/** datatrove-style filter: return true to keep, or a Drop with the reason. */
export function filterStage<I extends Traceable>(
  name: string,
  keep: (item: I, ctx: StageContext) => Promise<true | Drop> | true | Drop,
  options: MapOptions<I, I> = {},
): Stage<I, I> {
  return mapStage<I, I>(name, async (item, ctx) => {
    const verdict = await keep(item, ctx);
    return verdict === true ? item : verdict;
  }, options);
}

/**
 * One input item to any number of outputs, with drops of named items: a listing to its pairs,
 * a video to its clip windows. A plain Drop (or an exception) drops the input itself. Counts:
 * `in` is every output (times its weight) and drop decided, `out` every output (times its weight).
 */
export interface ExpandOptions<O> extends MapOptions {
  /** How many counted things one output stands for (a pair of frames: 2). Default 1. */
  weight?: (output: O) => number;
}

export function expandStage<I extends Traceable, O>(
  name: string,
  fn: (item: I, ctx: StageContext) => Promise<Iterable<O | Drop>> | Iterable<O | Drop>,
  options: ExpandOptions<O> = {},
): Stage<I, O> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const errorReason = options.errorReason ?? `${name}_failed`;
  return async function* (input, ctx) {
    let registered: StageStats | undefined;
    const stats = () => (registered ??= ctx.stats.stage(name));
    const run = async (item: I): Promise<{ item: I; results: Iterable<O | Drop> }> => {
      const started = performance.now();
      try {
        return { item, results: [...(await fn(item, ctx))] };
      } catch (err) {
        if (err instanceof UnitFailure) throw err;
        if (err instanceof DropError) return { item, results: [drop(err.reason, err.detail, err.values)] };
        return { item, results: [drop(errorReason, errorMessage(err))] };
      } finally {
        stats().busyMs += performance.now() - started;
      }
    };
    const settle = (r: { item: I; results: Iterable<O | Drop> }): O[] => {
      const kept: O[] = [];
      for (const result of r.results) {
        if (isDrop(result)) {
          stats().in += 1;
          recordDrop(ctx, stats(), name, isItemDrop(result) ? result.item : r.item, result);
        } else {
          const w = options.weight?.(result) ?? 1;
          stats().in += w;
          stats().out += w;
          kept.push(result);
        }
      }
      return kept;
    };
    for await (const outputs of orderedPool(input, concurrency, ctx.signal, run, settle)) yield* outputs;
  };
}

export interface BatchOptions<I> {
  /** Items handed to the function at once (the last batch of a unit may be smaller). */
  batchSize: number;
  /** Reason code for every item of a batch whose function throws; default `<name>_failed`. */
  errorReason?: string;
  /** Called with the next batch while the current one is being processed (e.g. to start
   *  decoding its images), so work of two batches overlaps. */
  prefetch?: (next: readonly I[]) => void;
}

/**
 * datatrove's `filter_batch` for map: the function gets up to `batchSize` items and returns one
 * output or Drop per item, in order. While one batch runs the next is pulled from upstream, so
 * at most two batches are held. The base counts, times and writes every drop to the ledger.
 */
export function batchMapStage<I extends Traceable, O>(
  name: string,
  fn: (batch: I[], ctx: StageContext) => Promise<(O | Drop)[]>,
  options: BatchOptions<I>,
): Stage<I, O> {
  const batchSize = Math.max(1, options.batchSize);
  const errorReason = options.errorReason ?? `${name}_failed`;
  return async function* (input, ctx) {
    const iterator = input[Symbol.asyncIterator]();
    let exhausted = false;
    const take = async (): Promise<I[]> => {
      const batch: I[] = [];
      while (batch.length < batchSize && !ctx.signal.aborted) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        batch.push(next.value);
      }
      return batch;
    };
    const run = async (batch: I[]): Promise<(O | Drop)[]> => {
      const stats = ctx.stats.stage(name);
      stats.in += batch.length;
      const started = performance.now();
      try {
        const results = await fn(batch, ctx);
        if (results.length !== batch.length) throw new Error(`${name}: batch function returned ${results.length} results for ${batch.length} items`);
        return results;
      } catch (err) {
        if (err instanceof UnitFailure) throw err;
        const reason = err instanceof DropError ? err.reason : errorReason;
        const detail = err instanceof DropError ? err.detail : errorMessage(err);
        return batch.map(() => drop(reason, detail));
      } finally {
        stats.busyMs += performance.now() - started;
      }
    };
    try {
      let batch = await take();
      while (batch.length) {
        const running = run(batch);
        const next = exhausted || ctx.signal.aborted ? [] : await take();
        if (next.length) options.prefetch?.(next);
        const results = await running;
        const stats = ctx.stats.stage(name);
        for (const [i, result] of results.entries()) {
          if (isDrop(result)) recordDrop(ctx, stats, name, isItemDrop(result) ? result.item : batch[i], result);
          else {
            stats.out += 1;
            yield result;
          }
        }
        batch = next;
      }
    } finally {
      if (!exhausted) await iterator.return?.();
    }
  };
}

/** batchMapStage for verdicts: true keeps the item, a Drop drops it. */
export function batchFilterStage<I extends Traceable>(
  name: string,
  keep: (batch: I[], ctx: StageContext) => Promise<(true | Drop)[]>,
  options: BatchOptions<I>,
): Stage<I, I> {
  return batchMapStage<I, I>(name, async (batch, ctx) => (await keep(batch, ctx)).map((v, i) => (v === true ? batch[i] : v)), options);
}

/** Reads one unit: yields its items, and ItemDrops for what it could not use (bad rows, missing files). */
export type Source<O> = (ctx: StageContext) => AsyncIterable<O | ItemDrop>;

/**
 * The first stage of every pipeline: a source's items pass on, its drops go to the ledger under
 * `name`. Counts: `in` is every item (times its weight) and drop the source yields, `out` every
 * item (times its weight).
 */
export async function* readSource<O>(name: string, source: Source<O>, ctx: StageContext, options: { weight?: (item: O) => number } = {}): AsyncGenerator<O> {
  let registered: StageStats | undefined;
  const stats = () => (registered ??= ctx.stats.stage(name));
  for await (const x of source(ctx)) {
    if (isItemDrop(x)) {
      stats().in += 1;
      recordDrop(ctx, stats(), name, x.item, x);
    } else {
      const w = options.weight?.(x) ?? 1;
      stats().in += w;
      stats().out += w;
      yield x;
    }
  }
}

function recordDrop(ctx: StageContext, stats: StageStats, stage: string, item: Traceable, d: Drop): void {
  stats.dropped(d.reason);
  ctx.rejects.reject({ ...pick(item), stage, reason: d.reason, detail: d.detail, url: urlOf(item), ...d.values }, item);
  for (const rider of item.riders?.items ?? []) {
    stats.in += 1;
    stats.dropped(d.reason);
    ctx.rejects.reject({ ...pick(rider), stage, reason: d.reason, detail: `${d.detail} (${item.riders!.why})`, url: urlOf(rider), ...d.values }, rider);
  }
}

/** Two stages as one (a stage made of steps with their own names, such as score then grounding). */
export function compose<A, B, C>(first: Stage<A, B>, second: Stage<B, C>): Stage<A, C> {
  return (input, ctx) => second(first(input, ctx), ctx);
}

/** A stage that passes every item on untouched: the place of an optional stage that is off. */
export function passThrough<T>(): Stage<T, T> {
  return (input) => input;
}

/** Chain stages left to right; the compiler checks that each stage takes what the one before emits. */
export function pipe<A>(input: AsyncIterable<A>, ctx: StageContext): AsyncIterable<A>;
export function pipe<A, B>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>): AsyncIterable<B>;
export function pipe<A, B, C>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>): AsyncIterable<C>;
export function pipe<A, B, C, D>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>): AsyncIterable<D>;
export function pipe<A, B, C, D, E>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>): AsyncIterable<E>;
export function pipe<A, B, C, D, E, F>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>): AsyncIterable<F>;
export function pipe<A, B, C, D, E, F, G>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, s6: Stage<F, G>): AsyncIterable<G>;
export function pipe<A, B, C, D, E, F, G, H>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, s6: Stage<F, G>, s7: Stage<G, H>): AsyncIterable<H>;
export function pipe<A, B, C, D, E, F, G, H, I>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, s6: Stage<F, G>, s7: Stage<G, H>, s8: Stage<H, I>): AsyncIterable<I>;
export function pipe<A, B, C, D, E, F, G, H, I, J>(input: AsyncIterable<A>, ctx: StageContext, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, s6: Stage<F, G>, s7: Stage<G, H>, s8: Stage<H, I>, s9: Stage<I, J>): AsyncIterable<J>;
export function pipe(input: AsyncIterable<unknown>, ctx: StageContext, ...stages: Stage<unknown, unknown>[]): AsyncIterable<unknown> {
  return stages.reduce((acc, stage) => stage(acc, ctx), input);
}

/**
 * Runs `start` on up to `concurrency` items at once and yields settled results in input
 * order. Upstream is pulled only while fewer than 2 x `concurrency` items are started and not
 * yet yielded, so a slow consumer stalls the whole chain instead of growing a buffer.
 */
export async function* orderedPool<I, R, O>(
  input: AsyncIterable<I>,
  concurrency: number,
  signal: AbortSignal,
  start: (item: I) => Promise<R>,
  settle: (result: R) => O | undefined,
): AsyncGenerator<O> {
  const limit = pLimit(concurrency);
  // Up to `concurrency` items run at once; a window twice that wide lets the items behind a
  // slow one start (and finish) while it holds up the in-order output, so one slow item does
  // not idle the others. Memory stays bounded by the window.
  const window = concurrency === 1 ? 1 : concurrency * 2;
  const inFlight: Promise<R>[] = [];
  const iterator = input[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (true) {
      // After an abort nothing new is pulled; what is already in flight still settles.
      while (!exhausted && inFlight.length < window && !signal.aborted) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const item = next.value;
        const promise = limit(() => start(item));
        promise.catch(() => undefined); // surfaced when awaited in order below
        inFlight.push(promise);
      }
      if (inFlight.length === 0) break;
      const out = settle(await inFlight.shift()!);
      if (out !== undefined) yield out;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}

export interface ByteWindowOptions<R, I = unknown> {
  /** Bytes of finished results waiting behind an unfinished earlier item before no new item starts. */
  maxBufferedBytes: number;
  /** Bytes one finished result holds. */
  sizeOf: (result: R) => number;
  /** Fair admission by key (see MapOptions.admission). */
  admission?: KeyedAdmission<I>;
}

/** Bookkeeping charged per waiting item on top of sizeOf (the item's own fields, the entry). */
const WAITING_ENTRY_BYTES = 1024;

/**
 * The per-key queues of a pool with fair admission. An item whose key has `perKey` items
 * running (or older items of the key still waiting: keys are served first in, first out) waits
 * here, not started; when one of its key's items finishes, the key's oldest waiting item becomes
 * ready. Without an admission every item may start at once.
 */
class KeyQueues<I, T> {
  private readonly runningOf = new Map<string, number>();
  private readonly waitingOf = new Map<string, Array<{ item: I; tag: T; seq: number; bytes: number }>>();
  /** Keys with waiting items and a free place. */
  private readonly ready = new Set<string>();
  private seq = 0;
  waitingBytes = 0;
  waitingCount = 0;

  constructor(private readonly admission: KeyedAdmission<I> | undefined) {}

  keyOf(item: I): string {
    return this.admission ? this.admission.keyOf(item) : '';
  }

  /** Takes a place of `key` for an item that starts now, or false when it must wait (then call wait()). */
  tryStart(key: string): boolean {
    if (key === '' || !this.admission) return true;
    const n = this.runningOf.get(key) ?? 0;
    if (n >= this.admission.perKey || this.waitingOf.has(key)) return false;
    this.runningOf.set(key, n + 1);
    return true;
  }

  wait(key: string, item: I, tag: T): void {
    const bytes = WAITING_ENTRY_BYTES + this.admission!.sizeOf(item);
    let queue = this.waitingOf.get(key);
    if (!queue) this.waitingOf.set(key, (queue = []));
    queue.push({ item, tag, seq: this.seq++, bytes });
    this.waitingBytes += bytes;
    this.waitingCount += 1;
  }

  /** An item of `key` finished: its place goes to the key's oldest waiting item. */
  finished(key: string): void {
    if (key === '' || !this.admission) return;
    const n = (this.runningOf.get(key) ?? 1) - 1;
    if (n > 0) this.runningOf.set(key, n);
    else this.runningOf.delete(key);
    if (this.waitingOf.has(key)) this.ready.add(key);
  }

  /** The function that frees the place `item` of `key` took (once, however often it is called);
   *  the admission's bind hook gets it too, to free the place before the item finishes. */
  leaver(key: string, item: I, wake: () => void): () => void {
    let held = true;
    const leave = () => {
      if (!held) return;
      held = false;
      this.finished(key);
      wake();
    };
    this.admission?.bind?.(item, leave);
    return leave;
  }

  /** True while waiting items fill the byte bound: pull nothing more from upstream. */
  get full(): boolean {
    return this.admission !== undefined && this.waitingBytes >= this.admission.maxWaitingBytes;
  }

  /** True when take() would give an item (`only` as in take). */
  hasReady(only?: (item: I) => boolean): boolean {
    for (const key of this.ready) if (!only || only(this.waitingOf.get(key)![0].item)) return true;
    return false;
  }

  /**
   * The oldest waiting item whose key has a free place (only among those `only` accepts), its
   * place taken; or, with `all` (the run was aborted), the oldest waiting item whatever its key.
   */
  take(only?: (item: I) => boolean, all = false): { key: string; item: I; tag: T } | undefined {
    let best: string | undefined;
    let bestSeq = Infinity;
    for (const key of all ? this.waitingOf.keys() : this.ready) {
      const head = this.waitingOf.get(key)![0];
      if (head.seq < bestSeq && (!only || only(head.item))) {
        best = key;
        bestSeq = head.seq;
      }
    }
    if (best === undefined) return undefined;
    const queue = this.waitingOf.get(best)!;
    const entry = queue.shift()!;
    this.waitingBytes -= entry.bytes;
    this.waitingCount -= 1;
    const n = (this.runningOf.get(best) ?? 0) + 1;
    this.runningOf.set(best, n);
    if (queue.length === 0) this.waitingOf.delete(best);
    if (queue.length === 0 || n >= this.admission!.perKey) this.ready.delete(best);
    return { key: best, item: entry.item, tag: entry.tag };
  }
}

/**
 * Like orderedPool, but without head-of-line blocking: up to `concurrency` items run at once,
 * and a slot freed by any item is refilled at once, whatever is still running ahead of it.
 * Results are yielded in input order (the output is the same on every run); finished results
 * wait for the earlier ones in a buffer bounded by bytes (`maxBufferedBytes`, each result
 * charged sizeOf plus a small fixed cost), not by a count. Only when that buffer is full does
 * a slow item hold the others back. With an admission, items of a key at its limit wait in
 * their key's queue without taking a slot. Pulling stops after an abort; what is in flight settles.
 */
export async function* byteWindowPool<I, R, O>(
  input: AsyncIterable<I>,
  concurrency: number,
  signal: AbortSignal,
  start: (item: I) => Promise<R>,
  settle: (result: R) => O | undefined,
  options: ByteWindowOptions<R, I>,
): AsyncGenerator<O> {
  interface Entry {
    done: boolean;
    failed: boolean;
    value?: R;
    error?: unknown;
    bytes: number;
  }
  const waiting: Entry[] = []; // input order; waiting[head] is the oldest not yet yielded
  let head = 0;
  let running = 0;
  let bufferedBytes = 0;
  let wake: (() => void) | null = null;
  const queues = new KeyQueues<I, Entry>(options.admission);
  const launch = (item: I, key: string, entry: Entry) => {
    running += 1;
    const leave = queues.leaver(key, item, () => wake?.());
    const finished = () => {
      entry.done = true;
      running -= 1;
      leave();
      entry.bytes = WAITING_ENTRY_BYTES + (entry.failed ? 0 : options.sizeOf(entry.value as R));
      bufferedBytes += entry.bytes;
      wake?.();
    };
    start(item).then(
      (value) => {
        entry.value = value;
        finished();
      },
      (error: unknown) => {
        entry.failed = true;
        entry.error = error;
        finished();
      },
    );
  };
  const roomToStart = () => running < concurrency && bufferedBytes < options.maxBufferedBytes;
  const iterator = input[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (true) {
      // Waiting items first (they are older than anything upstream); after an abort they all
      // start, to settle at once as aborted.
      for (let next; (roomToStart() || signal.aborted) && (next = queues.take(undefined, signal.aborted)); ) launch(next.item, next.key, next.tag);
      while (!exhausted && roomToStart() && !queues.full && !signal.aborted) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const entry: Entry = { done: false, failed: false, bytes: 0 };
        waiting.push(entry);
        const key = queues.keyOf(next.value);
        if (queues.tryStart(key)) launch(next.value, key, entry);
        else queues.wait(key, next.value, entry);
      }
      while (head < waiting.length && waiting[head].done) {
        const entry = waiting[head];
        waiting[head++] = undefined as unknown as Entry;
        bufferedBytes -= entry.bytes;
        if (entry.failed) throw entry.error;
        const out = settle(entry.value as R);
        if (out !== undefined) yield out;
      }
      if (head > 1024 && head * 2 > waiting.length) {
        waiting.splice(0, head);
        head = 0;
      }
      if (head === waiting.length && (exhausted || signal.aborted)) break;
      const canStart = roomToStart() && (queues.hasReady() || (!exhausted && !signal.aborted && !queues.full));
      if (canStart || (signal.aborted && queues.waitingCount > 0)) continue;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}

/**
 * The unordered variant: up to `concurrency` items run at once and each result is yielded as
 * soon as it is settled, in the order items finish. Row order is restored downstream (RowOrder,
 * pipeline/row-order.ts), which may hold new starts back through `gate` while the row it waits
 * for is still held here (running, or waiting in its key's queue); the row it waits for may
 * still start. With an admission, items of a key at its limit wait in their key's queue without
 * taking a slot. Pulling stops after an abort; what is in flight settles.
 */
export async function* completionPool<I, R, O>(
  input: AsyncIterable<I>,
  concurrency: number,
  signal: AbortSignal,
  start: (item: I) => Promise<R>,
  settle: (result: R) => O | undefined,
  options: { idOf: (item: I) => string; gate?: StartGate; admission?: KeyedAdmission<I> },
): AsyncGenerator<O> {
  const finished: Array<{ ok: true; value: R } | { ok: false; error: unknown }> = [];
  /** Items pulled and not finished: running or waiting in a key queue. */
  const heldIds = new Map<string, number>();
  let running = 0;
  let wake: (() => void) | null = null;
  const queues = new KeyQueues<I, null>(options.admission);
  const launch = (item: I, key: string) => {
    const id = options.idOf(item);
    running += 1;
    const leave = queues.leaver(key, item, () => wake?.());
    const done = (f: { ok: true; value: R } | { ok: false; error: unknown }) => {
      finished.push(f);
      running -= 1;
      leave();
      const left = (heldIds.get(id) ?? 1) - 1;
      if (left > 0) heldIds.set(id, left);
      else heldIds.delete(id);
      wake?.();
    };
    start(item).then((value) => done({ ok: true, value }), (error: unknown) => done({ ok: false, error }));
  };
  const holding = () => running > 0 && options.gate !== undefined && options.gate.holdBack(heldIds);
  const awaited = (item: I) => options.gate!.awaits(options.idOf(item));
  const iterator = input[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (true) {
      // Finished items are handed on before anything new starts, so the gate judges new starts
      // by the row it waits for now, not by one that has just finished.
      while (finished.length > 0) {
        const f = finished.shift()!;
        if (!f.ok) throw f.error;
        const out = settle(f.value);
        if (out !== undefined) yield out;
      }
      // Waiting items first (they are older than anything upstream); while the gate holds back,
      // only the item it waits for. After an abort they all start, to settle at once as aborted.
      for (let next; (running < concurrency || signal.aborted) && (next = queues.take(signal.aborted || !holding() ? undefined : awaited, signal.aborted)); ) launch(next.item, next.key);
      while (!exhausted && running < concurrency && !queues.full && !signal.aborted) {
        if (holding()) break;
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const id = options.idOf(next.value);
        heldIds.set(id, (heldIds.get(id) ?? 0) + 1);
        const key = queues.keyOf(next.value);
        if (queues.tryStart(key)) launch(next.value, key);
        else queues.wait(key, next.value, null);
      }
      if (running === 0 && queues.waitingCount === 0 && finished.length === 0 && (exhausted || signal.aborted)) break;
      // Slots freed while results were handed on are refilled before waiting.
      const hold = holding();
      const canStart = running < concurrency && (queues.hasReady(hold ? awaited : undefined) || (!exhausted && !signal.aborted && !queues.full && !hold));
      if (canStart || finished.length > 0 || (signal.aborted && queues.waitingCount > 0)) continue;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}

function pick(item: Traceable): Traceable {
  return { id: item.id, kind: item.kind, source: item.source };
}

/** The URL an item was (or was to be) fetched from, for the rejects' url and host columns. */
function urlOf(item: Traceable): string | null {
  const url = (item as { url?: unknown }).url;
  return typeof url === 'string' && url.length > 0 ? url : null;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0].slice(0, 500);
  return String(err).slice(0, 500);
}
