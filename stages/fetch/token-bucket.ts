// A token bucket that delays instead of refusing: `take` resolves when the caller may send.
// Kept as a single "theoretical arrival time" (GCRA), so waiting callers need no timers of
// their own beyond one sleep each, and the bucket is a few numbers however many wait.
import { sleep } from './abortable.ts';

export class TokenBucket {
  private intervalMs: number;
  private toleranceMs: number;
  /** When the bucket would be empty if every reservation so far were sent on schedule. */
  private tat = 0;
  /** Nothing is sent before this (a Retry-After), whatever the rate becomes meanwhile. */
  private pausedUntil = 0;

  constructor(ratePerSecond: number, private readonly burst: number, private readonly now: () => number = performance.now.bind(performance)) {
    this.intervalMs = 1000 / ratePerSecond;
    this.toleranceMs = (Math.max(1, burst) - 1) * this.intervalMs;
  }

  /** Requests per second from now on (slots already reserved keep their times). */
  setRate(ratePerSecond: number): void {
    this.intervalMs = 1000 / ratePerSecond;
    this.toleranceMs = (Math.max(1, this.burst) - 1) * this.intervalMs;
  }

  get ratePerSecond(): number {
    return 1000 / this.intervalMs;
  }

  /** Reserves the next send slot and returns how long to wait for it. */
  reserve(): number {
    const now = this.now();
    const at = Math.max(now, this.tat - this.toleranceMs, this.pausedUntil);
    this.tat = Math.max(this.tat, at) + this.intervalMs;
    return at - now;
  }

  /** Waits for a send slot. */
  async take(signal?: AbortSignal): Promise<void> {
    await sleep(this.reserve(), signal);
  }

  /** Sends nothing before `untilMs` (this bucket's clock), then at most one per interval. */
  pauseUntil(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
    this.tat = Math.max(this.tat, untilMs + this.toleranceMs);
  }

  /** True when a new caller would be served at once with a full burst: the state is disposable. */
  idle(): boolean {
    const now = this.now();
    return this.tat <= now && this.pausedUntil <= now;
  }
}
