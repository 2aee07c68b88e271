// URL lists of web images (LAION / CC12M / DataComp style metadata): parquet, csv, tsv, jsonl,
// json (one array of objects) or txt (one URL per line, no captions), each optionally .gz
// (parquet compresses inside the file instead).
//
// Consumes: the `web` source config. Emits: ImageTextRaw items with `url` set and no image
// bytes, for the fetch stage. Drops, at stage `source`:
//   bad_row          row that cannot be parsed, or has no value in the URL column
//   caption_missing  caption_column is set and the row has no value in it
// Units are row ranges of `rows_per_unit` rows. Text formats are re-read from the start and
// rows before the range skipped (a .gz stream cannot seek); parquet skips whole row groups.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { WebSourceConfig, UrlListFormat } from '../../schemas/web-config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../schemas/image-text.ts';
import { dropItem, type ItemDrop, type StageContext } from '../../core/stage.ts';
import { safeIdPart, type Unit } from '../../core/units.ts';
import { parseBlurBoxes } from './blur-box-column.ts';
import { extraColumnValues, isGzipPath, jsonArrayRows, listBaseName, listRows, textLineRows, type ListRow } from './list-file.ts';
import { parquetRowCount, parquetRows } from './parquet-rows.ts';
import { fileStampHash, rowRangeHashes, type RowRange, type UnitFingerprints } from './unit-fingerprint.ts';
import { isTarPath, listWebDatasetUnits, readWebDatasetUnit, type WebDatasetUnitSpec } from './webdataset-tar.ts';


const URL_LIST_EXTENSIONS: Record<string, UrlListFormat> = {
  '.parquet': 'parquet',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.jsonl': 'jsonl',
  '.json': 'json',
  '.txt': 'txt',
};

export interface UrlListUnitSpec {
  layout: 'url_list';
  file: string;
  format: UrlListFormat;
  firstRow: number;
  rowCount: number;
}

/** The URL list format a file name implies (`.jsonl.gz` is jsonl), or undefined. */
export function urlListFormatOfPath(file: string): UrlListFormat | undefined {
  const name = isGzipPath(file) ? file.slice(0, -3) : file;
  return URL_LIST_EXTENSIONS[path.extname(name).toLowerCase()];
}

/**
 * Rows of a URL list in file order, numbered from 0. `firstRow`/`rowCount` bound the range;
 * for text formats rows before it are still read and skipped. `columns` limits what parquet
 * decodes; text formats always give every column.
 */
export async function* urlListRows(
  file: string,
  format: UrlListFormat,
  urlColumn: string,
  range: { firstRow?: number; rowCount?: number; columns?: string[] } = {},
): AsyncGenerator<ListRow> {
  const firstRow = range.firstRow ?? 0;
  const end = range.rowCount === undefined ? Infinity : firstRow + range.rowCount;
  if (format === 'parquet') {
    yield* parquetRows(file, { firstRow, rowCount: range.rowCount, columns: range.columns });
    return;
  }
  const rows =
    format === 'json' ? jsonArrayRows(file)
    : format === 'txt' ? textLineRows(file, urlColumn)
    : listRows(file, format);
  for await (const row of rows) {
    if (row.row < firstRow) continue;
    if (row.row >= end) return;
    yield row;
  }
}

/** Number of rows (parsed or not) in a URL list; parquet answers from its footer. */
async function countUrlListRows(file: string, format: UrlListFormat, urlColumn: string): Promise<number> {
  if (format === 'parquet') return parquetRowCount(file);
  let rows = 0;
  for await (const _ of urlListRows(file, format, urlColumn)) rows += 1;
  return rows;
}

/** Plans the units of a URL list: consecutive ranges of `rows_per_unit` rows. */
async function listUrlListUnits(file: string, format: UrlListFormat, src: WebSourceConfig): Promise<Unit<UrlListUnitSpec>[]> {
  const rows = await countUrlListRows(file, format, src.url_column);
  const per = src.rows_per_unit;
  const chunks = Math.ceil(rows / per);
  const name = safeIdPart(listBaseName(file));
  return Array.from({ length: chunks }, (_, i) => {
    const spec: UrlListUnitSpec = { layout: 'url_list', file, format, firstRow: i * per, rowCount: Math.min(per, rows - i * per) };
    const last = spec.firstRow + spec.rowCount - 1;
    return { id: `${name}-${pad(i, chunks)}`, source: `${path.basename(file)} rows ${spec.firstRow}-${last}`, spec: { ...spec } };
  });
}

