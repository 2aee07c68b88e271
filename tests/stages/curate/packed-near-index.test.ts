// The typed-array band index of the run-wide near pass finds exactly what NearDuplicateIndex
// finds: the same hashes within the distance, with the same distances, at every band layout
// (one 64-bit band, two 32-bit ones, many narrow ones) and after clear().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../../core/random.ts';
import { NearDuplicateIndex } from '../../../stages/curate/phash.ts';
import { PackedNearIndex } from '../../../stages/curate/packed-near-index.ts';

test('PackedNearIndex gives the hits and nearest of NearDuplicateIndex at distances 0 to 32', () => {
  const rand = mulberry32(23);
  const word = () => Math.floor(rand() * 2 ** 32);
  const bases = Array.from({ length: 30 }, () => [word(), word()] as const);
  // Hashes a few bits off a few bases, so every distance has hits.
  const hashes = Array.from({ length: 600 }, () => {
    let [hi, lo] = bases[Math.floor(rand() * bases.length)];
    for (let f = Math.floor(rand() * 12); f > 0; f--) {
      const bit = Math.floor(rand() * 64);
      if (bit < 32) lo = (lo ^ (1 << bit)) >>> 0;
      else hi = (hi ^ (1 << (bit - 32))) >>> 0;
    }
    return [hi, lo] as const;
  });
  const big = ([hi, lo]: readonly [number, number]) => (BigInt(hi) << 32n) | BigInt(lo);
  const packed = new PackedNearIndex(0, 300);
  for (const distance of [0, 1, 2, 4, 10, 31, 32]) {
    const index = new PackedNearIndex(distance, 300);
    for (let round = 0; round < 2; round++) {
      index.clear();
      const indexed = hashes.slice(round * 300, round * 300 + 300);
      const ref = new NearDuplicateIndex(distance);
      for (const [i, h] of indexed.entries()) {
        ref.add(String(i), big(h));
        assert.equal(index.add(h[0], h[1]), i);
      }
      let hits = 0;
      for (const h of hashes) {
        const want = ref.within(big(h)).map((r) => [r.position, r.distance]).sort((a, b) => a[0] - b[0]);
        const got: number[][] = [];
        index.forEachWithin(h[0], h[1], (p, d) => got.push([p, d]));
        assert.deepEqual(got.sort((a, b) => a[0] - b[0]), want, `distance ${distance}`);
        hits += got.length;
        const nearest = ref.match(big(h));
        const p = index.nearest(h[0], h[1]);
        assert.equal(p < 0 ? undefined : String(p), nearest?.id, `nearest at distance ${distance}`);
        if (nearest) assert.equal(index.lastDistance, nearest.distance);
      }
      assert.ok(hits > 300, `distance ${distance}: ${hits} hits`);
    }
  }
  assert.throws(() => {
    for (let i = 0; i <= 300; i++) packed.add(i, i);
  }, /full at 300/);
});
