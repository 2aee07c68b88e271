// The fetch stage: consumes image-caption items that carry a `url`, emits them with the
// downloaded bytes in `imageBytes` and what the download found in `fetched` (the consent
// verdict among it). Items that already have their image (a path or bytes) pass through.
// Drops: every FetchFailure reason (http_404, timeout, opt_out, blocked_address, ...), and
// `bad_url` for an item with neither a URL nor an image.
//
// Downloads take very different times (a slow host, a hanging URL), so items finish out of
// order. By default they wait for the earlier ones in a reorder buffer bounded by bytes
// (byteWindowPool): the output keeps row order and one slow URL does not idle the other slots.
// With `completionOrder` they leave as they finish, and a RowOrder section further down (the
// web pipeline puts it after decode) restores row order, so the CPU stages keep working too.
//
// Admission is fair per host: at most as many items of one host run as it may have requests in
// flight (per_host_concurrency + per_host_overflow); the host's other items wait, not started,
// in a queue per host that does not count against the stage's places (bounded by
// fetch.host_queue_bytes). So a slow or throttled host whose URLs crowd the list holds only its
// own few places, and the other hosts' URLs keep every other place busy. A download redirected to
// another host gives its place back at that hop (a URL shortener's URLs are not held to its limit
// while they download elsewhere).
//
// Once the unit's input has ended and every item of it has started, what is left of the unit
// here is requests in flight: the stage says so (onAllStarted; the web pipeline then lets the
// executor start its next unit once decode has caught up, see download-tail.ts).
import { drop, mapStage, type Stage, type StageContext, type StartGate } from '../../core/stage.ts';
import type { FetchInfo, ImageTextRaw } from '../../schemas/image-text.ts';
import type { Fetcher } from './fetcher.ts';
import { hostOf } from './url-normalise.ts';

const FETCH_STAGE = 'fetch';

/** Default reorder buffer when the caller gives none (the fetch config's own default). */
const DEFAULT_REORDER_BUFFER_BYTES = 256 * 1024 * 1024;
/** Default bound of the per-host queues when the caller gives none (the fetch config's own default). */
const DEFAULT_HOST_QUEUE_BYTES = 64 * 1024 * 1024;

/** What the download of one item found, kept for the output and the report. */
export type FetchedMeta = FetchInfo;

/** An item after the fetch stage: `imageBytes` and `fetched` are set. */
export type FetchedImageText = ImageTextRaw;

export interface FetchStageOptions {
  /** Bytes of finished downloads held waiting for an earlier row (fetch.reorder_buffer_bytes). */
  reorderBufferBytes?: number;
  /** Emit items as their downloads finish, for a RowOrder section that restores row order
   *  after the stages that follow (so they too keep working while one URL hangs). */
  completionOrder?: StartGate;
  /** Bytes of not yet started items waiting in the per-host queues (fetch.host_queue_bytes). */
  hostQueueBytes?: number;
  /** Called once the input has ended and every item of it has started (what is left is in flight). */
  onAllStarted?: () => void;
}

/**
 * Counters written to the run stats: `failures_by_host` (host -> failed items),
 * `fetch_failures_by_reason` (reason -> failed items), `fetch_consent` (verdict -> kept
 * items and opt-outs), and per host `fetch_host_requests` (HTTP requests sent) and
 * `fetch_host_active_ms` (time the unit had a URL of that host queued or in flight): their
 * ratio is the effective request rate the host saw. `fetch_ms` is a t-digest of successful
 * download times (the fetcher's queue wait included, the stage's per-host queue not).
 */
