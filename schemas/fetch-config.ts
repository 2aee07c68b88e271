// The `fetch:` config section: how image URLs are downloaded (politeness, timeouts, safety,
// consent). Every key has a default; the defaults lean polite and safe rather than fast.
import { isIP } from 'node:net';
import { z } from 'zod';

export const DEFAULT_USER_AGENT = 'weft/0.1';

/** Directives that mean "do not use this content for training", as img2dataset treats them. */
export const DEFAULT_OPT_OUT_DIRECTIVES = ['noai', 'noimageai', 'noindex', 'noimageindex'];

export const fetchConfigSchema = z
  .object({
    /** Sent as User-Agent; its product token (text before the first `/`) is the name that
     *  robots.txt groups and user-agent-scoped X-Robots-Tag values are matched against. */
    user_agent: z.string().min(1).default(DEFAULT_USER_AGENT),
    /** Requests in flight at once, over all hosts. */
    concurrency: z.number().int().min(1).max(4096).default(64),
    /** Requests in flight at once to one host. */
    per_host_concurrency: z.number().int().min(1).max(256).default(4),
    /** Requests per second to one host at the start (token bucket refill rate). A request waits
     *  for its token (within max_queue_ms); it never fails for lack of one. */
    per_host_rate: z.number().positive().default(5),
    /** Adapt each host's rate: halve it on 429/503 (at most once a second), raise it by
     *  per_host_rate / 20 per successful response, between per_host_rate / 16 and per_host_rate_max. */
    adaptive_rate: z.boolean().default(true),
    /** The ceiling of an adaptive per-host rate (requests per second). */
    per_host_rate_max: z.number().positive().default(50),
    /** Requests one idle host may receive back to back before the rate applies. */
    per_host_burst: z.number().int().min(1).default(10),
    /** Longest wait of one request before it is sent: for its address, robots.txt, a host slot,
     *  a rate token and a global slot together. Waiting never counts against the host; a request
     *  that waited this long ends the attempt as `queue_timeout` and is retried like a transient failure. */
    max_queue_ms: z.number().int().positive().default(600_000),
    /** TCP (and TLS) connection establishment. */
    connect_timeout_ms: z.number().int().positive().default(10_000),
    /** Silence allowed while waiting: from sending the request (including opening its
     *  connection) to the complete response headers, and again between two body chunks. */
    first_byte_timeout_ms: z.number().int().positive().default(15_000),
    /** One attempt end to end, counting only time while a request is sent (connecting, waiting
     *  for headers, reading the body) over all its redirect hops; queue waits do not count. */
    total_timeout_ms: z.number().int().positive().default(60_000),
    /** Bodies larger than this are refused (by Content-Length, or cut off while streaming), both
     *  as sent and after gzip / deflate / br decoding. */
    max_body_bytes: z.number().int().positive().default(32 * 1024 * 1024),
    /** Extra attempts after a transient failure (timeouts, resets, 5xx, 408, 429). */
    retries: z.number().int().min(0).max(20).default(2),
    /** Exponential backoff with full jitter: retry n (from 0) waits a uniform random time in
     *  [0, min(backoff_max_ms, backoff_base_ms * 2^n)). */
    backoff_base_ms: z.number().int().min(0).default(500),
    backoff_max_ms: z.number().int().min(0).default(30_000),
    /** Retry-After (429/503) is honoured up to this many seconds: the host is paused and the URL
     *  retried. A longer ask fails the URL as `retry_after_too_long` and pauses the host for this cap. */
    max_retry_after_s: z.number().min(0).default(60),
    /** Consecutive host-level failures (refused or timed-out connects, TLS failures, 5xx) on one
     *  host that open its circuit breaker. */
    breaker_failures: z.number().int().min(1).default(8),
    /** How long an open breaker fails requests fast before letting one probe through. */
    breaker_cooldown_ms: z.number().int().min(0).default(60_000),
    /** A request still running max(this, 2 x the p95 of its host's recent send times) after it
     *  was sent is overdue: it gives its host slot and global slot to a fresh request and runs on
     *  (its timeouts unchanged) on an overflow permit, so slow responses do not idle the slots. */
    overdue_after_ms: z.number().int().positive().default(1000),
    /** Overdue requests running on past their slots, over all hosts (null: as many as
     *  `concurrency`; 0: overdue requests keep their slots). */
    overflow_concurrency: z.number().int().min(0).max(4096).nullable().default(null),
    /** Overdue requests to one host running on past their slots (null: as many as
     *  `per_host_concurrency`); connections to a host stay within the sum of the two. */
    per_host_overflow: z.number().int().min(0).max(256).nullable().default(null),
    /** Fetched rows of a unit waiting for decode: the fetch stage runs ahead of decode by up
     *  to this many bytes, so a slow URL is waited out while decode works through the queue. */
    read_ahead_bytes: z.number().int().min(0).default(64 * 1024 * 1024),
    /** URLs of a unit waiting, not yet started, behind their host's limit (per_host_concurrency +
     *  per_host_overflow running): they take none of the stage's places, so one slow host cannot
     *  idle the others. Past this many bytes (URL, caption and 1 KiB each) no more rows are read. */
    host_queue_bytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** Fetched bodies held in memory waiting for an earlier row to finish (the stage's output
     *  keeps row order); past this, no new URL starts until the earliest one is done. */
    reorder_buffer_bytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Redirect hops followed per attempt; every hop is address-checked again. */
    max_redirects: z.number().int().min(0).max(50).default(5),
    /** Allow loopback, private, link-local, unique-local and metadata addresses. Only for local
     *  corpora and tests: on a shared network this lets a URL list probe internal services. */
    allow_private_addresses: z.boolean().default(false),
    /** Narrower than allow_private_addresses: CIDR ranges (e.g. "10.1.2.0/24" for an internal
     *  mirror) allowed while every other non-public address stays refused. */
    allowed_address_ranges: z.array(z.string().refine(isCidr, 'expected an IPv4 or IPv6 CIDR such as 10.0.0.0/8')).default([]),
    /** Check each origin's robots.txt (RFC 9309) for the user agent's product token. On by
     *  default, unlike img2dataset: consent is part of what weft records. */
    respect_robots_txt: z.boolean().default(true),
    /** Drop images whose response carries an opt-out X-Robots-Tag directive. */
    respect_x_robots_tag: z.boolean().default(true),
    /** X-Robots-Tag directives (case-insensitive) that count as an opt-out. */
    opt_out_directives: z.array(z.string().min(1)).default(DEFAULT_OPT_OUT_DIRECTIVES),
  })
  .strict();

/** "address/bits" with bits within the address family's width, e.g. 10.0.0.0/8 or fd00::/8. */
function isCidr(cidr: string): boolean {
  const [ip, bits, extra] = cidr.trim().split('/');
  const family = isIP(ip);
  if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(bits ?? '')) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export type FetchConfig = z.infer<typeof fetchConfigSchema>;

/** A complete FetchConfig from a partial one (defaults filled in, values validated). */
export function fetchConfig(partial: Partial<z.input<typeof fetchConfigSchema>> = {}): FetchConfig {
  return fetchConfigSchema.parse(partial);
}
