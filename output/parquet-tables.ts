// index.parquet and rejects.parquet: flat tables (no nested columns, so every Parquet reader
// agrees on them). Written to a temporary name, fsynced, then renamed into place.
import { open, rename, rm } from 'node:fs/promises';
import parquet from 'parquetjs-lite';
import type { IndexColumnType } from '../schemas/kind-schema.ts';
import { tempNameFor } from './fs-atomic.ts';

export interface FlatColumn {
  name: string;
  type: IndexColumnType;
  /** Required columns must be present in every row. */
  optional: boolean;
}

export const REJECT_COLUMNS: FlatColumn[] = [
  ...['id', 'kind', 'source', 'stage', 'reason', 'detail'].map((name) => ({ name, type: 'UTF8' as const, optional: false })),
  // Typed where the reason has them (null otherwise): the item's URL and host, the score of a
  // score drop, the measured value of a quality drop, and the limit either was held against.
  { name: 'url', type: 'UTF8', optional: true },
  { name: 'host', type: 'UTF8', optional: true },
  { name: 'score', type: 'DOUBLE', optional: true },
  { name: 'value', type: 'DOUBLE', optional: true },
  { name: 'threshold', type: 'DOUBLE', optional: true },
];

/** index.parquet always starts with these; kinds and scorers add optional columns after them. */
export const INDEX_BASE_COLUMNS: FlatColumn[] = [
  { name: 'id', type: 'UTF8', optional: false },
  { name: 'kind', type: 'UTF8', optional: false },
  { name: 'shard', type: 'UTF8', optional: false },
  { name: 'row', type: 'INT32', optional: false },
  { name: 'unit', type: 'UTF8', optional: false },
];

const ROW_GROUP_ROWS = 8192;
const PAGE_ROWS = 512;

export async function writeFlatParquet(
  filePath: string,
  columns: FlatColumn[],
  rows: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
  /** Key-value metadata stored in the file footer (e.g. the config fingerprint). */
  metadata: Record<string, string> = {},
): Promise<number> {
  const schema = new parquet.ParquetSchema(
    Object.fromEntries(columns.map((c) => [c.name, { type: c.type, optional: c.optional, compression: 'GZIP' }])),
  );
  const tmp = tempNameFor(filePath);
  // Pages of PAGE_ROWS: parquetjs-lite holds a Buffer per value until its page is encoded, and
  // with its default page (8192 rows) those lived long enough to be promoted to V8's old
  // generation: about 2 KiB of garbage there per index row, which set finalise's peak RSS.
  const writer = await parquet.ParquetWriter.openFile(schema, tmp, { rowGroupSize: ROW_GROUP_ROWS, pageSize: PAGE_ROWS });
  for (const [k, v] of Object.entries(metadata)) writer.setMetadata(k, v);
  let count = 0;
  try {
    for await (const row of rows) {
      const clean: Record<string, unknown> = {};
      for (const c of columns) {
        const v = row[c.name];
        if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) {
          if (!c.optional) throw new Error(`${filePath}: required column ${c.name} missing in row ${count}`);
          continue;
        }
        clean[c.name] = c.type === 'INT64' || c.type === 'INT32' ? Math.round(Number(v)) : c.type === 'UTF8' ? String(v) : v;
      }
      await writer.appendRow(clean);
      count++;
    }
    await writer.close();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const fh = await open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  await rename(tmp, filePath);
  return count;
}

/** Every row of a flat Parquet table (index.parquet, rejects.parquet, a score file), in order. */
export async function readFlatParquet(file: string): Promise<Record<string, unknown>[]> {
  const reader = await parquet.ParquetReader.openFile(file);
  try {
    const cursor = reader.getCursor();
    const rows: Record<string, unknown>[] = [];
    for (let r = await cursor.next(); r; r = await cursor.next()) rows.push(r as Record<string, unknown>);
    return rows;
  } finally {
    await reader.close();
  }
}

/** The rows of a flat Parquet table, only the named columns, one row group in memory at a time. */
export async function* streamFlatParquet(file: string, columns: string[]): AsyncGenerator<Record<string, unknown>> {
  const reader = await parquet.ParquetReader.openFile(file);
  try {
    const cursor = reader.getCursor(columns);
    for (let r = await cursor.next(); r; r = await cursor.next()) yield r as Record<string, unknown>;
  } finally {
    await reader.close();
  }
}
