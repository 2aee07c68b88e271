// The fetch stage: consumes image-caption items that carry a `url`, emits them with the
// downloaded bytes in `imageBytes` and what the download found in `fetched` (the consent
// verdict among it). Items that already have their image (a path or bytes) pass through.
// Drops: every FetchFailure reason (http_404, timeout, opt_out, blocked_address, ...), and
// `bad_url` for an item with neither a URL nor an image.
import { drop, mapStage, type Stage } from '../../core/stage.ts';
import type { FetchInfo, ImageTextRaw } from '../../schemas/image-text.ts';
import type { Fetcher } from './fetcher.ts';

const FETCH_STAGE = 'fetch';

/** What the download of one item found, kept for the output and the report. */
export type FetchedMeta = FetchInfo;

/** An item after the fetch stage: `imageBytes` and `fetched` are set. */
export type FetchedImageText = ImageTextRaw;

/**
 * Counters written to the run stats: `failures_by_host` (host -> failed items),
 * `fetch_failures_by_reason` (reason -> failed items), `fetch_consent` (verdict -> kept
 * items and opt-outs). `fetch_ms` is a t-digest of successful download times.
 */
export function fetchStage(fetcher: Fetcher, concurrency: number): Stage<ImageTextRaw, FetchedImageText> {
  return mapStage<ImageTextRaw, FetchedImageText>(
    FETCH_STAGE,
    async (item, ctx) => {
      if (item.url === undefined || item.url === '') {
        if (item.imageBytes || item.imagePath) return item;
        return drop('bad_url', 'item has neither a URL nor an image');
      }
      const r = await fetcher.fetch(item.url, ctx.signal);
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
    { concurrency, errorReason: 'fetch_failed' },
  );
}
