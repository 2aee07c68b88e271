// Input fingerprints of units, on real files, for the kinds the spawned resume tests
// (tests/run/input-changes.test.ts) do not cover: URL lists and tars (web), local videos with
// sidecars, RGB-D sequences. A change of what a unit reads changes its fingerprint; a change
// of what it does not read leaves it as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listWebUnits, webUnitFingerprints } from '../../../stages/sources/url-list.ts';
import { webSourceConfig } from '../../../schemas/web-config.ts';
import { listVideoUnits, packVideoUnits, videoUnitFingerprint } from '../../../stages/sources/video-units.ts';
import { videoSourceSchema } from '../../../schemas/video-config.ts';
import { listRgbdUnits, rgbdUnitFingerprint } from '../../../stages/sources/rgbd/units.ts';
import { rgbdSourceSchema } from '../../../schemas/rgbd-config.ts';

let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-unit-fp-'));
});
after(() => rm(work, { recursive: true, force: true }));

/** Moves a file's mtime by `s` seconds (a rewrite with equal size and a new mtime). */
async function bumpMtime(file: string, s: number): Promise<void> {
  const t = new Date(Date.now() + s * 1000);
  await utimes(file, t, t);
}

test('URL list: a row edited changes only the unit holding it; rows identical but the file rewritten change nothing', async () => {
  const list = path.join(work, 'urls.csv');
  const rows = (edit: string) => ['url,caption', ...Array.from({ length: 7 }, (_, i) => `http://127.0.0.1/${i}.png,${i === 3 ? edit : `caption ${i}`}`)].join('\n') + '\n';
  await writeFile(list, rows('caption 3'));
  const src = webSourceConfig({ path: list, rows_per_unit: 2 });
  const units = await listWebUnits(src, work);
  const before = await webUnitFingerprints(units, src);
  assert.equal(before.size, 4);
  await writeFile(list, rows('caption 3'));
  await bumpMtime(list, 5);
  assert.deepEqual(await webUnitFingerprints(units, src), before);
  await writeFile(list, rows('another caption'));
  const after = await webUnitFingerprints(units, src);
  const changed = units.filter((u) => after.get(u.id) !== before.get(u.id)).map((u) => u.id);
  assert.deepEqual(changed, [units[1].id]);
});

test('WebDataset tars: a tar rewritten changes its unit only', async () => {
  const dir = path.join(work, 'tars');
  await mkdir(dir);
  await writeFile(path.join(dir, 'a.tar'), Buffer.alloc(1024));
  await writeFile(path.join(dir, 'b.tar'), Buffer.alloc(1024));
  const src = webSourceConfig({ path: dir });
  const units = await listWebUnits(src, work);
  const before = await webUnitFingerprints(units, src);
  await bumpMtime(path.join(dir, 'b.tar'), 7);
  const after = await webUnitFingerprints(units, src);
  assert.deepEqual(units.filter((u) => after.get(u.id) !== before.get(u.id)).map((u) => u.source), ['b.tar']);
});

test('local videos: the file and its sidecars count, a neighbour does not; a pack changes with any member', async () => {
  const dir = path.join(work, 'videos');
  await mkdir(dir);
  for (const n of ['one', 'two', 'three']) await writeFile(path.join(dir, `${n}.mp4`), Buffer.alloc(256, n.length));
  await writeFile(path.join(dir, 'one.srt'), '1\n00:00:00,000 --> 00:00:01,000\nhello\n');
  const cfg = videoSourceSchema.parse({ kind: 'video', path: dir });
  const units = await listVideoUnits(cfg, work);
  const byName = new Map(units.map((u) => [u.source, u]));
  const fp = async () => new Map(await Promise.all(units.map(async (u) => [u.source, await videoUnitFingerprint(u)] as const)));
  const before = await fp();
  await writeFile(path.join(dir, 'one.srt'), '1\n00:00:00,000 --> 00:00:02,000\nhello\n');
  await writeFile(path.join(dir, 'notes.md'), 'not read by any unit');
  const after = await fp();
  assert.notEqual(after.get('one.mp4'), before.get('one.mp4'));
  assert.equal(after.get('two.mp4'), before.get('two.mp4'));
  assert.equal(after.get('three.mp4'), before.get('three.mp4'));

  const packs = await packVideoUnits([byName.get('three.mp4')!, byName.get('two.mp4')!], 2, 0, async () => 0);
  const packBefore = await videoUnitFingerprint(packs[0]);
  await bumpMtime(path.join(dir, 'two.mp4'), 9);
  assert.notEqual(await videoUnitFingerprint(packs[0]), packBefore);
});

test('RGB-D sequences: a frame rewritten in one sequence changes that unit only', async () => {
  const root = path.join(work, 'rgbd');
  for (const seq of ['s1', 's2']) {
    for (const sub of ['rgb', 'depth']) {
      await mkdir(path.join(root, seq, sub), { recursive: true });
      for (let i = 0; i < 2; i++) await writeFile(path.join(root, seq, sub, `${i}.png`), Buffer.alloc(64, i));
    }
  }
  const units = await listRgbdUnits(rgbdSourceSchema.parse({ kind: 'rgbd', path: root }), work);
  assert.equal(units.length, 2);
  const fp = async () => Promise.all(units.map((u) => rgbdUnitFingerprint(u)));
  const before = await fp();
  await writeFile(path.join(root, 's2', 'depth', '1.png'), Buffer.alloc(65, 1));
  const after = await fp();
  assert.equal(after[0], before[0]);
  assert.notEqual(after[1], before[1]);
});
