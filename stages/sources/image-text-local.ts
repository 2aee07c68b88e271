// Local image-caption sources: a folder of images with sidecar .txt captions, or a list file
// (.jsonl/.csv/.tsv, optionally .gz) naming an image path or URL and a caption per row.
//
// Consumes: the `source` config section. Emits: ImageTextRaw items, lazily (captions are read
// per item, images are left on disk for decode). Drops, at stage `source`:
//   caption_missing  folder image without sidecar .txt; list row without a caption value
//   image_missing    folder .txt without an image
//   bad_row          list row that is not valid JSON / has the wrong field count / no image value
//   read_failed      a sidecar caption exists but cannot be read
//   path_outside_root, symlink_refused, symlink_outside_root, not_regular_file, too_large
//                    the read policy (follow_symlinks, allow_paths_outside_root,
//                    max_file_bytes) refuses the image or caption file: local-file-guard.ts
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceConfig } from '../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../schemas/image-text.ts';
import { dropItem, errorMessage, isReadFailure, readFailure, UnitFailure, type ItemDrop, type StageContext } from '../../core/stage.ts';
import { safeIdPart, type Unit } from '../../core/units.ts';
import { listFolderEntries, type FolderEntry } from './folder-listing.ts';
import { checkLocalFile, type LocalReadPolicy } from './local-file-guard.ts';
import { readFileBounded } from './bounded-read.ts';
import { listBaseName, listFormatOfPath, listRows, type ListFormat } from './list-file.ts';
import { addFileStamp, fileStampHash, rowRangeHashes, type RowRange, type UnitFingerprints } from './unit-fingerprint.ts';

export type ImageTextSourceConfig = Extract<SourceConfig, { kind: 'image_text' }>;

export interface FolderSpec {
  layout: 'folder';
  root: string;
  entries: FolderEntry[];
}

export interface ListSpec {
  layout: 'list';
  file: string;
  format: ListFormat;
  firstRow: number;
  rowCount: number;
}

/**
 * Plans the units of an image_text source: chunks of `rows_per_unit` folder images or list rows.
 * Throws an Error naming the path when it does not exist or its format cannot be told.
 */
export type ImageTextUnitSpec = FolderSpec | ListSpec;

export async function listImageTextUnits(src: ImageTextSourceConfig, baseDir: string): Promise<Unit<ImageTextUnitSpec>[]> {
  const abs = path.resolve(baseDir, src.path);
  const info = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`image_text source path ${abs} cannot be read: ${err.code ?? errorMessage(err)}`);
  });
  const format = src.format === 'auto' ? (info.isDirectory() ? 'folder' : listFormatOfPath(abs)) : src.format;
  if (format === undefined) {
    throw new Error(`image_text source ${abs}: unknown format; expected a folder or a .jsonl, .csv or .tsv file (optionally .gz)`);
  }
  if ((format === 'folder') !== info.isDirectory()) {
    throw new Error(`image_text source ${abs}: format '${format}' needs ${format === 'folder' ? 'a folder' : 'a file'}`);
  }
  const per = src.rows_per_unit;
  if (format === 'folder') {
    const entries = await listFolderEntries(abs);
    const chunks = Math.ceil(entries.length / per);
    return Array.from({ length: chunks }, (_, i) => {
      const spec: FolderSpec = { layout: 'folder', root: abs, entries: entries.slice(i * per, (i + 1) * per) };
      const name = (e: FolderEntry) => e.image ?? e.caption!;
      const range = `${name(spec.entries[0])} .. ${name(spec.entries[spec.entries.length - 1])}`;
      return { id: `folder-${pad(i, chunks)}`, source: `${src.path}: ${range}`, spec: { ...spec } };
    });
  }
  let rows = 0;
  let broken = false;
  try {
    for await (const _ of listRows(abs, format)) rows += 1;
  } catch (err) {
    if (!(err instanceof UnitFailure)) throw err;
    // The whole units before the break are planned as usual and commit; the unit holding the
    // break fails on reading with the file and offset, so the run exits 1 naming it.
    broken = true;
  }
  // With a break, the last unit runs from its first row past the break (and fails there).
  const chunks = broken ? Math.floor(rows / per) + 1 : Math.ceil(rows / per);
  const name = safeIdPart(listBaseName(abs));
  return Array.from({ length: chunks }, (_, i) => {
    const rowCount = broken && i === chunks - 1 ? per : Math.min(per, rows - i * per);
    const spec: ListSpec = { layout: 'list', file: abs, format, firstRow: i * per, rowCount };
    return { id: `${name}-${pad(i, chunks)}`, source: `${src.path} rows ${spec.firstRow}-${spec.firstRow + spec.rowCount - 1}`, spec: { ...spec } };
  });
}

