// Per-host politeness: at most N fresh requests in flight to a host (plus at most `perHostOverflow`
// overdue ones that gave their slot up, see overflow()), a token bucket spacing them at the host's
// adaptive rate, a pause when the host sends Retry-After, and a circuit breaker that stops sending
// to a host that keeps failing at the host level. State for a host is dropped once
// it is idle, so a list touching millions of hosts does not grow this map without bound.
import { AdaptiveRate } from './adaptive-rate.ts';
import { CircuitBreaker, type BreakerOutcome } from './circuit-breaker.ts';
import { LatencyWindow } from './latency-window.ts';
import { Semaphore } from './semaphore.ts';
import { TokenBucket } from './token-bucket.ts';

export interface HostLimits {
  perHostConcurrency: number;
  ratePerSecond: number;
  /** Ceiling of the adaptive rate (ignored below ratePerSecond). */
  rateMax?: number;
  /** Adapt the rate to 429/503 and successes (default true). */
  adaptive?: boolean;
  burst: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Overdue requests to one host that may run on past their slot (default 0: none). */
  perHostOverflow?: number;
  /** A request is never overdue before this many ms (default: never overdue). */
  overdueFloorMs?: number;
}

interface HostState {
  slots: Semaphore;
  bucket: TokenBucket;
  rate: AdaptiveRate;
  breaker: CircuitBreaker;
  /** Overdue requests of this host that gave their slot up and still run. */
  overflow: Semaphore;
  latency: LatencyWindow;
  /** Admissions and slot holders not yet finished; the state must outlive them. */
  users: number;
}

export class HostLimiter {
  private readonly hosts = new Map<string, HostState>();
  private createdSinceSweep = 0;

  constructor(
    private readonly limits: HostLimits,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /**
   * The breaker's permission for one request to `host`, asked right before it is sent: a
   * reporter to call with the outcome, or null when the host's breaker is open (fail fast).
   */
  admit(host: string): ((outcome: BreakerOutcome) => void) | null {
    const state = this.state(host);
    const report = state.breaker.admit();
    if (!report) {
      this.maybeForget(host, state);
      return null;
    }
    state.users += 1;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      report(outcome);
      state.users -= 1;
      this.maybeForget(host, state);
    };
  }

  /** True while the breaker refuses requests (no probe is due yet): queueing for it is pointless. */
  refusing(host: string): boolean {
    const b = this.hosts.get(host)?.breaker;
    return b !== undefined && b.isOpen() && b.retryInMs() > 0;
  }

  /** Waits for a free slot to `host` and then for its rate limit; returns the slot's release. */
  async acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    const state = this.state(host);
    state.users += 1;
    let releaseSlot: (() => void) | null = null;
    try {
      releaseSlot = await state.slots.acquire(signal);
      await state.bucket.take(signal);
    } catch (err) {
      releaseSlot?.();
      state.users -= 1;
      this.maybeForget(host, state);
      throw err;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      releaseSlot!();
      state.users -= 1;
      this.maybeForget(host, state);
    };
  }

  /**
   * For a request to `host` that is overdue: a permit to keep running outside the host's slots
   * (the caller then frees its slot for a fresh request), or null when `perHostOverflow` overdue
   * requests of the host run already. The permit's release must be called when the request ends.
   */
  overflow(host: string): (() => void) | null {
    const state = this.state(host);
    const release = state.overflow.tryAcquire();
    if (!release) return null;
    state.users += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      state.users -= 1;
      this.maybeForget(host, state);
    };
  }

  /** A request to `host` got its response after `ms` of sending: the host's usual time learns it. */
  recordSendTime(host: string, ms: number): void {
    this.hosts.get(host)?.latency.add(ms);
  }

  /** Ms after sending at which a request to `host` is overdue: max(floor, 2 x the host's recent p95). */
  overdueAfterMs(host: string): number {
    const floor = this.limits.overdueFloorMs ?? Infinity;
    return this.hosts.get(host)?.latency.overdueAfterMs(floor) ?? floor;
  }

  /** Holds every request to `host` back for `ms` (a Retry-After from the host). */
  pause(host: string, ms: number): void {
    this.state(host).bucket.pauseUntil(this.now() + ms);
  }

  /** The host answered normally: its adaptive rate rises a step. */
  succeeded(host: string): void {
    const s = this.hosts.get(host);
    if (s) s.bucket.setRate(s.rate.success());
  }

  /** The host throttled (429, 503): its adaptive rate halves. */
  throttled(host: string): void {
    const s = this.state(host);
    s.bucket.setRate(s.rate.throttled());
    this.maybeForget(host, s);
  }

  /** The rate requests to `host` are spaced at now (requests per second). */
  rateOf(host: string): number {
    return this.hosts.get(host)?.rate.current ?? this.limits.ratePerSecond;
  }

  /** Milliseconds until an open breaker lets a probe through; 0 when closed. */
  breakerRetryInMs(host: string): number {
    return this.hosts.get(host)?.breaker.retryInMs() ?? 0;
  }

  /** Hosts with live state (for tests and memory checks). */
  get size(): number {
    return this.hosts.size;
  }

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) {
      const l = this.limits;
      s = {
        slots: new Semaphore(l.perHostConcurrency),
        bucket: new TokenBucket(l.ratePerSecond, l.burst, this.now),
        rate: new AdaptiveRate({ start: l.ratePerSecond, max: l.rateMax ?? l.ratePerSecond, adaptive: l.adaptive ?? true }, this.now),
        breaker: new CircuitBreaker(l.breakerFailures, l.breakerCooldownMs, this.now),
        overflow: new Semaphore(l.perHostOverflow ?? 0),
        latency: new LatencyWindow(),
        users: 0,
      };
      this.hosts.set(host, s);
      // A host's bucket only becomes idle some time after its last request, when nothing calls
      // maybeForget any more; an occasional sweep collects those.
      if (++this.createdSinceSweep >= 1024) this.sweep();
    }
    return s;
  }

  private sweep(): void {
    this.createdSinceSweep = 0;
    for (const [host, s] of this.hosts) this.maybeForget(host, s);
  }

  private maybeForget(host: string, s: HostState): void {
    if (s.users === 0 && s.slots.idle() && s.bucket.idle() && s.breaker.idle() && s.rate.idle() && this.hosts.get(host) === s) this.hosts.delete(host);
  }
}
