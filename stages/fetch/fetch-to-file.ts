// Downloads large media (videos) straight to a file: an HttpSession (the same politeness,
// consent, safety, retry and timeout rules and reason codes as the image fetcher) whose body
// goes to a file sink (file-sink.ts: streamed, size-capped, sniffed). A failed fetch leaves no file.
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import { fileSink, type FileSinkOptions } from './file-sink.ts';
import type { FetchFailure, FetcherOptions, FetchMeta } from './fetch-result.ts';
import { HttpSession } from './http-session.ts';

export interface FileFetchOptions extends FetcherOptions, FileSinkOptions {}

export interface FileFetchSuccess extends FetchMeta {
  ok: true;
  file: string;
  bytes: number;
}

export type FileFetchResult = FileFetchSuccess | FetchFailure;

export class FileFetcher {
  private readonly session: HttpSession;

  constructor(cfg: FetchConfig, private readonly opts: FileFetchOptions) {
    this.session = new HttpSession(cfg, opts);
  }

  get robotsTxtFetches(): number {
    return this.session.robotsTxtFetches;
  }

  /** Downloads `rawUrl` to `dest` (created or replaced). Never throws for a per-URL failure; on failure `dest` does not exist. */
  async fetchToFile(rawUrl: string, dest: string, signal?: AbortSignal): Promise<FileFetchResult> {
    const r = await this.session.get(rawUrl, fileSink(dest, this.opts), signal);
    if (!r.ok) return r;
    return { ok: true, file: dest, bytes: r.body, finalUrl: r.finalUrl, status: r.status, contentType: r.contentType, consent: r.consent, attempts: r.attempts, requests: r.requests, host: r.host, ms: r.ms };
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
