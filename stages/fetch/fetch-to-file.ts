// Downloads large media (videos) straight to a file, with the same politeness, consent and
// safety rules as the image fetcher (fetcher.ts): robots.txt and X-Robots-Tag consent, the
// per-host circuit breaker, slots and token bucket, a global slot limit, address checks pinned
// through every redirect hop, retries with jittered backoff and Retry-After, and the same
// timeouts and reason codes. The difference is the body: it streams to disk with backpressure
// (never held in memory), under its own size cap, and is checked by a caller-given sniffer on
// its first bytes so an HTML error page is abandoned at once. A failed attempt leaves no file.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { Agent, request, type Dispatcher } from 'undici';
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import { abortable, sleep } from './abortable.ts';
import { readBody } from './body-reader.ts';
import type { BreakerOutcome } from './circuit-breaker.ts';
import type { ConsentVerdict, FetchFailure, FetcherOptions } from './fetcher.ts';
import { HostLimiter } from './host-limiter.ts';
import { IdleTimer } from './idle-timer.ts';
import { classifyNetworkError } from './network-errors.ts';
import { PinnedLookup, systemResolver } from './pinned-lookup.ts';
import { backoffDelay, isTransient, parseRetryAfter } from './retry.ts';
import { RobotsCache, type RobotsFetchOutcome } from './robots-txt.ts';
import { Semaphore } from './semaphore.ts';
import { hostOf, parseFetchUrl } from './url-normalise.ts';
import { userAgentToken, xRobotsOptOut } from './x-robots-tag.ts';

export interface FileFetchOptions extends FetcherOptions {
  /** Bodies larger than this fail as `too_large` (by Content-Length, or while streaming). */
  maxBytes: number;
  /** Sent as Accept. */
  accept: string;
  /** Bytes the sniffer needs before it judges. */
  sniffBytes: number;
  /** Looks at the body's first bytes: null to go on, or a failure (reason and detail) to abandon it. */
  sniff: (head: Uint8Array) => { reason: string; detail: string } | null;
}

export interface FileFetchSuccess {
  ok: true;
  file: string;
  bytes: number;
  finalUrl: string;
  status: number;
  contentType: string | null;
  consent: ConsentVerdict;
  attempts: number;
  host: string;
  ms: number;
}

export type FileFetchResult = FileFetchSuccess | FetchFailure;

const ROBOTS_MAX_BYTES = 512 * 1024;
const ROBOTS_MAX_REDIRECTS = 5;
const DISCARD_LIMIT = 64 * 1024;

type Purpose = { kind: 'file'; dest: string } | { kind: 'robots' };

type HopOutcome =
  | { kind: 'done'; url: URL; status: number; contentType: string | null; bytes: number; text: string }
  | { kind: 'redirect'; status: number; location: string }
  | Failed;

interface Failed {
  kind: 'failed';
  reason: string;
  detail: string;
  transient: boolean;
  retryAfterMs?: number | null;
  consent?: ConsentVerdict;
  host: string;
}

type AttemptOutcome = Extract<HopOutcome, { kind: 'done' }> | Failed;

export class FileFetcher {
  private readonly agent: Agent;
  private readonly pinned: PinnedLookup;
  private readonly hosts: HostLimiter;
  private readonly globalSlots: Semaphore;
  private readonly robots: RobotsCache;
  private readonly uaToken: string;
  private readonly random: () => number;
  private readonly consentChecked: boolean;
  private closing: Promise<void> | undefined;

