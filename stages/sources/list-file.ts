// Reading rows of a caption list file: .jsonl, .csv or .tsv, each optionally gzip-compressed.
// A row is one JSON line or one CSV/TSV record after the header; rows are numbered from 0 in
// file order, blank lines not counted. A row that cannot be parsed is still yielded, with an
// error, so the caller can reject it by row number instead of losing it.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import { delimitedRecords } from './delimited.ts';
import { isReadFailure, readFailure, UnitFailure } from '../../core/stage.ts';

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
async function* listTextChunks(file: string): AsyncGenerator<string> {
  const raw = createReadStream(file);
  const stream = isGzipPath(file) ? raw.pipe(createGunzip()) : raw;
  // Errors on the raw stream do not travel through pipe(); surface them on the one we read.
  if (stream !== raw) raw.on('error', (err) => stream.destroy(err));
  stream.setEncoding('utf8');
  try {
    for await (const chunk of stream) yield chunk as string;
  } catch (err) {
    if (isReadFailure(err)) throw readFailure(file, err);
    // Broken compressed data: the rows before the break were yielded; the caller's unit fails
    // naming where, instead of the rest of the file vanishing.
    if (stream !== raw) throw new UnitFailure(`${path.basename(file)}: gzip data broken near compressed byte ${raw.bytesRead}: ${(err as Error).message}`);
    throw err;
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
  for await (const text of textLines(file)) {
    const parsed = parse(text);
    if (parsed) yield parsed;
  }
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

/**
 * Rows of a file holding one JSON array of objects, read element by element so a large
 * array never sits in memory as one string. Throws when the file does not start with `[`;
 * an element that is not an object, or a file that ends inside the array, becomes an error row.
 */
export async function* jsonArrayRows(file: string): AsyncGenerator<ListRow> {
  const splitter = new JsonArraySplitter();
  for await (const chunk of listTextChunks(file)) yield* splitter.push(chunk).map(toJsonArrayRow);
  yield* splitter.end().map(toJsonArrayRow);
}

/** The lines of a (possibly gzipped) text file, without a leading byte-order mark. */
async function* textLines(file: string): AsyncGenerator<string> {
  let rest = '';
  let first = true;
  for await (let chunk of listTextChunks(file)) {
    if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    first = false;
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    yield* parts;
  }
  yield rest;
}

/** Rows of a plain text list: one value per non-blank line (trimmed), under `column`. */
export async function* textLineRows(file: string, column: string): AsyncGenerator<ListRow> {
  let row = 0;
  let line = 0;
  const parse = (text: string): ListRow | undefined => {
    line += 1;
    const trimmed = text.trim();
    return trimmed === '' ? undefined : { row: row++, line, values: { [column]: trimmed } };
  };
  for await (const text of textLines(file)) {
    const parsed = parse(text);
    if (parsed) yield parsed;
  }
}

interface JsonArrayElement {
  row: number;
  line: number;
  text: string;
  error?: string;
}

function toJsonArrayRow(element: JsonArrayElement): ListRow {
  const current = { row: element.row, line: element.line };
  if (element.error) return { ...current, error: element.error };
  try {
    const value: unknown = JSON.parse(element.text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ...current, error: `array element ${element.row} (line ${element.line}) is not a JSON object` };
    }
    return { ...current, values: value as Record<string, unknown> };
  } catch (err) {
    return { ...current, error: `array element ${element.row} (line ${element.line}) is not valid JSON: ${(err as Error).message.slice(0, 200)}` };
  }
}

/** Splits the text of a top-level JSON array into the source text of its elements. */
export class JsonArraySplitter {
  private state: 'before' | 'inside' | 'after' = 'before';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private element = '';
  private elementLine = 0;
  private line = 1;
  private row = 0;

  push(chunk: string): JsonArrayElement[] {
    const out: JsonArrayElement[] = [];
    let segmentStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.state === 'inside' && this.elementLine === 0 && !isJsonSpace(c)) this.elementLine = this.line;
      if (c === '\n') this.line += 1;
      if (this.state === 'before') {
        if (c === '[') {
          this.state = 'inside';
          segmentStart = i + 1;
        } else if (!isJsonSpace(c) && c !== '\ufeff') {
          throw new Error(`expected a JSON array, found ${JSON.stringify(c)} on line ${this.line}`);
        }
        continue;
      }
      if (this.state === 'after') continue; // trailing text after the array is ignored
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth += 1;
      else if ((c === '}' || c === ']') && this.depth > 0) this.depth -= 1;
      else if (this.depth === 0 && (c === ',' || c === ']')) {
        this.element += chunk.slice(segmentStart, i);
        segmentStart = i + 1;
        const closesEmptyArray = c === ']' && this.row === 0 && this.element.trim() === '';
        if (!closesEmptyArray) out.push(this.take());
        if (c === ']') this.state = 'after';
      }
    }
    if (this.state === 'inside') this.element += chunk.slice(segmentStart);
    return out;
  }

  end(): JsonArrayElement[] {
    if (this.state === 'before') throw new Error('expected a JSON array, found an empty file');
    if (this.state === 'after') return [];
    const line = this.elementLine || this.line;
    const element = this.take();
    return [{ ...element, line, error: `file ends inside the JSON array (element ${element.row}, line ${line})` }];
  }

  private take(): JsonArrayElement {
    const text = this.element.trim();
    const element: JsonArrayElement = { row: this.row++, line: this.elementLine || this.line, text };
    if (text === '') element.error = `empty array element ${element.row} on line ${element.line}`;
    this.element = '';
    this.elementLine = 0;
    return element;
  }
}

function isJsonSpace(c: string): boolean {
  return c === ' ' || c === '\n' || c === '\r' || c === '\t';
}

/** Requested extra columns as strings (JSON for non-strings); absent or null values are left out. */
export function extraColumnValues(values: Record<string, unknown>, columns: string[]): Record<string, string> | undefined {
  if (columns.length === 0) return undefined;
  const extra: Record<string, string> = {};
  for (const column of columns) {
    const v = values[column];
    if (v === undefined || v === null) continue;
    extra[column] = typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v);
  }
  return extra;
}
