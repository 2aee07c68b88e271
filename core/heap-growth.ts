// How far V8 lets the heap grow between full collections during a run.
//
// A run keeps a small live heap (about 25 MB: the loaded code, the run's sketches) and churns
// through short-lived objects around each decoded frame. V8 sizes the next full-GC limit at about
// twice a small live heap, so such a run ran a full mark-compact every ten or so RGB-D pairs
// (about 45 on 400 pairs); the collector's concurrent marking then took about as much CPU as the
// registration's hot loops (docs/rgbd.md, "The collector"). Letting the heap grow to four times
// its live size (V8's own ceiling for its dynamic factor) cuts that to about 14, with a bounded
// cost: at most three times the live heap more, and only while the live heap is small. Past
// LARGE_LIVE_HEAP_BYTES (a run that holds a lot, e.g. a big dedup index) V8's own dynamic factor
// is restored, so a large heap is never allowed to quadruple.
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Heap growth factor - 1, in percent, while the live heap is small (V8's flag; 0 = V8's own). */
export const SMALL_HEAP_GROWING_PERCENT = 300;
/** Live heap (after a full collection) from which V8's own growth rule applies again. */
export const LARGE_LIVE_HEAP_BYTES = 256 * 1024 * 1024;

let observer: PerformanceObserver | null = null;
let widened = false;

/** True for a `gc` performance entry of a full (mark-compact) collection. */
export function isFullCollection(entry: PerformanceEntry): boolean {
  return (entry as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR;
}

function setGrowingPercent(percent: number): void {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  widened = percent > 0;
}

/**
 * Applies the run's heap growth rule to this process (flags are process-wide: worker threads'
 * heaps follow it too). Idempotent; WEFT_V8_HEAP_GROWTH=default leaves V8's rule alone.
 */
export function useRunHeapGrowth(): void {
  if (observer || process.env.WEFT_V8_HEAP_GROWTH === 'default') return;
  setGrowingPercent(SMALL_HEAP_GROWING_PERCENT);
  observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some(isFullCollection)) return;
    const large = v8.getHeapStatistics().used_heap_size > LARGE_LIVE_HEAP_BYTES;
    if (large === widened) setGrowingPercent(large ? 0 : SMALL_HEAP_GROWING_PERCENT);
  });
  // A performance observer holds no handle: it does not keep a finished process alive.
  observer.observe({ entryTypes: ['gc'] });
}

/** True while the widened growth rule is in force (for tests and the bench's report). */
export function heapGrowthWidened(): boolean {
  return widened;
}
