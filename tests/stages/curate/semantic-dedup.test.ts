// Semantic dedup within a cluster: injected near-duplicates (a vector plus small noise) are
// marked against the member the keep rule keeps; distinct members are not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { semanticDuplicates, splitGroups } from '../../../stages/curate/semantic-dedup.ts';
import { dot, normalise, type EmbeddedRow } from '../../../stages/curate/kmeans.ts';
import { mulberry32 } from '../../../core/random.ts';

function members(seed: number, originals: number, dupsPer: number, dim: number, noise: number): { rows: EmbeddedRow[]; groups: Map<string, string[]> } {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const rows: EmbeddedRow[] = [];
  const groups = new Map<string, string[]>();
  for (let o = 0; o < originals; o++) {
    const base = normalise(Float32Array.from({ length: dim }, gauss));
    const id = `o${String(o).padStart(3, '0')}`;
    rows.push({ id, score: rand(), vector: base });
    const ids = [id];
    for (let d = 0; d < dupsPer; d++) {
      const dupId = `${id}-d${d}`;
      rows.push({ id: dupId, score: rand(), vector: normalise(Float32Array.from(base, (x) => x + noise * gauss())) });
      ids.push(dupId);
    }
    groups.set(id, ids);
  }
  return { rows, groups };
}

for (const [seed, dim, noise] of [[1, 32, 0.01], [2, 64, 0.005], [3, 16, 0.02]] as const) {
  test(`injected near-duplicates are marked, distinct samples are not (seed ${seed}, dim ${dim})`, () => {
    const { rows, groups } = members(seed, 40, 2, dim, noise);
    // The injected copies are within eps of their original, random directions are not.
    const marks = semanticDuplicates(rows, 0.05, 'highest_score');
    assert.equal(marks.size, 80, 'two duplicates per original');
    for (const ids of groups.values()) {
      const best = [...ids].sort((a, b) => rows.find((r) => r.id === b)!.score! - rows.find((r) => r.id === a)!.score!)[0];
      assert.ok(!marks.has(best), `${best} (highest score of its group) is kept`);
      for (const id of ids) if (id !== best) assert.equal(marks.get(id), best);
    }
    for (const [dup, kept] of marks) {
      const a = rows.find((r) => r.id === dup)!;
      const b = rows.find((r) => r.id === kept)!;
      assert.ok(dot(a.vector, b.vector) > 0.95);
    }
  });
}

test('first_id keeps the first id of each group; a tight eps marks nothing among distinct noise copies', () => {
  const { rows, groups } = members(7, 10, 3, 32, 0.01);
  const marks = semanticDuplicates(rows, 0.05, 'first_id');
  for (const [original, ids] of groups) for (const id of ids) assert.equal(marks.get(id), id === original ? undefined : original);
  const tight = semanticDuplicates(rows, 1e-7, 'first_id');
  assert.equal(tight.size, 0, 'noisy copies are below a cosine of 1 - 1e-7');
  // Input order does not matter.
  assert.deepEqual([...semanticDuplicates([...rows].reverse(), 0.05, 'first_id')].sort(), [...marks].sort());
});

for (const [seed, originals, dupsPer, maxGroup] of [[11, 300, 1, 64], [12, 200, 3, 100], [13, 500, 2, 37]] as const) {
  test(`a cluster above max_group is bisected into parts of at most max_group, finding the same duplicates (seed ${seed}, cap ${maxGroup})`, () => {
    const { rows } = members(seed, originals, dupsPer, 32, 0.003);
    const groups = splitGroups(rows, maxGroup);
    assert.ok(groups.length > 1, 'the cluster is split');
    for (const g of groups) assert.ok(g.length <= maxGroup, `part of ${g.length} <= ${maxGroup}`);
    assert.deepEqual(groups.flat().map((r) => r.id).sort(), rows.map((r) => r.id).sort(), 'every member in exactly one part');
    // Part membership does not depend on the input order.
    const shuffled = [...rows].sort((a, b) => (a.score! < b.score! ? -1 : 1));
    const key = (gs: EmbeddedRow[][]) => gs.map((g) => g.map((r) => r.id).sort().join(',')).sort();
    assert.deepEqual(key(splitGroups(shuffled, maxGroup)), key(groups));
    // Near-copies (cosine ~0.9999) fall on the same side of a 2-means boundary: the marks match the unsplit pass.
    const whole = semanticDuplicates(rows, 0.01, 'highest_score');
    const split = semanticDuplicates(rows, 0.01, 'highest_score', maxGroup);
    assert.equal(whole.size, originals * dupsPer);
    const agree = [...whole].filter(([d, k]) => split.get(d) === k).length;
    assert.ok(agree >= 0.98 * whole.size, `${agree} of ${whole.size} marks kept under bisection`);
    assert.ok([...split].every(([d]) => whole.has(d)), 'bisection marks nothing the unsplit pass does not');
  });
}

test('copies of one vector above max_group stay one group (nothing to split) and all but one are marked', () => {
  const v = normalise(Float32Array.from({ length: 16 }, (_, i) => i + 1));
  const rows: EmbeddedRow[] = Array.from({ length: 50 }, (_, i) => ({ id: `c${String(i).padStart(2, '0')}`, score: null, vector: v }));
  assert.equal(splitGroups(rows, 10).length, 1);
  assert.equal(semanticDuplicates(rows, 0.01, 'first_id', 10).size, 49);
});
