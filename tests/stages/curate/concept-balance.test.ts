// Concept balance: word-boundary Aho-Corasick matching, mergeable entry counts, and keep
// probabilities of min(1, t / count) per entry, any entry keeping the sample.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balanceKeeps, captionNgrams, EntryCounts, EntryMatcher, parseEntryList } from '../../../stages/curate/concept-balance.ts';

test('entries match at word boundaries, case-insensitively, each once per caption', () => {
  const m = new EntryMatcher(parseEntryList('# concepts\nCat\nred car\n\ncar\ncat\n'));
  assert.deepEqual(m.entries, ['car', 'cat', 'red car']);
  assert.deepEqual(m.matches('A RED  car next to a cat and another cat'), ['car', 'cat', 'red car']);
  assert.deepEqual(m.matches('concatenate the carpet'), []);
  assert.deepEqual(m.matches('cat'), ['cat']);
  assert.deepEqual(m.matches(''), []);
});

test('derived n-grams skip function words at their ends', () => {
  assert.deepEqual([...captionNgrams('A red car on the road', 2)].sort(), ['car', 'red', 'red car', 'road']);
  assert.ok(captionNgrams('car on road', 3).has('car on road'));
});

test('entry counts merge by adding, in any grouping', () => {
  const parts = [['a', 'b'], ['a'], ['c', 'a', 'b']].map((es) => {
    const c = new EntryCounts();
    for (const e of es) c.add(e);
    return c;
  });
  const left = parts[0].clone().merge(parts[1]).merge(parts[2]);
  const right = parts[2].clone().merge(parts[1].clone().merge(parts[0]));
  assert.deepEqual(Object.fromEntries(left.counts), { a: 3, b: 2, c: 1 });
  assert.deepEqual(Object.fromEntries([...right.counts].sort()), Object.fromEntries([...left.counts].sort()));
  assert.equal(parts[0].get('a'), 1, 'clone leaves its source alone');
});

/** Kept fraction of n ids matching only `entries`, and its binomial standard deviation. */
function keptFraction(n: number, entries: string[], counts: EntryCounts, t: number, seed: number): number {
  let kept = 0;
  for (let i = 0; i < n; i++) if (balanceKeeps(`sample-${seed}-${i}`, entries, counts, t, seed)) kept++;
  return kept / n;
}

for (const [t, count, seed] of [[100, 1000, 0], [2000, 10_000, 1], [50, 400, 7]] as const) {
  test(`an entry of count ${count} keeps about t/count = ${t / count} of its samples (seed ${seed})`, () => {
    const counts = new EntryCounts();
    counts.add('head', count);
    counts.add('tail', Math.floor(t / 2));
    const n = 20_000;
    const p = t / count;
    const sd = Math.sqrt((p * (1 - p)) / n);
    const f = keptFraction(n, ['head'], counts, t, seed);
    assert.ok(Math.abs(f - p) < 5 * sd, `kept ${f}, expected ${p} ± ${5 * sd}`);
    // Kept if any entry keeps it: a tail entry (count <= t) keeps every sample it matches.
    assert.equal(keptFraction(2000, ['head', 'tail'], counts, t, seed), 1);
    // Two head entries: 1 - (1 - p)^2, the draws being independent per entry.
    counts.add('head2', count);
    const both = keptFraction(n, ['head', 'head2'], counts, t, seed);
    const q = 1 - (1 - p) ** 2;
    assert.ok(Math.abs(both - q) < 5 * Math.sqrt((q * (1 - q)) / n), `kept ${both}, expected ${q}`);
  });
}

test('the draw depends on the id and seed only: the same on every call and process', () => {
  const counts = new EntryCounts();
  counts.add('x', 1000);
  const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
  const a = ids.map((id) => balanceKeeps(id, ['x'], counts, 100, 3));
  const b = [...ids].reverse().map((id) => balanceKeeps(id, ['x'], counts, 100, 3)).reverse();
  assert.deepEqual(a, b);
  assert.notDeepEqual(ids.map((id) => balanceKeeps(id, ['x'], counts, 100, 4)), a, 'another seed draws otherwise');
});
