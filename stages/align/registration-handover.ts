// Registration that starts on this thread and hands over to a pool of worker threads once the
// run has registered enough pairs to repay the pool. Where no core is spare (2 CPUs), a pool
// costs a fixed few hundred ms of CPU (its code bundle, each worker's own JIT warm-up) and gains
// a little per pair at steady state (the main thread stops being the longest chain), so it pays
// only on long runs; registering on this thread until then is the rent-or-buy rule: rent until
// what renting lost matches the price of buying (docs/rgbd.md has the figures).
import type { RgbImage } from '../decode/rgb-image.ts';
import type { DepthMap } from '../decode/depth-png.ts';
import { RegistrationPool } from './registration-pool.ts';
import { registerDepthToRgb, type Registration, type RegistrationOptions } from './rgbd-registration.ts';

/** What the registration stage calls: this thread, a pool, or one handing over to the other. */
export interface Registrar {
  /** Pairs the stage registers at once. */
  readonly concurrency: number;
  register(rgb: RgbImage, depth: DepthMap, options: RegistrationOptions): Registration | Promise<Registration>;
  close(): Promise<void>;
}

/**
 * Pairs registered on this thread before a pool takes over on 2 CPUs (see defaultRegistration):
 * where a run of that many pairs took as long with the pool from the first pair as on this
 * thread alone (docs/rgbd.md), so that renting cost what buying would have.
 */
export const HANDOVER_PAIRS_NO_SPARE_CORE = 100;

/**
 * The default for a machine with `cpus` CPUs: one worker per CPU at most `concurrency`, started
 * at once where cores are spare (more than 2 CPUs), after HANDOVER_PAIRS_NO_SPARE_CORE pairs on
 * 2 CPUs, and never on 1.
 */
export function defaultRegistration(concurrency: number, cpus: number): { workers: number; mainThreadPairs: number } {
  const workers = Math.min(concurrency, cpus);
  if (cpus <= 1 || workers < 1) return { workers: 0, mainThreadPairs: Infinity };
  return { workers, mainThreadPairs: cpus <= 2 ? HANDOVER_PAIRS_NO_SPARE_CORE : 0 };
}

/** Pool started ahead of the hand-over, so that its workers are up when it comes. */
const START_AHEAD_PAIRS = 8;

export class HandOverRegistrar implements Registrar {
  private registered = 0;
  private pool: RegistrationPool | null = null;

  /** `mainThreadPairs` 0: the pool from the first pair; Infinity: this thread only. */
  constructor(readonly workers: number, readonly mainThreadPairs: number) {
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${workers}`);
  }

  get concurrency(): number {
    return this.workers > 0 && Number.isFinite(this.mainThreadPairs) ? this.workers : 1;
  }

  /** Whether the pool has been started (for tests and measurements). */
  get poolStarted(): boolean {
    return this.pool !== null;
  }

  register(rgb: RgbImage, depth: DepthMap, options: RegistrationOptions): Registration | Promise<Registration> {
    const index = this.registered++;
    if (this.workers > 0 && index + START_AHEAD_PAIRS >= this.mainThreadPairs) this.pool ??= new RegistrationPool(this.workers).warm();
    if (index < this.mainThreadPairs || !this.pool) return registerDepthToRgb(rgb, depth, options);
    return this.pool.register(rgb, depth, options);
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}
