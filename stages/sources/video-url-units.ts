// Videos from a URL list (csv, tsv, jsonl, json, txt, parquet; optionally .gz): one unit per
// row, whose source yields the row's URL for the video_fetch stage (stages/fetch/video-fetch.ts);
// the URL is what outputs call the video. A row without a URL carries its error, which the
// fetch stage drops as `bad_row`.
import path from 'node:path';
import { safeIdPart, type Unit } from '../../core/units.ts';
import type { UrlListFormat } from '../../schemas/web-config.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP } from '../../schemas/video.ts';
import type { VideoRef } from '../../schemas/video-items.ts';
import { urlListFormatOfPath, urlListRows } from './url-list.ts';
import { lastSegment } from './url-segment.ts';

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

/** One unit per row of the list, in row order (ids sort as rows do). */
export async function listVideoUrlUnits(listFile: string, format: UrlListFormat, cfg: VideoSourceConfig): Promise<Unit<VideoUrlUnitSpec>[]> {
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

/** The source of a URL-list video unit: the row's video, to be fetched (or its error, which the fetch stage drops as bad_row). */
export async function* readVideoUrlUnit(unit: Unit<VideoUrlUnitSpec>): AsyncGenerator<VideoRef> {
  const spec = unit.spec;
  yield { id: unit.id, kind: VIDEO_CLIP, source: unit.source, name: spec.url, file: null, url: spec.url, consent: null, ...(spec.error ? { error: spec.error } : {}) };
}
