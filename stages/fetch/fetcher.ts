// The polite, safe image fetcher: an HttpSession (http-session.ts has the politeness, consent,
// safety, retry and timeout rules) whose bodies are held in memory and typed by their magic
// bytes, so a body that is too large or not an image is abandoned at once.
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import { imageSink, type BodySink, type ImageBody } from './body-sink.ts';
import type { ConsentVerdict, FetchFailure, FetcherOptions, FetchMeta } from './fetch-result.ts';
import { HttpSession } from './http-session.ts';
import type { MediaType } from './magic-bytes.ts';

export type { ConsentVerdict, FetchFailure, FetcherOptions };

export interface FetchSuccess extends FetchMeta {
  ok: true;
  bytes: Uint8Array;
  /** From the magic bytes, not from contentType. */
  mediaType: MediaType;
}

export type FetchResult = FetchSuccess | FetchFailure;

export class Fetcher {
  private readonly session: HttpSession;
  private readonly sink: BodySink<ImageBody>;

  constructor(cfg: FetchConfig, opts: FetcherOptions = {}) {
    this.session = new HttpSession(cfg, opts);
    this.sink = imageSink(cfg.max_body_bytes);
  }

  /** robots.txt files requested so far (one per origin while cached). */
  get robotsTxtFetches(): number {
    return this.session.robotsTxtFetches;
  }

  /** The rate requests to `host` are spaced at now (adaptive; requests per second). */
  hostRate(host: string): number {
    return this.session.hostRate(host);
  }

  /** Requests that ran past their host's usual time and gave their slots to fresh ones, so far. */
  get overdueReleases(): number {
    return this.session.overdueReleases;
  }

  /** Downloads the fetch stage should keep started at once: the global slots plus the overflow
   *  permits, so a fresh URL is ready when an overdue request gives its slot up. */
  get maxInFlight(): number {
    return this.session.maxInFlight;
  }

  /** Requests one host may have in flight at once: its slots plus its overflow permits. The
   *  fetch stage starts no more of a host's URLs at once than this. */
  get maxPerHost(): number {
    return this.session.maxPerHost;
  }

  /** Downloads one image. Never throws for a per-URL failure. `leftHost` is called (at most
   *  once) when a redirect first leads to a host other than the URL's own. */
  async fetch(rawUrl: string, signal?: AbortSignal, leftHost?: () => void): Promise<FetchResult> {
    const r = await this.session.get(rawUrl, this.sink, signal, leftHost);
    if (!r.ok) return r;
    const { bytes, mediaType } = r.body;
    return { ok: true, bytes, finalUrl: r.finalUrl, status: r.status, contentType: r.contentType, mediaType, consent: r.consent, attempts: r.attempts, requests: r.requests, host: r.host, ms: r.ms };
  }

  /** Waits for in-flight requests, then closes pooled connections. Safe to call twice. */
  close(): Promise<void> {
    return this.session.close();
  }
}
