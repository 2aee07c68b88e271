// SIGKILL a real `weft run` child process at exact points of the commit protocol and at
// random moments, rerun it, and check that OUT then holds exactly the samples of an
// uninterrupted run: none lost, none twice, no temporary files visible.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, readdir } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { idsInShards, parquetRows, listFiles, readJson } from '../helpers/out-dir.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const weft = path.join(repo, 'bin', 'weft.js');
let work: string;
let configPath: string;
let reference: { shardIds: string[]; rejectIds: string[]; kept: number };

function runWeft(
  out: string,
  env: Record<string, string> = {},
  killAfterMs?: number,
  interruptAfterCommits?: number,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [weft, 'run', configPath, '--out', out, '--no-progress', '--log-level', 'warn'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    // Ctrl-C once the run has committed some units, as a user would after watching progress.
    const poll =
      interruptAfterCommits === undefined
        ? null
        : setInterval(() => {
            const dir = path.join(out, 'completions');
            if (existsSync(dir) && readdirSync(dir).filter((f) => f.endsWith('.json')).length >= interruptAfterCommits) {
              child.kill('SIGINT');
              clearInterval(poll!);
            }
          }, 5);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

async function contentOf(out: string) {
  const shardIds = await idsInShards(out);
  const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
  const index = await parquetRows(path.join(out, 'index.parquet'));
  const manifest = await readJson(path.join(out, 'manifest.json'));
  return { shardIds, rejectIds: rejects.map((r) => String(r.id)), index, manifest };
}

async function assertNoStrayFiles(out: string) {
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const listed = new Set(manifest.shards.map((s: { path: string }) => path.basename(s.path)));
  assert.deepEqual((await readdir(path.join(out, 'shards'))).sort(), [...listed].sort(), 'shards/ holds exactly the manifest shards');
  const all = await listFiles(out);
  assert.deepEqual(all.filter((f) => f.includes('.tmp') || f.startsWith('.staging')), [], 'no temporary or staged files remain');
}

/** Reruns the interrupted OUT to the end and checks it holds exactly the reference samples. */
async function resumeAndCompare(out: string) {
  const resumed = await runWeft(out);
  assert.equal(resumed.code, 0, resumed.stderr);
  const c = await contentOf(out);
  assert.equal(new Set(c.shardIds).size, c.shardIds.length, 'no sample twice');
  assert.deepEqual([...c.shardIds].sort(), [...reference.shardIds].sort());
  assert.deepEqual([...c.rejectIds].sort(), [...reference.rejectIds].sort());
  assert.equal(c.index.length, reference.kept);
  assert.equal(c.manifest.totals.kept, reference.kept);
  await assertNoStrayFiles(out);
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-kill-'));
  await makeDemoCorpus(path.join(work, 'corpus'), { count: 90, seed: 3 });
  configPath = path.join(work, 'config.yaml');
  await writeFile(
    configPath,
    [
      'name: kill-test',
      'source: { kind: image_text, path: corpus/images, rows_per_unit: 15 }',
      'decode: { resize_mode: center_crop, image_size: 64 }',
      'output: { rows_per_batch: 4, max_shard_bytes: 20000 }',
      'run: { concurrency: 2 }',
    ].join('\n'),
  );
  const refOut = path.join(work, 'reference');
  const r = await runWeft(refOut);
  assert.equal(r.code, 0, r.stderr);
  const c = await contentOf(refOut);
  reference = { shardIds: c.shardIds, rejectIds: c.rejectIds, kept: c.index.length };
  assert.ok(reference.kept > 60, `reference kept ${reference.kept}`);
  assert.ok(reference.rejectIds.length >= 4, 'the corpus has bad files');
  assert.ok(c.manifest.units.length >= 6);
});

const killPoints = ['unit-start:3', 'batch-written:5', 'shards-renamed:2', 'unit-committed:4'];

for (const point of killPoints) {
  test(`SIGKILL at ${point}, then rerun: exactly the reference samples`, async () => {
    const out = path.join(work, `kill-${point.replace(':', '-')}`);
    const killed = await runWeft(out, { WEFT_KILL_AT: point });
    assert.equal(killed.signal, 'SIGKILL', `the child should have died at ${point}: ${killed.stderr}`);
    const partial = existsSync(path.join(out, 'completions')) ? (await readdir(path.join(out, 'completions'))).length : 0;
    assert.ok(partial < 7, `killed run committed ${partial} units`);
    await resumeAndCompare(out);
  });
}

test('SIGKILL at random moments, several times in a row, then a clean finish', async () => {
  const out = path.join(work, 'kill-random');
  const delays = [900, 1400, 1900, 2600];
  for (const ms of delays) await runWeft(out, {}, ms);
  await resumeAndCompare(out);
});

test('Ctrl-C (SIGINT) stops cleanly with exit 130; the rerun finishes with exactly the reference samples', async () => {
  const out = path.join(work, 'interrupt');
  const interrupted = await runWeft(out, {}, undefined, 2);
  assert.equal(interrupted.code, 130, interrupted.stderr);
  assert.match(interrupted.stderr, /left uncommitted|finishing in-flight/);
  const committed = (await readdir(path.join(out, 'completions'))).length;
  assert.ok(committed >= 2 && committed < 7, `interrupted run committed ${committed} units`);
  assert.deepEqual(existsSync(path.join(out, '.staging')) ? await listFiles(path.join(out, '.staging')) : [], [], 'the open unit left nothing staged');
  await resumeAndCompare(out);
});
