// What a fetch reports, shared by the image fetcher (fetcher.ts) and the file fetcher
// (fetch-to-file.ts): the same consent verdicts, failure reasons and metadata for both.
import type { Resolver } from './pinned-lookup.ts';

/**
 * What the fetcher learnt about the right to use a body:
 * - `allowed`: every enabled check (robots.txt, X-Robots-Tag) passed;
 * - `opt_out_x_robots_tag` / `opt_out_robots_txt`: that check refused it (the fetch fails
 *   with reason `opt_out`);
 * - `unchecked`: both checks are switched off in the config.
 */
export type ConsentVerdict = 'allowed' | 'opt_out_x_robots_tag' | 'opt_out_robots_txt' | 'unchecked';

export interface FetchFailure {
  ok: false;
  /**
   * Stable reason code: bad_url, dns, blocked_address, connect, timeout, queue_timeout,
   * connection_reset, tls, bad_response, bad_encoding, network, http_404, http_408, http_429,
   * http_4xx, http_5xx, http_3xx, retry_after_too_long, too_large, not_image, redirect_loop,
   * too_many_redirects, opt_out, robots_txt_unreachable, circuit_open, aborted; or a reason of
   * the body sink's own.
   */
  reason: string;
  detail: string;
  /** Set when the failure is a consent opt-out (reason `opt_out`). */
  consent?: ConsentVerdict;
  attempts: number;
  /** HTTP requests sent for this URL (every attempt and redirect hop; robots.txt not counted). */
  requests: number;
  host: string;
  ms: number;
}

export interface FetcherOptions {
  /** Host name resolution (default: the system resolver via dns.lookup). */
  resolve?: Resolver;
  /** Random source for backoff jitter. */
  random?: () => number;
}

/** What every successful fetch reports besides its body. */
export interface FetchMeta {
  /** The URL after redirects. */
  finalUrl: string;
  status: number;
  /** As the server sent it; informational only (never trusted for the body's type). */
  contentType: string | null;
  consent: ConsentVerdict;
  attempts: number;
  /** HTTP requests sent for this URL (every attempt and redirect hop; robots.txt not counted). */
  requests: number;
  /** Host of the requested URL (before redirects). */
  host: string;
  ms: number;
}

export interface SessionSuccess<T> extends FetchMeta {
  ok: true;
  /** What the sink made of the body. */
  body: T;
}

export type SessionResult<T> = SessionSuccess<T> | FetchFailure;
