// An independent Parquet reader for tests: DuckDB.
import { DuckDBInstance } from '@duckdb/node-api';

export async function duckQuery(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

export const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
