// The polite, safe image fetcher. One `fetch(url)` is: parse the URL; then up to 1 + retries
// attempts, each following redirects hop by hop. Every hop is checked for robots.txt consent,
// admitted by the host's circuit breaker, resolved and address-checked, and sent only when the
// host has a free slot and a rate token and a global slot is free. The answer is always a
// FetchResult: per-URL failures never throw.
//
// Timeouts:
//   connect_timeout_ms     TCP connect plus TLS handshake of a new connection.
//   first_byte_timeout_ms  silence while waiting: from sending the request (including opening
//                          its connection) to the complete response headers, and between two
//                          body chunks. Timed by IdleTimer; undici's coarser headersTimeout and
//                          bodyTimeout are set to the same value as a backstop.
//   total_timeout_ms       one attempt end to end (all hops, headers and body).
import { Agent, request, type Dispatcher } from 'undici';
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import { abortable, sleep } from './abortable.ts';
import { readBody } from './body-reader.ts';
import type { BreakerOutcome } from './circuit-breaker.ts';
import { HostLimiter } from './host-limiter.ts';
import { IdleTimer } from './idle-timer.ts';
import type { MediaType } from './magic-bytes.ts';
import { classifyNetworkError } from './network-errors.ts';
import { PinnedLookup, systemResolver, type Resolver } from './pinned-lookup.ts';
import { backoffDelay, isTransient, parseRetryAfter } from './retry.ts';
import { RobotsCache, type RobotsFetchOutcome } from './robots-txt.ts';
import { Semaphore } from './semaphore.ts';
import { hostOf, parseFetchUrl } from './url-normalise.ts';
import { userAgentToken, xRobotsOptOut } from './x-robots-tag.ts';

/**
 * What the fetcher learnt about the right to use an image:
 * - `allowed`: every enabled check (robots.txt, X-Robots-Tag) passed;
 * - `opt_out_x_robots_tag` / `opt_out_robots_txt`: that check refused it (the fetch fails
 *   with reason `opt_out`);
 * - `unchecked`: both checks are switched off in the config.
 */
export type ConsentVerdict = 'allowed' | 'opt_out_x_robots_tag' | 'opt_out_robots_txt' | 'unchecked';

export interface FetchSuccess {
  ok: true;
  bytes: Uint8Array;
  /** The URL after redirects. */
  finalUrl: string;
  status: number;
  /** As the server sent it; informational only (mediaType comes from the bytes). */
  contentType: string | null;
  mediaType: MediaType;
  consent: ConsentVerdict;
  attempts: number;
  /** Host of the requested URL (before redirects). */
  host: string;
  ms: number;
}

export interface FetchFailure {
  ok: false;
  /**
   * Stable reason code: bad_url, dns, blocked_address, connect, timeout, connection_reset,
   * tls, bad_response, network, http_404, http_408, http_429, http_4xx, http_5xx, http_3xx,
   * too_large, not_image, redirect_loop, too_many_redirects, opt_out, robots_txt_unreachable,
   * circuit_open, aborted.
   */
  reason: string;
  detail: string;
  /** Set when the failure is a consent opt-out (reason `opt_out`). */
  consent?: ConsentVerdict;
  attempts: number;
  host: string;
  ms: number;
}

export type FetchResult = FetchSuccess | FetchFailure;

export interface FetcherOptions {
  /** Host name resolution (default: the system resolver via dns.lookup). */
  resolve?: Resolver;
  /** Random source for backoff jitter. */
  random?: () => number;
}

/** RFC 9309: parse at least 500 KiB of robots.txt; follow at least five redirects. */
const ROBOTS_MAX_BYTES = 512 * 1024;
const ROBOTS_MAX_REDIRECTS = 5;
/** Bytes of an unwanted body (redirect, error page) read to keep the connection reusable. */
const DISCARD_LIMIT = 64 * 1024;

interface Policy {
  kind: 'image' | 'robots';
  maxRedirects: number;
}

type HopOutcome =
  | { kind: 'done'; url: URL; status: number; contentType: string | null; bytes: Uint8Array; mediaType: MediaType | null }
  | { kind: 'redirect'; status: number; location: string }
  | Failed;

