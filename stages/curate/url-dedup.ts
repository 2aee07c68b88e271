// Download each image once when several rows name it. URL lists repeat URLs (one image with
// several alt texts, the same image in several crawls); img2dataset downloads it once per row.
// Here rows whose normalised URLs are equal form a download group: the first row (the leader)
// is downloaded, and every other row (a follower) becomes its own sample with its own id,
// caption and extra columns, carrying the leader's bytes, so all of them share one image hash.
//
// Scope: one unit. The same URL in two units is downloaded once per unit; exact content dedup
// (content-dedup.ts) then decides what to keep, and its final pass over index.parquet sees all
// units. A group never spans units, so a killed and resumed unit behaves exactly as before.
import type { Stage, StageContext } from '../../core/stage.ts';
import type { RejectLedger, RejectRecord } from '../../core/rejects.ts';
import type { ImageTextRaw } from '../../schemas/image-text.ts';

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The form of an http(s) URL used to decide that two rows name the same image, or undefined
 * when the URL cannot be parsed or is not http(s). Only normalisations that RFC 3986 6.2.2
 * and RFC 9110 4.2.3 guarantee keep the resource the same:
 *   - scheme and host lowercased, IDN hosts in punycode (the WHATWG parser does both)
 *   - the default port dropped (:80 for http, :443 for https), an empty path made `/`
 *   - `.` and `..` path segments resolved
 *   - the fragment dropped (it is never sent to the server)
 *   - percent-escapes of unreserved characters decoded (`%7E` -> `~`), other escapes uppercased
 * Deliberately NOT done, because servers may treat the results as different resources: query
 * parameters are not sorted or removed (signed and CDN URLs depend on them), path case is kept,
 * `www.` and trailing slashes are kept, an empty `?` is kept, http and https stay distinct.
 */
export function normaliseUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hostname === '') return undefined;
  url.hash = '';
  url.pathname = normalisePercentEscapes(url.pathname);
  if (url.search !== '') url.search = normalisePercentEscapes(url.search.slice(1));
  return url.href;
}

function normalisePercentEscapes(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/** Rows that share one download. */
export interface DownloadGroup<T> {
  /** The normalised URL; for an item whose URL does not parse, its raw URL (it forms a group alone). */
  key: string;
  /** The first row with this URL: the one that is downloaded. */
  leader: T;
  /** The later rows with the same normalised URL, in input order. */
  followers: T[];
}

/**
 * Groups items by normalised URL, in order of each group's first item. Items without a URL,
 * or whose URL does not normalise, each form their own group (the fetch stage rejects them).
 */
export function groupByNormalisedUrl<T extends { url?: string }>(items: Iterable<T>): DownloadGroup<T>[] {
  const groups: DownloadGroup<T>[] = [];
  const byKey = new Map<string, DownloadGroup<T>>();
  for (const item of items) {
    const key = item.url === undefined ? undefined : normaliseUrl(item.url);
    if (key === undefined) {
      groups.push({ key: item.url ?? '', leader: item, followers: [] });
      continue;
    }
    const group = byKey.get(key);
    if (group) group.followers.push(item);
    else {
      const created = { key, leader: item, followers: [] };
      byKey.set(key, created);
      groups.push(created);
    }
  }
  return groups;
}

export interface SharedDownloadOptions {
  /** Stage name that counts followers in and out (their leader was counted by `download`). Default `fetch`. */
  stage?: string;
}

/**
 * Wraps a download stage (fetch, or fetch followed by anything that keeps one output per
 * input) so that each normalised URL of a unit is downloaded once.
 *
 * Consumes ImageTextRaw items; reads the whole unit first (rows only, no image bytes: a unit is
 * at most rows_per_unit rows), groups them with groupByNormalisedUrl and sends only leaders
 * through `download`. Emits, per downloaded leader, the leader's output and then one copy per
 * follower: the output with the follower's row fields in place of the leader's, and
 * the same `imageBytes`. Output order is group order (a leader, then its followers), not row order.
 * Each follower's `fetched.urlSiblingOf` names its leader
 * (the `url_sibling_of` column), so later stages treat it as another caption of the leader's
 * image rather than a near duplicate. Drops: when `download` rejects a leader, every follower is
 * rejected with the same stage and reason, with the detail naming the leader. Counts `url_dedup/shared_downloads` per follower
 * served from a leader's download and `url_dedup/groups` per group with followers.
 */
export function sharedDownloadStage<I extends ImageTextRaw, O extends ImageTextRaw>(download: Stage<I, O>, options: SharedDownloadOptions = {}): Stage<I, O> {
  const stageName = options.stage ?? 'fetch';
  return async function* (input, ctx) {
    const items: I[] = [];
    for await (const item of input) items.push(item);
    const groups = groupByNormalisedUrl(items);
    items.length = 0;
    const followersOf = new Map<string, I[]>();
    const leaderRows = new Map<string, I>();
    for (const g of groups) {
      if (g.followers.length === 0) continue;
      followersOf.set(g.leader.id, g.followers);
      leaderRows.set(g.leader.id, g.leader);
      ctx.stats.count('url_dedup', 'groups');
    }
    const downloadCtx: StageContext = { ...ctx, rejects: fanOutRejects(ctx, followersOf) };
    async function* leaders(): AsyncGenerator<I> {
      for (const g of groups) yield g.leader;
    }
    for await (const out of download(leaders(), downloadCtx)) {
      yield out;
      const followers = followersOf.get(out.id);
      if (!followers) continue;
      followersOf.delete(out.id);
      const stats = ctx.stats.stage(stageName);
      for (const follower of followers) {
        stats.in += 1;
        stats.out += 1;
        ctx.stats.count('url_dedup', 'shared_downloads');
        yield withOwnFields(out, leaderRows.get(out.id)!, follower);
      }
    }
  };
}

/**
 * The leader's output with the follower's row in place of the leader's: every field the
 * leader's row had (id, caption, url, extra, blur boxes, whatever a source sets) is replaced by
 * the follower's or removed, and only what the download added (the bytes, the fetch facts) is
 * shared.
 */
function withOwnFields<O extends ImageTextRaw>(out: O, leader: ImageTextRaw, follower: ImageTextRaw): O {
  const copy = { ...out } as Record<string, unknown>;
  for (const key of Object.keys(leader)) delete copy[key];
  const own = Object.assign(copy, follower) as O;
  // The sibling mark: this row's image is its leader's download (the `url_sibling_of` column).
  if (out.fetched) own.fetched = { ...out.fetched, urlSiblingOf: leader.id };
  return own;
}

/** A ledger that, when a leader is rejected, rejects its followers the same way. */
function fanOutRejects(ctx: StageContext, followersOf: Map<string, ImageTextRaw[]>): RejectLedger {
  const ledger = ctx.rejects;
  return {
    rows: ledger.rows,
    reject(row: RejectRecord, item?: unknown): void {
      ledger.reject(row, item);
      const followers = followersOf.get(row.id);
      if (!followers) return;
      followersOf.delete(row.id);
      const stats = ctx.stats.stage(row.stage);
      for (const f of followers) {
        stats.in += 1;
        stats.dropped(row.reason);
        ledger.reject({ id: f.id, kind: f.kind, source: f.source, stage: row.stage, reason: row.reason, detail: `${row.detail} (same URL as ${row.id}, downloaded once)` }, f);
      }
    },
  } as RejectLedger;
}
