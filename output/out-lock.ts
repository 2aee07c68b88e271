// One writer per OUT folder. Two processes resuming the same OUT at once would each delete the
// other's uncommitted files as leftovers; the lock turns that into a clear error instead.
//
// Atomicity: the owner record (pid, host, process start time) is written completely to a
// private temp file first and then hard-linked to the lock name. link() fails with EEXIST if
// the name exists, atomically, so exactly one of any number of racing processes gets the lock
// and nobody ever reads a half-written lock (an O_EXCL create followed by a write leaves a
// window in which a racer reads an empty file and takes it for stale).
//
// A lock left by a killed process (its pid no longer runs on this host, or runs a process with
// another start time) is taken over. Removing a stale lock is done under a second, short-lived
// lock (`.lock.takeover`), so two processes that both saw the same stale lock cannot have one
// remove the fresh lock the other just took.
import { link, lstat, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export class OutLockedError extends Error {}

export interface OutLock {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  host: string;
  start?: string | null;
}

const ATTEMPTS = 50;

export async function lockOutDir(root: string): Promise<OutLock> {
  const file = path.join(root, '.lock');
  const me: Holder = { pid: process.pid, host: os.hostname(), start: processStart(process.pid) };
  const tmp = path.join(root, `.lock-owner-${process.pid}-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, JSON.stringify(me));
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const ino = await tryLink(tmp, file);
      if (ino !== null) {
        await removeDeadOwnerFiles(root);
        return { release: () => unlinkIfOurs(file, ino) };
      }
      const holder = await readHolder(file);
      if (holder === 'gone') continue; // released between our link and our read: try again
      if (holder && holder.host === me.host && isAlive(holder)) {
        throw new OutLockedError(`${root} is being written by another weft process (pid ${holder.pid}); use another --out (one per rank)`);
      }
      if (holder && holder.host !== me.host) {
        throw new OutLockedError(`${root} is locked by a weft process on ${holder.host} (pid ${holder.pid}); if it is gone, delete ${file}`);
      }
      await removeStale(root, file, tmp, me);
    }
    throw new OutLockedError(`could not lock ${root} (the lock kept changing hands)`);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Links tmp to the lock name; the lock's inode if we got it, null if it exists. */
async function tryLink(tmp: string, file: string): Promise<number | null> {
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
  return (await lstat(file)).ino;
}

async function unlinkIfOurs(file: string, ino: number): Promise<void> {
  try {
    if ((await lstat(file)).ino === ino) await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Removes the lock if, judged again under the takeover lock, its holder is gone. */
async function removeStale(root: string, file: string, tmp: string, me: Holder): Promise<void> {
  const takeover = path.join(root, '.lock.takeover');
  const ino = await tryLink(tmp, takeover);
  if (ino === null) {
    // Another process is taking over. If it died doing so (rare: the takeover lasts a few
    // system calls), its takeover lock is stale and removed; otherwise wait for it.
    const holder = await readHolder(takeover);
    if (holder && holder !== 'gone' && !(holder.host === me.host && isAlive(holder))) await rm(takeover, { force: true });
    else await sleep(2);
    return;
  }
  try {
    const holder = await readHolder(file);
    if (holder === 'gone') return;
    if (holder && (holder.host !== me.host || isAlive(holder))) return;
    // Unreadable (a lock written by hand or by an old version) or dead: remove it.
    await rm(file, { force: true });
  } finally {
    await unlinkIfOurs(takeover, ino);
  }
}

/** Owner temp files of processes killed while locking (the holder of the lock is the only remover). */
async function removeDeadOwnerFiles(root: string): Promise<void> {
  for (const f of await readdir(root)) {
    const m = /^\.lock-owner-(\d+)-/.exec(f);
    if (m && Number(m[1]) !== process.pid && !isAlive({ pid: Number(m[1]), host: os.hostname() })) await rm(path.join(root, f), { force: true });
  }
}

async function readHolder(file: string): Promise<Holder | null | 'gone'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

/** A pid can be reused after its process dies; where /proc tells a start time, it must match too. */
function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = holder.start ?? null;
  const now = processStart(holder.pid);
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
