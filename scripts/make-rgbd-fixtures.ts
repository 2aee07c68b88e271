// Synthetic RGB-D captures with exact ground truth, for tests and benchmarks.
// A small ray caster renders a textured, lit room (floor, walls, boxes, spheres) through a
// pinhole camera that drifts a little per frame, giving a colour frame and its exact z-depth.
// The frames are then written in the TUM, NYU raw, SUN RGB-D and generic layouts, with what
// real captures have: timestamp jitter, dropped frames, holes in depth, and a known depth
// misregistration injected on a subset of frames. Everything follows from the seed; each
// layout folder gets a truth.json saying what a reader should find.
//
//   npx tsx scripts/make-rgbd-fixtures.ts [outDir] [--frames N] [--width W --height H] [--seed S]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { encodeDepthPng, sunrgbdEncodeBits } from '../stages/sources/rgbd/depth-png.ts';
import { encodeNetpbm, type ByteOrder } from '../stages/sources/rgbd/netpbm.ts';
import { translateDepth } from '../stages/align/rgbd-registration.ts';
import { mulberry32 } from '../pipeline/random.ts';

export type FixtureLayout = 'tum' | 'nyu' | 'sunrgbd' | 'generic';

export interface RgbdFixtureOptions {
  seed?: number;
  /** Frames rendered per sequence (before drops). Default 12. */
  frames?: number;
  sequences?: number;
  width?: number;
  height?: number;
  layouts?: FixtureLayout[];
  /** Fraction of frames whose stored depth is shifted by a known (dx, dy). Default 0.5. */
  shiftedFraction?: number;
  /** Injected shifts have max(|dx|, |dy|) in [2, maxInjectedShift]. Default 6. */
  maxInjectedShift?: number;
  /** Probability that a frame loses its colour image, and separately its depth image (TUM, NYU). Default 0.06. */
  dropRate?: number;
  /** Zero out random blobs of depth. Default true. */
  holes?: boolean;
  /** Byte order of the NYU .pgm depth. Default 'little' (as NYU raw dumps). */
  nyuByteOrder?: ByteOrder;
  /** NYU depth values: Kinect disparity (like the real dumps) or millimetres. Default kinect_disparity. */
  nyuDepth?: 'kinect_disparity' | 'millimetres';
}

export interface FixtureFrameTruth {
  /** Frame number within the sequence. */
  index: number;
  /** Files relative to the sequence folder; null when that half was dropped. */
  rgb: string | null;
  depth: string | null;
  rgbTimestamp: number | null;
  depthTimestamp: number | null;
  /** Injected misregistration of the stored depth, in pixels. */
  shift: { dx: number; dy: number };
  /** Fraction of depth pixels that are valid in the stored depth. */
  validRatio: number;
}

export interface FixtureTruth {
  layout: FixtureLayout;
  sequences: { name: string; intrinsics: { fx: number; fy: number; cx: number; cy: number }; depthScale: number; frames: FixtureFrameTruth[] }[];
}

/** The TUM freiburg defaults, scaled to the frame size. */
export function fixtureIntrinsics(width: number, height: number) {
  const s = width / 640;
  return { fx: 525 * s, fy: 525 * (height / 480), cx: (width - 1) / 2, cy: (height - 1) / 2 };
}

// ---------------------------------------------------------------------------------------------
// Random numbers

export { mulberry32 };

// ---------------------------------------------------------------------------------------------
// Scene and ray casting. World: metres, y up. Camera: OpenCV convention (x right, y down, z ahead).

export type Vec3 = [number, number, number];
export type Texture = (p: Vec3, normal: Vec3) => Vec3;

interface Hit {
  t: number;
  normal: Vec3;
  colour: Vec3;
}

export interface Shape {
  intersect(o: Vec3, d: Vec3, tMax: number): Hit | null;
}

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const normalize = (a: Vec3): Vec3 => {
  const n = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / n, a[1] / n, a[2] / n];
};

