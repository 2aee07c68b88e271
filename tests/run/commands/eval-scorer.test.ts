// weft eval-scorer end to end through the CLI, on a tiny split: every part runs (retrieval,
// swaps, attribute edits, grounding, curation lift, openclipart) and every bar is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OPENCLIPART_ROOT } from '../../../corpora/openclipart-corpus.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const weft = path.join(repo, 'bin', 'weft.js');
const run = (...args: string[]) => spawnSync(process.execPath, [weft, ...args], { encoding: 'utf8', cwd: repo, timeout: 120_000 });

test('eval-scorer on a tiny split reports every bar as JSON', async (t) => {
  const data = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-eval-cli-'));
  try {
    const withClipart = existsSync(OPENCLIPART_ROOT);
    if (!withClipart) t.diagnostic(`${OPENCLIPART_ROOT} missing: synthetic only`);
    const r = run('eval-scorer', '--corpus', withClipart ? 'both' : 'synthetic', '--n', '30', '--curation', '60', '--epochs', '2', '--openclipart-count', '60', '--data', data, '--json');
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(r.stdout);
    assert.equal(e.scorer.id, 'weft-reference');
    const s = e.synthetic;
    assert.ok(s.retrieval.n > 20 && s.retrieval.n <= 30);
    for (const k of ['1', '5', '10']) assert.ok(s.retrieval.imageToText[k] >= 0 && s.retrieval.imageToText[k] <= 1);
    assert.equal(s.swap.n, s.retrieval.n);
    assert.ok(s.swap.noisy >= 8);
    for (const a of ['colour', 'shape', 'position', 'size', 'all']) assert.ok(s.attributes[a].n > 0, a);
    assert.ok(s.grounding.n >= 30);
    // The curation set is a corpus of its own whose sample ids repeat the test set's: both must be used whole.
    assert.equal(s.curation.train, 60);
    assert.equal(s.curation.test, s.retrieval.n);
    assert.equal(s.curation.dropped, 24);
    assert.ok(s.curation.swapped >= 20 && s.curation.swapped <= 24);
    const metrics = e.bars.map((b: { corpus: string; metric: string }) => `${b.corpus} ${b.metric}`);
    assert.equal(metrics.length, withClipart ? 13 : 8);
    if (withClipart) {
      assert.ok(e.openclipart.train > e.openclipart.test);
      assert.ok(metrics.includes('openclipart novel-caption text->image R@10'));
    }
    assert.ok(e.bars.every((b: { value: number; min: number; pass: boolean }) => b.pass === b.value >= b.min));
  } finally {
    await fs.rm(data, { recursive: true, force: true });
  }
});

test('eval-scorer prints a PASS/FAIL table, and rejects a bad option', async () => {
  const data = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-eval-cli-'));
  try {
    const r = run('eval-scorer', '--corpus', 'synthetic', '--n', '20', '--curation', '0', '--data', data);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /synthetic\s+image->text R@1\s+[\d.]+\s+>=0\.90\s+(PASS|FAIL)/);
    assert.match(r.stdout, /synthetic\s+grounding accuracy/);
    assert.doesNotMatch(r.stdout, /curation/);
    const bad = run('eval-scorer', '--corpus', 'imagenet');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--corpus/);
  } finally {
    await fs.rm(data, { recursive: true, force: true });
  }
});