interface Failed {
  kind: 'failed';
  reason: string;
  detail: string;
  transient: boolean;
  retryAfterMs?: number | null;
  consent?: ConsentVerdict;
  /** Host the failure happened at (a redirect target may differ from the requested host). */
  host: string;
}

type AttemptOutcome = Extract<HopOutcome, { kind: 'done' }> | Failed;

export class Fetcher {
  private readonly agent: Agent;
  private readonly pinned: PinnedLookup;
  private readonly hosts: HostLimiter;
  private readonly globalSlots: Semaphore;
  private readonly robots: RobotsCache;
  private readonly uaToken: string;
  private readonly random: () => number;
  private readonly consentChecked: boolean;
  private closing: Promise<void> | undefined;

  constructor(private readonly cfg: FetchConfig, opts: FetcherOptions = {}) {
    this.pinned = new PinnedLookup(opts.resolve ?? systemResolver, cfg.allow_private_addresses, cfg.allowed_address_ranges);
    this.agent = new Agent({
      connect: { timeout: cfg.connect_timeout_ms, lookup: this.pinned.lookup, autoSelectFamily: true },
      headersTimeout: cfg.first_byte_timeout_ms,
      bodyTimeout: cfg.first_byte_timeout_ms,
      connections: cfg.per_host_concurrency,
    });
    this.hosts = new HostLimiter({
      perHostConcurrency: cfg.per_host_concurrency,
      ratePerSecond: cfg.per_host_rate,
      burst: cfg.per_host_burst,
      breakerFailures: cfg.breaker_failures,
      breakerCooldownMs: cfg.breaker_cooldown_ms,
    });
    this.globalSlots = new Semaphore(cfg.concurrency);
    this.uaToken = userAgentToken(cfg.user_agent);
    this.robots = new RobotsCache(this.uaToken, (u) => this.fetchRobotsTxt(u));
    this.random = opts.random ?? Math.random;
    this.consentChecked = cfg.respect_robots_txt || cfg.respect_x_robots_tag;
  }

  /** robots.txt files requested so far (one per origin while cached). */
  get robotsTxtFetches(): number {
    return this.robots.fetches;
  }

  /** Downloads one image. Never throws for a per-URL failure. */
  async fetch(rawUrl: string, signal?: AbortSignal): Promise<FetchResult> {
    const started = performance.now();
    const parsed = parseFetchUrl(rawUrl);
    if (!parsed.ok) return { ok: false, reason: 'bad_url', detail: parsed.detail, attempts: 0, host: '', ms: 0 };
    const url = parsed.url;
    const host = hostOf(url);
    const { outcome, attempts } = await this.withRetries(url, { kind: 'image', maxRedirects: this.cfg.max_redirects }, signal);
    const ms = performance.now() - started;
    if (outcome.kind === 'failed') {
      return { ok: false, reason: outcome.reason, detail: outcome.detail, consent: outcome.consent, attempts, host, ms };
    }
    return {
      ok: true,
      bytes: outcome.bytes,
      finalUrl: outcome.url.href,
      status: outcome.status,
      contentType: outcome.contentType,
      mediaType: outcome.mediaType!,
      consent: this.consentChecked ? 'allowed' : 'unchecked',
      attempts,
      host,
      ms,
    };
  }