export function fetchStage(fetcher: Fetcher, concurrency: number, options: FetchStageOptions = {}): Stage<ImageTextRaw, FetchedImageText> {
  return (input, ctx) => {
    const activity = new HostActivity();
    const tail = new AllStartedWatch(options.onAllStarted);
    // Per started item: gives its host's place in the stage back when a redirect leaves the host.
    const leaveHost = new Map<ImageTextRaw, () => void>();
    const stage = mapStage<ImageTextRaw, FetchedImageText>(
      FETCH_STAGE,
      async (item, ctx) => {
        tail.started();
        if (item.url === undefined || item.url === '') {
          if (item.imageBytes || item.imagePath) return item;
          return drop('bad_url', 'item has neither a URL nor an image');
        }
        const host = hostKey(item.url);
        activity.begin(host);
        const leftHost = leaveHost.get(item);
        leaveHost.delete(item);
        const r = await fetcher.fetch(item.url, ctx.signal, leftHost).finally(() => activity.end(host));
        if (r.host) ctx.stats.count('fetch_host_requests', r.host, r.requests);
        if (r.consent) ctx.stats.count('fetch_consent', r.consent);
        if (!r.ok) {
          ctx.stats.count('failures_by_host', r.host || '(none)');
          ctx.stats.count('fetch_failures_by_reason', r.reason);
          return drop(r.reason, r.detail);
        }
        ctx.stats.sketch('fetch_ms').add(r.ms);
        const fetched: FetchedMeta = {
          consent: r.consent,
          finalUrl: r.finalUrl,
          status: r.status,
          contentType: r.contentType,
          mediaType: r.mediaType,
          attempts: r.attempts,
          ms: Math.round(r.ms),
        };
        return { ...item, imageBytes: r.bytes, fetched };
      },
      // A fetcher bug on one item becomes a reject, not a crashed run.
      {
        concurrency,
        errorReason: 'fetch_failed',
        reorderBufferBytes: options.reorderBufferBytes ?? DEFAULT_REORDER_BUFFER_BYTES,
        sizeOf: (out) => out.imageBytes?.byteLength ?? 0,
        ...(options.completionOrder ? { completionOrder: options.completionOrder } : {}),
        admission: {
          keyOf: (item) => (item.url ? hostKey(item.url) : ''),
          perKey: fetcher.maxPerHost,
          maxWaitingBytes: options.hostQueueBytes ?? DEFAULT_HOST_QUEUE_BYTES,
          // UTF-16 strings; the fixed 1 KiB per item covers the other fields.
          sizeOf: (item) => 2 * ((item.url?.length ?? 0) + (item.caption?.length ?? 0)),
          bind: (item, leave) => {
            if (item.url) leaveHost.set(item, leave);
          },
        },
      },
    );
    return withActivityStats(stage(tail.watch(input), ctx), activity, ctx);
  };
}

async function* withActivityStats<T>(items: AsyncIterable<T>, activity: HostActivity, ctx: StageContext): AsyncGenerator<T> {
  try {
    yield* items;
  } finally {
    for (const [host, ms] of activity.activeMs()) ctx.stats.count('fetch_host_active_ms', host, Math.round(ms));
  }
}

/** The host an item's URL names, as the fetcher keys it; '' when it does not parse (no time is kept for it). */
function hostKey(url: string): string {
  try {
    return hostOf(new URL(url));
  } catch {
    return '';
  }
}

/** Tells `onAllStarted` once the input has ended and every item pulled from it has started. */
class AllStartedWatch {
  private pulled = 0;
  private begun = 0;
  private ended = false;

  constructor(private onAllStarted: (() => void) | undefined) {}

  async *watch<T>(input: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const item of input) {
      this.pulled++;
      yield item;
    }
    this.ended = true;
    this.check();
  }

  started(): void {
    this.begun++;
    this.check();
  }

  private check(): void {
    if (this.ended && this.begun >= this.pulled && this.onAllStarted) {
      const call = this.onAllStarted;
      this.onAllStarted = undefined;
      call();
    }
  }
}

/** Per host: the total time at least one of its URLs was queued or in flight. */
class HostActivity {
  private readonly hosts = new Map<string, { inFlight: number; since: number; totalMs: number }>();

  begin(host: string): void {
    if (!host) return;
    let h = this.hosts.get(host);
    if (!h) this.hosts.set(host, (h = { inFlight: 0, since: 0, totalMs: 0 }));
    if (h.inFlight++ === 0) h.since = performance.now();
  }

  end(host: string): void {
    const h = this.hosts.get(host);
    if (!h) return;
    if (--h.inFlight === 0) h.totalMs += performance.now() - h.since;
  }

  *activeMs(): Generator<[string, number]> {
    const now = performance.now();
    for (const [host, h] of this.hosts) yield [host, h.totalMs + (h.inFlight > 0 ? now - h.since : 0)];
  }
}
