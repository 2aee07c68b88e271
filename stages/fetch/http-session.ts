// The polite, safe HTTP machinery shared by the image fetcher (fetcher.ts) and the file fetcher
// (fetch-to-file.ts); they differ only in the BodySink the body goes to. One `get(url, sink)` is:
// parse the URL; then up to 1 + retries attempts, each following redirects hop by hop.
//
// One hop, in this order:
//   1. a host whose breaker is open (and no probe due) fails fast as `circuit_open`;
//   2. the address guard: resolve, refuse non-public addresses (`dns`, `blocked_address`),
//      before anything touches the network for this URL, robots.txt included;
//   3. queue: robots.txt consent, a host slot, a rate token, a global slot. Waiting here is
//      bounded by max_queue_ms (`queue_timeout`, retried) and never counts against the host;
//   4. the breaker's admission (the half-open probe is decided here, right before sending);
//   5. send: only now do the request's clocks run.
//
// Timeouts (all from the moment the request is sent):
//   connect_timeout_ms     TCP connect plus TLS handshake of a new connection.
//   first_byte_timeout_ms  silence while waiting: from sending the request (including opening
//                          its connection) to the complete response headers, and between two
//                          body chunks. Timed by IdleTimer; undici's coarser headersTimeout and
//                          bodyTimeout are set to the same value as a backstop.
//   total_timeout_ms       one attempt, summed over the time its hops spend sending (SendClock):
//                          queue waits between hops do not count.
//
// Overdue requests (no head-of-line blocking on slots): a request still running
// max(overdue_after_ms, 2 x the p95 of its host's recent send times) after it was sent gives its
// host slot and global slot to a fresh request and runs on, on an overflow permit: at most
// `overflow_concurrency` such requests over all hosts and `per_host_overflow` per host. With no
// permit free it keeps its slots and asks again after the same time. So fresh requests to a host
// never exceed per_host_concurrency, and connections to it never exceed per_host_concurrency +
// per_host_overflow. Its timeouts are unchanged: an overdue request still ends at them.
//
// Host health: only host-level failures (refused or timed-out connects, TLS failures, 5xx) count
// against a host's breaker; a response below 500 (other than 429) is a success; a URL's own
// timeouts, resets, too-large or undecodable bodies say nothing about the host. 429 and 503 halve
// the host's adaptive rate, other answers raise it a step (adaptive-rate.ts).
import { Agent, request, type Dispatcher } from 'undici';
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import { abortable, sleep } from './abortable.ts';
import { textSink, type BodySink } from './body-sink.ts';
import type { BreakerOutcome } from './circuit-breaker.ts';
import { contentCodings, decodeBody, unsupportedCoding } from './content-encoding.ts';
import type { FetcherOptions, SessionResult } from './fetch-result.ts';
import { HostLimiter } from './host-limiter.ts';
import { aborted, failed, statusFailure, type AttemptOutcome, type Failed, type HopOutcome } from './http-outcome.ts';
import { IdleTimer } from './idle-timer.ts';
import { classifyNetworkError } from './network-errors.ts';
import { PinnedLookup, systemResolver } from './pinned-lookup.ts';
import { backoffDelay, isHostFailure, isTransient } from './retry.ts';
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
  /** Called when a redirect first leads off the URL's own host. */
  leftHost?: () => void;
}

/** The time one attempt has spent sending, against total_timeout_ms. */
class SendClock {
  spentMs = 0;
  constructor(readonly limitMs: number) {}
  get remainingMs(): number {
    return this.limitMs - this.spentMs;
  }
}

/** What one get() did on the wire, for the result. */
interface Trace {
  requests: number;
}

export class HttpSession {
  private readonly agent: Agent;
  private readonly pinned: PinnedLookup;
  private readonly hosts: HostLimiter;
  private readonly globalSlots: Semaphore;
  /** Overdue requests (all hosts) running on past their slots. */
  private readonly globalOverflow: Semaphore;
  private overdueReleasesSoFar = 0;
  private readonly robots: RobotsCache;
  private readonly uaToken: string;
  private readonly random: () => number;
  private readonly consentChecked: boolean;
  private readonly lastHostFailure = new Map<string, string>();
  private closing: Promise<void> | undefined;

