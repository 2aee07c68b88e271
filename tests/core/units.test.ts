// Unit ids from relative paths: readable, and distinct for every distinct path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { duplicateUnitIds, partitionUnits, pathUnitId, type Unit } from '../../core/units.ts';

test('pathUnitId: slug of the path plus 8 hex of the sha256 of the exact path', () => {
  const rel = 'seq 01/clip.mp4';
  assert.equal(pathUnitId('video-', rel), `video-seq_01_clip.mp4-${createHash('sha256').update(rel).digest('hex').slice(0, 8)}`);
  // Paths that slug to the same text still differ; the same path always gives the same id.
  const alike = ['a b.tar', 'a_b.tar', 'a?b.tar', 'a.tar', 'a.tgz', 'A.tar', 'dir/a.tar', 'dir_a.tar'];
  assert.equal(new Set(alike.map((p) => pathUnitId('', p))).size, alike.length);
  assert.equal(pathUnitId('x-', 'dir/a.tar'), pathUnitId('x-', 'dir/a.tar'));
  // A long path keeps the id short enough for a file name and still distinct.
  const long = 'd/'.repeat(200);
  assert.ok(pathUnitId('', `${long}1`).length < 100);
  assert.notEqual(pathUnitId('', `${long}1`), pathUnitId('', `${long}2`));
});

test('duplicateUnitIds names both units of each shared id', () => {
  const units: Unit[] = [
    { id: 'a', source: 'one/a.tar', spec: {} },
    { id: 'b', source: 'b.tar', spec: {} },
    { id: 'a', source: 'two/a.tar', spec: {} },
  ];
  assert.deepEqual(duplicateUnitIds(units).map(([x, y]) => [x.source, y.source]), [['one/a.tar', 'two/a.tar']]);
  assert.deepEqual(duplicateUnitIds(units.slice(0, 2)), []);
});

test('partitionUnits: disjoint ranks covering every unit', () => {
  const units: Unit[] = Array.from({ length: 7 }, (_, i) => ({ id: pathUnitId('', `f${i}`), source: `f${i}`, spec: {} }));
  const parts = [0, 1, 2].map((r) => partitionUnits(units, r, 3).map((u) => u.id));
  assert.deepEqual(parts.flat().sort(), units.map((u) => u.id).sort());
});
