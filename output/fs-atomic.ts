// Durable file writes: write a temporary name, fsync, rename, fsync the folder. A reader (or
// a rerun after SIGKILL) sees either the old file or the whole new one, never a torn write.
import { open, rename, mkdir, rm } from 'node:fs/promises';
import { createGunzip, gunzipSync, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { pipeline as pipeStreams } from 'node:stream';
import { createReadStream } from 'node:fs';
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
 * Gzipped JSON lines, written atomically. The rows are one unit's, already in memory, so they
 * are compressed in one call and written in one: every fs and zlib
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

/**
 * The rows of a gzipped JSON-lines file, one decompressed chunk in memory at a time (finalise
 * passes over every unit's rows: a whole unit held at once lives long enough to be promoted
 * to V8's old generation, and that garbage is what grew its peak RSS with the row count).
 */
export async function* streamJsonLinesGz<T>(filePath: string): AsyncGenerator<T> {
  // pipeline: an error of the file (ENOENT, EIO) or of the gzip data ends the iteration with it.
  const input = pipeStreams(createReadStream(filePath), createGunzip(), () => {});
  input.setEncoding('utf8');
  let rest = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (l.length > 0) yield JSON.parse(l) as T;
    }
    if (rest.length > 0) yield JSON.parse(rest) as T;
  } finally {
    input.destroy();
  }
}