  /** Waits for in-flight requests, then closes pooled connections. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.agent.close();
    return this.closing;
  }

  private async fetchRobotsTxt(robotsUrl: URL): Promise<RobotsFetchOutcome> {
    const { outcome } = await this.withRetries(robotsUrl, { kind: 'robots', maxRedirects: Math.min(this.cfg.max_redirects, ROBOTS_MAX_REDIRECTS) });
    if (outcome.kind === 'failed') return { kind: 'unreachable', detail: `${outcome.reason}: ${outcome.detail}` };
    if (outcome.status >= 400) return { kind: 'unavailable', status: outcome.status };
    return { kind: 'found', text: Buffer.from(outcome.bytes).toString('utf8') };
  }

  private async withRetries(url: URL, policy: Policy, signal?: AbortSignal): Promise<{ outcome: AttemptOutcome; attempts: number }> {
    const maxAttempts = 1 + this.cfg.retries;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(url, policy, signal);
      if (outcome.kind === 'done' || !outcome.transient || attempt >= maxAttempts) return { outcome, attempts: attempt };
      let delay: number;
      if (outcome.retryAfterMs != null) {
        // The host asked everyone to wait, not just this URL.
        this.hosts.pause(outcome.host, Math.min(outcome.retryAfterMs, this.cfg.retry_after_max_ms));
        if (outcome.retryAfterMs > this.cfg.retry_after_max_ms) {
          // Coming back sooner than asked would be rude; waiting that long stalls the run.
          const detail = `${outcome.detail}; Retry-After ${Math.round(outcome.retryAfterMs)} ms exceeds retry_after_max_ms ${this.cfg.retry_after_max_ms}`;
          return { outcome: { ...outcome, detail }, attempts: attempt };
        }
        delay = outcome.retryAfterMs;
      } else {
        delay = backoffDelay(attempt - 1, this.cfg.backoff_base_ms, this.cfg.backoff_max_ms, this.random);
      }
      try {
        await sleep(delay, signal);
      } catch {
        return { outcome: aborted(outcome.host), attempts: attempt };
      }
    }
  }

  /** One attempt: follow redirects from `url` until a final response or a failure. */
  private async attempt(url: URL, policy: Policy, callerSignal?: AbortSignal): Promise<AttemptOutcome> {
    const total = AbortSignal.timeout(this.cfg.total_timeout_ms);
    const signal = callerSignal ? AbortSignal.any([callerSignal, total]) : total;
    const visited = new Set([url.href]);
    let current = url;
    try {
      for (let hops = 0; ; hops++) {
        const outcome = await this.hop(current, policy, signal);
        if (outcome.kind !== 'redirect') return outcome;
        const host = hostOf(current);
        const next = parseFetchUrl(outcome.location, current);
        if (!next.ok) return failed('bad_url', `HTTP ${outcome.status} redirect to ${next.detail}`, host);
        if (visited.has(next.url.href)) return failed('redirect_loop', `${current.href} redirects back to ${next.url.href}`, host);
        if (hops + 1 > policy.maxRedirects) return failed('too_many_redirects', `more than ${policy.maxRedirects} redirects, last to ${next.url.href}`, host);
        visited.add(next.url.href);
        current = next.url;
      }
    } catch (err) {
      const host = hostOf(current);
      if (callerSignal?.aborted) return aborted(host);
      if (total.aborted) return { ...failed('timeout', `total_timeout_ms ${this.cfg.total_timeout_ms} passed at ${current.href}`, host), transient: true };
      throw err; // a programmer error: hop() classifies every network failure itself
    }
  }

  /** One request to `url`. Throws only when `signal` aborted. */
  private async hop(url: URL, policy: Policy, signal: AbortSignal): Promise<HopOutcome> {
    const host = hostOf(url);
    if (policy.kind === 'image' && this.cfg.respect_robots_txt) {
      const verdict = await abortable(this.robots.check(url), signal);
      if (verdict.verdict === 'disallowed') return { ...failed('opt_out', verdict.detail, host), consent: 'opt_out_robots_txt' };
      if (verdict.verdict === 'unreachable') return failed('robots_txt_unreachable', verdict.detail, host);
    }
    const report = this.hosts.admit(host);
    if (!report) return failed('circuit_open', `${host}: breaker open for another ${Math.round(this.hosts.breakerRetryInMs(host))} ms after repeated failures`, host);
    let health: BreakerOutcome = 'neutral';
    try {
      const address = await this.pinned.check(host, signal);
      if (!address.ok) {
        if (address.reason === 'dns') health = 'failure';
        return { ...failed(address.reason, address.detail, host), transient: address.transient };
      }
      try {
        const releaseHost = await this.hosts.acquire(host, signal);
        try {
          const releaseGlobal = await this.globalSlots.acquire(signal);
          try {
            const outcome = await this.send(url, policy, signal);
            health = outcome.kind === 'failed' && outcome.transient ? 'failure' : 'success';
            return outcome;
          } finally {
            releaseGlobal();
          }
        } finally {
          releaseHost();
        }
      } finally {
        address.release();
      }
    } catch (err) {
      if (signal.aborted) {
        // A host too slow to finish within total_timeout_ms counts against it; a cancelled run does not.
        if ((signal.reason as Error | undefined)?.name === 'TimeoutError') health = 'failure';
        throw err;
      }
      const { reason, detail } = classifyNetworkError(err);
      const transient = isTransient(reason);
      if (transient) health = 'failure';
      return { ...failed(reason, detail, host), transient };
    } finally {
      report(health);
    }
  }

