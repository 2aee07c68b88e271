// Videos from a URL list (csv, tsv, jsonl, json, txt, parquet; optionally .gz): one unit per
// row. Reading a unit downloads the video through the FileFetcher (the web fetcher's
// politeness, consent and safety rules, streamed to a temp file), then runs the same
// probe -> windows -> clips as a local file; the temp file is removed when the unit ends,
// however it ends. The URL is what outputs call the video. Rejects at stage video_fetch:
//   bad_row   the row cannot be parsed or has no URL
//   <fetch reason>  http_404, opt_out, blocked_address, too_large, timeout, ... (as the web
//             fetcher), and not_video (the body does not start like a video container)
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rejectAt, type StageContext } from '../../core/stage.ts';
import { safeIdPart, type Unit } from '../../core/units.ts';
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import type { UrlListFormat } from '../../schemas/web-config.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP, type VideoClipSample } from '../../schemas/video.ts';
import { FileFetcher } from '../fetch/fetch-to-file.ts';
import { urlListFormatOfPath, urlListRows } from './url-list.ts';
import { describeHead, sniffVideoContainer, VIDEO_SNIFF_BYTES } from '../decode/video-sniff.ts';
import { processVideoFile, type VideoUnitDeps } from './video-units.ts';

export const VIDEO_FETCH_STAGE = 'video_fetch';

export interface VideoUrlUnitSpec {
  layout: 'video_url';
  /** The URL as the list gives it; '' when the row has none (then `error` says why). */
  url: string;
  row: number;
  error?: string;
  [key: string]: unknown;
}

/** The URL list the source path names, or null when it names a video file or folder. */
export function videoUrlList(cfg: VideoSourceConfig, baseDir: string): { file: string; format: UrlListFormat } | null {
  const file = path.resolve(baseDir, cfg.path);
  const format = urlListFormatOfPath(file);
  return format ? { file, format } : null;
}

export function isVideoUrlUnit(unit: Unit): boolean {
  return (unit.spec as { layout?: unknown }).layout === 'video_url';
}

/** One unit per row of the list, in row order (ids sort as rows do). */
export async function listVideoUrlUnits(listFile: string, format: UrlListFormat, cfg: VideoSourceConfig): Promise<Unit[]> {
  const specs: VideoUrlUnitSpec[] = [];
  for await (const row of urlListRows(listFile, format, cfg.url_column, { columns: [cfg.url_column] })) {
    const value = row.values?.[cfg.url_column];
    if (!row.values) specs.push({ layout: 'video_url', url: '', row: row.row, error: `row ${row.row}: ${row.error}` });
    else if (typeof value !== 'string' || value.trim() === '') specs.push({ layout: 'video_url', url: '', row: row.row, error: `row ${row.row} (line ${row.line}) has no value in URL column '${cfg.url_column}'` });
    else specs.push({ layout: 'video_url', url: value.trim(), row: row.row });
  }
  const width = String(Math.max(0, specs.length - 1)).length;
  const listName = path.basename(listFile);
  return specs.map((spec) => ({
    id: `video-url-${String(spec.row).padStart(width, '0')}-${safeIdPart(lastSegment(spec.url) || 'row')}`,
    source: spec.url || `${listName}:${spec.row}`,
    spec,
  }));
}

/** The fetcher for video downloads: the run's fetch settings with the video size cap and a container sniffer. */
export function videoFileFetcher(fetch: FetchConfig, cfg: VideoSourceConfig): FileFetcher {
  return new FileFetcher(fetch, {
    maxBytes: cfg.max_download_bytes,
    accept: 'video/*,application/octet-stream;q=0.8,*/*;q=0.5',
    sniffBytes: VIDEO_SNIFF_BYTES,
    sniff: (head) => (sniffVideoContainer(head) ? null : { reason: 'not_video', detail: describeHead(head) }),
  });
}

export async function* processVideoUrlUnit(unit: Unit, cfg: VideoSourceConfig, ctx: StageContext, fetcher: FileFetcher, deps: VideoUnitDeps = {}): AsyncGenerator<VideoClipSample> {
  const spec = unit.spec as VideoUrlUnitSpec;
  const item = { id: unit.id, kind: VIDEO_CLIP, source: unit.source };
  const stats = ctx.stats.stage(VIDEO_FETCH_STAGE);
  stats.in += 1;
  if (spec.error) {
    rejectAt(ctx, VIDEO_FETCH_STAGE, item, 'bad_row', spec.error);
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-video-'));
  try {
    const ext = path.extname(lastSegment(spec.url)).toLowerCase();
    const dest = path.join(dir, `video${/^\.[a-z0-9]{1,5}$/.test(ext) ? ext : '.bin'}`);
    const fetched = await fetcher.fetchToFile(spec.url, dest, ctx.signal);
    if (!fetched.ok) {
      rejectAt(ctx, VIDEO_FETCH_STAGE, item, fetched.reason, fetched.detail);
      return;
    }
    stats.out += 1;
    ctx.stats.count('video_fetch.bytes_by_host', fetched.host, fetched.bytes);
    yield* processVideoFile({ unitId: unit.id, file: fetched.file, name: spec.url, consent: fetched.consent }, cfg, ctx, deps);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The URL's last path segment, without query or fragment ('' when it has none or is not a URL). */
function lastSegment(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    return '';
  }
}
