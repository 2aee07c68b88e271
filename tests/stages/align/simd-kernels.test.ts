import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cappedDistanceCodes, colourEdges, edgeRegionAround, occlusionEdges } from '../../../stages/align/edges.ts';
import { registerDepthToRgb } from '../../../stages/align/rgbd-registration.ts';
import { simdKernels } from '../../../stages/align/simd/kernels.ts';
import { registrationFamily, renderRegistrationCase } from '../../../run/fixtures/registration-fixtures.ts';
import { mulberry32 } from '../../../run/fixtures/rgbd-fixtures.ts';
import { depthStats } from '../../../stages/curate/rgbd-quality.ts';

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

test('the WebAssembly SIMD kernels load here (Node 20 runs WebAssembly SIMD)', () => {
  assert.ok(simdKernels(), 'simdKernels() returned null: the JavaScript fallback would run');
});

test('colour edges by the SIMD kernel equal the JavaScript ones bit for bit, on family frames, noise and odd sizes', () => {
  // Registration family frames (slanted planes, checkerboards, thin objects, noise) at several
  // sizes, plus uniform noise at sizes whose rows are not a multiple of the SIMD width.
  const frames = registrationFamily({ seeds: [91, 92], casesPerSeed: 4, sizes: [[320, 240], [424, 318], [640, 480]] }).map((p) => renderRegistrationCase(p).rgb);
  for (const [width, height, seed] of [[97, 61, 1], [5, 5, 2], [3, 3, 3], [641, 7, 4]]) {
    const rnd = mulberry32(seed);
    frames.push({ width, height, data: Uint8Array.from({ length: 3 * width * height }, () => Math.floor(rnd() * 256)) });
  }
  for (const f of frames) {
    const simd = colourEdges(f.data, f.width, f.height, { channels: 'rgb', kernels: 'simd' });
    const js = colourEdges(f.data, f.width, f.height, { channels: 'rgb', kernels: 'js' });
    const at = `${f.width}x${f.height}`;
    assert.equal(simd.count, js.count, at);
    assert.ok(sameArray(simd.edges, js.edges), `${at}: edge maps differ`);
    assert.ok(sameArray([...simd.pixels].sort((a, b) => a - b), [...js.pixels].sort((a, b) => a - b)), `${at}: edge pixels differ`);
    const at2 = (m: Uint8Array, px: Int32Array) => Array.from(px, (i) => m[i]);
    assert.ok(sameArray(at2(simd.orientation, simd.pixels), at2(js.orientation, simd.pixels)), `${at}: orientations differ`);
    assert.ok(sameArray(at2(simd.bins, simd.pixels), at2(js.bins, simd.pixels)), `${at}: orientation bins differ`);
  }
});

test('occlusion edges by the kernel equal the JavaScript ones bit for bit: family depth maps, holes, noise, odd sizes', () => {
  const maps = registrationFamily({ seeds: [96, 97], casesPerSeed: 4, sizes: [[320, 240], [424, 318], [640, 480]] }).map((p) => renderRegistrationCase(p).depth);
  for (const [width, height, seed] of [[97, 61, 5], [1, 9, 6], [9, 1, 7], [2, 2, 8], [333, 17, 9]]) {
    const rnd = mulberry32(seed);
    // Random depths with a fifth missing, and steps between plateaus.
    maps.push({ width, height, data: Uint16Array.from({ length: width * height }, (_, i) => (rnd() < 0.2 ? 0 : 500 + ((i % width) > width / 2 ? 2000 : 0) + Math.floor(rnd() * 40))) });
  }
  let found = 0;
  for (const m of maps) {
    for (const scratch of [false, true]) {
      for (const relativeJump of [0.04, 0.0005, 0]) {
        const simd = occlusionEdges(m.data, m.width, m.height, { relativeJump, scratch, kernels: 'simd' });
        const simdCopy = { edges: simd.edges.slice(), orientation: Array.from(simd.pixels, (k) => simd.orientation[k]), strength: Array.from(simd.pixels, (k) => simd.strength[k]), pixels: simd.pixels.slice() };
        const js = occlusionEdges(m.data, m.width, m.height, { relativeJump, scratch, kernels: 'js' });
        const at = `${m.width}x${m.height}, jump ${relativeJump}, scratch ${scratch}`;
        assert.equal(simd.count, js.count, at);
        found += js.count;
        assert.ok(sameArray(simdCopy.pixels, js.pixels), `${at}: pixels differ`);
        assert.ok(sameArray(simdCopy.edges, js.edges), `${at}: edge maps differ`);
        assert.ok(sameArray(simdCopy.orientation, Array.from(js.pixels, (k) => js.orientation[k])), `${at}: orientations differ`);
        assert.ok(sameArray(simdCopy.strength, Array.from(js.pixels, (k) => js.strength[k])), `${at}: strengths differ`);
        if (!scratch) {
          assert.ok(sameArray(simd.orientation, js.orientation), `${at}: orientation off the edges differs`);
          assert.ok(sameArray(simd.strength, js.strength), `${at}: strength off the edges differs`);
        }
      }
    }
  }
  assert.ok(found > 10_000, `only ${found} edge pixels: the comparison would say little`);
});

