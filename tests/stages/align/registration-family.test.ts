// The registration check over a varied family of synthetic frames (plain, checkerboard, striped
// and speckled backgrounds; grazing floors and slanted walls; thin poles; depth and colour
// noise; holes and occlusion shadows; shifts of 0 to 10 px, whole and sub-pixel): the aims it is
// built for. The full family and its per-parameter tables are in scripts/eval-rgbd-registration.ts
// and docs/rgbd.md; this test runs a small, fast slice of it at 320x240.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRegistration, summarise } from '../../../run/fixtures/registration-eval.ts';
import { registrationFamily } from '../../../run/fixtures/registration-fixtures.ts';

test('shifted frames are measured within ±1 px, unshifted ones are never misregistered, and wrong estimates are flagged', () => {
  // Seeds other than the ones the confidence scale was fitted on.
  const cases = registrationFamily({ seeds: [21, 22], casesPerSeed: 18, sizes: [[320, 240]] });
  assert.ok(new Set(cases.map((c) => c.background)).size === 4 && cases.some((c) => c.slanted) && cases.some((c) => c.thin) && cases.some((c) => c.shiftKind === 'subpixel'));
  const outcomes = evaluateRegistration(cases);
  const s = summarise(outcomes);
  const misses = outcomes.filter((o) => o.error > 1).map((o) => `${JSON.stringify(o.params.shift)} -> (${o.dx}, ${o.dy}) conf ${o.confidence.toFixed(2)}`);
  assert.ok(s.shifted >= 15 && s.unshifted >= 5, JSON.stringify(s));
  // The aims are 95 % within ±1 px and 90 % of wrong estimates flagged; docs/rgbd.md measures
  // them on the full family (97 to 100 % within ±1 px per seed set, every wrong estimate
  // flagged). This slice (36 small frames) holds 22/23 and 1/1 today: a regression to the
  // former luminance-only, axis-only matching (20/23, 2/3 flagged) fails.
  assert.ok(s.shiftedWithin1 / s.shifted >= 0.9, `shifted within ±1 px: ${s.shiftedWithin1}/${s.shifted}; misses ${misses.join(', ')}`);
  assert.equal(s.unshiftedMisregistered, 0);
  if (s.offByMoreThan1 > 0) assert.ok(s.offFlagged / s.offByMoreThan1 >= 0.9, `flagged ${s.offFlagged}/${s.offByMoreThan1}: ${misses.join(', ')}`);
  console.log(`registration family 320x240: ${s.shiftedWithin1}/${s.shifted} shifted within ±1 px, ${s.unshiftedMisregistered}/${s.unshifted} unshifted misregistered, ${s.offFlagged}/${s.offByMoreThan1} wrong flagged, ${s.rightFlagged}/${s.right} right flagged, ${s.msMean.toFixed(1)} ms/frame`);
});
