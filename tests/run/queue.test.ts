// The Redis work queue with real worker processes: one is SIGKILLed right after committing a
// unit (before acknowledging it), the other then finishes the queue; the merge of their OUT folders
// equals a single-process run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
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

function weftChild(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [weft, ...args], { env: { ...process.env, WEFT_REDIS_URL: 'redis://127.0.0.1:6379', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout }));
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
    // Worker a runs alone until it dies, so it always gets a unit to commit (started together, a
    // loaded machine could let b drain the queue first); b then takes a's unacknowledged unit once
    // its lock lapses, and everything else.
    const ra = await weftChild(['queue', 'work', config, '--out', path.join(work, 'worker-a'), ...common], { WEFT_KILL_AT: 'unit-committed:1' });
    assert.equal(ra.signal, 'SIGKILL', `worker a died right after its first commit\n${ra.stderr}`);
    const rb = await weftChild(['queue', 'work', config, '--out', path.join(work, 'worker-b'), ...common]);
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

test('queue accounting: push says how many are new, a unit failing every attempt makes work exit 1, status names it, retry requeues it', { skip: !(await redisUp()) && 'no Redis on 127.0.0.1:6379' }, async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-queue-acct-'));
  await mkdir(path.join(work, 'imgs'));
  for (let i = 0; i < 4; i++) await writeFile(path.join(work, 'imgs', `${i}.png`), await sharp({ create: { width: 18, height: 12 + i, channels: 3, background: '#208080' } }).png().toBuffer());
  await writeFile(path.join(work, 'list.jsonl'), [0, 1, 2, 3].map((i) => JSON.stringify({ image: `imgs/${i}.png`, caption: `tile ${i}` })).join('\n') + '\n');
  const config = path.join(work, 'config.yaml');
  await writeFile(config, 'name: acct\nsource: { kind: image_text, path: list.jsonl, rows_per_unit: 2 }\ndecode: { image_size: 16 }\nscore: { scorer: none }\n');
  const queueName = `weft-acct-${process.pid}-${Date.now()}`;
  const queue = new Queue(queueName, { connection: REDIS });
  try {
    const first = await weftChild(['queue', 'push', config, '--queue', queueName]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /queued 2 new units .*\(0 of 2 were already there\)/);
    const again = await weftChild(['queue', 'push', config, '--queue', queueName]);
    assert.match(again.stdout, /queued 0 new units .*\(2 of 2 were already there\)/);

    // Unit list-00001 reads imgs/3.png: gone, so every attempt fails (a read failure).
    await rename(path.join(work, 'imgs', '3.png'), path.join(work, 'away.png'));
    const worked = await weftChild(['queue', 'work', config, '--queue', queueName, '--out', path.join(work, 'w1'), '--idle-exit', '1', '--log-level', 'error']);
    assert.equal(worked.code, 1, worked.stderr);
    assert.match(worked.stderr, /unit list-00001 failed for good .*3\.png: ENOENT/);
    const status = await weftChild(['queue', 'status', config, '--queue', queueName]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /queued 0, active 0, completed 1, failed 1/);
    assert.match(status.stdout, /failed list-00001 after 3 attempt\(s\): cannot read .*3\.png: ENOENT/);

    await rename(path.join(work, 'away.png'), path.join(work, 'imgs', '3.png'));
    const retried = await weftChild(['queue', 'retry', config, '--queue', queueName]);
    assert.match(retried.stdout, /requeued 1 failed units/);
    const second = await weftChild(['queue', 'work', config, '--queue', queueName, '--out', path.join(work, 'w1'), '--idle-exit', '1', '--log-level', 'error']);
    assert.equal(second.code, 0, second.stderr);
    const done = await weftChild(['queue', 'status', config, '--queue', queueName]);
    assert.match(done.stdout, /completed 2, failed 0/);
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('queue commands need a reachable Redis named by --redis or WEFT_REDIS_URL', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-queue-conn-'));
  try {
    await mkdir(path.join(work, 'src'));
    await writeFile(path.join(work, 'src', 'a.txt'), 'only a caption');
    const config = path.join(work, 'c.yaml');
    await writeFile(config, 'name: conn\nsource: { kind: image_text, path: src }\nscore: { scorer: none }\n');
    const none = await weftChild(['queue', 'push', config], { WEFT_REDIS_URL: '' });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--redis <url> is required \(or set WEFT_REDIS_URL\)/);
    // Port 1 on loopback: nothing listens; one line and exit 1, not a hang (the test would time out).
    for (const cmd of ['push', 'status']) {
      const down = await weftChild(['queue', cmd, config, '--redis', 'redis://127.0.0.1:1']);
      assert.equal(down.code, 1, down.stderr);
      assert.match(down.stderr, /^weft: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
      assert.equal(down.stderr.trim().split('\n').length, 1, down.stderr);
    }
    const work1 = await weftChild(['queue', 'work', config, '--out', path.join(work, 'o'), '--redis', 'redis://127.0.0.1:1']);
    assert.equal(work1.code, 1, work1.stderr);
    assert.match(work1.stderr, /cannot reach Redis/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