  constructor(private readonly cfg: FetchConfig, opts: FetcherOptions = {}) {
    const limits = overflowLimits(cfg);
    this.pinned = new PinnedLookup(opts.resolve ?? systemResolver, cfg.allow_private_addresses, cfg.allowed_address_ranges);
    this.agent = new Agent({
      connect: { timeout: cfg.connect_timeout_ms, lookup: this.pinned.lookup, autoSelectFamily: true },
      headersTimeout: cfg.first_byte_timeout_ms,
      bodyTimeout: cfg.first_byte_timeout_ms,
      // Fresh requests plus overdue ones: an overdue request keeps its connection.
      connections: cfg.per_host_concurrency + limits.perHost,
    });
    this.hosts = new HostLimiter({
      perHostConcurrency: cfg.per_host_concurrency,
      ratePerSecond: cfg.per_host_rate,
      rateMax: cfg.per_host_rate_max,
      adaptive: cfg.adaptive_rate,
      burst: cfg.per_host_burst,
      breakerFailures: cfg.breaker_failures,
      breakerCooldownMs: cfg.breaker_cooldown_ms,
      perHostOverflow: limits.perHost,
      overdueFloorMs: cfg.overdue_after_ms,
    });
    this.globalSlots = new Semaphore(cfg.concurrency);
    this.globalOverflow = new Semaphore(limits.global);
    this.uaToken = userAgentToken(cfg.user_agent);
    this.robots = new RobotsCache(this.uaToken, (u) => this.fetchRobotsTxt(u));
    this.random = opts.random ?? Math.random;
    this.consentChecked = cfg.respect_robots_txt || cfg.respect_x_robots_tag;
  }

  /** robots.txt files requested so far (one per origin while cached). */
  get robotsTxtFetches(): number {
    return this.robots.fetches;
  }

  /** The rate requests to `host` are spaced at now (adaptive; requests per second). */
  hostRate(host: string): number {
    return this.hosts.rateOf(host);
  }

  /** Requests that were overdue and gave their slots to fresh ones, so far. */
  get overdueReleases(): number {
    return this.overdueReleasesSoFar;
  }

  /** Most requests in flight at once: one per global slot plus one per overflow permit. */
  get maxInFlight(): number {
    return this.cfg.concurrency + overflowLimits(this.cfg).global;
  }

  /** Most requests to one host in flight at once: its slots plus its overflow permits. */
  get maxPerHost(): number {
    return this.cfg.per_host_concurrency + overflowLimits(this.cfg).perHost;
  }

