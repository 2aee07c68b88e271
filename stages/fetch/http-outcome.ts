// What one hop or attempt of an HttpSession came to, and how HTTP statuses map to the stable
// reason codes (and whether a retry may help).
import type { ConsentVerdict } from './fetch-result.ts';
import { parseRetryAfter } from './retry.ts';

export interface Done<T> {
  kind: 'done';
  url: URL;
  status: number;
  contentType: string | null;
  /** What the body sink made of the body; null when no body was read (a robots.txt 4xx). */
  body: T | null;
}

export interface Redirect {
  kind: 'redirect';
  status: number;
  location: string;
}

export interface Failed {
  kind: 'failed';
  reason: string;
  detail: string;
  transient: boolean;
  retryAfterMs?: number | null;
  consent?: ConsentVerdict;
  /** Host the failure happened at (a redirect target may differ from the requested host). */
  host: string;
}

export type HopOutcome<T> = Done<T> | Redirect | Failed;
export type AttemptOutcome<T> = Done<T> | Failed;

export function failed(reason: string, detail: string, host: string): Failed {
  return { kind: 'failed', reason, detail, transient: false, host };
}

export function aborted(host: string): Failed {
  return failed('aborted', 'the run was cancelled', host);
}

/** An error status (>= 400) as a failure; `retryAfter` is the raw Retry-After header. */
export function statusFailure(status: number, retryAfter: string | null, url: URL, host: string): Failed {
  const detail = `HTTP ${status} from ${url.href.slice(0, 300)}`;
  if (status === 404) return failed('http_404', detail, host);
  if (status === 408) return { ...failed('http_408', detail, host), transient: true };
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    return { ...failed(status === 429 ? 'http_429' : 'http_5xx', detail, host), transient: true, retryAfterMs };
  }
  if (status >= 500) return { ...failed('http_5xx', detail, host), transient: true };
  return failed('http_4xx', detail, host);
}
