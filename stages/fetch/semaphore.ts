// A counting semaphore whose waiters can give up (abort) without leaking a permit.

export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly permits: number) {}

  /** Waits for a permit; the returned function gives it back (idempotent). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    if (this.active < this.permits) {
      this.active += 1;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(grant);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal!.reason);
        };
        this.waiters.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The permit passes straight to the next waiter, so `active` stays the same.
      if (next) next();
      else this.active -= 1;
    };
  }

  /** A permit if one is free now, else null (never waits, never jumps the queue). */
  tryAcquire(): (() => void) | null {
    if (this.active >= this.permits || this.waiters.length > 0) return null;
    this.active += 1;
    return this.releaser();
  }

  /** Permits held now. */
  get inUse(): number {
    return this.active;
  }

  idle(): boolean {
    return this.active === 0 && this.waiters.length === 0;
  }
}