  /** GETs `rawUrl` into `sink`. Never throws for a per-URL failure. */
  async get<T>(rawUrl: string, sink: BodySink<T>, callerSignal?: AbortSignal, leftHost?: () => void): Promise<SessionResult<T>> {
    const started = performance.now();
    const trace: Trace = { requests: 0 };
    const parsed = parseFetchUrl(rawUrl);
    if (!parsed.ok) return { ok: false, reason: 'bad_url', detail: parsed.detail, attempts: 0, requests: 0, host: '', ms: 0 };
    const host = hostOf(parsed.url);
    // Every wait below listens on this signal; AbortSignal.any adds no listener to the caller's
    // signal, which a whole stage's concurrent fetches share.
    const signal = callerSignal ? AbortSignal.any([callerSignal]) : undefined;
    const { outcome, attempts } = await this.withRetries(parsed.url, { sink, maxRedirects: this.cfg.max_redirects, robotsTxt: false, ...(leftHost ? { leftHost } : {}) }, trace, signal);
    const ms = performance.now() - started;
    if (outcome.kind === 'failed') {
      await sink.discard?.();
      return { ok: false, reason: outcome.reason, detail: outcome.detail, consent: outcome.consent, attempts, requests: trace.requests, host, ms };
    }
    return {
      ok: true,
      body: outcome.body!, // null only for robots.txt
      finalUrl: outcome.url.href,
      status: outcome.status,
      contentType: outcome.contentType,
      consent: this.consentChecked ? 'allowed' : 'unchecked',
      attempts,
      requests: trace.requests,
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
    const { outcome } = await this.withRetries(robotsUrl, { sink: textSink(ROBOTS_MAX_BYTES), maxRedirects, robotsTxt: true }, { requests: 0 });
    if (outcome.kind === 'failed') return { kind: 'unreachable', reason: outcome.reason, detail: `${outcome.reason}: ${outcome.detail}` };
    if (outcome.status >= 400) return { kind: 'unavailable', status: outcome.status };
    return { kind: 'found', text: outcome.body ?? '' };
  }

  private async withRetries<T>(url: URL, policy: Policy<T>, trace: Trace, signal?: AbortSignal): Promise<{ outcome: AttemptOutcome<T>; attempts: number }> {
    const maxAttempts = 1 + this.cfg.retries;
    const capMs = this.cfg.max_retry_after_s * 1000;
    let previous: Failed | undefined;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(url, policy, trace, signal);
      if (outcome.kind === 'done') return { outcome, attempts: attempt };
      if (outcome.reason === 'circuit_open' && previous) {
        // The breaker stopped the retries; what went wrong is this URL's own last failure.
        return { outcome: { ...previous, detail: `${previous.detail}; retry refused: ${outcome.detail}` }, attempts: attempt - 1 };
      }
      if (outcome.retryAfterMs != null) {
        // sendJudged has paused the host already, for at most the cap.
        if (outcome.retryAfterMs > capMs) {
          const detail = `${outcome.detail} with Retry-After ${Math.round(outcome.retryAfterMs / 1000)} s, over max_retry_after_s ${this.cfg.max_retry_after_s}; host paused ${this.cfg.max_retry_after_s} s`;
          return { outcome: { ...outcome, reason: 'retry_after_too_long', transient: false, detail }, attempts: attempt };
        }
      }
      if (!outcome.transient || attempt >= maxAttempts) return { outcome, attempts: attempt };
      previous = outcome;
      const delay = outcome.retryAfterMs ?? backoffDelay(attempt - 1, this.cfg.backoff_base_ms, this.cfg.backoff_max_ms, this.random);
      try {
        await sleep(delay, signal);
      } catch {
        return { outcome: aborted(outcome.host), attempts: attempt };
      }
    }
  }

  /** One attempt: follow redirects from `url` until a final response or a failure. */
  private async attempt<T>(url: URL, policy: Policy<T>, trace: Trace, signal?: AbortSignal): Promise<AttemptOutcome<T>> {
    const clock = new SendClock(this.cfg.total_timeout_ms);
    const visited = new Set([url.href]);
    let current = url;
    try {
      for (let hops = 0; ; hops++) {
        const outcome = await this.hop(current, policy, clock, trace, signal);
        if (outcome.kind !== 'redirect') return outcome;
        const host = hostOf(current);
        const next = parseFetchUrl(outcome.location, current);
        if (!next.ok) return failed('bad_url', `HTTP ${outcome.status} redirect to ${next.detail}`, host);
        if (visited.has(next.url.href)) return failed('redirect_loop', `${current.href} redirects back to ${next.url.href}`, host);
        if (hops + 1 > policy.maxRedirects) return failed('too_many_redirects', `more than ${policy.maxRedirects} redirects, last to ${next.url.href}`, host);
        if (clock.remainingMs <= 0) return this.totalTimeout(clock, next.url);
        visited.add(next.url.href);
        if (hostOf(next.url) !== hostOf(url)) policy.leftHost?.();
        current = next.url;
      }
    } catch (err) {
      if (signal?.aborted) return aborted(hostOf(current));
      throw err; // a programmer error: hop() classifies every network failure itself
    }
  }

