import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeRgbdFixtures, type FixtureLayout, type FixtureTruth } from '../../../run/fixtures/rgbd-fixtures.ts';
import { listRgbdUnits } from '../../../stages/sources/rgbd/units.ts';
import { pathUnitId } from '../../../core/units.ts';
import { rgbdPipeline } from '../../../kinds/rgbd.ts';
import { decodeDepthPng } from '../../../stages/decode/depth-png.ts';
import { rgbdSchema, type RgbdSample } from '../../../schemas/rgbd.ts';
import { collect, KEEP_ALL, makeContext, reasons, rgbdConfig } from '../../helpers/rgbd.ts';

let dir: string;
let truth: Record<FixtureLayout, FixtureTruth | undefined>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-rgbd-read-'));
  truth = await makeRgbdFixtures(dir, { frames: 16, width: 160, height: 120, seed: 2, dropRate: 0.15 });
});
after(() => rm(dir, { recursive: true, force: true }));

async function readLayout(layout: FixtureLayout, source: Record<string, unknown> = {}, rgbd: Record<string, unknown> = KEEP_ALL) {
  const cfg = rgbdConfig(layout, { layout, ...source }, rgbd);
  const units = await listRgbdUnits(cfg.source, dir);
  assert.equal(units.length, 1);
  const ctx = makeContext(units[0]);
  const samples = await collect(rgbdPipeline(units[0], cfg, ctx));
  return { samples, ctx, units };
}

const truePairs = (t: FixtureTruth) => t.sequences[0].frames.filter((f) => f.rgb && f.depth);

test('auto layout finds one unit per sequence in each layout', async () => {
  const units = await listRgbdUnits(rgbdConfig('.').source, dir);
  assert.deepEqual(units.map((u) => u.id), [
    pathUnitId('rgbd-generic-', 'generic/seq00'),
    pathUnitId('rgbd-nyu-', 'nyu/scene_seq00'),
    `${pathUnitId('rgbd-sunrgbd-', 'sunrgbd/seq00')}-00000`,
    pathUnitId('rgbd-tum-', 'tum/seq00'),
  ]);
  assert.deepEqual(units.map((u) => u.spec.sequence), ['generic/seq00', 'nyu/scene_seq00', 'sunrgbd/seq00', 'tum/seq00']);
  await assert.rejects(listRgbdUnits(rgbdConfig('missing').source, dir), /not a folder/);
});

test('TUM: timestamp pairing recovers the true pairs; dropped frames are unpaired rejects with their nearest skew', async () => {
  const t = truth.tum!;
  const { samples, ctx } = await readLayout('tum');
  const expected = truePairs(t);
  assert.ok(expected.length < t.sequences[0].frames.length, 'the fixture has dropped frames');
  assert.deepEqual(samples.map((s) => [s.rgb.path, s.depth.path]), expected.map((f) => [f.rgb, f.depth]));
  const unpaired = t.sequences[0].frames.length - expected.length;
  assert.deepEqual(reasons(ctx.rejects), { unpaired });
  for (const r of ctx.rejects.rows) assert.match(r.detail, /nearest skew -?\d+\.\d+ ms/);
  const pairStats = ctx.stats.stage('rgbd_pair');
  assert.deepEqual([pairStats.in, pairStats.out, pairStats.droppedTotal], [expected.length * 2 + unpaired, expected.length * 2, unpaired]);
  for (const s of samples) {
    const f = expected.find((e) => e.rgb === s.rgb.path)!;
    assert.ok(Math.abs(s.skewMs! - (f.rgbTimestamp! - f.depthTimestamp!) * 1000) < 1e-3);
    assert.equal(s.depthScale, 5000);
    assert.equal(s.kind, 'rgbd');
    assert.ok(Math.abs(s.validRatio - f.validRatio) < 1e-9);
    assert.ok(s.depthMinM > 0.3 && s.depthMaxM < 10 && s.depthMinM < s.depthMaxM);
  }
});

