// The dropped sample: per (kind, stage, reason) the k lowest id hashes, shown in proportion to each
// reason's count with a minimum, and the same for one process as for ranks merged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MIN_PER_REASON, parseDroppedSetName, stratifiedDropped } from '../../report/example-sets.ts';
import { BottomK } from '../../core/sketch/bottom-k.ts';
import { demoRun } from '../helpers/real-runs.ts';
import { mergeOutDirs } from '../../output/merge.ts';

let work = '';
after(() => rm(work, { recursive: true, force: true }));

function setOf(n: number, prefix: string, k = 12) {
  const b = new BottomK<Record<string, unknown>>(k);
  for (let i = 0; i < n; i++) b.add(`${prefix}${i}`, { id: `${prefix}${i}` });
  return b.toJSON();
}

test('stratified: every reason shown, in proportion to its count, at least the minimum, lowest hashes first', () => {
  const counts: Record<string, number> = { big: 900, mid: 90, small: 10, tiny: 1 };
  const sets = Object.keys(counts).map((reason) => ({ stage: 's', reason, set: setOf(Math.min(12, counts[reason]), reason) }));
  const strata = stratifiedDropped(sets, (_s, r) => counts[r], 12);
  assert.deepEqual(strata.map((s) => s.reason), ['big', 'mid', 'small', 'tiny']);
  assert.deepEqual(strata.map((s) => s.items.length), [Math.round((12 * 900) / 1001), MIN_PER_REASON, MIN_PER_REASON, 1]);
  // Within a reason the cards are the lowest id hashes, in hash order.
  const big = sets[0].set.items.map((e) => e.item.id);
  assert.deepEqual(strata[0].items.map((e) => e.id), big.slice(0, strata[0].items.length));
  assert.deepEqual(parseDroppedSetName('dropped-reason:image_text:decode:decode_failed'), { kind: 'image_text', stage: 'decode', reason: 'decode_failed' });
  assert.equal(parseDroppedSetName('kept:image_text'), null);
});

test('the dropped sample of a real run equals that of its ranks merged, and covers every reason', async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-example-sets-'));
  const single = await demoRun(work, { out: 'single' });
  const r0 = await demoRun(work, { out: 'r0', rank: 0, worldSize: 2 });
  const r1 = await demoRun(work, { out: 'r1', rank: 1, worldSize: 2 });
  const merged = (await mergeOutDirs([r0, r1], path.join(work, 'merged'))).stats.toJSON();
  const one = JSON.parse(await readFile(path.join(single, 'stats.json'), 'utf8'));
  const dropped = (examples: Record<string, { items: { item: { id: string; thumb?: string } }[] }>) =>
    Object.fromEntries(Object.entries(examples).filter(([n]) => parseDroppedSetName(n)).map(([n, s]) => [n, s.items.map((e) => [e.item.id, e.item.thumb?.length ?? 0])]));
  assert.deepEqual(dropped(merged.examples as never), dropped(one.examples));
  // Every reason in the stage stats has its set, finalise drops (calibration) included.
  const reasons = Object.entries(one.stages as Record<string, { dropped: Record<string, number> }>).flatMap(([stage, s]) => Object.keys(s.dropped).map((r) => `${stage}:${r}`));
  const sets = Object.keys(dropped(one.examples)).map((n) => `${parseDroppedSetName(n)!.stage}:${parseDroppedSetName(n)!.reason}`);
  assert.deepEqual(sets.sort(), reasons.sort());
  const calibration = one.examples['dropped-reason:image_text:calibration:p_aligned_below_min'].items;
  // Decided at finalise, sampled like the rest: the k lowest hashes of all of them, pictures read from the shards.
  assert.equal(calibration.length, Math.min(12, one.stages.calibration.dropped.p_aligned_below_min));
  for (const e of calibration) assert.match(e.item.thumb, /^data:image\/jpeg;base64,/), assert.ok(e.item.caption);
});
