// Durable file writes: write a temporary name, fsync, rename, fsync the folder. A reader (or
// a rerun after SIGKILL) sees either the old file or the whole new one, never a torn write.
import { open, rename, mkdir, rm } from 'node:fs/promises';
import { gunzipSync, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const TMP_SUFFIX = '.tmp';

const gzipAsync = promisify(gzip);

let tempCounter = 0;

/** A hidden temporary name next to filePath, unique per call (concurrent writers never share one). */
export function tempNameFor(filePath: string): string {
  return path.join(path.dirname(filePath), `.${path.basename(filePath)}.${process.pid}-${++tempCounter}${TMP_SUFFIX}`);
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  }
}

export async function writeFileAtomic(filePath: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const tmp = tempNameFor(filePath);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, filePath);
  await fsyncDir(path.dirname(filePath));
}

export async function writeJsonAtomic(filePath: string, value: unknown): Promise<void> {
  await writeFileAtomic(filePath, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Gzipped JSON lines, written atomically. The rows are one unit's (read back whole by
 * readJsonLinesGz), so they are compressed in one call and written in one: every fs and zlib
 * call waits for a thread of libuv's small pool, which sharp's decodes keep busy, and a stream
 * of one write per line made a unit's commit take seconds under load.
 */
export async function writeJsonLinesGzAtomic(filePath: string, rows: Iterable<unknown>): Promise<void> {
  const lines: string[] = [];
  for (const r of rows) lines.push(JSON.stringify(r) + '\n');
  await writeFileAtomic(filePath, await gzipAsync(lines.join('')));
}

export async function readJsonLinesGz<T>(filePath: string): Promise<T[]> {
  const text = gunzipSync(await readFile(filePath)).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
