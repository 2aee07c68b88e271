// Folders that appear whole or not at all. `weft merge` and `weft filter` build their output in a
// hidden sibling and rename it into place at the end, so a kill at any moment leaves either no
// target or the complete one; the rerun clears what a killed attempt left and starts again.
// The built folder records a digest of its inputs (build.json): a rerun that finds the finished
// folder of the same inputs at the target (the kill came after the rename) leaves it as it is.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, writeJsonAtomic } from './fs-atomic.ts';
import { canonicalJson } from '../schemas/config-file.ts';
import { lockOutDir, type OutLock } from './out-lock.ts';

const BUILD_RECORD = 'build.json';

export interface BuildRecord {
  /** The command that built the folder (merge, filter). */
  command: string;
  /** sha256 of the canonical JSON of what it was built from (buildDigest). */
  inputs_digest: string;
  index_rows: number;
  reject_rows: number;
}

/** sha256 of the canonical JSON of a build's inputs. */
export function buildDigest(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

/** The build record at `folder` when it was built by `command` from inputs with this digest, else null. */
export async function sameBuildAt(folder: string, command: string, digest: string): Promise<BuildRecord | null> {
  const file = path.join(folder, BUILD_RECORD);
  if (!existsSync(file)) return null;
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as BuildRecord;
    return record.command === command && record.inputs_digest === digest ? record : null;
  } catch {
    return null;
  }
}

export async function writeBuildRecord(staging: string, record: BuildRecord): Promise<void> {
  await writeJsonAtomic(path.join(staging, BUILD_RECORD), record);
}

/** The hidden sibling a target is built in. */
export function stagingFolderOf(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.weft-staging`);
}

/** The sibling folder whose lock (output/out-lock.ts) admits one builder of a target at a time. */
function lockFolderOf(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.weft-lock`);
}

/**
 * Runs `build` on a fresh staging folder, then moves it to `target` (which must be absent or an
 * empty folder). A failed build removes its staging folder; nothing is left at `target`. One
 * builder per target at a time: a second one started meanwhile fails with OutLockedError (exit 1)
 * and touches nothing. `whenNotEmpty`, called under that lock when the target holds files, gives
 * the result to return instead (the finished output of the same inputs) or throws.
 */
export async function buildFolderAtomically<T>(target: string, build: (staging: string) => Promise<T>, whenNotEmpty?: () => Promise<T>): Promise<T> {
  const lockDir = lockFolderOf(target);
  let lock: OutLock | undefined;
  for (let attempt = 0; !lock; attempt++) {
    await mkdir(lockDir, { recursive: true });
    try {
      lock = await lockOutDir(lockDir);
    } catch (err) {
      // The previous builder removed the lock folder between our mkdir and our lock: again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
  try {
    const abs = path.resolve(target);
    if (whenNotEmpty && existsSync(abs) && (await readdir(abs)).length > 0) return await whenNotEmpty();
    const staging = stagingFolderOf(target);
    await rm(staging, { recursive: true, force: true });
    let result: T;
    try {
      result = await build(staging);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    try {
      if ((await readdir(abs)).length === 0) await rmdir(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await rename(staging, abs);
    await fsyncDir(path.dirname(abs));
    return result;
  } finally {
    await lock.release();
    // Gone unless another builder is locking it right now (then it stays for that one).
    await rmdir(lockDir).catch(() => undefined);
  }
}
