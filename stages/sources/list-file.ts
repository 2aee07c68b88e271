// Reading rows of a caption list file: .jsonl, .csv or .tsv, each optionally gzip-compressed.
// A row is one JSON line or one CSV/TSV record after the header; rows are numbered from 0 in
// file order, blank lines not counted. A row that cannot be parsed is still yielded, with an
// error, so the caller can reject it by row number instead of losing it.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import { delimitedRecords } from './delimited.ts';

export type ListFormat = 'jsonl' | 'csv' | 'tsv';

export interface ListRow {
  /** 0-based row number among the file's data rows. */
  row: number;
  /** 1-based line where the row starts. */
  line: number;
  /** Column values; JSON values that are not strings are kept as parsed. */
  values?: Record<string, unknown>;
  /** Why the row could not be parsed; `values` is absent then. */
  error?: string;
}

const LIST_EXTENSIONS: Record<string, ListFormat> = { '.jsonl': 'jsonl', '.csv': 'csv', '.tsv': 'tsv' };

export function isGzipPath(file: string): boolean {
  return file.toLowerCase().endsWith('.gz');
}

/** The list format a file name implies (`.csv.gz` is csv), or undefined. */
export function listFormatOfPath(file: string): ListFormat | undefined {
  const name = isGzipPath(file) ? file.slice(0, -3) : file;
  return LIST_EXTENSIONS[path.extname(name).toLowerCase()];
}

/** The file name without directory and without list/gzip extensions: `caps.csv.gz` -> `caps`. */
export function listBaseName(file: string): string {
  let name = path.basename(file);
  if (isGzipPath(name)) name = name.slice(0, -3);
  return name.slice(0, name.length - path.extname(name).length) || name;
}

/** The file's text in chunks, gunzipped on the fly when it ends in .gz. */
export async function* listTextChunks(file: string): AsyncGenerator<string> {
  const raw = createReadStream(file);
  const stream = isGzipPath(file) ? raw.pipe(createGunzip()) : raw;
  // Errors on the raw stream do not travel through pipe(); surface them on the one we read.
  if (stream !== raw) raw.on('error', (err) => stream.destroy(err));
  stream.setEncoding('utf8');
  try {
    for await (const chunk of stream) yield chunk as string;
  } finally {
    raw.destroy();
    stream.destroy();
  }
}

/** Every row of a list file, in order. Stop iterating early to stop reading. */
export async function* listRows(file: string, format: ListFormat): AsyncGenerator<ListRow> {
  if (format === 'jsonl') yield* jsonlRows(file);
  else yield* delimitedRows(file, format === 'csv' ? ',' : '\t');
}

async function* jsonlRows(file: string): AsyncGenerator<ListRow> {
  let row = 0;
  let line = 0;
  let rest = '';
  const parse = (text: string): ListRow | undefined => {
    line += 1;
    const trimmed = text.trim();
    if (trimmed === '') return undefined;
    const current = { row: row++, line };
    try {
      const value: unknown = JSON.parse(trimmed);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return { ...current, error: `line ${line} is not a JSON object` };
      }
      return { ...current, values: value as Record<string, unknown> };
    } catch (err) {
      return { ...current, error: `line ${line} is not valid JSON: ${(err as Error).message.slice(0, 200)}` };
    }
  };
  let first = true;
  for await (let chunk of listTextChunks(file)) {
    if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    first = false;
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      const parsed = parse(part);
      if (parsed) yield parsed;
    }
  }
  const last = parse(rest);
  if (last) yield last;
}

async function* delimitedRows(file: string, delimiter: string): AsyncGenerator<ListRow> {
  let header: string[] | undefined;
  let row = 0;
  for await (const record of delimitedRecords(listTextChunks(file), delimiter)) {
    if (!header) {
      header = record.fields.map((f) => f.trim());
      continue;
    }
    const current = { row: row++, line: record.line };
    if (record.error) {
      yield { ...current, error: record.error };
    } else if (record.fields.length !== header.length) {
      yield { ...current, error: `line ${record.line} has ${record.fields.length} fields, the header has ${header.length}` };
    } else {
      const values: Record<string, unknown> = {};
      header.forEach((name, i) => (values[name] = record.fields[i]));
      yield { ...current, values };
    }
  }
}
