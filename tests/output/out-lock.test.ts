// Races real processes for one OUT lock: each trial releases every contender at the same
// instant (a barrier file they all poll for) and checks that exactly one got the lock, on a
// fresh folder, over a lock left by a dead process, and over an unreadable lock file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { lockOutDir, OutLockedError } from '../../output/out-lock.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const contenderScript = path.join(here, '..', 'helpers', 'lock-contender.ts');
const CONTENDERS = 6;
const TRIALS = 60;

const work = await mkdtemp(path.join(os.tmpdir(), 'weft-lock-race-'));
after(() => rm(work, { recursive: true, force: true }));

class Contender {
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  private failWaiting: ((err: Error) => void) | undefined;
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.once('exit', (code) => this.failWaiting?.(new Error(`contender exited (${code})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.lines.push(line);
    });
  }
  next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }
}

/** The pid of a process that has exited: a lock naming it is stale. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test(`${CONTENDERS} processes started at the same instant: exactly one holds the lock, ${TRIALS} trials`, async () => {
  const contenders = Array.from({ length: CONTENDERS }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', contenderScript], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (d) => process.stderr.write(d));
    return new Contender(child);
  });
  const tally = { fresh: 0, dead: 0, unreadable: 0 };
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = path.join(work, `trial-${trial}`);
      await mkdir(dir);
      const setup = (['fresh', 'dead', 'unreadable'] as const)[trial % 3];
      if (setup === 'dead') await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: await deadPid(), host: os.hostname() }));
      if (setup === 'unreadable') await writeFile(path.join(dir, '.lock'), '');
      for (const c of contenders) c.child.stdin.write(`${dir}\n`);
      for (const c of contenders) assert.equal(await c.next(), 'ready');
      await writeFile(path.join(dir, 'go'), '');
      const results = await Promise.all(contenders.map((c) => c.next()));
      assert.deepEqual(results.filter((r) => r.startsWith('error')), [], `trial ${trial} (${setup})`);
      assert.equal(results.filter((r) => r === 'held').length, 1, `trial ${trial} (${setup}): ${results.join(', ')}`);
      assert.equal(results.filter((r) => r === 'locked').length, CONTENDERS - 1);
      await writeFile(path.join(dir, 'release'), '');
      for (const c of contenders) assert.equal(await c.next(), 'released');
      // Released: no lock, no owner temp files, no takeover lock left behind.
      assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.')), [], `trial ${trial} leaves no lock files`);
      tally[setup]++;
    }
  } finally {
    // A failed trial leaves contenders waiting for its release file: stop them.
    for (const c of contenders) c.child.kill();
    await Promise.all(contenders.map((c) => (c.child.exitCode === null ? new Promise((r) => c.child.once('exit', r)) : undefined)));
  }
  assert.deepEqual(tally, { fresh: TRIALS / 3, dead: TRIALS / 3, unreadable: TRIALS / 3 });
});

test('a held lock refuses a second locker in the same process and is free again after release', async () => {
  const dir = await mkdtemp(path.join(work, 'same-'));
  const first = await lockOutDir(dir);
  await assert.rejects(lockOutDir(dir), (e: Error) => e instanceof OutLockedError && new RegExp(`pid ${process.pid}`).test(e.message));
  await first.release();
  const second = await lockOutDir(dir);
  await second.release();
  assert.deepEqual(await readdir(dir), []);
});

test('a lock held on another host is not taken over', async () => {
  const dir = await mkdtemp(path.join(work, 'host-'));
  await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: process.pid, host: `not-${os.hostname()}` }));
  await assert.rejects(lockOutDir(dir), (e: Error) => e instanceof OutLockedError && /locked by a weft process on not-/.test(e.message));
});

test('owner files of processes killed while locking are cleaned up by the next holder', async () => {
  const dir = await mkdtemp(path.join(work, 'owner-'));
  await writeFile(path.join(dir, `.lock-owner-${await deadPid()}-abcdef`), '{}');
  const lock = await lockOutDir(dir);
  assert.deepEqual(await readdir(dir), ['.lock']);
  await lock.release();
});

test('two processes cannot write the same OUT at once; a stale lock is taken over', async () => {
  const dir = await mkdtemp(path.join(work, 'stale-'));
  const first = await lockOutDir(dir);
  await assert.rejects(lockOutDir(dir), (e: Error) => e instanceof OutLockedError && /another weft process/.test(e.message));
  await first.release();
  // A lock whose process is gone (pid far above any live one) does not block.
  await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname() }));
  const second = await lockOutDir(dir);
  await second.release();
});

test('a lock whose pid now belongs to another process (pid reuse) is stale', async () => {
  const dir = await mkdtemp(path.join(work, 'stale-'));
  // Our parent is alive, but it did not write this lock: its start time differs.
  await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), start: '1' }));
  const lock = await lockOutDir(dir);
  await lock.release();
});
