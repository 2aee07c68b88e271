// A family of synthetic RGB-D frames with an exactly known depth-to-colour misregistration, for
// measuring the registration check (tests/stages/rgbd/registration-family.test.ts and
// scripts/eval-rgbd-registration.ts). Each case varies what makes registration hard on real
// captures: background texture (plain walls, checkerboards, stripes, fine speckle), surfaces
// seen at a steep angle (a grazing floor, a slanted wall), thin objects (poles a few pixels
// wide), frame size, depth and colour noise, holes (blobs, and occlusion shadows on the far
// side of depth jumps as structured-light sensors leave them), and the shift itself: none, whole
// pixels, or sub-pixel, up to 10 px. The shifted depth is ray cast from the displaced pixel
// grid, so sub-pixel shifts are exact, not interpolated. Everything follows from the seed.
import { box, checker, plain, plane, render, sphere, stripes, mulberry32, type Shape, type Texture, type Vec3 } from './make-rgbd-fixtures.ts';

export type Background = 'plain' | 'checker' | 'stripes' | 'speckle';
export type HoleKind = 'none' | 'blobs' | 'shadows';
export type ShiftKind = 'none' | 'integer' | 'subpixel';

export interface RegistrationCaseParams {
  seed: number;
  width: number;
  height: number;
  background: Background;
  /** A grazing floor and a slanted wall fill much of the view. */
  slanted: boolean;
  /** Poles a few pixels wide stand in the scene. */
  thin: boolean;
  /** Depth noise as a multiple of a Kinect-like 0.001 z^2 m (0 = exact depth). */
  depthNoise: number;
  /** Standard deviation of Gaussian colour noise, grey levels. */
  colourNoise: number;
  holes: HoleKind;
  shiftKind: ShiftKind;
  /** The injected misregistration: depth content sits (dx, dy) px from where it belongs. */
  shift: { dx: number; dy: number };
}

export interface RegistrationCase {
  params: RegistrationCaseParams;
  rgb: { width: number; height: number; data: Uint8Array };
  /** Millimetres, 0 = no measurement. */
  depth: { width: number; height: number; data: Uint16Array };
}

export const SIZES: [number, number][] = [
  [320, 240],
  [424, 318],
  [512, 384],
  [640, 480],
];
export const BACKGROUNDS: Background[] = ['plain', 'checker', 'stripes', 'speckle'];
export const HOLES: HoleKind[] = ['none', 'blobs', 'shadows'];
export const SHIFT_KINDS: ShiftKind[] = ['none', 'integer', 'subpixel'];

export interface FamilyOptions {
  seeds: number[];
  /** Cases per seed. Parameters cycle so that every value of each appears about equally often. */
  casesPerSeed: number;
  /** Restrict frame sizes (default: all of SIZES). */
  sizes?: [number, number][];
  /** Largest injected shift, px. Default 10. */
  maxShift?: number;
}

/** The parameters of every case of the family (cheap); render each with renderRegistrationCase. */
export function registrationFamily(opts: FamilyOptions): RegistrationCaseParams[] {
  const sizes = opts.sizes ?? SIZES;
  const maxShift = opts.maxShift ?? 10;
  const out: RegistrationCaseParams[] = [];
  for (const seed of opts.seeds) {
    const rnd = mulberry32(seed * 104729 + 17);
    for (let k = 0; k < opts.casesPerSeed; k++) {
      // Each parameter is drawn on its own, so the per-parameter tables average over the rest.
      const pick = <T>(values: T[]) => values[Math.floor(rnd() * values.length)];
      const [width, height] = pick(sizes);
      const shiftKind = pick(SHIFT_KINDS);
      let shift = { dx: 0, dy: 0 };
      if (shiftKind !== 'none') {
        // Direction uniform, magnitude uniform in [1, maxShift] (Chebyshev), at least 1 px.
        const mag = 1 + rnd() * (maxShift - 1);
        const angle = rnd() * 2 * Math.PI;
        let dx = Math.cos(angle);
        let dy = Math.sin(angle);
        const scale = mag / Math.max(Math.abs(dx), Math.abs(dy));
        dx *= scale;
        dy *= scale;
        shift = shiftKind === 'integer' ? { dx: Math.round(dx), dy: Math.round(dy) } : { dx: Math.round(dx * 100) / 100, dy: Math.round(dy * 100) / 100 };
        if (shiftKind === 'subpixel' && Number.isInteger(shift.dx) && Number.isInteger(shift.dy)) shift.dx += 0.5;
      }
      out.push({
        seed: seed * 1000 + k,
        width,
        height,
        background: pick(BACKGROUNDS),
        slanted: pick([false, true]),
        thin: pick([false, true, true]),
        depthNoise: pick([0, 1, 3]),
        colourNoise: pick([0, 3, 8]),
        holes: pick(HOLES),
        shiftKind,
        shift,
      });
    }
  }
  return out;
}