  constructor(private readonly cfg: FetchConfig, private readonly opts: FileFetchOptions) {
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

  get robotsTxtFetches(): number {
    return this.robots.fetches;
  }

  /** Downloads `rawUrl` to `dest` (created or replaced). Never throws for a per-URL failure; on failure `dest` does not exist. */
  async fetchToFile(rawUrl: string, dest: string, signal?: AbortSignal): Promise<FileFetchResult> {
    const started = performance.now();
    const parsed = parseFetchUrl(rawUrl);
    if (!parsed.ok) return { ok: false, reason: 'bad_url', detail: parsed.detail, attempts: 0, host: '', ms: 0 };
    const host = hostOf(parsed.url);
    const { outcome, attempts } = await this.withRetries(parsed.url, { kind: 'file', dest }, this.cfg.max_redirects, signal);
    const ms = performance.now() - started;
    if (outcome.kind === 'failed') {
      await rm(dest, { force: true });
      return { ok: false, reason: outcome.reason, detail: outcome.detail, consent: outcome.consent, attempts, host, ms };
    }
    return {
      ok: true,
      file: dest,
      bytes: outcome.bytes,
      finalUrl: outcome.url.href,
      status: outcome.status,
      contentType: outcome.contentType,
      consent: this.consentChecked ? 'allowed' : 'unchecked',
      attempts,
      host,
      ms,
    };
  }

  close(): Promise<void> {
    this.closing ??= this.agent.close();
    return this.closing;
  }

  private async fetchRobotsTxt(robotsUrl: URL): Promise<RobotsFetchOutcome> {
    const { outcome } = await this.withRetries(robotsUrl, { kind: 'robots' }, Math.min(this.cfg.max_redirects, ROBOTS_MAX_REDIRECTS));
    if (outcome.kind === 'failed') return { kind: 'unreachable', detail: `${outcome.reason}: ${outcome.detail}` };
    if (outcome.status >= 400) return { kind: 'unavailable', status: outcome.status };
    return { kind: 'found', text: outcome.text };
  }

  private async withRetries(url: URL, purpose: Purpose, maxRedirects: number, signal?: AbortSignal): Promise<{ outcome: AttemptOutcome; attempts: number }> {
    const maxAttempts = 1 + this.cfg.retries;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(url, purpose, maxRedirects, signal);
      if (outcome.kind === 'done' || !outcome.transient || attempt >= maxAttempts) return { outcome, attempts: attempt };
      let delay: number;
      if (outcome.retryAfterMs != null) {
        this.hosts.pause(outcome.host, Math.min(outcome.retryAfterMs, this.cfg.retry_after_max_ms));
        if (outcome.retryAfterMs > this.cfg.retry_after_max_ms) {
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

  private async attempt(url: URL, purpose: Purpose, maxRedirects: number, callerSignal?: AbortSignal): Promise<AttemptOutcome> {
    const total = AbortSignal.timeout(this.cfg.total_timeout_ms);
    const signal = callerSignal ? AbortSignal.any([callerSignal, total]) : total;
    const visited = new Set([url.href]);
    let current = url;
    try {
      for (let hops = 0; ; hops++) {
        const outcome = await this.hop(current, purpose, signal);
        if (outcome.kind !== 'redirect') return outcome;
        const host = hostOf(current);
        const next = parseFetchUrl(outcome.location, current);
        if (!next.ok) return failed('bad_url', `HTTP ${outcome.status} redirect to ${next.detail}`, host);
        if (visited.has(next.url.href)) return failed('redirect_loop', `${current.href} redirects back to ${next.url.href}`, host);
        if (hops + 1 > maxRedirects) return failed('too_many_redirects', `more than ${maxRedirects} redirects, last to ${next.url.href}`, host);
        visited.add(next.url.href);
        current = next.url;
      }
    } catch (err) {
      const host = hostOf(current);
      if (callerSignal?.aborted) return aborted(host);
      if (total.aborted) return { ...failed('timeout', `total_timeout_ms ${this.cfg.total_timeout_ms} passed at ${current.href}`, host), transient: true };
      throw err;
    }
  }

  private async hop(url: URL, purpose: Purpose, signal: AbortSignal): Promise<HopOutcome> {
    const host = hostOf(url);
    if (purpose.kind === 'file' && this.cfg.respect_robots_txt) {
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
            const idle = new IdleTimer(this.cfg.first_byte_timeout_ms);
            let outcome: HopOutcome;
            try {
              outcome = await this.exchange(url, purpose, AbortSignal.any([signal, idle.signal]), idle);
            } finally {
              idle.stop();
            }
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

  private async exchange(url: URL, purpose: Purpose, signal: AbortSignal, idle: IdleTimer): Promise<HopOutcome> {
    const host = hostOf(url);
    const res = await request(url, {
      dispatcher: this.agent,
      method: 'GET',
      headers: { 'user-agent': this.cfg.user_agent, accept: purpose.kind === 'file' ? this.opts.accept : 'text/plain,*/*;q=0.5', 'accept-encoding': 'identity' },
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
      const robotsUnavailable = purpose.kind === 'robots' && status < 500 && status !== 408 && status !== 429;
      if (robotsUnavailable) return { kind: 'done', url, status, contentType: null, bytes: 0, text: '' };
      return statusFailure(status, res.headers, url, host);
    }
    if (purpose.kind === 'robots') {
      const body = await readBody(res.body, { maxBytes: ROBOTS_MAX_BYTES, overflow: 'truncate', requireImage: false }, () => idle.touch());
      if (!body.ok) return failed(body.reason, body.detail, host);
      return { kind: 'done', url, status, contentType: header(res.headers, 'content-type'), bytes: body.bytes.length, text: Buffer.from(body.bytes).toString('utf8') };
    }
    if (this.cfg.respect_x_robots_tag) {
      const directive = xRobotsOptOut(headerValues(res.headers, 'x-robots-tag'), this.uaToken, this.cfg.opt_out_directives);
      if (directive) {
        abandon(res.body);
        return { ...failed('opt_out', `X-Robots-Tag: ${directive}`, host), consent: 'opt_out_x_robots_tag' };
      }
    }
    const declared = Number(header(res.headers, 'content-length') ?? NaN);
    if (declared > this.opts.maxBytes) {
      abandon(res.body);
      return failed('too_large', `Content-Length ${declared} > ${this.opts.maxBytes} bytes`, host);
    }
    const written = await this.streamToFile(res.body, purpose.dest, () => idle.touch());
    if (!written.ok) return failed(written.reason, written.detail, host);
    return { kind: 'done', url, status, contentType: header(res.headers, 'content-type'), bytes: written.bytes, text: '' };
  }

  /** Writes the body to `dest` with backpressure; stops early (and removes the file) on a size or sniff failure. */
  private async streamToFile(body: Dispatcher.ResponseData['body'], dest: string, onChunk: () => void): Promise<{ ok: true; bytes: number } | { ok: false; reason: string; detail: string }> {
    const out = createWriteStream(dest);
    const outFailed = once(out, 'error').then(([err]) => Promise.reject(err as Error));
    outFailed.catch(() => undefined);
    let size = 0;
    const head: Buffer[] = [];
    let sniffed = false;
    let ok = false;
    try {
      // Leaving the loop early destroys the body stream, which stops the download.
      for await (const chunk of body as AsyncIterable<Buffer>) {
        onChunk();
        size += chunk.length;
        if (size > this.opts.maxBytes) return { ok: false, reason: 'too_large', detail: `body passed ${this.opts.maxBytes} bytes while streaming` };
        if (!sniffed) {
          head.push(chunk);
          if (size >= this.opts.sniffBytes) {
            sniffed = true;
            const verdict = this.opts.sniff(Buffer.concat(head));
            if (verdict) return { ok: false, ...verdict };
          }
        }
        if (!out.write(chunk)) await Promise.race([once(out, 'drain'), outFailed]);
      }
      if (!sniffed) {
        const verdict = this.opts.sniff(Buffer.concat(head));
        if (verdict) return { ok: false, ...verdict };
      }
      out.end();
      await Promise.race([once(out, 'finish'), outFailed]);
      ok = true;
      return { ok: true, bytes: size };
    } finally {
      if (!ok) {
        out.destroy();
        await rm(dest, { force: true });
      }
    }
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
