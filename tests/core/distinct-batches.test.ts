// Group-distinct batches: every item exactly once, full batches except the last, no group twice
// in a batch while the groups allow it, and a bounded wait (with relaxed placements counted)
// when one group is too large to spread out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { distinctGroupBatches } from '../../core/distinct-batches.ts';
import { mulberry32 } from '../../core/random.ts';

function items(seed: number, n: number, groups: number, nullShare: number): { id: number; group: number | null }[] {
  const rand = mulberry32(seed);
  // Skewed group sizes (a few large clusters, many small ones), as k-means gives.
  return Array.from({ length: n }, (_, id) => ({ id, group: rand() < nullShare ? null : Math.floor(groups * rand() ** 2) }));
}

for (const [seed, n, groups, size, nullShare] of [[1, 1000, 300, 32, 0], [2, 777, 120, 16, 0.1], [3, 5000, 2000, 256, 0.05], [4, 64, 64, 8, 0]] as const) {
  test(`every item once, batches full but the last, no repeated group unless relaxed (seed ${seed}, n ${n}, ${groups} groups, batch ${size})`, () => {
    const xs = items(seed, n, groups, nullShare);
    const { batches, relaxed } = distinctGroupBatches(xs, size, (x) => x.group);
    assert.deepEqual(batches.flat().map((x) => x.id).sort((a, b) => a - b), xs.map((x) => x.id));
    batches.slice(0, -1).forEach((b) => assert.equal(b.length, size));
    let repeats = 0;
    for (const b of batches) {
      const seen = new Set<number>();
      for (const x of b) {
        if (x.group === null) continue;
        if (seen.has(x.group)) repeats++;
        seen.add(x.group);
      }
    }
    assert.equal(repeats, relaxed, 'every repeat is a counted relaxation');
    // A plain split of the same order repeats groups far more often.
    let plain = 0;
    for (let s = 0; s < n; s += size) {
      const seen = new Set<number>();
      for (const x of xs.slice(s, s + size)) {
        if (x.group !== null && seen.has(x.group)) plain++;
        if (x.group !== null) seen.add(x.group);
      }
    }
    assert.ok(relaxed <= plain, `${relaxed} relaxed vs ${plain} repeats in plain batches`);
    if (plain > 10) assert.ok(relaxed < plain / 2, `${relaxed} relaxed vs ${plain}`);
  });
}

test('one group larger than the batches can spread waits a bounded time, then joins batches relaxed', () => {
  const xs = Array.from({ length: 400 }, (_, id) => ({ id, group: id % 4 === 0 ? id : 7 }));
  const { batches, relaxed } = distinctGroupBatches(xs, 10, (x) => x.group);
  assert.equal(batches.flat().length, 400);
  assert.ok(relaxed > 0 && relaxed < 300);
  // Batch order roughly follows input order: the bounded queue never holds more than 4 batches.
  const firstBatchMax = Math.max(...batches[0].map((x) => x.id));
  assert.ok(firstBatchMax < 10 + 4 * 10 + 10, `first batch reaches item ${firstBatchMax}`);
});
