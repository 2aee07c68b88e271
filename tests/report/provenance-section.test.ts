// Provenance in the report of real runs: a single run names its start, end, wall clock, summed
// busy time, inputs and config; a merge of ranks says how many were merged, and a merge that
// lacks a rank says which rank and how many units are missing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoRun } from '../helpers/real-runs.ts';
import { sectionById, textOf } from '../helpers/html-probe.ts';
import { mergeOutDirs } from '../../output/merge.ts';

let work = '';
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-provenance-'));
});
after(() => rm(work, { recursive: true, force: true }));

const facts = (html: string) => {
  const sec = sectionById(html, 'provenance');
  return Object.fromEntries([...sec.matchAll(/<dt>([\s\S]*?)<\/dt><dd>([\s\S]*?)<\/dd>/g)].map((m) => [textOf(m[1]), textOf(m[2])]));
};

test('one run: times, wall clock and summed busy time, inputs, the resolved config', async () => {
  const out = await demoRun(work, { out: 'single' });
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  const f = facts(html);
  const start = Date.parse(f['run started']);
  const end = Date.parse(f['run ended']);
  assert.ok(Number.isFinite(start) && end >= start, `${f['run started']} .. ${f['run ended']}`);
  assert.ok('wall-clock time (first start to last end)' in f);
  assert.ok('busy time (summed over units, which overlap)' in f);
  assert.equal(f['input paths'], 'corpus/images');
  assert.equal(f.units, 'all 3 units of the input are committed');
  assert.match(sectionById(html, 'provenance'), /<details class="config"><summary>[^<]+<\/summary><pre>[\s\S]*&quot;min_p_aligned&quot;: 0.5/);
  assert.equal((await readdir(path.join(out, 'invocations'))).length, 1);
});

test('ranks merged: all present, then one missing', async () => {
  const r0 = await demoRun(work, { out: 'rank0', rank: 0, worldSize: 2 });
  const r1 = await demoRun(work, { out: 'rank1', rank: 1, worldSize: 2 });
  await mergeOutDirs([r0, r1], path.join(work, 'all'));
  const all = facts(await readFile(path.join(work, 'all', 'report.html'), 'utf8'));
  assert.equal(all['processes merged'], '2 (rank 0/2, rank 1/2)');
  assert.equal(all.units, 'all 3 units of the input are committed');

  // Without --allow-partial a merge missing a planned unit is refused, naming it.
  await assert.rejects(mergeOutDirs([r0], path.join(work, 'refused')), /miss 1 planned unit\(s\): folder-00001/);
  await mergeOutDirs([r0], path.join(work, 'partial'), { allowPartial: true });
  const partial = facts(await readFile(path.join(work, 'partial', 'report.html'), 'utf8'));
  assert.equal(partial['ranks absent (of 2)'], '1');
  // Rank 0 of 2 holds units 0 and 2 of the 3: one is missing, held by the absent rank, and named
  // from the planned units the merge recorded.
  assert.match(partial['units missing'], /^1 of 3 units have no commit: this output is partial\./);
  assert.match(partial['units missing'], /folder-00001/);
  const manifest = JSON.parse(await readFile(path.join(work, 'partial', 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.partial, { missing_units: ['folder-00001'] });
});
