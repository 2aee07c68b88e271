// The registration worker pool gives exactly the synchronous function's results, leaves the
// caller's frames intact (moved to the worker and back, or copied), and fails one pair without
// failing the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRgbdFixtures } from '../../../run/fixtures/rgbd-fixtures.ts';
import { registerDepthToRgb } from '../../../stages/align/rgbd-registration.ts';
import { RegistrationPool } from '../../../stages/align/registration-pool.ts';
import { defaultRegistration, HANDOVER_PAIRS_NO_SPARE_CORE, HandOverRegistrar } from '../../../stages/align/registration-handover.ts';
import { decodeDepthPng, type DepthMap } from '../../../stages/decode/depth-png.ts';
import { decodeRgb, type RgbImage } from '../../../stages/decode/rgb-image.ts';

async function fixtureFrames(): Promise<{ rgb: RgbImage; depth: DepthMap }[]> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-rgbd-pool-'));
  try {
    const truth = await makeRgbdFixtures(dir, { layouts: ['generic'], frames: 6, width: 160, height: 120, seed: 21, shiftedFraction: 0.5 });
    const seq = truth.generic!.sequences[0];
    const frames = [];
    for (const f of seq.frames) {
      const rgb = await decodeRgb(await readFile(join(dir, 'generic', seq.name, f.rgb!)), f.rgb!);
      const depth = await decodeDepthPng(await readFile(join(dir, 'generic', seq.name, f.depth!)));
      frames.push({ rgb, depth });
    }
    return frames;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the worker pool returns the same registrations as the synchronous function, in parallel', async () => {
  const frames = await fixtureFrames();
  const pool = new RegistrationPool(2);
  // The workers run a plain JavaScript bundle of their code, not TypeScript through tsx.
  assert.equal(pool.boot, 'bundle');
  try {
    // With the edge pixels, which the workers hand back by transfer: a worker's next pair must
    // not see the last pair's edges (its per-thread edge maps are cleared by their pixel lists).
    const options = { maxShift: 6, keepEdges: true };
    const before = frames.map((f) => ({ rgb: Uint8Array.from(f.rgb.data), depth: Uint16Array.from(f.depth.data) }));
    // One frame as a view into a larger buffer: it must be copied, never detached.
    const big = new Uint8Array(frames[0].rgb.data.length + 16);
    big.set(frames[0].rgb.data, 8);
    frames[0].rgb.data = big.subarray(8, 8 + frames[0].rgb.data.length);
    const fromPool = await Promise.all(frames.map((f) => pool.register(f.rgb, f.depth, options)));
    const direct = frames.map((f) => registerDepthToRgb(f.rgb, f.depth, options));
    assert.deepEqual(fromPool, direct);
    assert.ok(direct.some((r) => r.dx !== 0 || r.dy !== 0), 'some frames carry an injected shift');
    assert.ok(fromPool.every((r) => r.edges && r.edges.colour.length > 0 && r.edges.depth.length > 0));
    // The caller's frames hold the same pixels again: moved buffers came back, the view was copied.
    assert.deepEqual(frames.map((f) => ({ rgb: Uint8Array.from(f.rgb.data), depth: Uint16Array.from(f.depth.data) })), before);
    assert.equal(big.byteLength, frames[0].rgb.data.length + 16, 'the view\'s larger buffer was not detached');
  } finally {
    await pool.close();
  }
});

test('a bad pair fails alone; a closed pool refuses work', async () => {
  const [frame] = await fixtureFrames();
  const pool = new RegistrationPool(1);
  try {
    await assert.rejects(pool.register(frame.rgb, { width: 10, height: 10, data: new Uint16Array(100) }), RangeError);
    // An exception inside the worker comes back as this pair's error, and the worker keeps serving.
    // (a search window this wide cannot be allocated: RangeError inside the worker).
    await assert.rejects(pool.register(frame.rgb, frame.depth, { maxShift: 1e9 }), /RangeError/);
    const ok = await pool.register(frame.rgb, frame.depth);
    assert.deepEqual(ok, registerDepthToRgb(frame.rgb, frame.depth));
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.register(frame.rgb, frame.depth), /closed/);
  assert.throws(() => new RegistrationPool(0), RangeError);
});

test('a hand-over registrar registers the first pairs here, then in its pool, with the same results', async () => {
  const frames = await fixtureFrames();
  const options = { maxShift: 6, keepEdges: true };
  const expected = frames.map(({ rgb, depth }) => registerDepthToRgb(rgb, depth, options));
  const registrar = new HandOverRegistrar(2, 3);
  try {
    const got = [];
    for (const [i, { rgb, depth }] of frames.entries()) {
      const result = registrar.register(rgb, depth, options);
      // The first three come back at once, measured on this thread; the rest are promises.
      assert.equal(result instanceof Promise, i >= 3, `pair ${i}`);
      got.push(await result);
    }
    assert.ok(registrar.poolStarted);
    assert.deepEqual(got, expected);
  } finally {
    await registrar.close();
  }
  const mainOnly = new HandOverRegistrar(0, 0);
  assert.ok(!(mainOnly.register(frames[0].rgb, frames[0].depth, options) instanceof Promise));
  assert.ok(!mainOnly.poolStarted);
});

test('by default the pool starts at once where cores are spare, after a run\'s first pairs on 2 CPUs, never on 1', () => {
  assert.deepEqual(defaultRegistration(4, 1), { workers: 0, mainThreadPairs: Infinity });
  assert.deepEqual(defaultRegistration(4, 2), { workers: 2, mainThreadPairs: HANDOVER_PAIRS_NO_SPARE_CORE });
  assert.deepEqual(defaultRegistration(4, 4), { workers: 4, mainThreadPairs: 0 });
  assert.deepEqual(defaultRegistration(4, 16), { workers: 4, mainThreadPairs: 0 });
  assert.deepEqual(defaultRegistration(1, 16), { workers: 1, mainThreadPairs: 0 });
});