/**
 * Input fingerprints of image_text units: a folder unit by the stamps (path, size, mtime) of its
 * images and captions; a list unit by its rows plus the stamp of each local image a row names.
 */
export async function imageTextUnitFingerprints(units: Unit<ImageTextUnitSpec>[], src: ImageTextSourceConfig): Promise<UnitFingerprints> {
  const out: UnitFingerprints = new Map();
  const lists = new Map<string, { format: ListFormat; ranges: RowRange[] }>();
  for (const u of units) {
    const spec = u.spec;
    if (spec.layout === 'folder') {
      out.set(u.id, await fileStampHash(spec.root, spec.entries.flatMap((e) => [e.image, e.caption].filter((f): f is string => f !== undefined))));
    } else {
      const list = lists.get(spec.file) ?? { format: spec.format, ranges: [] };
      list.ranges.push({ id: u.id, firstRow: spec.firstRow, rowCount: spec.rowCount });
      lists.set(spec.file, list);
    }
  }
  for (const [file, { format, ranges }] of lists) {
    const listDir = path.dirname(file);
    const hashes = await rowRangeHashes(listRows(file, format), ranges, async (hash, row) => {
      const image = row.values?.[src.image_column];
      if (typeof image !== 'string' || image.trim() === '') return;
      const where = imageLocation(image.trim(), listDir);
      if ('imagePath' in where) await addFileStamp(hash, where.imagePath, image.trim());
    });
    for (const [id, h] of hashes) out.set(id, h);
  }
  return out;
}

/** The items of one unit, in order, and a drop for each entry it cannot use (a readSource). */
export async function* readImageTextUnit(unit: Unit<ImageTextUnitSpec>, src: ImageTextSourceConfig, ctx: StageContext): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const spec = unit.spec;
  if (spec.layout === 'folder') yield* readFolderUnit(spec, src, ctx);
  else if (spec.layout === 'list') yield* readListUnit(spec, src, ctx);
  else throw new Error(`unit ${unit.id} is not an image_text unit`);
}

function readPolicy(src: ImageTextSourceConfig, root: string): LocalReadPolicy {
  return { root, followSymlinks: src.follow_symlinks, allowOutsideRoot: src.allow_paths_outside_root, maxFileBytes: src.max_file_bytes };
}

async function* readFolderUnit(spec: FolderSpec, src: ImageTextSourceConfig, ctx: StageContext): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const policy = readPolicy(src, spec.root);
  for (const entry of spec.entries) {
    if (ctx.signal.aborted) return;
    const source = entry.image ?? entry.caption!;
    const traced = { id: entry.id, kind: IMAGE_TEXT, source };
    if (!entry.image) {
      yield dropItem(traced, 'image_missing', `caption ${entry.caption} has no image with the same name`);
      continue;
    }
    if (!entry.caption) {
      // The dropped item keeps its image's path, so the report can show the picture that lacks a caption.
      yield dropItem({ ...traced, imagePath: path.join(spec.root, entry.image) }, 'caption_missing', `image ${entry.image} has no sidecar ${stemOf(entry.image)}.txt`);
      continue;
    }
    const refused = (await refusal(path.join(spec.root, entry.image), policy)) ?? (await refusal(path.join(spec.root, entry.caption), policy));
    if (refused) {
      yield dropItem(traced, refused.reason, refused.detail);
      continue;
    }
    let caption: string;
    try {
      const read = await readFileBounded(path.join(spec.root, entry.caption), policy.maxFileBytes, entry.caption);
      if (!('bytes' in read)) {
        yield dropItem(traced, read.reason, read.detail);
        continue;
      }
      caption = stripBom(Buffer.from(read.bytes).toString('utf8'));
    } catch (err) {
      if (isReadFailure(err)) throw readFailure(path.join(spec.root, entry.caption), err);
      const code = (err as NodeJS.ErrnoException).code;
      yield dropItem({ ...traced, imagePath: path.join(spec.root, entry.image) }, 'read_failed', `cannot read ${entry.caption}: ${code ?? errorMessage(err)}`);
      continue;
    }
    yield { ...traced, caption, imagePath: path.join(spec.root, entry.image), maxFileBytes: policy.maxFileBytes };
  }
}

