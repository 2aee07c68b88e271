// When to try a URL again, and how long to wait first.

/** Failure reasons worth another attempt: the same request may well succeed later. */
const TRANSIENT_REASONS = new Set(['timeout', 'connect', 'connection_reset', 'http_5xx', 'http_408', 'http_429', 'queue_timeout']);

/** Failures that say the host itself is unwell, not one URL on it: only these feed its breaker. */
const HOST_FAILURE_REASONS = new Set(['connect', 'tls', 'http_5xx']);

export function isHostFailure(reason: string): boolean {
  return HOST_FAILURE_REASONS.has(reason);
}

export function isTransient(reason: string): boolean {
  return TRANSIENT_REASONS.has(reason);
}

/**
 * Milliseconds a Retry-After header asks us to wait: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"). Null when absent or unparseable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse reads bare numbers such as "-5" as years; an HTTP-date always names a day.
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * Exponential backoff with "full jitter": a uniform random wait in [0, min(max, base * 2^retryIndex)).
 * The growing ceiling keeps retries from hammering; spreading over the whole range keeps a crowd
 * of failed requests from coming back in lockstep (the host is protected from a burst of retries
 * by its rate limit and breaker, not by the fixed part of a wait).
 */
export function backoffDelay(retryIndex: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** retryIndex);
  return random() * ceiling;
}
