// The AV sync estimate over a varied family of synthetic clips (frame rates 24/25/30/60, delays
// that are not whole frames, events between frames, flashes, things that appear and later
// vanish, sustained sounds, and clips with nothing to align): the aims the estimate is built for.
// The full family and its per-parameter tables are in scripts/eval-av-sync.ts and docs/video.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateSync, summariseSync } from '../../../run/fixtures/av-sync-eval.ts';
import { syncFamily } from '../../../run/fixtures/av-sync-fixtures.ts';

test('delayed clips are found within one frame, the confidence tells right from wrong, and clips with nothing to align are never trusted', () => {
  // Seeds other than the ones the confidence scale was fitted on.
  const outcomes = evaluateSync(syncFamily({ seeds: [11, 12], casesPerSeed: 30 }));
  const s = summariseSync(outcomes);
  const kinds = new Set(outcomes.map((o) => o.params.kind));
  const rates = new Set(outcomes.map((o) => o.params.fps));
  assert.ok(kinds.size >= 6 && rates.size === 4, `kinds ${[...kinds]}, rates ${[...rates]}`);
  assert.ok(s.alignable >= 20 && s.empty >= 10, JSON.stringify(s));
  assert.ok(s.alignableRight / s.alignable >= 0.9, `within ±1 frame: ${s.alignableRight}/${s.alignable}`);
  assert.ok(s.auroc >= 0.9, `AUROC ${s.auroc}`);
  assert.equal(s.emptyTrusted, 0, 'a clip with nothing to align got a trusted offset');
  console.log(`av sync family: ${s.alignableRight}/${s.alignable} within ±1 frame, AUROC ${s.auroc.toFixed(3)}, ${s.emptyTrusted}/${s.empty} empty clips trusted, ${s.rightTrusted}/${s.alignableRight} right ones trusted`);
});
