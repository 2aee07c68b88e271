// Folders that appear whole or not at all. `weft merge` and `weft filter` build their output in a
// hidden sibling and rename it into place at the end, so a kill at any moment leaves either no
// target or the complete one; the rerun clears what a killed attempt left and starts again.
import { readdir, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from './fs-atomic.ts';

/** The hidden sibling a target is built in. */
export function stagingFolderOf(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.weft-staging`);
}

/**
 * Runs `build` on a fresh staging folder, then moves it to `target` (which must be absent or an
 * empty folder). A failed build removes its staging folder; nothing is left at `target`.
 */
export async function buildFolderAtomically<T>(target: string, build: (staging: string) => Promise<T>): Promise<T> {
  const staging = stagingFolderOf(target);
  await rm(staging, { recursive: true, force: true });
  let result: T;
  try {
    result = await build(staging);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const abs = path.resolve(target);
  try {
    if ((await readdir(abs)).length === 0) await rmdir(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await rename(staging, abs);
  await fsyncDir(path.dirname(abs));
  return result;
}
