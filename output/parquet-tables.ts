// index.parquet and rejects.parquet: flat tables (no nested columns, so every Parquet reader
// agrees on them).
import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { DuckDBInstance, LIST, listValue, VARCHAR } from '@duckdb/node-api';
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
/** Rows of JSON text gathered before one write to the rows file. */
const WRITE_BATCH_ROWS = 512;
const MAX_ROW_JSON_BYTES = 1 << 20;
const DUCK_TYPES: Record<IndexColumnType, string> = { UTF8: 'VARCHAR', DOUBLE: 'DOUBLE', INT32: 'INTEGER', INT64: 'BIGINT', BOOLEAN: 'BOOLEAN' };

/** A lone surrogate becomes U+FFFD, as UTF-8 encoding did before; DuckDB's JSON reader rejects it. */
const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlName = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Writes the rows as a flat Parquet table (every column OPTIONAL; a required column missing in a
 * row is an error here). The rows go to a temporary JSON-lines file and DuckDB (one thread, a
 * small memory limit) converts it with COPY: parquetjs-lite's writer shredded every row into
 * objects, arrays and Sets per column, garbage enough to set finalise's peak RSS at 200k rows,
 * whereas a line of text per row dies young. Written to a temporary name, fsynced, renamed.
 */
export async function writeFlatParquet(
  filePath: string,
  columns: FlatColumn[],
  rows: AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>,
  /** Key-value metadata stored in the file footer (e.g. the config fingerprint). */
  metadata: Record<string, string> = {},
): Promise<number> {
  const tmp = tempNameFor(filePath);
  // One rows file per ROW_GROUP_ROWS rows: DuckDB's JSON reader buffers up to 32 MiB of a file,
  // so files of bounded size keep its memory flat in the number of rows.
  const rowFiles: string[] = [];
  let count = 0;
  try {
    let out: FileHandle | null = null;
    let batch: string[] = [];
    const flush = async () => {
      if (!batch.length) return;
      if (!out) {
        rowFiles.push(tempNameFor(`${filePath}.rows`));
        out = await open(rowFiles[rowFiles.length - 1], 'w');
      }
      await out.write(`${batch.join('\n')}\n`);
      batch = [];
    };
    try {
      for await (const row of rows) {
        const clean: Record<string, unknown> = {};
        for (const c of columns) {
          const v = row[c.name];
          if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) {
            if (!c.optional) throw new Error(`${filePath}: required column ${c.name} missing in row ${count}`);
            continue;
          }
          clean[c.name] = c.type === 'INT64' || c.type === 'INT32' ? Math.round(Number(v)) : c.type === 'UTF8' ? wellFormed(String(v)) : c.type === 'BOOLEAN' ? Boolean(v) : v;
        }
        batch.push(JSON.stringify(clean));
        count++;
        if (batch.length === WRITE_BATCH_ROWS) await flush();
        if (count % ROW_GROUP_ROWS === 0 && out) {
          await flush();
          await (out as FileHandle).close();
          out = null;
        }
      }
      await flush();
    } finally {
      await (out as FileHandle | null)?.close();
    }
    if (!rowFiles.length) {
      rowFiles.push(tempNameFor(`${filePath}.rows`));
      await writeFile(rowFiles[0], '');
    }
    await copyJsonLinesToParquet(rowFiles, tmp, columns, metadata);
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    for (const f of rowFiles) await rm(f, { force: true });
  }
  await rename(tmp, filePath);
  return count;
}

async function copyJsonLinesToParquet(rowFiles: string[], target: string, columns: FlatColumn[], metadata: Record<string, string>): Promise<void> {
  // One thread keeps the row order (and the bytes) the same on every rerun; the memory limit
  // bounds what DuckDB buffers, whatever the number of rows.
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '64MB', preserve_insertion_order: 'true' });
  const conn = await instance.connect();
  try {
    const types = columns.map((c) => `${sqlString(c.name)}: ${sqlString(DUCK_TYPES[c.type])}`).join(', ');
    const names = columns.map((c) => sqlName(c.name)).join(', ');
    const kv = Object.entries(metadata).map(([k, v]) => `${sqlName(k)}: ${sqlString(v)}`).join(', ');
    // PARQUET_VERSION V1: plain and plain-dictionary pages, which every reader here (parquetjs-lite too) decodes.
    await conn.run(
      `COPY (SELECT ${names} FROM read_json([${rowFiles.map(sqlString).join(', ')}], format = 'newline_delimited', maximum_object_size = ${MAX_ROW_JSON_BYTES}, columns = {${types}})) ` +
        `TO ${sqlString(target)} (FORMAT parquet, COMPRESSION gzip, ROW_GROUP_SIZE ${ROW_GROUP_ROWS}, PARQUET_VERSION V1${kv ? `, KV_METADATA {${kv}}` : ''})`,
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
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

/**
 * The rows of a flat Parquet table whose `id` is one of `ids`, only the named columns, in file
 * order. DuckDB scans the id column and decodes only the matching rows: a scan of every row
 * with parquetjs-lite (streamFlatParquet) costs memory in proportion to the table (44 MiB of
 * buffers at 200k index rows against 16 at 20k), for the few rows a report wants.
 */
export async function selectFlatParquetRowsById(file: string, columns: string[], ids: Iterable<string>): Promise<Record<string, unknown>[]> {
  const wanted = [...ids];
  if (!wanted.length) return [];
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '64MB', preserve_insertion_order: 'true' });
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(`SELECT ${columns.map(sqlName).join(', ')} FROM read_parquet($1) WHERE list_contains($2, id)`, [file, listValue(wanted)], [VARCHAR, LIST(VARCHAR)]);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    instance.closeSync();
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
