// When to try a URL again, and how long to wait first.

/** Failure reasons worth another attempt: the same request may well succeed later. */
const TRANSIENT_REASONS = new Set(['timeout', 'connect', 'connection_reset', 'http_5xx', 'http_408', 'http_429']);

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
 * Exponential backoff with "equal jitter": half of base * 2^retryIndex fixed, half random,
 * capped at `max`. The fixed half keeps retries from hammering; the random half keeps a crowd
 * of failed requests from coming back in lockstep.
 */
export function backoffDelay(retryIndex: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** retryIndex);
  return ceiling / 2 + random() * (ceiling / 2);
}
