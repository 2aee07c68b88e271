// Input fingerprints of units: what a commit records about the input its unit read, so that a
// rerun can tell a unit whose input changed since it was committed (and refuse to resume it
// silently). Files are fingerprinted by relative path, size and mtime in nanoseconds (a stat,
// no read); list units by a hash of their rows, so rows appended to a list change only the
// units that hold new rows.
import { createHash, type Hash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ListRow } from './list-file.ts';

/** Unit id -> fingerprint (hex). */
export type UnitFingerprints = Map<string, string>;

/**
 * Adds one file's (relative path, size, mtime_ns) to a hash; a file that cannot be stat'ed adds its error code.
 * The stat is synchronous: start-up fingerprints every input file, and on a warm cache a
 * synchronous stat costs a few microseconds where an awaited one costs ~90 (10k pairs: 1.8 s
 * fingerprinting vs 70 ms listing before; scripts/measure-fingerprint.ts).
 */
export async function addFileStamp(hash: Hash, abs: string, rel: string): Promise<void> {
  try {
    const s = statSync(abs, { bigint: true });
    hash.update(`${rel}\u0000${s.size}\u0000${s.mtimeNs}\u0000${s.isFile() ? 'f' : 'o'}\n`);
  } catch (err) {
    hash.update(`${rel}\u0000!${(err as NodeJS.ErrnoException).code ?? 'error'}\n`);
  }
}

/** Fingerprint of a set of files under `root`, given by their '/'-separated relative paths (order kept). */
export async function fileStampHash(root: string, relFiles: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const rel of relFiles) await addFileStamp(hash, path.join(root, rel), rel);
  return hash.digest('hex');
}

/** Fingerprint of every file under a folder (recursively, hidden ones included), by relative path. */
export async function treeStampHash(dir: string): Promise<string> {
  return fileStampHash(dir, await walkFiles(dir, ''));
}

async function walkFiles(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walkFiles(root, child)));
    else out.push(child);
  }
  return out;
}

export interface RowRange {
  id: string;
  firstRow: number;
  rowCount: number;
}

/**
 * One pass over a list's rows, hashing each range's rows (number, line, values or parse error).
 * `addRow` may add more per row (e.g. a stamp of the local image it names). A list that breaks
 * while being read marks the range that holds the break, and every later one, with the error.
 */
export async function rowRangeHashes(rows: AsyncIterable<ListRow>, ranges: RowRange[], addRow?: (hash: Hash, row: ListRow) => Promise<void>): Promise<UnitFingerprints> {
  const sorted = [...ranges].sort((a, b) => a.firstRow - b.firstRow);
  const hashes = new Map(sorted.map((r) => [r.id, createHash('sha256')]));
  let i = 0;
  try {
    for await (const row of rows) {
      while (i < sorted.length && row.row >= sorted[i].firstRow + sorted[i].rowCount) i++;
      if (i >= sorted.length) break;
      if (row.row < sorted[i].firstRow) continue;
      const hash = hashes.get(sorted[i].id)!;
      hash.update(`${row.row}\u0000${row.line}\u0000${row.values ? stableJson(row.values) : `!${row.error}`}\n`);
      if (addRow) await addRow(hash, row);
    }
  } catch (err) {
    for (const r of sorted.slice(i)) hashes.get(r.id)!.update(`!unreadable ${(err as Error).message}\n`);
  }
  return new Map([...hashes].map(([id, h]) => [id, h.digest('hex')]));
}

/** Fingerprint of a JSON-like value (the spec of a unit whose input is the spec itself, e.g. a URL). */
export function valueHash(v: unknown): string {
  return createHash('sha256').update(stableJson(v)).digest('hex');
}

/** JSON with sorted keys that also takes what parquet rows hold: bigints, bytes, dates. */
function stableJson(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `b64:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}`;
  if (v instanceof Date) return `date:${v.toISOString()}`;
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
