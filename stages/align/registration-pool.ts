// A small pool of worker threads that run registerDepthToRgb. Each worker takes one pair at a
// time; further pairs wait in a queue, so the caller bounds memory by bounding how many pairs it
// has in flight (the registration stage passes the pool size as its concurrency).
// Pixels travel without copies where they can: a frame whose typed array owns its whole buffer
// is transferred to the worker and transferred back with the reply, and the caller's RgbImage
// and DepthMap get the returned arrays (same pixels) before the promise resolves. Until then
// the caller must not read them. A frame that is a view into a larger buffer (a Node Buffer
// from a pool, say) is copied into a fresh buffer instead, so nothing the caller owns is detached.
// Idle workers are unref'd, so a pool that is never closed does not keep the process alive.
//
// Workers start from plain JavaScript: the worker's TypeScript (registration-worker.ts and what it
// imports) is bundled once per process into one CommonJS script by esbuild, and each worker
// evaluates that script. Loading tsx in each worker instead cost 250-350 ms of
// CPU per worker. Where esbuild cannot be loaded, workers fall back to registering tsx
// (registration-worker-boot.mjs).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RgbImage } from '../decode/rgb-image.ts';
import type { DepthMap } from '../decode/depth-png.ts';
import type { Registration, RegistrationOptions } from './rgbd-registration.ts';
import type { RegistrationReply, RegistrationRequest } from './registration-worker.ts';

const BOOT_URL = new URL('./registration-worker-boot.mjs', import.meta.url);
const WORKER_SOURCE_URL = new URL('./registration-worker.ts', import.meta.url);

/** The part of esbuild's API used here. */
interface EsbuildSync {
  buildSync(options: Record<string, unknown>): { outputFiles: { text: string }[] };
}

let bundle: string | null | undefined;

/** The worker's code as one CommonJS script, built on first use; null if esbuild is not there. */
function workerBundle(): string | null {
  if (bundle !== undefined) return bundle;
  try {
    const esbuild = createRequire(import.meta.url)('esbuild') as EsbuildSync;
    const out = esbuild.buildSync({
      entryPoints: [fileURLToPath(WORKER_SOURCE_URL)],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    bundle = out.outputFiles[0].text;
  } catch {
    bundle = null;
  }
  return bundle;
}

interface Job {
  request: RegistrationRequest;
  /** Where the returned pixels go back (null: a copy was sent, the caller kept its own). */
  rgbHome: RgbImage | null;
  depthHome: DepthMap | null;
  resolve: (r: Registration) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** A plain (not shared) ArrayBuffer that this array spans exactly: safe to transfer. */
function ownsWholeBuffer(a: Uint8Array | Uint16Array): boolean {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

export class RegistrationPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  /** How the workers load their code: 'bundle' (plain JavaScript) or 'tsx' (the fallback). */
  readonly boot: 'bundle' | 'tsx';

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`registration pool size must be a positive integer, got ${size}`);
    this.boot = workerBundle() === null ? 'tsx' : 'bundle';
  }

  /** Measure the registration of one pair in a worker; same result as registerDepthToRgb. */
  register(rgb: RgbImage, depth: DepthMap, options: RegistrationOptions = {}): Promise<Registration> {
    if (this.closed) return Promise.reject(new Error('registration pool is closed'));
    if (depth.width !== rgb.width || depth.height !== rgb.height) {
      return Promise.reject(new RangeError(`rgb ${rgb.width}x${rgb.height} and depth ${depth.width}x${depth.height} differ`));
    }
    // new TypedArray(typedArray) copies into a fresh, exactly sized buffer (a Buffer's .slice would be a view).
    const rgbMoves = ownsWholeBuffer(rgb.data);
    const depthMoves = ownsWholeBuffer(depth.data);
    const request: RegistrationRequest = {
      id: this.nextId++,
      width: rgb.width,
      height: rgb.height,
      rgb: rgbMoves ? rgb.data : new Uint8Array(rgb.data),
      depth: depthMoves ? depth.data : new Uint16Array(depth.data),
      options,
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ request, rgbHome: rgbMoves ? rgb : null, depthHome: depthMoves ? depth : null, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Start every worker now: a worker takes about half a second to load its code, which then
   * overlaps with listing and decoding instead of delaying the first registrations.
   */
  warm(): this {
    while (!this.closed && this.slots.length < this.size) this.spawn();
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('registration pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      // The copies made in register() own plain ArrayBuffers, never shared memory.
      slot.worker.postMessage(job.request, [job.request.rgb.buffer as ArrayBuffer, job.request.depth.buffer as ArrayBuffer]);
    }
  }

  private spawn(): Slot {
    const code = workerBundle();
    const slot: Slot = { worker: code === null ? new Worker(BOOT_URL) : new Worker(code, { eval: true }), job: null };
    slot.worker.unref(); // idle until dispatch gives it a pair
    slot.worker.on('message', (reply: RegistrationReply) => {
      const job = slot.job;
      slot.job = null;
      slot.worker.unref();
      if (job) {
        // The pixels come back in every reply, error or not.
        if (job.rgbHome) job.rgbHome.data = reply.rgb;
        if (job.depthHome) job.depthHome.data = reply.depth;
        if ('error' in reply) job.reject(new Error(reply.error));
        else job.resolve(reply.registration);
      }
      this.dispatch();
    });
    // A worker that dies fails only the pair it held (whose moved pixels are lost with it); the
    // next pair gets a fresh worker.
    const retire = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      slot.job?.reject(err);
      slot.job = null;
      if (!this.closed) this.dispatch();
    };
    slot.worker.on('error', retire);
    slot.worker.on('exit', (code) => retire(new Error(`registration worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}