  /** One request to `url`. Throws only when the caller's `signal` aborted. */
  private async hop<T>(url: URL, policy: Policy<T>, clock: SendClock, trace: Trace, signal?: AbortSignal): Promise<HopOutcome<T>> {
    const host = hostOf(url);
    if (this.hosts.refusing(host)) return this.breakerRefusal(host);
    const queueStarted = performance.now();
    const queueLimit = AbortSignal.timeout(this.cfg.max_queue_ms);
    const queue = signal ? AbortSignal.any([signal, queueLimit]) : queueLimit;
    const releases: Array<() => void> = [];
    let hostSlot: (() => void) | undefined;
    let globalSlot: (() => void) | undefined;
    let waitingFor = 'its address';
    try {
      const address = await this.pinned.check(host, queue);
      if (!address.ok) return { ...failed(address.reason, address.detail, host), transient: address.transient };
      releases.push(address.release);
      if (!policy.robotsTxt && this.cfg.respect_robots_txt) {
        waitingFor = 'robots.txt';
        const verdict = await abortable(this.robots.check(url), queue);
        if (verdict.verdict === 'disallowed') return { ...failed('opt_out', verdict.detail, host), consent: 'opt_out_robots_txt' };
        if (verdict.verdict === 'unreachable') return failed(verdict.reason, verdict.detail, host);
      }
      waitingFor = 'a host slot and rate token';
      hostSlot = await this.hosts.acquire(host, queue);
      releases.push(hostSlot);
      waitingFor = 'a global slot';
      globalSlot = await this.globalSlots.acquire(queue);
      releases.push(globalSlot);
    } catch (err) {
      for (const release of releases.reverse()) release();
      if (signal?.aborted) throw err;
      if (!queueLimit.aborted) throw err;
      const waited = Math.round(performance.now() - queueStarted);
      return { ...failed('queue_timeout', `${url.href.slice(0, 300)} waited ${waited} ms for ${waitingFor} (max_queue_ms ${this.cfg.max_queue_ms}); nothing was sent`, host), transient: true };
    }
    let watch: OverdueWatch | undefined;
    try {
      const report = this.hosts.admit(host);
      if (!report) return this.breakerRefusal(host);
      watch = this.watchOverdue(host, () => {
        hostSlot!();
        globalSlot!();
      });
      return await this.sendJudged(url, host, policy, clock, trace, report, signal);
    } finally {
      watch?.stop();
      for (const release of releases.reverse()) release(); // idempotent: freed slots stay freed
    }
  }