test('distance codes by the kernel equal the JavaScript ones: several selections, caps, frame sides, with and without a region', () => {
  const rnd = mulberry32(12);
  for (const [width, height] of [[120, 90], [37, 23], [640, 48]]) {
    const n = width * height;
    const pixels = Int32Array.from({ length: Math.floor(n / 40) }, () => Math.floor(rnd() * n));
    for (const slots of [1, 3, 10]) {
      const selections = Uint16Array.from(pixels, () => 1 + Math.floor(rnd() * ((1 << slots) - 1)));
      for (const cap of [3, 1.5, 15]) {
        const region = edgeRegionAround(Int32Array.of(10, 10, 0, width - 5, height - 3, 0), 3, width, height, 9);
        for (const r of [undefined, region]) {
          const js = cappedDistanceCodes(width, height, pixels, selections, slots, cap, r, 'js');
          const jsCodes = js.codes.slice();
          const simd = cappedDistanceCodes(width, height, pixels, selections, slots, cap, r, 'simd');
          assert.ok(sameArray(simd.distance, js.distance));
          const at = `${width}x${height}, ${slots} slots, cap ${cap}, region ${!!r}`;
          if (!r) assert.ok(sameArray(simd.codes, jsCodes), `${at}: codes differ`);
          else {
            // Only the needed tiles are filled (and may be read).
            let compared = 0;
            for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
              if (!region.need[Math.floor(y / region.tileSize) * region.cols + Math.floor(x / region.tileSize)]) continue;
              for (let q = 0; q < slots; q++, compared++) assert.equal(simd.codes[(y * width + x) * slots + q], jsCodes[(y * width + x) * slots + q], `${at} at (${x}, ${y}) slot ${q}`);
            }
            assert.ok(compared > 0);
          }
        }
      }
    }
  }
});

test('depth statistics by the kernel equal the JavaScript loop: holes, extremes, sizes off the vector width', () => {
  const rnd = mulberry32(13);
  const maps: { width: number; height: number; data: Uint16Array }[] = [];
  for (const [width, height] of [[640, 480], [7, 3], [1, 1], [9, 9], [333, 5]]) {
    const n = width * height;
    maps.push({ width, height, data: Uint16Array.from({ length: n }, () => (rnd() < 0.3 ? 0 : 1 + Math.floor(rnd() * 65535))) });
    maps.push({ width, height, data: new Uint16Array(n) });
    maps.push({ width, height, data: new Uint16Array(n).fill(65535) });
    const one = new Uint16Array(n);
    one[n - 1] = 1234;
    maps.push({ width, height, data: one });
  }
  for (const m of maps) assert.deepEqual(depthStats(m, 1000, 'simd'), depthStats(m, 1000, 'js'), `${m.width}x${m.height}`);
});

test('registration with the SIMD kernel gives the JavaScript estimates exactly, with and without a colour region', () => {
  const cases = registrationFamily({ seeds: [93, 94], casesPerSeed: 6, sizes: [[320, 240], [640, 480]] });
  for (const params of cases) {
    const c = renderRegistrationCase(params);
    for (const fullFrameColour of [false, true]) {
      const simd = registerDepthToRgb(c.rgb, c.depth, { maxShift: 12, fullFrameColour, keepEdges: true, kernels: 'simd' });
      const js = registerDepthToRgb(c.rgb, c.depth, { maxShift: 12, fullFrameColour, keepEdges: true, kernels: 'js' });
      assert.deepEqual(simd, js, JSON.stringify(params));
    }
  }
});

test('a region around a few points: the SIMD kernel gives the JavaScript edges there', () => {
  const c = renderRegistrationCase(registrationFamily({ seeds: [95], casesPerSeed: 1, sizes: [[424, 318]] })[0]);
  const { width, height, data } = c.rgb;
  const points = Int32Array.of(40, 40, 0, 200, 150, 0, 400, 300, 0);
  const region = edgeRegionAround(points, 3, width, height, 17);
  const simd = colourEdges(data, width, height, { channels: 'rgb', kernels: 'simd' }, region);
  const js = colourEdges(data, width, height, { channels: 'rgb', kernels: 'js' }, region);
  assert.ok(js.count > 0);
  assert.ok(sameArray([...simd.pixels].sort((a, b) => a - b), [...js.pixels].sort((a, b) => a - b)));
});

test('the shipped WebAssembly is what scripts/build-simd-kernels.sh builds from edge-kernels.c (where clang is installed)', async (t) => {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    execFileSync('wasm-ld', ['--version'], { stdio: 'ignore' });
  } catch {
    return t.skip('clang or wasm-ld is not installed (Debian: apt-get install clang lld)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'weft-simd-build-'));
  try {
    const out = join(dir, 'edge-kernels-wasm.ts');
    execFileSync('bash', ['scripts/build-simd-kernels.sh', out], { stdio: 'ignore' });
    const shipped = await readFile(new URL('../../../stages/align/simd/edge-kernels-wasm.ts', import.meta.url), 'utf8');
    const base64 = (s: string) => s.match(/'([A-Za-z0-9+/=]+)'/)?.[1];
    assert.equal(base64(await readFile(out, 'utf8')), base64(shipped), 'rebuild differs: run scripts/build-simd-kernels.sh and commit the result');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
