// weft diff on two real demo runs of one corpus, the second with a score threshold on top of
// min_p_aligned: every pair the threshold removes is a kept -> dropped change in changed.parquet,
// nothing else changes fate, and diff.html counts each reason before and after.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoRun } from '../../helpers/real-runs.ts';
import { parquetRows } from '../../helpers/out-dir.ts';
import { tableRows, sectionById } from '../../helpers/html-probe.ts';
import { makeTestClip, removeTestClips } from '../../helpers/test-models.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const weft = (...args: string[]) => spawnSync(process.execPath, [path.join(repo, 'bin', 'weft.js'), ...args], { encoding: 'utf8', cwd: repo });
let work = '';
after(async () => {
  await rm(work, { recursive: true, force: true });
  await removeTestClips();
});

test('weft diff: two runs with different thresholds, every changed fate found and counted', async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-diff-'));
  const a = await demoRun(work, { out: 'a' });
  const threshold = 0.6;
  const b = await demoRun(work, { out: 'b', edit: (y) => y.replace('min_p_aligned: 0.5', `min_p_aligned: 0.5\n  threshold: ${threshold}`) });
  const out = path.join(work, 'diff');
  const r = weft('diff', a, b, '--out', out, '--delta', '0.05');
  assert.equal(r.status, 0, r.stderr);

  const indexA = await parquetRows(path.join(a, 'index.parquet'));
  const rejectsB = await parquetRows(path.join(b, 'rejects.parquet'));
  const column = Object.keys(indexA[0]).find((c) => c.startsWith('score_'))!;
  // What the threshold should have removed, computed from A's own index.
  const expected = indexA.filter((row) => Number(row[column]) < threshold).map((row) => String(row.id)).sort();
  assert.ok(expected.length > 0 && expected.length < indexA.length, `${expected.length} of ${indexA.length} below ${threshold}`);
  const changed = await parquetRows(path.join(out, 'changed.parquet'));
  const k2d = changed.filter((c) => c.change === 'kept_to_dropped');
  assert.deepEqual(k2d.map((c) => String(c.id)).sort(), expected);
  for (const c of k2d) {
    assert.equal(c.a_fate, 'kept');
    assert.equal(c.b_fate, 'dropped');
    assert.equal(c.b_reason, rejectsB.find((x) => x.id === c.id)!.reason);
    assert.ok(Number(c.a_score) < threshold);
  }
  // Pairs A dropped at calibration now leave earlier, at the threshold: a reason change. The
  // corpus and scorer are the same, so nothing else changes (no score moves, nothing reappears).
  const rejectsA = await parquetRows(path.join(a, 'rejects.parquet'));
  const rechecked = changed.filter((c) => c.change === 'reason_changed');
  for (const c of rechecked) {
    assert.equal(`${c.a_stage}/${c.a_reason}`, 'calibration/p_aligned_below_min');
    assert.equal(`${c.b_stage}/${c.b_reason}`, 'score/score_below_threshold');
  }
  const movedEarlier = rejectsA.filter((x) => x.reason === 'p_aligned_below_min' && rejectsB.find((y) => y.id === x.id)?.reason === 'score_below_threshold');
  assert.equal(rechecked.length, movedEarlier.length);
  assert.deepEqual([...new Set(changed.map((c) => c.change))].sort(), rechecked.length ? ['kept_to_dropped', 'reason_changed'] : ['kept_to_dropped']);

  // The page: change counts, and per reason A and B side by side.
  const html = await readFile(path.join(out, 'diff.html'), 'utf8');
  const counts = Object.fromEntries(tableRows(sectionById(html, 'changes')).map(([k, n]) => [k.split(' ')[0], Number(n)]));
  assert.equal(counts.kept_to_dropped, expected.length);
  assert.equal(counts.dropped_to_kept, 0);
  const reasons = tableRows(sectionById(html, 'reasons'));
  const kept = reasons.find((row) => row[0] === 'kept')!;
  assert.deepEqual(kept.slice(1, 3).map(Number), [indexA.length, indexA.length - expected.length]);
  const below = reasons.find((row) => row[0].endsWith('score_below_threshold'))!;
  assert.equal(Number(below[1]), 0);
  assert.equal(Number(below[2]), rejectsB.filter((x) => x.reason === 'score_below_threshold').length);
  assert.doesNotMatch(html, /<script|https?:\/\//);

  // Not an OUT folder: a usage error.
  const bad = weft('diff', a, work, '--out', out);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /not a finalised weft OUT folder/);
});

test('weft diff across scorers: kept in both with a score moved by more than --delta, and only that', async () => {
  const a = path.join(work, 'a');
  // The same corpus scored by another (randomly initialised) model: scores move, fates change.
  const clip = await makeTestClip('other-clip', { seed: 3 });
  const b = await demoRun(work, { out: 'other', edit: (y) => y.replace('scorer: reference', `scorer: ${JSON.stringify(clip)}`).replace(/grounding:\n    enabled: true/, 'grounding:\n    enabled: false') });
  const out = path.join(work, 'diff-scorers');
  const delta = 0.1;
  const r = weft('diff', a, b, '--out', out, '--delta', String(delta));
  assert.equal(r.status, 0, r.stderr);
  const indexA = new Map((await parquetRows(path.join(a, 'index.parquet'))).map((row) => [String(row.id), Number(row.score_weft_reference)]));
  const indexB = new Map((await parquetRows(path.join(b, 'index.parquet'))).map((row) => [String(row.id), Number(row.score_other_clip)]));
  const expected = [...indexA].filter(([id, s]) => indexB.has(id) && Math.abs(indexB.get(id)! - s) > delta).map(([id]) => id).sort();
  assert.ok(expected.length > 0, 'some scores moved');
  const changed = await parquetRows(path.join(out, 'changed.parquet'));
  const moved = changed.filter((c) => c.change === 'score_moved');
  assert.deepEqual(moved.map((c) => String(c.id)).sort(), expected);
  for (const c of moved) assert.ok(Math.abs(Number(c.score_delta) - (indexB.get(String(c.id))! - indexA.get(String(c.id))!)) < 1e-9);
  // Kept in both and within delta: not a change.
  for (const [id, s] of indexA) if (indexB.has(id) && Math.abs(indexB.get(id)! - s) <= delta) assert.ok(!changed.some((c) => c.id === id), id);
});