export const checker = (size: number, c1: Vec3, c2: Vec3, axes: [number, number]): Texture => (p) =>
  (Math.floor(p[axes[0]] / size) + Math.floor(p[axes[1]] / size)) & 1 ? c1 : c2;
export const stripes = (period: number, c1: Vec3, c2: Vec3, axis: number): Texture => (p) => (Math.floor(p[axis] / period) & 1 ? c1 : c2);
export const plain = (c: Vec3): Texture => () => c;

/** An infinite plane n·p = offset, facing along n. */
export function plane(normal: Vec3, offset: number, texture: Texture): Shape {
  return {
    intersect(o, d, tMax) {
      const denom = dot(normal, d);
      if (Math.abs(denom) < 1e-12) return null;
      const t = (offset - dot(normal, o)) / denom;
      if (t <= 1e-6 || t >= tMax) return null;
      const p: Vec3 = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
      return { t, normal, colour: texture(p, normal) };
    },
  };
}

export function sphere(centre: Vec3, radius: number, texture: Texture): Shape {
  return {
    intersect(o, d, tMax) {
      const oc = sub(o, centre);
      const a = dot(d, d);
      const b = dot(oc, d);
      const c = dot(oc, oc) - radius * radius;
      const disc = b * b - a * c;
      if (disc < 0) return null;
      const t = (-b - Math.sqrt(disc)) / a;
      if (t <= 1e-6 || t >= tMax) return null;
      const p: Vec3 = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
      const n = normalize(sub(p, centre));
      return { t, normal: n, colour: texture(sub(p, centre), n) };
    },
  };
}

/** Axis-aligned box by slab intersection. */
export function box(min: Vec3, max: Vec3, texture: Texture): Shape {
  return {
    intersect(o, d, tMax) {
      let tNear = -Infinity;
      let tFar = Infinity;
      let axis = 0;
      for (let k = 0; k < 3; k++) {
        if (Math.abs(d[k]) < 1e-12) {
          if (o[k] < min[k] || o[k] > max[k]) return null;
          continue;
        }
        let t1 = (min[k] - o[k]) / d[k];
        let t2 = (max[k] - o[k]) / d[k];
        if (t1 > t2) [t1, t2] = [t2, t1];
        if (t1 > tNear) {
          tNear = t1;
          axis = k;
        }
        if (t2 < tFar) tFar = t2;
        if (tNear > tFar) return null;
      }
      if (tNear <= 1e-6 || tNear >= tMax) return null;
      const normal: Vec3 = [0, 0, 0];
      normal[axis] = d[axis] > 0 ? -1 : 1;
      const p: Vec3 = [o[0] + tNear * d[0], o[1] + tNear * d[1], o[2] + tNear * d[2]];
      return { t: tNear, normal, colour: texture(sub(p, min), normal) };
    },
  };
}

function randomColour(rnd: () => number): Vec3 {
  return [40 + rnd() * 200, 40 + rnd() * 200, 40 + rnd() * 200];
}

