// The Redis work queue with real worker processes: one is SIGKILLed right after committing a
// unit (before acknowledging it), the other finishes the queue; the merge of their OUT folders
// equals a single-process run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { idsInShards, parquetRows, readJson } from '../helpers/out-dir.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const weft = path.join(repo, 'bin', 'weft.js');
const REDIS = { host: '127.0.0.1', port: 6379 };

function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(REDIS, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function weftChild(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [weft, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

test('queue workers: a worker killed after a commit loses nothing; merge holds every sample once', { skip: !(await redisUp()) && 'no Redis on 127.0.0.1:6379' }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-queue-'));
  await makeDemoCorpus(path.join(work, 'corpus'), { count: 60, seed: 8 });
  const config = path.join(work, 'config.yaml');
  const queueName = `weft-test-${process.pid}-${Date.now()}`;
  await writeFile(config, 'name: queue-test\nsource: { kind: image_text, path: corpus/images, rows_per_unit: 10 }\ndecode: { image_size: 48 }\n');

  const reference = path.join(work, 'reference');
  assert.equal((await weftChild(['run', config, '--out', reference, '--no-progress', '--log-level', 'warn'])).code, 0);

  const queue = new Queue(queueName, { connection: REDIS });
  try {
    const pushed = await weftChild(['queue', 'push', config, '--queue', queueName]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal((await weftChild(['queue', 'push', config, '--queue', queueName])).code, 0); // idempotent
    const counts = await queue.getJobCounts('waiting');
    assert.equal(counts.waiting, (await readJson(path.join(reference, 'manifest.json'))).units.length);

    const common = ['--queue', queueName, '--lock-ms', '2000', '--idle-exit', '3', '--log-level', 'warn'];
    const a = weftChild(['queue', 'work', config, '--out', path.join(work, 'worker-a'), ...common], { WEFT_KILL_AT: 'unit-committed:1' });
    const b = weftChild(['queue', 'work', config, '--out', path.join(work, 'worker-b'), ...common]);
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.signal, 'SIGKILL', 'worker a died right after its first commit');
    assert.equal(rb.code, 0, rb.stderr);
    const done = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
    assert.equal(done.failed, 0);
    assert.equal(done.waiting + done.active, 0);

    // Worker a's OUT was never finalised; merge reads its commit records all the same.
    const merged = path.join(work, 'merged');
    await mergeOutDirs([path.join(work, 'worker-a'), path.join(work, 'worker-b')], merged);
    const ids = await idsInShards(merged);
    assert.equal(new Set(ids).size, ids.length, 'no sample twice');
    assert.deepEqual([...ids].sort(), [...(await idsInShards(reference))].sort());
    assert.deepEqual(await parquetRows(path.join(merged, 'rejects.parquet')), await parquetRows(path.join(reference, 'rejects.parquet')));
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
});
