// Merge and filter outputs appear whole or not at all: `weft merge` and `weft filter` are killed
// with SIGKILL at seeded random moments of their work, and each rerun must give exactly the output
// of an uninterrupted run (same shards by sha256, same index ids), with no staging folder left;
// a rerun that finds the finished output of the same inputs leaves it as it is (exit 0).
// scripts/kill-trials.ts runs many more such trials, and of `weft run`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoRun } from '../helpers/real-runs.ts';
import { parquetRows } from '../helpers/out-dir.ts';
import { buildFolderAtomically, stagingFolderOf } from '../../output/staged-folder.ts';
import { mulberry32 } from '../../core/random.ts';

let work: string;
let ranks: string[];
let single: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-staged-'));
  single = await demoRun(work, { out: 'single' });
  ranks = [await demoRun(work, { out: 'rank0', rank: 0, worldSize: 2 }), await demoRun(work, { out: 'rank1', rank: 1, worldSize: 2 })];
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const weft = (args: string[]) => spawnSync(process.execPath, ['bin/weft.js', ...args], { encoding: 'utf8' });

/** What must match between an interrupted-then-rerun output and an uninterrupted one. */
async function contentOf(dir: string): Promise<unknown> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  const ids = (await parquetRows(path.join(dir, 'index.parquet'))).map((r) => String(r.id)).sort();
  const rejects = (await parquetRows(path.join(dir, 'rejects.parquet'))).map((r) => `${r.id} ${r.stage} ${r.reason}`).sort();
  return { shards: manifest.shards.map((s: { path: string; sha256: string; rows: number }) => [s.path, s.sha256, s.rows]), totals: manifest.totals, ids, rejects };
}

/**
 * Starts the command and SIGKILLs it `ms` after its output (the target, or the staging folder it
 * is built in) first appears, so the kill lands while the output is being written; then waits
 * for it to end. Resolves true when the kill came before the command finished.
 */
function killWhileWriting(args: string[], out: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/weft.js', ...args], { stdio: 'ignore' });
    let killed = false;
    const poll = setInterval(() => {
      if (!existsSync(out) && !existsSync(stagingFolderOf(out))) return;
      clearInterval(poll);
      setTimeout(() => {
        killed = child.exitCode === null;
        child.kill('SIGKILL');
      }, ms);
    }, 2);
    child.on('exit', () => {
      clearInterval(poll);
      resolve(killed);
    });
  });
}

async function killAndRerun(name: string, args: (out: string) => string[], seed: number): Promise<void> {
  const reference = path.join(work, `${name}-reference`);
  const r = weft(args(reference));
  assert.equal(r.status, 0, r.stderr);
  const expected = await contentOf(reference);
  // A rerun into the finished output of the same inputs leaves it as it is.
  const again = weft(args(reference));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already|left as it is/);
  assert.deepEqual(await contentOf(reference), expected);
  // Kill moments drawn (seeded) over the writing of the output: copying or filtering units, finalising.
  const rand = mulberry32(seed);
  const moments = Array.from({ length: 8 }, (_, i) => Math.round(rand() * 60 * 2 ** (i / 2)));
  let interrupted = 0;
  for (const [i, ms] of moments.entries()) {
    const out = path.join(work, `${name}-killed-${i}`);
    if (await killWhileWriting(args(out), out, ms)) interrupted++;
    // Either nothing is at the target, or the whole output.
    if (existsSync(out)) assert.deepEqual(await contentOf(out), expected, `${name} killed at ${ms} ms left a target that differs`);
    const rerun = weft(args(out));
    assert.equal(rerun.status, 0, `${name} rerun after a kill at ${ms} ms: ${rerun.stderr}`);
    assert.deepEqual(await contentOf(out), expected, `${name} rerun after a kill at ${ms} ms`);
    assert.ok(!existsSync(stagingFolderOf(out)), 'no staging folder is left after the rerun');
  }
  assert.ok(interrupted >= 4, `only ${interrupted} of the kills (at ${moments.join(', ')} ms) landed before the command finished`);
}

test('weft merge killed at any moment, then rerun, equals the uninterrupted merge', async () => {
  await killAndRerun('merge', (out) => ['merge', ...ranks, '--out', out], 13);
  // A target holding the merge of other parts is still refused.
  const other = weft(['merge', ranks[0], '--allow-partial', '--out', path.join(work, 'merge-reference')]);
  assert.equal(other.status, 2, other.stderr);
  assert.match(other.stderr, /not empty/);
});

test('weft filter killed at any moment, then rerun, equals the uninterrupted filter', async () => {
  await killAndRerun('filter', (out) => ['filter', single, '--threshold', '0.5', '--out', out], 29);
  const other = weft(['filter', single, '--threshold', '0.6', '--out', path.join(work, 'filter-reference')]);
  assert.equal(other.status, 2, other.stderr);
});

test('merges started at the same instant into one target: one builds, the others are refused (exit 1) or find it built (exit 0), never a mixed target', async () => {
  const expected = await contentOf(path.join(work, 'merge-reference'));
  for (let trial = 0; trial < 3; trial++) {
    const out = path.join(work, `merge-race-${trial}`);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/weft.js', 'merge', ...ranks, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stderr }));
      })),
    );
    assert.ok(results.some((r) => r.code === 0), JSON.stringify(results));
    for (const r of results) if (r.code !== 0) assert.match(r.stderr, /being written by another weft process/, `exit ${r.code}: ${r.stderr}`);
    assert.deepEqual(await contentOf(out), expected);
    const left = (await readdir(work)).filter((f) => f.startsWith(`.merge-race-${trial}.`));
    assert.deepEqual(left, [], 'no staging or lock folder is left');
  }
});

test('a build that fails leaves neither the target nor its staging folder; an empty target folder is replaced', async () => {
  const target = path.join(work, 'failing');
  await assert.rejects(
    buildFolderAtomically(target, async (staging) => {
      await mkdir(path.join(staging, 'shards'), { recursive: true });
      throw new Error('disk full');
    }),
    /disk full/,
  );
  assert.ok(!existsSync(target) && !existsSync(stagingFolderOf(target)));
  const empty = path.join(work, 'empty-target');
  await mkdir(empty);
  await buildFolderAtomically(empty, async (staging) => {
    await mkdir(path.join(staging, 'shards'), { recursive: true });
  });
  assert.deepEqual(await readdir(empty), ['shards']);
});