  /** Sends the request and judges the response. Network errors are thrown. */
  private async send(url: URL, policy: Policy, attemptSignal: AbortSignal): Promise<HopOutcome> {
    const idle = new IdleTimer(this.cfg.first_byte_timeout_ms);
    try {
      return await this.exchange(url, policy, AbortSignal.any([attemptSignal, idle.signal]), idle);
    } finally {
      idle.stop();
    }
  }

  private async exchange(url: URL, policy: Policy, signal: AbortSignal, idle: IdleTimer): Promise<HopOutcome> {
    const host = hostOf(url);
    const res = await request(url, {
      dispatcher: this.agent,
      method: 'GET',
      headers: {
        'user-agent': this.cfg.user_agent,
        accept: policy.kind === 'image' ? 'image/avif,image/webp,image/*;q=0.9,*/*;q=0.5' : 'text/plain,*/*;q=0.5',
        'accept-encoding': 'identity',
      },
      signal,
    });
    idle.touch('between body chunks');
    const status = res.statusCode;
    const discard = () => res.body.dump({ limit: DISCARD_LIMIT }).catch(() => undefined);

    if (status >= 300 && status < 400) {
      await discard();
      const location = header(res.headers, 'location');
      if (status === 304 || !location) return failed('http_3xx', `HTTP ${status} without a usable Location`, host);
      return { kind: 'redirect', status, location };
    }
    if (status >= 400) {
      await discard();
      // RFC 9309: a robots.txt answered with a (non-throttling) 4xx means "no rules".
      const robotsUnavailable = policy.kind === 'robots' && status < 500 && status !== 408 && status !== 429;
      if (robotsUnavailable) return { kind: 'done', url, status, contentType: null, bytes: new Uint8Array(0), mediaType: null };
      return statusFailure(status, res.headers, url, host);
    }

    if (policy.kind === 'image' && this.cfg.respect_x_robots_tag) {
      const directive = xRobotsOptOut(headerValues(res.headers, 'x-robots-tag'), this.uaToken, this.cfg.opt_out_directives);
      if (directive) {
        abandon(res.body);
        return { ...failed('opt_out', `X-Robots-Tag: ${directive}`, host), consent: 'opt_out_x_robots_tag' };
      }
    }
    const maxBytes = policy.kind === 'image' ? this.cfg.max_body_bytes : ROBOTS_MAX_BYTES;
    const declared = Number(header(res.headers, 'content-length') ?? NaN);
    if (policy.kind === 'image' && declared > maxBytes) {
      abandon(res.body);
      return failed('too_large', `Content-Length ${declared} > max_body_bytes ${maxBytes}`, host);
    }
    const limits = { maxBytes, overflow: policy.kind === 'image' ? 'fail' : 'truncate', requireImage: policy.kind === 'image' } as const;
    const body = await readBody(res.body, limits, () => idle.touch());
    if (!body.ok) return failed(body.reason, body.detail, host);
    return { kind: 'done', url, status, contentType: header(res.headers, 'content-type'), bytes: body.bytes, mediaType: body.mediaType };
  }
}

function statusFailure(status: number, headers: Dispatcher.ResponseData['headers'], url: URL, host: string): Failed {
  const detail = `HTTP ${status} from ${url.href.slice(0, 300)}`;
  if (status === 404) return failed('http_404', detail, host);
  if (status === 408) return { ...failed('http_408', detail, host), transient: true };
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'));
    return { ...failed(status === 429 ? 'http_429' : 'http_5xx', detail, host), transient: true, retryAfterMs };
  }
  if (status >= 500) return { ...failed('http_5xx', detail, host), transient: true };
  return failed('http_4xx', detail, host);
}

/** Stops a body we do not want; the connection closes, no error surfaces. */
function abandon(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function failed(reason: string, detail: string, host: string): Failed {
  return { kind: 'failed', reason, detail, transient: false, host };
}

function aborted(host: string): Failed {
  return failed('aborted', 'the run was cancelled', host);
}

function headerValues(headers: Dispatcher.ResponseData['headers'], name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | null {
  return headerValues(headers, name)[0] ?? null;
}