/** The items of one URL-list unit, in row order, and a drop for each row it cannot use. */
async function* readUrlListUnit(unit: Unit<UrlListUnitSpec>, src: WebSourceConfig, ctx: StageContext): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const spec = unit.spec;
  if (spec.layout !== 'url_list') throw new Error(`unit ${unit.id} is not a URL-list unit`);
  const name = listBaseName(spec.file);
  const fileName = path.basename(spec.file);
  const captionColumn = spec.format === 'txt' ? null : src.caption_column;
  // Parquet decodes only these columns: metadata files often carry wide ones (embeddings, EXIF).
  const columns = [src.url_column, ...(captionColumn === null ? [] : [captionColumn]), ...src.extra_columns, ...(src.bbox_column === null ? [] : [src.bbox_column])];
  for await (const row of urlListRows(spec.file, spec.format, src.url_column, { ...spec, columns })) {
    if (ctx.signal.aborted) return;
    const traced = { id: `${name}:${row.row}`, kind: IMAGE_TEXT, source: `${fileName}:${row.row}` };
    if (!row.values) {
      yield dropItem(traced, 'bad_row', `row ${row.row}: ${row.error}`);
      continue;
    }
    const url = row.values[src.url_column];
    if (typeof url !== 'string' || url.trim() === '') {
      yield dropItem(traced, 'bad_row', `row ${row.row} (line ${row.line}) has no value in URL column '${src.url_column}'`);
      continue;
    }
    let caption = '';
    if (captionColumn !== null) {
      const value = row.values[captionColumn];
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') {
        yield dropItem(traced, 'caption_missing', `row ${row.row} (line ${row.line}) has no value in caption column '${captionColumn}'`);
        continue;
      }
      caption = String(value);
    }
    const item: ImageTextRaw = { ...traced, caption, url: url.trim() };
    const extra = extraColumnValues(row.values, src.extra_columns);
    if (extra) item.extra = extra;
    if (src.bbox_column !== null) {
      const parsed = parseBlurBoxes(row.values[src.bbox_column]);
      if ('error' in parsed) {
        yield dropItem(traced, 'bad_blur_boxes', `row ${row.row} (line ${row.line}), column '${src.bbox_column}': ${parsed.error}`);
        continue;
      }
      if (parsed.boxes.length) item.blurBoxes = parsed.boxes;
    }
    yield item;
  }
}

/**
 * Plans the units of a `web` source: URL-list row ranges, or one unit per WebDataset tar.
 * Throws an Error naming the path when it cannot be read or its format cannot be told.
 */
export type WebUnitSpec = UrlListUnitSpec | WebDatasetUnitSpec;

export async function listWebUnits(src: WebSourceConfig, baseDir: string): Promise<Unit<WebUnitSpec>[]> {
  const abs = path.resolve(baseDir, src.path);
  const info = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`web source path ${abs} cannot be read: ${err.code ?? err.message}`);
  });
  const format = src.format !== 'auto' ? src.format : info.isDirectory() || isTarPath(abs) ? 'webdataset' : urlListFormatOfPath(abs);
  if (format === undefined) {
    throw new Error(`web source ${abs}: unknown format; expected .parquet, .csv, .tsv, .jsonl, .json or .txt (optionally .gz), a .tar or a folder of .tar shards`);
  }
  if (format === 'webdataset') {
    if (src.bbox_column !== null) throw new Error(`web source ${abs}: bbox_column applies to URL lists, not WebDataset tars`);
    return listWebDatasetUnits(abs);
  }
  if (info.isDirectory()) throw new Error(`web source ${abs}: format '${format}' needs a file, not a folder`);
  return listUrlListUnits(abs, format, src);
}

/** Input fingerprints of `web` units: a URL-list unit by a hash of its rows, a tar by its stamp (path, size, mtime). */
export async function webUnitFingerprints(units: Unit<WebUnitSpec>[], src: WebSourceConfig): Promise<UnitFingerprints> {
  const out: UnitFingerprints = new Map();
  const lists = new Map<string, { format: UrlListFormat; ranges: RowRange[] }>();
  for (const u of units) {
    const spec = u.spec;
    if (spec.layout === 'webdataset') {
      out.set(u.id, await fileStampHash(path.dirname(spec.file), [path.basename(spec.file)]));
    } else {
      const list = lists.get(spec.file) ?? { format: spec.format, ranges: [] };
      list.ranges.push({ id: u.id, firstRow: spec.firstRow, rowCount: spec.rowCount });
      lists.set(spec.file, list);
    }
  }
  for (const [file, { format, ranges }] of lists) {
    for (const [id, h] of await rowRangeHashes(urlListRows(file, format, src.url_column), ranges)) out.set(id, h);
  }
  return out;
}

/** The items of one `web` unit: URL items without bytes, or WebDataset items with bytes. */
export function readWebUnit(unit: Unit<WebUnitSpec>, src: WebSourceConfig, ctx: StageContext): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const spec = unit.spec;
  if (spec.layout === 'webdataset') {
    return readWebDatasetUnit({ ...unit, spec }, ctx, { extraColumns: src.extra_columns, maxMemberBytes: src.max_member_bytes });
  }
  return readUrlListUnit({ ...unit, spec }, src, ctx);
}

/** Zero-padded index so that sorting unit ids gives unit order. */
function pad(i: number, count: number): string {
  return String(i).padStart(Math.max(5, String(count - 1).length), '0');
}
