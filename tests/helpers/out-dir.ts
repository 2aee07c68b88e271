// Reading an OUT folder back independently of the code that wrote it.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { duckQuery, sqlString } from './duckdb.ts';

/** Every sample id in every shard file under OUT/shards (duplicates kept, so callers can detect them). */
export async function idsInShards(out: string): Promise<string[]> {
  const ids: string[] = [];
  for (const f of (await readdir(path.join(out, 'shards'))).sort()) {
    const table = arrow.tableFromIPC(await readFile(path.join(out, 'shards', f)));
    const col = table.getChild('id')!;
    for (let i = 0; i < table.numRows; i++) ids.push(String(col.get(i)));
  }
  return ids;
}

/** The named columns of every shard row under OUT/shards, as plain values. */
export async function shardRows(out: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const f of (await readdir(path.join(out, 'shards'))).sort()) {
    const table = arrow.tableFromIPC(await readFile(path.join(out, 'shards', f)));
    for (let i = 0; i < table.numRows; i++) rows.push(Object.fromEntries(columns.map((c) => [c, table.getChild(c)?.get(i) ?? undefined])));
  }
  return rows;
}

export async function parquetRows(file: string, orderBy = 'id'): Promise<Record<string, unknown>[]> {
  return duckQuery(`select * from read_parquet(${sqlString(file)}) order by ${orderBy}`);
}

/** All files under a folder, relative, recursively. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)).map((f) => path.join(e.name, f)));
    else out.push(e.name);
  }
  return out.sort();
}

export async function readJson<T = any>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}