/** A room 6 m wide and 6 m deep with a few boxes and spheres on the floor. */
function makeScene(rnd: () => number): Shape[] {
  const shapes: Shape[] = [
    plane([0, 1, 0], 0, checker(0.5, [200, 190, 170], [90, 80, 70], [0, 2])),
    plane([0, 0, -1], -5, stripes(0.35, [180, 200, 220], [120, 140, 170], 0)),
    plane([1, 0, 0], -3, checker(0.6, [210, 160, 150], [150, 100, 90], [1, 2])),
    plane([-1, 0, 0], -3, plain([170, 200, 160])),
  ];
  const boxes = 3 + Math.floor(rnd() * 3);
  for (let k = 0; k < boxes; k++) {
    const x = -1.8 + rnd() * 3.6;
    const z = 1.8 + rnd() * 2.6;
    const sx = 0.25 + rnd() * 0.5;
    const sz = 0.25 + rnd() * 0.5;
    const sy = 0.3 + rnd() * 1.0;
    const c1 = randomColour(rnd);
    const c2 = randomColour(rnd);
    const texture = rnd() < 0.5 ? plain(c1) : checker(0.12 + rnd() * 0.1, c1, c2, [0, 1]);
    shapes.push(box([x, 0, z], [x + sx, sy, z + sz], texture));
  }
  const spheres = 2 + Math.floor(rnd() * 2);
  for (let k = 0; k < spheres; k++) {
    const r = 0.15 + rnd() * 0.3;
    const c1 = randomColour(rnd);
    const c2 = randomColour(rnd);
    shapes.push(sphere([-1.6 + rnd() * 3.2, r + rnd() * 0.6, 1.6 + rnd() * 2.8], r, rnd() < 0.5 ? plain(c1) : stripes(0.08, c1, c2, 1)));
  }
  return shapes;
}

export interface RenderedFrame {
  /** Interleaved 8-bit RGB. */
  rgb: Uint8Array;
  /** z-depth in metres, 0 where nothing was hit. */
  depth: Float32Array;
}

/**
 * Colour and z-depth of the scene through the fixture camera. With `depthOffset`, the depth is
 * rendered as if the depth camera sat that many pixels away (sub-pixel allowed): depth(u, v) is
 * the scene depth at colour pixel (u - dx, v - dy), an exact misregistration of (dx, dy).
 */
export function render(shapes: Shape[], eye: Vec3, target: Vec3, width: number, height: number, depthOffset?: { dx: number; dy: number }): RenderedFrame {
  const { fx, fy, cx, cy } = fixtureIntrinsics(width, height);
  const forward = normalize(sub(target, eye));
  const right = normalize(cross([0, 1, 0], forward));
  const down = cross(right, forward);
  const light = normalize([0.4, 1, -0.6]);
  const rgb = new Uint8Array(width * height * 3);
  const depth = new Float32Array(width * height);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const xc = (u - cx) / fx;
      const yc = (v - cy) / fy;
      // Unnormalised ray with unit z in camera space: the hit parameter t is the z-depth.
      const d: Vec3 = [right[0] * xc + down[0] * yc + forward[0], right[1] * xc + down[1] * yc + forward[1], right[2] * xc + down[2] * yc + forward[2]];
      let hit: Hit | null = null;
      for (const s of shapes) hit = s.intersect(eye, d, hit ? hit.t : 20) ?? hit;
      const i = v * width + u;
      if (depthOffset && (depthOffset.dx !== 0 || depthOffset.dy !== 0)) depth[i] = castDepth(shapes, eye, right, down, forward, (u - depthOffset.dx - cx) / fx, (v - depthOffset.dy - cy) / fy);
      if (!hit) continue;
      if (!depthOffset || (depthOffset.dx === 0 && depthOffset.dy === 0)) depth[i] = hit.t;
      const shade = 0.35 + 0.65 * Math.max(0, dot(hit.normal, light));
      rgb[i * 3] = Math.min(255, hit.colour[0] * shade);
      rgb[i * 3 + 1] = Math.min(255, hit.colour[1] * shade);
      rgb[i * 3 + 2] = Math.min(255, hit.colour[2] * shade);
    }
  }
  return { rgb, depth };
}

