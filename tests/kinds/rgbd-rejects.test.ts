import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeRgbdFixtures, type FixtureLayout, type FixtureTruth } from '../../run/fixtures/rgbd-fixtures.ts';
import { listRgbdUnits } from '../../stages/sources/rgbd/units.ts';
import { rgbdPipeline } from '../../kinds/rgbd.ts';
import { encodeDepthPng } from '../../stages/decode/depth-png.ts';
import { encodeNetpbm } from '../../stages/decode/netpbm.ts';
import { collect, KEEP_ALL, makeContext, rgbdConfig } from '../helpers/rgbd.ts';

let dir: string;
let truth: Record<FixtureLayout, FixtureTruth | undefined>;
const W = 96;
const H = 72;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-rgbd-rejects-'));
  truth = await makeRgbdFixtures(dir, { frames: 9, width: W, height: H, seed: 4, dropRate: 0, shiftedFraction: 0 });
});
after(() => rm(dir, { recursive: true, force: true }));

async function read(layout: FixtureLayout) {
  const cfg = rgbdConfig(layout, { layout }, KEEP_ALL);
  const [unit] = await listRgbdUnits(cfg.source, dir);
  const ctx = makeContext(unit);
  const samples = await collect(rgbdPipeline(unit, cfg, ctx));
  const byFile = new Map(ctx.rejects.rows.map((r) => [r.id.slice(r.id.indexOf('/') + 1), r]));
  return { samples, ctx, byFile };
}

test('TUM: each broken frame or list line ends as a reject with its reason; the rest are kept', async () => {
  const seq = join(dir, 'tum', 'seq00');
  const frames = truth.tum!.sequences[0].frames;
  const file = (i: number, half: 'rgb' | 'depth') => join(seq, frames[i][half]!);
  // Both halves of pair 1 are bad: the colour frame's reason is the one recorded. Its PNG is cut
  // short, which fails only once decoding reaches the cut, while the depth's 8-bit check fails
  // on the header, sooner: a first-to-fail rule would record depth_not_16bit.
  const png1 = await readFile(file(1, 'rgb'));
  await writeFile(file(1, 'rgb'), png1.subarray(0, png1.length - 16));
  await writeFile(file(1, 'depth'), await sharp(Buffer.alloc(W * H, 40), { raw: { width: W, height: H, channels: 1 } }).png().toBuffer());
  await writeFile(file(2, 'depth'), await sharp(Buffer.alloc(W * H, 40), { raw: { width: W, height: H, channels: 1 } }).png().toBuffer());
  await writeFile(file(3, 'depth'), await encodeDepthPng({ width: W / 2, height: H / 2, data: new Uint16Array((W * H) / 4).fill(5000) }));
  await unlink(file(4, 'depth'));
  await unlink(file(5, 'rgb'));
  const png = await readFile(file(6, 'rgb'));
  await writeFile(file(6, 'rgb'), png.subarray(0, png.length >> 1));
  // An unparseable line, and a line that repeats an earlier time: both rejected, the list kept.
  await appendFile(join(seq, 'rgb.txt'), `not-a-timestamp rgb/x.png\n${frames[0].rgbTimestamp!.toFixed(6)} ${frames[0].rgb}\n`);

  const { samples, ctx, byFile } = await read('tum');
  const expectReject = (name: string, stage: string, reason: string, detail?: RegExp) => {
    const r = byFile.get(name);
    assert.ok(r, `no reject for ${name}: ${JSON.stringify(ctx.rejects.rows)}`);
    assert.equal(r.stage, stage, name);
    assert.equal(r.reason, reason, name);
    assert.equal(r.kind, 'rgbd');
    if (detail) assert.match(r.detail, detail, name);
  };
  expectReject(frames[1].rgb!, 'rgbd_decode', 'decode_failed', /^rgb: /);
  expectReject(frames[2].rgb!, 'rgbd_decode', 'depth_not_16bit', /uchar/);
  expectReject(frames[3].rgb!, 'rgbd_decode', 'size_mismatch', /rgb 96x72, depth 48x36/);
  expectReject(frames[4].rgb!, 'rgbd_decode', 'depth_missing', /does not exist/);
  expectReject(frames[5].rgb!, 'rgbd_decode', 'rgb_missing');
  expectReject(frames[6].rgb!, 'rgbd_decode', 'decode_failed');
  const listRejects = ctx.rejects.rows.filter((r) => r.stage === 'rgbd_list');
  assert.deepEqual(listRejects.map((r) => r.reason).sort(), ['bad_line', 'timestamp_not_monotonic']);
  assert.match(listRejects.find((r) => r.reason === 'timestamp_not_monotonic')!.id, /rgb\.txt:\d+$/);
  assert.deepEqual(samples.map((s) => s.rgb.path), [frames[0].rgb, frames[7].rgb, frames[8].rgb]);
  assert.equal(ctx.rejects.rows.length, 8);
  const decode = ctx.stats.stage('rgbd_decode');
  assert.deepEqual([decode.in, decode.out, decode.droppedTotal], [9, 3, 6]);
});

test('NYU: a truncated PGM is decode_failed and an 8-bit PGM is depth_not_16bit', async () => {
  const seq = join(dir, 'nyu', 'scene_seq00');
  const frames = truth.nyu!.sequences[0].frames;
  const pgm = await readFile(join(seq, frames[0].depth!));
  await writeFile(join(seq, frames[0].depth!), pgm.subarray(0, pgm.length - 3));
  await writeFile(join(seq, frames[1].depth!), encodeNetpbm({ width: W, height: H, channels: 1, maxval: 255, data: new Uint8Array(W * H).fill(9) }));
  const ppm = await readFile(join(seq, frames[2].rgb!));
  await writeFile(join(seq, frames[2].rgb!), ppm.subarray(0, 20));
  const { samples, byFile } = await read('nyu');
  assert.equal(byFile.get(frames[0].rgb!)?.reason, 'decode_failed');
  assert.match(byFile.get(frames[0].rgb!)!.detail, /truncated/);
  assert.equal(byFile.get(frames[1].rgb!)?.reason, 'depth_not_16bit');
  assert.equal(byFile.get(frames[2].rgb!)?.reason, 'decode_failed');
  assert.equal(samples.length, frames.length - 3);
});

test('SUN RGB-D and generic: a frame without its depth file is depth_missing, a depth without colour is rgb_missing', async () => {
  const sun = truth.sunrgbd!.sequences[0].frames;
  await unlink(join(dir, 'sunrgbd', 'seq00', sun[0].depth!));
  const gen = truth.generic!.sequences[0].frames;
  await unlink(join(dir, 'generic', 'seq00', gen[0].depth!));
  await unlink(join(dir, 'generic', 'seq00', gen[1].rgb!));

  const s = await read('sunrgbd');
  assert.equal(s.samples.length, sun.length - 1);
  assert.deepEqual(s.ctx.rejects.rows.map((r) => [r.stage, r.reason]), [['rgbd_list', 'depth_missing']]);

  const g = await read('generic');
  assert.equal(g.samples.length, gen.length - 2);
  assert.deepEqual(g.ctx.rejects.rows.map((r) => [r.stage, r.reason, r.id.split('/').slice(-2).join('/')]), [
    ['rgbd_pair', 'depth_missing', gen[0].rgb],
    ['rgbd_pair', 'rgb_missing', gen[1].depth],
  ]);
});
