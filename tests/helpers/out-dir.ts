// Reading an OUT folder back independently of the code that wrote it.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { createHash } from 'node:crypto';
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

/**
 * What a finished OUT holds, to compare a resumed run with an uninterrupted one: every shard
 * (path, sha256, rows; the bytes are checked against the manifest's sha256), the index and
 * reject rows sorted by id, and the manifest's totals.
 */
export async function outputContent(out: string): Promise<{ shards: [string, string, number][]; index: Record<string, unknown>[]; rejects: Record<string, unknown>[]; totals: unknown }> {
  const manifest = await readJson<{ shards: { path: string; sha256: string; rows: number }[]; totals: unknown }>(path.join(out, 'manifest.json'));
  const shards: [string, string, number][] = [];
  for (const s of manifest.shards) {
    const sha = createHash('sha256').update(await readFile(path.join(out, s.path))).digest('hex');
    if (sha !== s.sha256) throw new Error(`${s.path}: sha256 ${sha}, the manifest records ${s.sha256}`);
    shards.push([s.path, s.sha256, s.rows]);
  }
  return {
    shards: shards.sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    index: await parquetRows(path.join(out, 'index.parquet')),
    rejects: await parquetRows(path.join(out, 'rejects.parquet'), 'id, stage, reason'),
    totals: manifest.totals,
  };
}