/** z-depth along the camera ray through normalised image point (xc, yc); 0 when nothing is hit. */
function castDepth(shapes: Shape[], eye: Vec3, right: Vec3, down: Vec3, forward: Vec3, xc: number, yc: number): number {
  const d: Vec3 = [right[0] * xc + down[0] * yc + forward[0], right[1] * xc + down[1] * yc + forward[1], right[2] * xc + down[2] * yc + forward[2]];
  let t = 0;
  for (const s of shapes) {
    const h = s.intersect(eye, d, t || 20);
    if (h) t = h.t;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// From rendered frames to stored files

/** Depth in `scale` units per metre, with sensor-like noise growing with z² and random holes. */
function quantiseDepth(depthM: Float32Array, width: number, height: number, scale: number, rnd: () => number, holes: boolean): Uint16Array {
  const out = new Uint16Array(depthM.length);
  for (let i = 0; i < depthM.length; i++) {
    const z = depthM[i];
    if (z <= 0 || z > 10) continue;
    const noise = (rnd() - 0.5) * 0.002 * z * z;
    out[i] = Math.max(1, Math.min(65535, Math.round((z + noise) * scale)));
  }
  if (holes) {
    const blobs = 1 + Math.floor(rnd() * 4);
    for (let b = 0; b < blobs; b++) {
      const bx = rnd() * width;
      const by = rnd() * height;
      const rx = (0.02 + rnd() * 0.08) * width;
      const ry = (0.02 + rnd() * 0.08) * height;
      for (let y = Math.max(0, Math.floor(by - ry)); y < Math.min(height, Math.ceil(by + ry)); y++) {
        for (let x = Math.max(0, Math.floor(bx - rx)); x < Math.min(width, Math.ceil(bx + rx)); x++) {
          if (((x - bx) / rx) ** 2 + ((y - by) / ry) ** 2 <= 1) out[y * width + x] = 0;
        }
      }
    }
  }
  return out;
}

function validRatio(depth: Uint16Array): number {
  let n = 0;
  for (let i = 0; i < depth.length; i++) if (depth[i] !== 0) n++;
  return n / depth.length;
}

/** Kinect raw disparity from metres, the inverse of the NYU toolbox's 351.3 / (1092.5 - raw). */
function kinectDisparity(depthMm: Uint16Array): Uint16Array {
  const out = new Uint16Array(depthMm.length);
  for (let i = 0; i < depthMm.length; i++) out[i] = depthMm[i] === 0 ? 2047 : Math.max(0, Math.min(2046, Math.round(1092.5 - 351.3 / (depthMm[i] / 1000))));
  return out;
}

const png = (rgb: Uint8Array, width: number, height: number) => sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
const jpeg = (rgb: Uint8Array, width: number, height: number) => sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
const ts = (t: number) => t.toFixed(6);

interface PlannedFrame {
  index: number;
  rgbTime: number;
  depthTime: number;
  dropRgb: boolean;
  dropDepth: boolean;
  shift: { dx: number; dy: number };
}

/** Render and write fixtures under `dir`, one folder per layout; returns each layout's truth. */
export async function makeRgbdFixtures(dir: string, opts: RgbdFixtureOptions = {}): Promise<Record<FixtureLayout, FixtureTruth | undefined>> {
  const seed = opts.seed ?? 1;
  const frames = opts.frames ?? 12;
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  const layouts = opts.layouts ?? ['tum', 'nyu', 'sunrgbd', 'generic'];
  const shiftedFraction = opts.shiftedFraction ?? 0.5;
  const maxInjected = opts.maxInjectedShift ?? 6;
  const dropRate = opts.dropRate ?? 0.06;
  const holes = opts.holes ?? true;
  const nyuByteOrder = opts.nyuByteOrder ?? 'little';
  const nyuDepth = opts.nyuDepth ?? 'kinect_disparity';
  const intrinsics = fixtureIntrinsics(width, height);
  const result: Record<FixtureLayout, FixtureTruth | undefined> = { tum: undefined, nyu: undefined, sunrgbd: undefined, generic: undefined };
  for (const layout of layouts) result[layout] = { layout, sequences: [] };

  for (let s = 0; s < (opts.sequences ?? 1); s++) {
    const rnd = mulberry32(seed * 7919 + s);
    const shapes = makeScene(rnd);
    const name = `seq${String(s).padStart(2, '0')}`;
    const t0 = 1305031102.175304 + s * 1000;
    // Timestamps: 30 Hz with small jitter, depth lagging by a few ms; a dropped neighbour is
    // always more than 20 ms away, so the true pairs are what TUM association should find.
    const plan: PlannedFrame[] = [];
    for (let i = 0; i < frames; i++) {
      const shifted = rnd() < shiftedFraction;
      let shift = { dx: 0, dy: 0 };
      while (shifted && Math.max(Math.abs(shift.dx), Math.abs(shift.dy)) < 2) {
        shift = { dx: Math.round((rnd() * 2 - 1) * maxInjected), dy: Math.round((rnd() * 2 - 1) * maxInjected) };
      }
      const dropRgb = rnd() < dropRate;
      const dropDepth = !dropRgb && rnd() < dropRate;
      plan.push({ index: i, rgbTime: t0 + i / 30 + (rnd() - 0.5) * 0.004, depthTime: t0 + i / 30 + 0.002 + (rnd() - 0.5) * 0.008, dropRgb, dropDepth, shift });
    }
    const truths: Record<FixtureLayout, FixtureFrameTruth[]> = { tum: [], nyu: [], sunrgbd: [], generic: [] };
    const lists = { rgb: ['# color images', '# timestamp filename'], depth: ['# depth maps', '# timestamp filename'] };

    for (const f of plan) {
      const angle = -0.25 + (0.5 * f.index) / Math.max(1, frames - 1) + (rnd() - 0.5) * 0.05;
      const eye: Vec3 = [Math.sin(angle) * 1.2, 1.3 + (rnd() - 0.5) * 0.1, -0.8 + Math.cos(angle) * 0.3];
      const target: Vec3 = [Math.sin(angle) * 0.4, 0.5, 3];
      const frame = render(shapes, eye, target, width, height);
      const shiftDepth = (units: Uint16Array) => translateDepth({ width, height, data: units }, f.shift.dx, f.shift.dy).data;
      const tum = shiftDepth(quantiseDepth(frame.depth, width, height, 5000, rnd, holes));
      const mm = shiftDepth(quantiseDepth(frame.depth, width, height, 1000, rnd, holes));
      const base = { index: f.index, rgbTimestamp: f.dropRgb ? null : f.rgbTime, depthTimestamp: f.dropDepth ? null : f.depthTime, shift: f.shift };

      if (result.tum) {
        const seqDir = join(dir, 'tum', name);
        await mkdir(join(seqDir, 'rgb'), { recursive: true });
        await mkdir(join(seqDir, 'depth'), { recursive: true });
        const rgbFile = `rgb/${ts(f.rgbTime)}.png`;
        const depthFile = `depth/${ts(f.depthTime)}.png`;
        if (!f.dropRgb) {
          await writeFile(join(seqDir, rgbFile), await png(frame.rgb, width, height));
          lists.rgb.push(`${ts(f.rgbTime)} ${rgbFile}`);
        }
        if (!f.dropDepth) {
          await writeFile(join(seqDir, depthFile), await encodeDepthPng({ width, height, data: tum }));
          lists.depth.push(`${ts(f.depthTime)} ${depthFile}`);
        }
        truths.tum.push({ ...base, rgb: f.dropRgb ? null : rgbFile, depth: f.dropDepth ? null : depthFile, validRatio: validRatio(tum) });
      }
      if (result.nyu) {
        const seqDir = join(dir, 'nyu', `scene_${name}`);
        await mkdir(seqDir, { recursive: true });
        const id = 1000000 + f.index * 3;
        const rgbFile = `r-${ts(f.rgbTime)}-${id}.ppm`;
        const depthFile = `d-${ts(f.depthTime)}-${id + 1}.pgm`;
        if (!f.dropRgb) await writeFile(join(seqDir, rgbFile), encodeNetpbm({ width, height, channels: 3, maxval: 255, data: frame.rgb }));
        if (!f.dropDepth) {
          const values = nyuDepth === 'kinect_disparity' ? kinectDisparity(mm) : mm;
          await writeFile(join(seqDir, depthFile), encodeNetpbm({ width, height, channels: 1, maxval: nyuDepth === 'kinect_disparity' ? 2047 : 65535, data: values }, nyuByteOrder));
        }
        truths.nyu.push({ ...base, rgb: f.dropRgb ? null : rgbFile, depth: f.dropDepth ? null : depthFile, validRatio: validRatio(mm) });
      }
      if (result.sunrgbd) {
        // One sample folder per frame; SUN RGB-D samples carry no timestamps and are never dropped.
        const sample = `${name}_${String(f.index).padStart(4, '0')}`;
        const sampleDir = join(dir, 'sunrgbd', name, sample);
        await mkdir(join(sampleDir, 'image'), { recursive: true });
        await mkdir(join(sampleDir, 'depth'), { recursive: true });
        await writeFile(join(sampleDir, 'image', `${sample}.jpg`), await jpeg(frame.rgb, width, height));
        await writeFile(join(sampleDir, 'depth', `${sample}.png`), await encodeDepthPng({ width, height, data: sunrgbdEncodeBits(mm) }));
        const k = intrinsics;
        await writeFile(join(sampleDir, 'intrinsics.txt'), `${k.fx} 0 ${k.cx}\n0 ${k.fy} ${k.cy}\n0 0 1\n`);
        truths.sunrgbd.push({ ...base, rgbTimestamp: null, depthTimestamp: null, rgb: `${sample}/image/${sample}.jpg`, depth: `${sample}/depth/${sample}.png`, validRatio: validRatio(mm) });
      }
      if (result.generic) {
        const seqDir = join(dir, 'generic', name);
        await mkdir(join(seqDir, 'rgb'), { recursive: true });
        await mkdir(join(seqDir, 'depth'), { recursive: true });
        const stem = `frame_${String(f.index).padStart(5, '0')}`;
        await writeFile(join(seqDir, 'rgb', `${stem}.png`), await png(frame.rgb, width, height));
        await writeFile(join(seqDir, 'depth', `${stem}.png`), await encodeDepthPng({ width, height, data: mm }));
        truths.generic.push({ ...base, rgbTimestamp: null, depthTimestamp: null, rgb: `rgb/${stem}.png`, depth: `depth/${stem}.png`, validRatio: validRatio(mm) });
      }
    }
    if (result.tum) {
      const seqDir = join(dir, 'tum', name);
      await writeFile(join(seqDir, 'rgb.txt'), lists.rgb.join('\n') + '\n');
      await writeFile(join(seqDir, 'depth.txt'), lists.depth.join('\n') + '\n');
    }
    for (const layout of layouts) {
      result[layout]!.sequences.push({ name: layout === 'nyu' ? `scene_${name}` : name, intrinsics, depthScale: layout === 'tum' ? 5000 : 1000, frames: truths[layout] });
    }
  }
  for (const layout of layouts) await writeFile(join(dir, layout, 'truth.json'), JSON.stringify(result[layout], null, 1));
  return result;
}

async function main(argv: string[]): Promise<void> {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) flags.set(argv[i].slice(2), argv[++i]);
    else positional.push(argv[i]);
  }
  const num = (k: string) => (flags.has(k) ? Number(flags.get(k)) : undefined);
  const dir = positional[0] ?? 'fixtures/generated/rgbd';
  const started = performance.now();
  await makeRgbdFixtures(dir, {
    frames: num('frames'),
    sequences: num('sequences'),
    width: num('width'),
    height: num('height'),
    seed: num('seed'),
    layouts: flags.get('layouts')?.split(',') as FixtureLayout[] | undefined,
  });
  process.stdout.write(`wrote RGB-D fixtures to ${dir} in ${Math.round(performance.now() - started)} ms\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
