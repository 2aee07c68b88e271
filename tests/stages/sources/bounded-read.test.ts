// The capped reader on real files: a FIFO is refused without blocking, a device is refused,
// a file past the cap is too_large, a file at the cap is read whole.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFileBounded } from '../../../stages/sources/bounded-read.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-bounded-'));
after(() => rm(dir, { recursive: true, force: true }));

test('regular files up to the cap are read whole; above it too_large, also for a sparse file', async () => {
  for (const size of [0, 1, 4095, 4096]) {
    const f = path.join(dir, `f${size}`);
    await writeFile(f, Buffer.alloc(size, 7));
    const r = await readFileBounded(f, 4096, 'f');
    assert.ok('bytes' in r && r.bytes.length === size);
  }
  const big = path.join(dir, 'sparse');
  await writeFile(big, '');
  await truncate(big, 3 * 1024 * 1024 * 1024);
  const r = await readFileBounded(big, 4096, 'sparse');
  assert.ok(!('bytes' in r) && r.reason === 'too_large');
});

test('a FIFO with no writer and a character device are not_regular_file, read not at all', async () => {
  const fifo = path.join(dir, 'pipe.jpg');
  execFileSync('mkfifo', [fifo]);
  for (const f of [fifo, '/dev/zero']) {
    const r = await readFileBounded(f, 4096, path.basename(f));
    assert.ok(!('bytes' in r) && r.reason === 'not_regular_file', f);
  }
});

test('open failures are thrown with their code, for the caller to treat as a read failure', async () => {
  await assert.rejects(readFileBounded(path.join(dir, 'missing'), 10, 'missing'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});
