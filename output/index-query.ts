// Selection by SQL over index.parquet, through DuckDB: `weft export --where` and `weft filter
// --where` keep the index rows for which the expression holds (e.g.
// `score_weft_reference > 0.3 AND near_dup_of IS NULL`). A bad expression is an IndexQueryError
// carrying DuckDB's message, which the CLI turns into a usage error.
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { IndexRow } from './out-dir.ts';

export class IndexQueryError extends Error {}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Index rows of OUT (all, or those where `where` holds), in shard then row order. */
export async function selectIndexRows(out: string, where?: string | null): Promise<{ rows: IndexRow[]; total: number }> {
  const file = path.join(out, 'index.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const from = `read_parquet(${sqlString(file)})`;
    const totalReader = await conn.runAndReadAll(`select count(*)::INTEGER as n from ${from}`);
    const total = Number((totalReader.getRowObjectsJS()[0] as { n: number }).n);
    if (where !== undefined && where !== null && where.includes(';')) throw new IndexQueryError(`--where: one SQL expression, without ';': ${where}`);
    const sql = `select * from ${from}${where ? ` where (${where})` : ''} order by shard, "row"`;
    let reader;
    try {
      reader = await conn.runAndReadAll(sql);
    } catch (err) {
      throw new IndexQueryError(`--where ${JSON.stringify(where)}: ${(err as Error).message.split('\n')[0]}`);
    }
    const rows = (reader.getRowObjectsJS() as Record<string, unknown>[]).map(plainRow);
    return { rows, total };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function plainRow(r: Record<string, unknown>): IndexRow {
  const row: IndexRow = {};
  for (const [k, v] of Object.entries(r)) row[k] = typeof v === 'bigint' ? Number(v) : (v as string | number | boolean | null);
  return row;
}