  /**
   * Arms the overdue timer of a request to `host` that is being sent now. When it fires and an
   * overflow permit is free (over all hosts and for this host), `freeSlots` gives the request's
   * slots to fresh requests and the request runs on on the permits; else it asks again after the
   * same time. `stop()` (when the request ends) clears the timer and returns the permits.
   */
  private watchOverdue(host: string, freeSlots: () => void): OverdueWatch {
    const afterMs = this.hosts.overdueAfterMs(host);
    const permits: Array<() => void> = [];
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const global = this.globalOverflow.tryAcquire();
      const perHost = global ? this.hosts.overflow(host) : null;
      if (global && perHost) {
        permits.push(global, perHost);
        this.overdueReleasesSoFar += 1;
        timer = undefined;
        freeSlots();
        return;
      }
      global?.();
      timer = setTimeout(check, afterMs);
    };
    if (Number.isFinite(afterMs)) timer = setTimeout(check, afterMs);
    return {
      stop: () => {
        if (timer) clearTimeout(timer);
        for (const release of permits) release();
      },
    };
  }

  /** Sends one request within what is left of the attempt's send time; reports the host's health. */
  private async sendJudged<T>(url: URL, host: string, policy: Policy<T>, clock: SendClock, trace: Trace, report: (o: BreakerOutcome) => void, signal?: AbortSignal): Promise<HopOutcome<T>> {
    if (clock.remainingMs <= 0) {
      report('neutral');
      return this.totalTimeout(clock, url);
    }
    const total = AbortSignal.timeout(Math.ceil(clock.remainingMs));
    const sendSignal = signal ? AbortSignal.any([signal, total]) : total;
    const seen = { status: 0 };
    const started = performance.now();
    trace.requests += 1;
    let outcome: HopOutcome<T> | undefined;
    try {
      outcome = await this.send(url, policy, sendSignal, seen);
      return outcome;
    } catch (err) {
      if (signal?.aborted) throw err;
      if (total.aborted) {
        clock.spentMs = clock.limitMs;
        return (outcome = this.totalTimeout(clock, url));
      }
      const { reason, detail } = classifyNetworkError(err);
      return (outcome = { ...failed(reason, detail, host), transient: isTransient(reason) });
    } finally {
      const sendMs = performance.now() - started;
      clock.spentMs += sendMs;
      // Only answered requests say how long the host usually takes (a timeout is the limit, not a time).
      const timedOut = outcome?.kind === 'failed' && outcome.reason === 'timeout';
      if (seen.status > 0 && !timedOut) this.hosts.recordSendTime(host, sendMs);
      const hostFailed = outcome?.kind === 'failed' && isHostFailure(outcome.reason);
      let health: BreakerOutcome = 'neutral';
      if (hostFailed) {
        health = 'failure';
        this.lastHostFailure.set(host, `${outcome!.kind === 'failed' ? outcome!.reason : ''} at ${url.href.slice(0, 200)}`);
        if (this.lastHostFailure.size > 10_000) this.lastHostFailure.delete(this.lastHostFailure.keys().next().value!);
      } else if (seen.status > 0 && seen.status !== 429) {
        health = 'success';
      }
      report(health);
      // The host asked everyone to wait, not just this URL: pause it at once (never longer than
      // the cap), so requests about to go out wait too.
      const retryAfterMs = outcome?.kind === 'failed' ? outcome.retryAfterMs : null;
      if (retryAfterMs != null) this.hosts.pause(host, Math.min(retryAfterMs, this.cfg.max_retry_after_s * 1000));
      if (seen.status === 429 || seen.status === 503) this.hosts.throttled(host);
      else if (seen.status > 0 && seen.status < 500) this.hosts.succeeded(host);
    }
  }

  private totalTimeout(clock: SendClock, url: URL): Failed {
    return { ...failed('timeout', `total_timeout_ms ${clock.limitMs} of sending passed at ${url.href.slice(0, 300)}`, hostOf(url)), transient: true };
  }

  private breakerRefusal(host: string): Failed {
    const last = this.lastHostFailure.get(host);
    const detail = `${host}: breaker open for another ${Math.round(this.hosts.breakerRetryInMs(host))} ms after ${this.cfg.breaker_failures} consecutive host failures${last ? ` (last: ${last})` : ''}`;
    return failed('circuit_open', detail, host);
  }

  /** Sends the request and judges the response. Network errors are thrown. */
  private async send<T>(url: URL, policy: Policy<T>, sendSignal: AbortSignal, seen: { status: number }): Promise<HopOutcome<T>> {
    const idle = new IdleTimer(this.cfg.first_byte_timeout_ms);
    try {
      return await this.exchange(url, policy, AbortSignal.any([sendSignal, idle.signal]), idle, seen);
    } finally {
      idle.stop();
    }
  }

  private async exchange<T>(url: URL, policy: Policy<T>, signal: AbortSignal, idle: IdleTimer, seen: { status: number }): Promise<HopOutcome<T>> {
    const host = hostOf(url);
    const res = await request(url, {
      dispatcher: this.agent,
      method: 'GET',
      headers: { 'user-agent': this.cfg.user_agent, accept: policy.sink.accept, 'accept-encoding': policy.sink.acceptEncoding ?? 'identity' },
      signal,
    });
    idle.touch('between body chunks');
    const status = res.statusCode;
    seen.status = status;
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
    const codings = contentCodings(headerValues(res.headers, 'content-encoding').join(','));
    const unsupported = unsupportedCoding(codings);
    if (unsupported) {
      abandon(res.body);
      return failed('bad_encoding', unsupported, host);
    }
    const body = codings.length === 0 ? res.body : decodeBody(res.body, codings, this.cfg.max_body_bytes, () => idle.touch());
    const read = await policy.sink.read(body, () => idle.touch());
    if (!read.ok) {
      abandon(res.body);
      const decoded = codings.length ? ` (after ${codings.join(', ')} decoding)` : '';
      return failed(read.reason, read.detail + decoded, host);
    }
    return { kind: 'done', url, status, contentType: header(res.headers, 'content-type'), body: read.value };
  }
}

interface OverdueWatch {
  stop(): void;
}

/** The overflow permits: `null` in the config means as many as the matching slots. */
function overflowLimits(cfg: FetchConfig): { global: number; perHost: number } {
  return { global: cfg.overflow_concurrency ?? cfg.concurrency, perHost: cfg.per_host_overflow ?? cfg.per_host_concurrency };
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
