// Durable file writes: write a temporary name, fsync, rename, fsync the folder. A reader (or
// a rerun after SIGKILL) sees either the old file or the whole new one, never a torn write.
import { open, rename, mkdir, rm } from 'node:fs/promises';
import { createGzip, gunzipSync } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const TMP_SUFFIX = '.tmp';

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
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, filePath);
  await fsyncDir(path.dirname(filePath));
}

export async function writeJsonAtomic(filePath: string, value: unknown): Promise<void> {
  await writeFileAtomic(filePath, JSON.stringify(value, null, 2) + '\n');
}

/** Gzipped JSON lines, written atomically. */
export async function writeJsonLinesGzAtomic(filePath: string, rows: Iterable<unknown>): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  const tmp = tempNameFor(filePath);
  try {
    const lines = (function* () {
      for (const r of rows) yield JSON.stringify(r) + '\n';
    })();
    await pipeline(Readable.from(lines), createGzip(), createWriteStream(tmp));
    await fsyncPath(tmp);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, filePath);
  await fsyncDir(path.dirname(filePath));
}

export async function readJsonLinesGz<T>(filePath: string): Promise<T[]> {
  const text = gunzipSync(await readFile(filePath)).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
