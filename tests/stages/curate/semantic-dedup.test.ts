// Semantic dedup within a cluster: injected near-duplicates (a vector plus small noise) are
// marked against the member the keep rule keeps; distinct members are not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { semanticDuplicates } from '../../../stages/curate/semantic-dedup.ts';
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