const hash3 = (x: number, y: number, z: number) => {
  let h = (Math.imul(x | 0, 73856093) ^ Math.imul(y | 0, 19349663) ^ Math.imul(z | 0, 83492791)) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 1274126177) >>> 0;
  return (h & 0xffff) / 0xffff;
};

/** Fine random texture: every `cell` metres a new grey-tinted colour. */
const speckle = (cell: number, base: Vec3, amount: number): Texture => (p) => {
  const v = hash3(Math.floor(p[0] / cell), Math.floor(p[1] / cell), Math.floor(p[2] / cell)) - 0.5;
  return [base[0] + v * amount, base[1] + v * amount, base[2] + v * amount];
};

function colour(rnd: () => number): Vec3 {
  return [40 + rnd() * 200, 40 + rnd() * 200, 40 + rnd() * 200];
}

function backgroundTexture(kind: Background, rnd: () => number, axes: [number, number], axis: number): Texture {
  const c1 = colour(rnd);
  const c2 = colour(rnd);
  if (kind === 'plain') return plain(c1);
  if (kind === 'checker') return checker(0.15 + rnd() * 0.35, c1, c2, axes);
  if (kind === 'stripes') return stripes(0.08 + rnd() * 0.25, c1, c2, axis);
  return speckle(0.02 + rnd() * 0.04, c1, 120);
}

function scene(p: RegistrationCaseParams, rnd: () => number): { shapes: Shape[]; eye: Vec3; target: Vec3 } {
  const shapes: Shape[] = [
    plane([0, 1, 0], 0, backgroundTexture(p.background, rnd, [0, 2], 0)),
    plane([0, 0, -1], -6, backgroundTexture(p.background, rnd, [0, 1], 0)),
    plane([1, 0, 0], -3.5, backgroundTexture(p.background, rnd, [1, 2], 2)),
    plane([-1, 0, 0], -3.5, backgroundTexture(p.background, rnd, [1, 2], 2)),
  ];
  if (p.slanted) {
    // A wall turned 60-75 degrees away from the camera, crossing the view.
    const a = (60 + rnd() * 15) * (Math.PI / 180) * (rnd() < 0.5 ? -1 : 1);
    const n: Vec3 = [Math.sin(a), 0, -Math.cos(a)];
    const at: Vec3 = [(rnd() - 0.5) * 1.5, 0, 4 + rnd()];
    shapes.push(plane(n, n[0] * at[0] + n[2] * at[2], backgroundTexture(p.background, rnd, [1, 2], 1)));
  }
  const objects = 2 + Math.floor(rnd() * 4);
  for (let k = 0; k < objects; k++) {
    const c1 = colour(rnd);
    const c2 = colour(rnd);
    const x = -1.6 + rnd() * 3.2;
    const z = 1.6 + rnd() * 2.4;
    if (rnd() < 0.6) {
      const sx = 0.2 + rnd() * 0.5;
      const sy = 0.3 + rnd() * 1.1;
      const sz = 0.2 + rnd() * 0.5;
      shapes.push(box([x, 0, z], [x + sx, sy, z + sz], rnd() < 0.5 ? plain(c1) : checker(0.08 + rnd() * 0.1, c1, c2, [0, 1])));
    } else {
      const r = 0.15 + rnd() * 0.3;
      shapes.push(sphere([x, r + rnd() * 0.5, z], r, rnd() < 0.5 ? plain(c1) : stripes(0.06 + rnd() * 0.05, c1, c2, 1)));
    }
  }
  if (p.thin) {
    const poles = 2 + Math.floor(rnd() * 3);
    for (let k = 0; k < poles; k++) {
      const x = -1.8 + rnd() * 3.6;
      const z = 1.5 + rnd() * 3;
      const w = 0.012 + rnd() * 0.03;
      shapes.push(box([x, 0, z], [x + w, 1.2 + rnd() * 1.2, z + w], plain(colour(rnd))));
    }
  }
  // A slanted view looks down at the floor from low, so it is seen at a grazing angle.
  const eye: Vec3 = [(rnd() - 0.5) * 0.8, p.slanted ? 0.5 + rnd() * 0.2 : 1.1 + rnd() * 0.4, -0.6];
  const target: Vec3 = [(rnd() - 0.5) * 0.8, p.slanted ? 0.25 : 0.5 + rnd() * 0.3, 3];
  return { shapes, eye, target };
}

