import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TDigest } from '../../core/sketch/tdigest.ts';
import { Histogram } from '../../core/sketch/histogram.ts';
import { BottomK } from '../../core/sketch/bottom-k.ts';
import { RunStats } from '../../core/stats.ts';

function mulberry32(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('t-digest quantiles are within 1% rank error, single and merged from 10 parts', () => {
  const rnd = mulberry32(7);
  const values = Array.from({ length: 20000 }, () => Math.pow(rnd(), 2)); // skewed
  const sorted = [...values].sort((a, b) => a - b);
  const whole = new TDigest();
  values.forEach((v) => whole.add(v));
  const merged = new TDigest();
  for (let p = 0; p < 10; p++) {
    const part = new TDigest();
    values.slice(p * 2000, (p + 1) * 2000).forEach((v) => part.add(v));
    merged.merge(TDigest.fromJSON(JSON.parse(JSON.stringify(part.toJSON()))));
  }
  for (const q of [0.01, 0.05, 0.25, 0.5, 0.7, 0.95, 0.99]) {
    for (const d of [whole, merged]) {
      const est = d.quantile(q);
      const rank = sorted.findIndex((v) => v >= est) / sorted.length;
      assert.ok(Math.abs(rank - q) < 0.01, `q=${q}: estimate ${est} sits at rank ${rank}`);
    }
  }
  assert.equal(merged.count, 20000);
  assert.ok(Math.abs(merged.cdf(sorted[10000]) - 0.5) < 0.01);
});

test('histogram merge adds bins; mismatched bins refuse to merge', () => {
  const a = new Histogram(0, 1, 10);
  const b = new Histogram(0, 1, 10);
  [0.05, 0.15, 0.15, 1.5, -1].forEach((v) => a.add(v));
  [0.95, 1.0].forEach((v) => b.add(v));
  a.merge(b);
  assert.deepEqual(a.bins, [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]);
  assert.equal(a.over, 1);
  assert.equal(a.under, 1);
  assert.throws(() => a.merge(new Histogram(0, 2, 10)));
});

test('bottom-k gives the same sample whatever the split', () => {
  const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
  const one = new BottomK<string>(8);
  ids.forEach((id) => one.add(id, id));
  const parts = [0, 1, 2].map(() => new BottomK<string>(8));
  ids.forEach((id, i) => parts[i % 3].add(id, id));
  const merged = new BottomK<string>(8);
  parts.reverse().forEach((p) => merged.merge(p));
  assert.deepEqual(merged.items.map((e) => e.item), one.items.map((e) => e.item));
});

test('RunStats round-trips through JSON and merges counters, stages and kinds', () => {
  const a = new RunStats();
  a.stage('decode').in = 10;
  a.stage('decode').out = 8;
  a.stage('decode').dropped('decode_failed', 2);
  a.kind('image_text').kept = 8;
  a.count('failures_by_host', 'example.org', 2);
  a.sketch('score').add(0.5);
  const b = RunStats.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
  b.merge(a);
  const j = b.toJSON();
  assert.equal(j.stages.decode.in, 20);
  assert.deepEqual(j.stages.decode.dropped, { decode_failed: 4 });
  assert.equal(j.kinds.image_text.kept, 16);
  assert.equal(j.counters.failures_by_host['example.org'], 4);
  assert.equal(j.sketches.score.count, 2);
});

test('top-k keeps the highest values with id tie-breaks, whatever the split', async () => {
  const { TopK } = await import('../../core/sketch/top-k.ts');
  const vals = Array.from({ length: 300 }, (_, i) => ({ id: `x${i}`, v: (i * 37) % 50 }));
  const one = new TopK<string>(5);
  vals.forEach((e) => one.add(e.v, e.id, e.id));
  const parts = [new TopK<string>(5), new TopK<string>(5)];
  vals.forEach((e, i) => parts[i % 2].add(e.v, e.id, e.id));
  const merged = parts[1].merge(parts[0]);
  assert.deepEqual(merged.items.map((e) => e.id), one.items.map((e) => e.id));
  assert.ok(one.items.every((e) => e.value === 49));
});

test('merging never aliases: a merged-in sketch, histogram or reservoir is a clone of the source', () => {
  const a = new RunStats();
  const b = new RunStats();
  b.sketch('s').add(1);
  b.histogram('h', 0, 1, 4).add(0.5);
  b.exampleSet('e', 2).add('x', { id: 'x' });
  b.worstSet('w', 2).add(3, 'y', { id: 'y' });
  a.merge(b);
  b.sketch('s').add(100);
  b.histogram('h', 0, 1, 4).add(0.1);
  b.exampleSet('e', 2).add('z', { id: 'z' });
  assert.equal(a.sketch('s').count, 1);
  assert.equal(a.toJSON().histograms.h.bins.reduce((x, y) => x + y, 0), 1);
  assert.equal(a.toJSON().examples.e.items.length, 1);
  const twice = a.clone().merge(a);
  assert.equal(twice.toJSON().histograms.h.bins.reduce((x, y) => x + y, 0), 2);
  assert.equal(a.toJSON().histograms.h.bins.reduce((x, y) => x + y, 0), 1);
});
