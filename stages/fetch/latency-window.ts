// The recent send times of one host (from sending a request to the end of its response), and
// from them the time after which a request to that host is overdue: well past what the host
// usually takes. An overdue request gives its slots to a fresh request (http-session.ts).

/** Send times kept per host: enough for a stable 95th percentile, small enough to sort. */
const WINDOW = 64;
/** Below this many samples the host's usual time is unknown and only the floor applies. */
const MIN_SAMPLES = 8;
/** Overdue after this multiple of the host's 95th percentile send time. */
const QUANTILE_FACTOR = 2;

export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;
  /** The 95th percentile, recomputed only after new samples arrive. */
  private cachedP95: number | null = null;

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.samples.length < WINDOW) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    this.cachedP95 = null;
  }

  get count(): number {
    return this.samples.length;
  }

  /** The 95th percentile (nearest rank) of the window, or null with fewer than MIN_SAMPLES. */
  p95(): number | null {
    if (this.samples.length < MIN_SAMPLES) return null;
    if (this.cachedP95 === null) {
      const sorted = [...this.samples].sort((a, b) => a - b);
      this.cachedP95 = sorted[Math.ceil(0.95 * sorted.length) - 1];
    }
    return this.cachedP95;
  }

  /** max(floorMs, 2 x p95): past this a request to the host is overdue. */
  overdueAfterMs(floorMs: number): number {
    const p95 = this.p95();
    return p95 === null ? floorMs : Math.max(floorMs, QUANTILE_FACTOR * p95);
  }
}
