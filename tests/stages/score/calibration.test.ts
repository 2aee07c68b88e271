// The score mixture behind p_aligned: recovers the two populations of varied synthetic score
// distributions, gives a posterior that rises with the score, and fits the same mixture from a
// digest merged from parts (as ranks merge) as from one digest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TDigest } from '../../../core/sketch/tdigest.ts';
import { mulberry32 } from '../../../core/random.ts';
import { fitDigestMixture, fitScoreMixture, pAligned, scoreWherePAligned } from '../../../stages/score/calibration.ts';

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Scores of aligned and misaligned pairs, clipped to [-1, 1] like cosines. */
function scores(seed: number, n: number, misaligned: number, low: [number, number], high: [number, number]) {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const aligned = random() >= misaligned;
    const [m, s] = aligned ? high : low;
    return { aligned, score: Math.max(-1, Math.min(1, m + s * normal(random))) };
  });
}

const CASES = [
  { seed: 1, n: 3000, misaligned: 0.1, low: [0.0, 0.1], high: [0.8, 0.08] },
  { seed: 2, n: 5000, misaligned: 0.3, low: [0.12, 0.05], high: [0.33, 0.06] },
  { seed: 3, n: 2000, misaligned: 0.5, low: [-0.1, 0.15], high: [0.45, 0.12] },
  { seed: 4, n: 8000, misaligned: 0.2, low: [0.2, 0.04], high: [0.3, 0.04] },
] as const;

for (const c of CASES) {
  test(`mixture recovers the populations: ${c.misaligned} misaligned, means ${c.low[0]} / ${c.high[0]}`, (t) => {
    const data = scores(c.seed, c.n, c.misaligned, [...c.low], [...c.high]);
    const digest = new TDigest();
    for (const d of data) digest.add(d.score);
    const m = fitDigestMixture(digest);
    assert.ok(Math.abs(m.low.weight - c.misaligned) < 0.06, `weight ${m.low.weight}`);
    assert.ok(Math.abs(m.low.mean - c.low[0]) < 0.05 && Math.abs(m.high.mean - c.high[0]) < 0.05, `means ${m.low.mean} ${m.high.mean}`);
    // The posterior classifies about as well as the true populations allow.
    const correct = data.filter((d) => (pAligned(m, d.score) >= 0.5) === d.aligned).length / data.length;
    const separation = (c.high[0] - c.low[0]) / Math.max(c.low[1], c.high[1]);
    t.diagnostic(`accuracy ${correct.toFixed(3)} at separation ${separation.toFixed(1)} sd; p=0.5 at score ${scoreWherePAligned(m, 0.5)}`);
    assert.ok(correct > (separation > 4 ? 0.97 : 0.85), `accuracy ${correct}`);
    // Monotone in the score, from ~0 to ~1.
    let previous = -1;
    for (let s = -1; s <= 1; s += 0.01) {
      const p = pAligned(m, s);
      assert.ok(p >= previous - 1e-12, `p_aligned falls at ${s}`);
      previous = p;
    }
    assert.ok(pAligned(m, -1) < 0.01 && pAligned(m, 1) > 0.99);
    const cut = scoreWherePAligned(m, 0.5)!;
    assert.ok(Math.abs(pAligned(m, cut) - 0.5) < 1e-3);
  });
}

test('a digest merged from parts fits the same mixture as one digest', () => {
  const data = scores(7, 4000, 0.25, [0.1, 0.08], [0.6, 0.1]);
  const whole = new TDigest();
  for (const d of data) whole.add(d.score);
  const merged = new TDigest();
  for (let part = 0; part < 4; part++) {
    const p = new TDigest();
    for (const d of data.slice(part * 1000, (part + 1) * 1000)) p.add(d.score);
    merged.merge(TDigest.fromJSON(p.toJSON()));
  }
  const a = fitDigestMixture(whole);
  const b = fitDigestMixture(merged);
  // Within the digest's own approximation (its centroids differ with the merge order).
  for (const s of [0.2, 0.3, 0.35, 0.4, 0.5]) assert.ok(Math.abs(pAligned(a, s) - pAligned(b, s)) < 0.05, `at ${s}: ${pAligned(a, s)} vs ${pAligned(b, s)}`);
});

test('too few distinct scores is a clear error', () => {
  assert.throws(() => fitScoreMixture([[0.5, 10]]), /at least two distinct scores/);
});
