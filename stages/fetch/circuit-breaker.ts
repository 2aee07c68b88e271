// A per-host circuit breaker: after `threshold` consecutive transient failures the host is
// "open" and requests to it fail fast for `cooldownMs`; then one probe request is let through
// ("half-open"). The probe's success closes the breaker; its failure opens it again.

export type BreakerOutcome = 'success' | 'failure' | 'neutral';

export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openUntil = 0;
  private probeInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /**
   * Asks to send one request. Returns a function to report its outcome (call it exactly
   * once), or null when the breaker is open and the request must fail fast.
   * `neutral` means the request said nothing about the host's health (e.g. it was aborted).
   */
  admit(): ((outcome: BreakerOutcome) => void) | null {
    let probe = false;
    if (this.isOpen()) {
      if (this.now() < this.openUntil || this.probeInFlight) return null;
      probe = this.probeInFlight = true;
    }
    let reported = false;
    return (outcome) => {
      if (reported) return;
      reported = true;
      if (probe) this.probeInFlight = false;
      if (outcome === 'success') {
        this.consecutiveFailures = 0;
        this.openUntil = 0;
      } else if (outcome === 'failure') {
        this.consecutiveFailures += 1;
        if (probe || this.consecutiveFailures >= this.threshold) this.openUntil = this.now() + this.cooldownMs;
      }
    };
  }

  isOpen(): boolean {
    return this.consecutiveFailures >= this.threshold;
  }

  /** Milliseconds until a probe may go through (0 when closed). */
  retryInMs(): number {
    return this.isOpen() ? Math.max(0, this.openUntil - this.now()) : 0;
  }

  idle(): boolean {
    return this.consecutiveFailures === 0 && !this.probeInFlight;
  }
}
