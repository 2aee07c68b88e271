// One writer per OUT folder. Two processes resuming the same OUT at once would each delete the
// other's uncommitted files as leftovers; the lock turns that into a clear error instead.
// A lock left by a killed process (its pid no longer runs on this host) is taken over.
import { open, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class OutLockedError extends Error {}

export interface OutLock {
  release(): Promise<void>;
}

export async function lockOutDir(root: string): Promise<OutLock> {
  const file = path.join(root, '.lock');
  const me = { pid: process.pid, host: os.hostname(), start: processStart(process.pid) };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readHolder(file);
      if (holder && holder.host === me.host && isAlive(holder.pid, holder.start ?? null)) {
        throw new OutLockedError(`${root} is being written by another weft process (pid ${holder.pid}); use another --out (one per rank)`);
      }
      if (holder && holder.host !== me.host) {
        throw new OutLockedError(`${root} is locked by a weft process on ${holder.host} (pid ${holder.pid}); if it is gone, delete ${file}`);
      }
      await rm(file, { force: true }); // stale: its process is gone
    }
  }
  throw new OutLockedError(`could not lock ${root}`);
}

async function readHolder(file: string): Promise<{ pid: number; host: string; start?: string | null } | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { pid: number; host: string; start?: string | null };
  } catch {
    return null;
  }
}

/** A pid can be reused after its process dies; where /proc tells a start time, it must match too. */
function isAlive(pid: number, start: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStart(pid);
  return start === null || now === null || now === start;
}

/** Start time of a process in clock ticks since boot (Linux /proc), or null elsewhere. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