test('TUM: an unpaired frame whose nearest partner lay inside the window names the closer frame that took it', async () => {
  // A 40 ms window over 30 Hz streams: a frame whose partner was dropped has neighbours 33 ms
  // away, inside the window, already paired with their own closer frames.
  const { ctx } = await readLayout('tum', { max_difference: 0.04 });
  let taken = 0;
  for (const r of ctx.rejects.rows) {
    const m = /nearest skew (-?\d+\.\d+) ms/.exec(r.detail);
    assert.ok(m, r.detail);
    if (Math.abs(Number(m[1])) < 40) {
      assert.match(r.detail, /inside the window 40\.0 ms, was paired with the closer (colour|depth) frame \S+\.png \(skew -?\d+\.\d+ ms\)/);
      taken++;
    } else assert.match(r.detail, /outside the window/);
  }
  assert.ok(taken > 0, 'some unpaired frame had a taken neighbour inside the window');
});

test('NYU: PGM depth in little-endian Kinect disparity decodes to millimetres; nearest matching pairs every colour frame it can', async () => {
  const t = truth.nyu!;
  const { samples, ctx } = await readLayout('nyu', { match: 'one_to_one' });
  assert.deepEqual(samples.map((s) => s.depth.path), truePairs(t).map((f) => f.depth!.replace('.pgm', '.png')));
  const tum = await readLayout('tum');
  // Same rendered scene: NYU's disparity quantisation stays within a few percent of TUM's depth.
  const a = await decodeDepthPng(samples[0].depth.bytes);
  const b = await decodeDepthPng(tum.samples[0].depth.bytes);
  let compared = 0;
  for (let i = 0; i < a.data.length; i += 7) {
    if (!a.data[i] || !b.data[i]) continue;
    compared++;
    assert.ok(Math.abs(a.data[i] / 1000 - b.data[i] / 5000) < 0.05 * (b.data[i] / 5000) + 0.01, `pixel ${i}`);
  }
  assert.ok(compared > 500);
  assert.equal((await sharp(samples[0].rgb.bytes).metadata()).format, 'png');
  assert.equal(reasons(ctx.rejects).unpaired, t.sequences[0].frames.length - truePairs(t).length);

  const nearest = await readLayout('nyu', { match: 'nearest' });
  const withRgb = t.sequences[0].frames.filter((f) => f.rgb).length;
  const rgbUnpaired = nearest.ctx.rejects.rows.filter((r) => r.id.includes('/r-')).length;
  assert.equal(nearest.samples.length + rgbUnpaired, withRgb);
});

test('NYU: the byte order option is honoured; the wrong order is caught as samples above maxval', async () => {
  const little = await readLayout('nyu');
  const big = await readLayout('nyu', { byte_order: 'big' });
  assert.equal(big.samples.length, 0);
  assert.deepEqual(reasons(big.ctx.rejects).decode_failed, little.samples.length);
  assert.match(big.ctx.rejects.rows.find((r) => r.reason === 'decode_failed')!.detail, /exceeds maxval 2047/);
});

test('SUN RGB-D: bit-rotated depth decodes to millimetres and intrinsics.txt is read', async () => {
  const t = truth.sunrgbd!;
  const { samples, ctx } = await readLayout('sunrgbd');
  assert.equal(samples.length, t.sequences[0].frames.length);
  assert.equal(ctx.rejects.rows.length, 0);
  const k = t.sequences[0].intrinsics;
  assert.deepEqual(samples[0].intrinsics, k);
  assert.equal(samples[0].rgbTimestamp, null);
  assert.equal(samples[0].skewMs, null);
  assert.equal(samples[0].depthScale, 1000);
  for (const s of samples) assert.ok(s.depthMinM > 0.3 && s.depthMaxM < 10, `${s.depthMinM}..${s.depthMaxM}`);
  assert.equal((await sharp(samples[0].rgb.bytes).metadata()).format, 'jpeg');
});

