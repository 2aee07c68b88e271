// Reading rows of a Parquet URL list (LAION, CC12M and DataComp metadata ship as Parquet).
// A row range is read by skipping whole row groups from the footer's row counts, so a unit
// near the end of a large file decodes only the groups that overlap it, and only the columns
// it asks for.
//
// Values: UTF8 columns come back as strings, untyped BYTE_ARRAY as UTF-8 strings, INT64 as
// bigint (callers stringify), nulls as absent keys. Column types parquetjs-lite cannot decode
// (DECIMAL, for one) make the open fail with an Error naming the file.
import parquet from 'parquetjs-lite';
import type { ListRow } from './list-file.ts';

/** The parts of parquetjs-lite's reader this file uses beyond the published typings. */
interface ReaderInternals {
  metadata: { num_rows: unknown; row_groups: { num_rows: unknown }[] };
  schema: { fields: Record<string, unknown> };
  getCursor(columns?: string[]): CursorInternals;
  close(): Promise<void>;
}

interface CursorInternals {
  /** The next row group the cursor decodes; set it to skip groups without reading them. */
  rowGroupIndex: number;
  nextRowGroup(): Promise<Record<string, unknown>[] | null>;
}

async function openParquet(file: string): Promise<ReaderInternals> {
  try {
    return (await parquet.ParquetReader.openFile(file)) as unknown as ReaderInternals;
  } catch (err) {
    // parquetjs-lite throws bare strings for format errors.
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read Parquet file ${file}: ${message}`);
  }
}

/** node-int64 values, bigints and numbers as a plain number. */
function toCount(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** Number of data rows, from the footer alone. */
export async function parquetRowCount(file: string): Promise<number> {
  const reader = await openParquet(file);
  try {
    return toCount(reader.metadata.num_rows);
  } finally {
    await reader.close();
  }
}

export interface ParquetRowsOptions {
  firstRow?: number;
  /** Rows to read from firstRow; default: to the end. */
  rowCount?: number;
  /** Columns to decode (others are not read at all); default: all. Names the file lacks are
   *  left out, so rows simply have no value for them. */
  columns?: string[];
}

/**
 * Rows `firstRow .. firstRow + rowCount - 1` in file order, numbered like list-file rows
 * (`line` is the row number + 1, there being no lines). Stop iterating early to stop reading.
 */
export async function* parquetRows(file: string, options: ParquetRowsOptions = {}): AsyncGenerator<ListRow> {
  const firstRow = options.firstRow ?? 0;
  const end = options.rowCount === undefined ? Infinity : firstRow + options.rowCount;
  const reader = await openParquet(file);
  try {
    const groups = reader.metadata.row_groups;
    // The typings say string[]; the reader takes leaf paths as string arrays too.
    const cursor = reader.getCursor(options.columns && (leafPaths(reader.schema.fields as Record<string, SchemaField>, options.columns) as unknown as string[]));
    let groupStart = 0;
    let index = 0;
    while (index < groups.length && groupStart + toCount(groups[index].num_rows) <= firstRow) {
      groupStart += toCount(groups[index].num_rows);
      index += 1;
    }
    cursor.rowGroupIndex = index;
    let row = groupStart;
    while (row < end) {
      const records = await cursor.nextRowGroup();
      if (records === null) return;
      for (const record of records) {
        if (row >= end) return;
        if (row >= firstRow) yield { row, line: row + 1, values: plainValues(record, reader.schema.fields as Record<string, SchemaField>) };
        row += 1;
      }
    }
  } finally {
    await reader.close();
  }
}

interface SchemaField {
  path: string[];
  isNested?: boolean;
  fields?: Record<string, SchemaField>;
}

/**
 * The leaf column paths under the named top-level columns: parquetjs-lite reads a nested column
 * (a list, a struct) only when its cursor is given the leaf paths, and silently leaves it out
 * when given the top-level name. Names the file lacks are skipped.
 */
function leafPaths(fields: Record<string, SchemaField>, names: string[]): string[][] {
  const leaves = (f: SchemaField): string[][] => (f.isNested && f.fields ? Object.values(f.fields).flatMap(leaves) : [f.path]);
  return names.filter((c) => Object.hasOwn(fields, c)).flatMap((c) => leaves(fields[c]));
}

function plainValues(record: Record<string, unknown>, fields: Record<string, SchemaField>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    out[key] = isListField(fields[key]) ? listValue(value) : Buffer.isBuffer(value) ? value.toString('utf8') : value;
  }
  return out;
}

/** A LIST column as parquetjs-lite reads it: a group holding one repeated `list` group. */
function isListField(f: SchemaField | undefined): boolean {
  return !!f?.isNested && !!f.fields && Object.keys(f.fields).length === 1 && !!f.fields.list?.isNested;
}

/** { list: [{ element: v }, ...] } (an empty list: {}) as a plain array, nested lists too. */
function listValue(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const list = (v as { list?: unknown }).list;
  if (list === undefined && Object.keys(v).length === 0) return [];
  if (!Array.isArray(list)) return v;
  return list.map((entry) => {
    const e = entry as Record<string, unknown>;
    const inner = 'element' in e ? e.element : 'item' in e ? e.item : e;
    if (Buffer.isBuffer(inner)) return inner.toString('utf8');
    return inner && typeof inner === 'object' && ('list' in inner || Object.keys(inner).length === 0) ? listValue(inner) : inner;
  });
}