async function* readListUnit(spec: ListSpec, src: ImageTextSourceConfig, ctx: StageContext): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const name = listBaseName(spec.file);
  const fileName = path.basename(spec.file);
  const listDir = path.dirname(spec.file);
  const policy = readPolicy(src, listDir);
  const end = spec.firstRow + spec.rowCount;
  for await (const row of listRows(spec.file, spec.format)) {
    if (row.row < spec.firstRow) continue;
    if (row.row >= end || ctx.signal.aborted) return;
    const traced = { id: `${name}:${row.row}`, kind: IMAGE_TEXT, source: `${fileName}:${row.row}` };
    if (!row.values) {
      yield dropItem(traced, 'bad_row', `row ${row.row}: ${row.error}`);
      continue;
    }
    const image = row.values[src.image_column];
    if (typeof image !== 'string' || image.trim() === '') {
      yield dropItem(traced, 'bad_row', `row ${row.row} (line ${row.line}) has no value in image column '${src.image_column}'`);
      continue;
    }
    const caption = row.values[src.caption_column];
    if (typeof caption !== 'string' && typeof caption !== 'number') {
      yield dropItem({ ...traced, ...imageLocation(image.trim(), listDir) }, 'caption_missing', `row ${row.row} (line ${row.line}) has no value in caption column '${src.caption_column}'`);
      continue;
    }
    const item: ImageTextRaw = { ...traced, caption: String(caption), ...imageLocation(image.trim(), listDir) };
    if (item.imagePath) {
      const refused = await refusal(item.imagePath, policy);
      if (refused) {
        yield dropItem(traced, refused.reason, refused.detail);
        continue;
      }
      item.maxFileBytes = policy.maxFileBytes;
    }
    const extra = extraColumns(row.values, src.extra_columns);
    if (extra) item.extra = extra;
    yield item;
  }
}

/**
 * A reject for what the read policy refuses; undefined when the file may be read, or when the
 * file system could not tell (the reader then meets the same error and reports it).
 */
async function refusal(file: string, policy: LocalReadPolicy): Promise<{ reason: string; detail: string } | undefined> {
  const check = await checkLocalFile(file, policy);
  return !check.ok && 'reason' in check ? check : undefined;
}

/** A URL stays a URL for the fetch stage; a path resolves against the list's folder. */
function imageLocation(value: string, listDir: string): { url: string } | { imagePath: string } {
  if (/^https?:\/\//i.test(value)) return { url: value };
  if (/^file:\/\//i.test(value)) return { imagePath: fileURLToPath(value) };
  return { imagePath: path.resolve(listDir, value) };
}

/** Requested extra columns as strings; absent or null values are left out. */
function extraColumns(values: Record<string, unknown>, columns: string[]): Record<string, string> | undefined {
  if (columns.length === 0) return undefined;
  const extra: Record<string, string> = {};
  for (const column of columns) {
    const v = values[column];
    if (v === undefined || v === null) continue;
    extra[column] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return extra;
}

/** Zero-padded index so that sorting unit ids gives unit order. */
function pad(i: number, count: number): string {
  return String(i).padStart(Math.max(5, String(count - 1).length), '0');
}

function stemOf(rel: string): string {
  return rel.slice(0, rel.length - path.posix.extname(rel).length);
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