test('generic: pairs by stem; the samples fill every Arrow column of the rgbd schema', async () => {
  const { samples } = await readLayout('generic', { intrinsics: { fx: 131.25, fy: 131.25, cx: 79.5, cy: 59.5 } });
  assert.equal(samples.length, truth.generic!.sequences[0].frames.length);
  const s: RgbdSample = samples[0];
  assert.deepEqual(s.intrinsics, { fx: 131.25, fy: 131.25, cx: 79.5, cy: 59.5 });
  for (const col of rgbdSchema.columns) {
    const v = col.get(s);
    if (!col.nullable) assert.ok(v !== null && v !== undefined, col.name);
  }
  for (const col of rgbdSchema.index) assert.notEqual(col.get(s), undefined, col.name);
});

test('default filters drop the misregistered frames and keep the aligned ones; correct_shift keeps and fixes them', async () => {
  // 320x240, the smallest size the registration confidence is calibrated for (at 160x120 a
  // frame has too few depth edges for a confident verdict, and many are flagged
  // low_registration_confidence instead).
  const vgaDir = await mkdtemp(join(tmpdir(), 'weft-rgbd-read-qvga-'));
  after(() => rm(vgaDir, { recursive: true, force: true }));
  const qvga = await makeRgbdFixtures(vgaDir, { layouts: ['generic'], frames: 10, width: 320, height: 240, seed: 2 });
  const frames = qvga.generic!.sequences[0].frames;
  const shifted = frames.filter((f) => Math.max(Math.abs(f.shift.dx), Math.abs(f.shift.dy)) > 2);
  assert.ok(shifted.length >= 3);
  const readLayout = async (layout: FixtureLayout, source: Record<string, unknown> = {}, rgbd: Record<string, unknown> = KEEP_ALL) => {
    const cfg = rgbdConfig(layout, { layout, ...source }, rgbd);
    const units = await listRgbdUnits(cfg.source, vgaDir);
    const ctx = makeContext(units[0]);
    return { samples: await collect(rgbdPipeline(units[0], cfg, ctx)), ctx };
  };
  const filtered = await readLayout('generic', {}, {});
  assert.equal(reasons(filtered.ctx.rejects).misregistered, shifted.length, JSON.stringify(filtered.ctx.rejects.rows));
  assert.equal(filtered.samples.length + filtered.ctx.rejects.rows.length, frames.length);

  const fixed = await readLayout('generic', {}, { correct_shift: true });
  const corrected = fixed.samples.filter((s) => s.registration.corrected);
  assert.equal(corrected.length, shifted.length);
  // The stored depth of a corrected frame is back in register: measuring it again finds no shift.
  const { registerDepthToRgb } = await import('../../../stages/align/rgbd-registration.ts');
  const { decodeRgb } = await import('../../../stages/decode/rgb-image.ts');
  for (const s of corrected) {
    const again = registerDepthToRgb(await decodeRgb(s.rgb.bytes, s.rgb.path), await decodeDepthPng(s.depth.bytes));
    assert.ok(Math.abs(again.dx) <= 1 && Math.abs(again.dy) <= 1, `${s.id}: (${again.dx}, ${again.dy})`);
  }
});

test('samples, rejects and units name files relative to the source root, in every layout', async () => {
  for (const layout of ['tum', 'nyu', 'sunrgbd', 'generic'] as const) {
    // The source root is the layout folder; each holds one sequence (or SUN RGB-D parent) folder.
    const { samples, ctx, units } = await readLayout(layout);
    const seq = units[0].spec.relDir as string;
    assert.ok(seq && !seq.includes('\\'), `${layout}: relDir ${seq}`);
    assert.ok(units[0].source.startsWith(seq) && !units[0].source.includes(dir), `${layout}: unit source ${units[0].source}`);
    const named = [...samples, ...ctx.rejects.rows];
    assert.ok(samples.length > 0);
    for (const item of named) {
      assert.ok(item.source.startsWith(`${seq}/`) && !item.source.includes(dir), `${layout}: source ${item.source}`);
    }
    for (const r of ctx.rejects.rows) assert.ok(!r.detail.includes(dir), `${layout}: detail ${r.detail}`);
  }
});
