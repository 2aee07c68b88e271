// A process that contends for an OUT lock, for tests that race several of them.
// Reads one trial folder per stdin line; for each: prints `ready`, waits for `<dir>/go` to
// appear (the barrier that releases every contender at once), tries the lock, prints `held`,
// `locked` or `error <message>`, waits for `<dir>/release`, releases, prints `released`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { lockOutDir, OutLockedError } from '../../output/out-lock.ts';

const tick = new Int32Array(new SharedArrayBuffer(4));
/** Polls without yielding to the event loop, so the wake-up after the barrier is as quick as possible. */
function waitFor(file: string): void {
  while (!existsSync(file)) Atomics.wait(tick, 0, 0, 0.2);
}

const lines = readline.createInterface({ input: process.stdin });
for await (const dir of lines) {
  if (!dir) continue;
  process.stdout.write('ready\n');
  waitFor(path.join(dir, 'go'));
  let lock: Awaited<ReturnType<typeof lockOutDir>> | undefined;
  try {
    lock = await lockOutDir(dir);
    process.stdout.write('held\n');
  } catch (err) {
    process.stdout.write(err instanceof OutLockedError ? 'locked\n' : `error ${(err as Error).message}\n`);
  }
  waitFor(path.join(dir, 'release'));
  await lock?.release();
  process.stdout.write('released\n');
}