/** Standard normal from two uniforms (Box-Muller). */
function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

export function renderRegistrationCase(p: RegistrationCaseParams): RegistrationCase {
  const rnd = mulberry32(p.seed);
  const { width, height } = p;
  const { shapes, eye, target } = scene(p, rnd);
  const frame = render(shapes, eye, target, width, height, p.shift);
  const rgb = new Uint8Array(frame.rgb);
  if (p.colourNoise > 0) for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, Math.round(rgb[i] + gaussian(rnd) * p.colourNoise)));
  const depth = new Uint16Array(width * height);
  for (let i = 0; i < depth.length; i++) {
    const z = frame.depth[i];
    if (z <= 0 || z > 8) continue;
    depth[i] = Math.max(1, Math.min(65535, Math.round((z + gaussian(rnd) * 0.001 * p.depthNoise * z * z) * 1000)));
  }
  if (p.holes !== 'none') punchHoles(depth, width, height, rnd, p.holes === 'shadows');
  return { params: p, rgb: { width, height, data: rgb }, depth: { width, height, data: depth } };
}

/** Blobs of missing depth; with `shadows`, also a band of missing depth beside every jump, on its far side. */
function punchHoles(depth: Uint16Array, width: number, height: number, rnd: () => number, shadows: boolean): void {
  if (shadows) {
    // Structured light leaves no measurement where the projector's view is blocked: to one side
    // (here, the right) of a near object, on the farther surface.
    const band = Math.max(2, Math.round(width / 160 + rnd() * 3));
    const src = Uint16Array.from(depth);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x + 1 < width; x++) {
        const a = src[y * width + x];
        const b = src[y * width + x + 1];
        if (a === 0 || b === 0 || b - a < 0.05 * a) continue;
        for (let k = 1; k <= band && x + k < width; k++) depth[y * width + x + k] = 0;
      }
    }
  }
  const blobs = 1 + Math.floor(rnd() * 5);
  for (let b = 0; b < blobs; b++) {
    const bx = rnd() * width;
    const by = rnd() * height;
    const rx = (0.02 + rnd() * 0.08) * width;
    const ry = (0.02 + rnd() * 0.08) * height;
    for (let y = Math.max(0, Math.floor(by - ry)); y < Math.min(height, Math.ceil(by + ry)); y++) {
      for (let x = Math.max(0, Math.floor(bx - rx)); x < Math.min(width, Math.ceil(bx + rx)); x++) {
        if (((x - bx) / rx) ** 2 + ((y - by) / ry) ** 2 <= 1) depth[y * width + x] = 0;
      }
    }
  }
}
