// A per-host request rate that follows what the host tells us: additive increase on success,
// multiplicative decrease on throttling (429, 503), as TCP does with its window. Large lists
// on a healthy CDN speed up from the configured rate towards the ceiling; a host that pushes
// back gets half the rate at once.

export interface AdaptiveRateLimits {
  /** Starting rate, requests per second. */
  start: number;
  /** Ceiling; never below `start`. */
  max: number;
  /** False keeps the rate at `start`. */
  adaptive: boolean;
}

/** The responses to requests already in flight when the rate was cut say nothing new. */
const CUT_AT_MOST_EVERY_MS = 1000;
/** Floor as a fraction of the starting rate. */
const FLOOR_FRACTION = 1 / 16;
/** Each success adds this fraction of the starting rate. */
const STEP_FRACTION = 1 / 20;

export class AdaptiveRate {
  private value: number;
  private lastCutAt = -Infinity;
  /** Times the rate was halved. */
  cuts = 0;

  constructor(private readonly limits: AdaptiveRateLimits, private readonly now: () => number = performance.now.bind(performance)) {
    this.value = limits.start;
  }

  get current(): number {
    return this.value;
  }

  /** A response that was neither throttling nor a server error; returns the new rate. */
  success(): number {
    if (!this.limits.adaptive) return this.value;
    const ceiling = Math.max(this.limits.start, this.limits.max);
    this.value = Math.min(ceiling, this.value + this.limits.start * STEP_FRACTION);
    return this.value;
  }

  /** A 429 or 503: halve the rate (once per second at most); returns the new rate. */
  throttled(): number {
    if (!this.limits.adaptive) return this.value;
    const now = this.now();
    if (now - this.lastCutAt < CUT_AT_MOST_EVERY_MS) return this.value;
    this.lastCutAt = now;
    this.cuts += 1;
    this.value = Math.max(this.limits.start * FLOOR_FRACTION, this.value / 2);
    return this.value;
  }

  /** True when forgetting this state loses nothing a host asked for: no cut below the starting
   *  rate is in force. (A raised rate may be forgotten: it is earned again quickly.) */
  idle(): boolean {
    return this.value >= this.limits.start && this.now() - this.lastCutAt >= CUT_AT_MOST_EVERY_MS;
  }
}
