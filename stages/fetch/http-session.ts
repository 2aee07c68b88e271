// The polite, safe HTTP machinery shared by the image fetcher (fetcher.ts) and the file fetcher
// (fetch-to-file.ts); they differ only in the BodySink the body goes to. One `get(url, sink)` is:
// parse the URL; then up to 1 + retries attempts, each following redirects hop by hop. Every hop
// is checked for robots.txt consent, admitted by the host's circuit breaker, resolved and
// address-checked, and sent only when the host has a free slot and a rate token and a global
// slot is free. The answer is always a result: per-URL failures never throw.
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
import { textSink, type BodySink } from './body-sink.ts';
import type { BreakerOutcome } from './circuit-breaker.ts';
import type { FetcherOptions, SessionResult } from './fetch-result.ts';
import { HostLimiter } from './host-limiter.ts';
import { aborted, failed, statusFailure, type AttemptOutcome, type HopOutcome } from './http-outcome.ts';
import { IdleTimer } from './idle-timer.ts';
import { classifyNetworkError } from './network-errors.ts';
import { PinnedLookup, systemResolver } from './pinned-lookup.ts';
import { backoffDelay, isTransient } from './retry.ts';
import { RobotsCache, type RobotsFetchOutcome } from './robots-txt.ts';
import { Semaphore } from './semaphore.ts';
import { hostOf, parseFetchUrl } from './url-normalise.ts';
import { userAgentToken, xRobotsOptOut } from './x-robots-tag.ts';

/** RFC 9309: parse at least 500 KiB of robots.txt; follow at least five redirects. */
const ROBOTS_MAX_BYTES = 512 * 1024;
const ROBOTS_MAX_REDIRECTS = 5;
/** Bytes of an unwanted body (redirect, error page) read to keep the connection reusable. */
const DISCARD_LIMIT = 64 * 1024;

interface Policy<T> {
  sink: BodySink<T>;
  maxRedirects: number;
  /** robots.txt itself: no consent checks (they would ask for it again), and a 4xx means "no rules". */
  robotsTxt: boolean;
}

export class HttpSession {
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

  /** GETs `rawUrl` into `sink`. Never throws for a per-URL failure. */
  async get<T>(rawUrl: string, sink: BodySink<T>, signal?: AbortSignal): Promise<SessionResult<T>> {
    const started = performance.now();
    const parsed = parseFetchUrl(rawUrl);
    if (!parsed.ok) return { ok: false, reason: 'bad_url', detail: parsed.detail, attempts: 0, host: '', ms: 0 };
    const host = hostOf(parsed.url);
    const { outcome, attempts } = await this.withRetries(parsed.url, { sink, maxRedirects: this.cfg.max_redirects, robotsTxt: false }, signal);
    const ms = performance.now() - started;
    if (outcome.kind === 'failed') {
      await sink.discard?.();
      return { ok: false, reason: outcome.reason, detail: outcome.detail, consent: outcome.consent, attempts, host, ms };
    }
    return {
      ok: true,
      body: outcome.body!, // null only for robots.txt
      finalUrl: outcome.url.href,
      status: outcome.status,
      contentType: outcome.contentType,
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
    const maxRedirects = Math.min(this.cfg.max_redirects, ROBOTS_MAX_REDIRECTS);
    const { outcome } = await this.withRetries(robotsUrl, { sink: textSink(ROBOTS_MAX_BYTES), maxRedirects, robotsTxt: true });
    if (outcome.kind === 'failed') return { kind: 'unreachable', detail: `${outcome.reason}: ${outcome.detail}` };
    if (outcome.status >= 400) return { kind: 'unavailable', status: outcome.status };
    return { kind: 'found', text: outcome.body ?? '' };
  }

  private async withRetries<T>(url: URL, policy: Policy<T>, signal?: AbortSignal): Promise<{ outcome: AttemptOutcome<T>; attempts: number }> {
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
  private async attempt<T>(url: URL, policy: Policy<T>, callerSignal?: AbortSignal): Promise<AttemptOutcome<T>> {
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
  private async hop<T>(url: URL, policy: Policy<T>, signal: AbortSignal): Promise<HopOutcome<T>> {
    const host = hostOf(url);
    if (!policy.robotsTxt && this.cfg.respect_robots_txt) {
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
  private async send<T>(url: URL, policy: Policy<T>, attemptSignal: AbortSignal): Promise<HopOutcome<T>> {
    const idle = new IdleTimer(this.cfg.first_byte_timeout_ms);
    try {
      return await this.exchange(url, policy, AbortSignal.any([attemptSignal, idle.signal]), idle);
    } finally {
      idle.stop();
    }
  }

  private async exchange<T>(url: URL, policy: Policy<T>, signal: AbortSignal, idle: IdleTimer): Promise<HopOutcome<T>> {
    const host = hostOf(url);
    const res = await request(url, {
      dispatcher: this.agent,
      method: 'GET',
      headers: { 'user-agent': this.cfg.user_agent, accept: policy.sink.accept, 'accept-encoding': 'identity' },
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
      const robotsUnavailable = policy.robotsTxt && status < 500 && status !== 408 && status !== 429;
      if (robotsUnavailable) return { kind: 'done', url, status, contentType: null, body: null };
      return statusFailure(status, header(res.headers, 'retry-after'), url, host);
    }

    if (!policy.robotsTxt && this.cfg.respect_x_robots_tag) {
      const directive = xRobotsOptOut(headerValues(res.headers, 'x-robots-tag'), this.uaToken, this.cfg.opt_out_directives);
      if (directive) {
        abandon(res.body);
        return { ...failed('opt_out', `X-Robots-Tag: ${directive}`, host), consent: 'opt_out_x_robots_tag' };
      }
    }
    const tooLarge = policy.sink.declaredTooLarge?.(Number(header(res.headers, 'content-length') ?? NaN));
    if (tooLarge) {
      abandon(res.body);
      return failed('too_large', tooLarge, host);
    }
    const body = await policy.sink.read(res.body, () => idle.touch());
    if (!body.ok) return failed(body.reason, body.detail, host);
    return { kind: 'done', url, status, contentType: header(res.headers, 'content-type'), body: body.value };
  }
}

/** Stops a body we do not want; the connection closes, no error surfaces. */
function abandon(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function headerValues(headers: Dispatcher.ResponseData['headers'], name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | null {
  return headerValues(headers, name)[0] ?? null;
}
