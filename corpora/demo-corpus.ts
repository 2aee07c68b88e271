// Generates a small, fully known image-caption corpus: coloured shapes at named positions with
// sidecar captions describing them, a known fraction of captions swapped between images, and a
// handful of broken files that each must be rejected for a stated reason. truth.json records
// everything (boxes in pixels for grounding checks, swaps, expected rejects), so a run over the
// corpus can be scored against it.
//
//   node --import tsx scripts/make-demo-corpus.ts OUT_DIR [--count N] [--seed N] [--swap-fraction F] [--size PX]
//
// Output: OUT_DIR/images/ (the folder to point an image_text source at) and OUT_DIR/truth.json.
// The same options give byte-identical output.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import pLimit from 'p-limit';
import { mulberry32 } from '../core/random.ts';

export interface DemoCorpusOptions {
  /** Good images to generate (default 240). */
  count?: number;
  /** Fraction of good images whose caption is exchanged with another's (default 0.1). */
  swapFraction?: number;
  seed?: number;
  /** Side of the square images in pixels (default 128). */
  size?: number;
}

export interface ExpectedReject {
  /** Sample id as the folder source names it (file path without extension). */
  id: string;
  /** File name under images/ (the caption file for a caption without image). */
  file: string;
  stage: 'source' | 'caption' | 'decode';
  reason: string;
}

export interface DemoCorpusInfo {
  dir: string;
  imagesDir: string;
  truthPath: string;
  /** Good images generated. */
  count: number;
  /** Ids whose caption belongs to another image. */
  swapped: string[];
  bad: ExpectedReject[];
}

export interface DemoObject {
  shape: Shape;
  colour: Colour;
  size: 'small' | 'large';
  /** Grid position name: 'top left', 'top', ..., 'center', ..., 'bottom right'. */
  position: string;
  /** The phrase the caption uses for this object, e.g. 'large red circle'. */
  phrase: string;
  /** Pixel bounding box [xMin, yMin, xMax, yMax] in the generated image. */
  box: [number, number, number, number];
}

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond', 'hexagon'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLOURS = {
  red: '#e02424',
  green: '#2ca02c',
  blue: '#1f4fe0',
  yellow: '#f2d21b',
  purple: '#8e3cc7',
  orange: '#f57c14',
  pink: '#f06bb4',
  brown: '#8b5a2b',
} as const;
export type Colour = keyof typeof COLOURS;

const BACKGROUNDS = { white: '#ffffff', 'light grey': '#e9e9e9', cream: '#f6f0e0' } as const;
type Background = keyof typeof BACKGROUNDS;

const ROWS = ['top', 'middle', 'bottom'] as const;
const COLS = ['left', 'center', 'right'] as const;
/** Cell centres as a fraction of the side; cells are far enough apart that objects never overlap. */
const CELL_CENTRE = [0.2, 0.5, 0.8];
const RADIUS = { small: 0.08, large: 0.14 };

export { mulberry32 };

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

interface Scene {
  background: Background;
  textured: boolean;
  objects: DemoObject[];
  /** Faint texture marks, precomputed so rendering needs no randomness. */
  marks: { x: number; y: number; r: number }[];
}

function positionName(row: number, col: number): string {
  if (row === 1 && col === 1) return 'center';
  if (row === 1) return COLS[col];
  if (col === 1) return ROWS[row];
  return `${ROWS[row]} ${COLS[col]}`;
}

function positionPhrase(rng: Rng, position: string): string {
  if (position === 'center') return pick(rng, ['in the center', 'in the middle']);
  if (position.includes(' ')) return pick(rng, [`in the ${position} corner`, `at the ${position}`]);
  if (position === 'left' || position === 'right') return pick(rng, [`on the ${position}`, `on the ${position} side`]);
  return pick(rng, [`at the ${position}`, `near the ${position}`]);
}

function withArticle(phrase: string): string {
  return /^[aeiou]/.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

function shapePoints(shape: Shape, cx: number, cy: number, r: number): [number, number][] {
  const ring = (n: number, radii: number[], start: number) =>
    Array.from({ length: n }, (_, i): [number, number] => {
      const angle = start + (2 * Math.PI * i) / n;
      const rr = r * radii[i % radii.length];
      return [cx + rr * Math.cos(angle), cy + rr * Math.sin(angle)];
    });
  switch (shape) {
    case 'circle':
      return ring(64, [1], 0);
    case 'square':
      return [[cx - 0.8 * r, cy - 0.8 * r], [cx + 0.8 * r, cy - 0.8 * r], [cx + 0.8 * r, cy + 0.8 * r], [cx - 0.8 * r, cy + 0.8 * r]];
    case 'triangle':
      return ring(3, [1], -Math.PI / 2);
    case 'star':
      return ring(10, [1, 0.45], -Math.PI / 2);
    case 'diamond':
      return [[cx, cy - r], [cx + 0.75 * r, cy], [cx, cy + r], [cx - 0.75 * r, cy]];
    case 'hexagon':
      return ring(6, [1], 0);
  }
}

function makeObject(rng: Rng, side: number, cell: number, taken: Set<string>): DemoObject {
  let shape: Shape;
  let colour: Colour;
  do {
    shape = pick(rng, SHAPES);
    colour = pick(rng, Object.keys(COLOURS) as Colour[]);
  } while (taken.has(`${colour} ${shape}`)); // two objects in one image never look alike
  taken.add(`${colour} ${shape}`);
  const size = rng() < 0.5 ? 'small' : 'large';
  const row = Math.floor(cell / 3);
  const col = cell % 3;
  const points = shapePoints(shape, CELL_CENTRE[col] * side, CELL_CENTRE[row] * side, RADIUS[size] * side);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const box: [number, number, number, number] = [
    Math.floor(Math.min(...xs)), Math.floor(Math.min(...ys)), Math.ceil(Math.max(...xs)), Math.ceil(Math.max(...ys)),
  ];
  // Size is left out of some phrases, as real captions often do.
  const phrase = rng() < 0.75 ? `${size} ${colour} ${shape}` : `${colour} ${shape}`;
  return { shape, colour, size, position: positionName(row, col), phrase, box };
}

function makeScene(rng: Rng, side: number): Scene {
  const cells = shuffle(rng, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const taken = new Set<string>();
  const objects = Array.from({ length: rng() < 0.6 ? 1 : 2 }, (_, i) => makeObject(rng, side, cells[i], taken));
  const textured = rng() < 0.35;
  const marks = textured
    ? Array.from({ length: 40 }, () => ({ x: Math.round(rng() * side), y: Math.round(rng() * side), r: 1 + Math.round(rng() * 2) }))
    : [];
  return { background: pick(rng, Object.keys(BACKGROUNDS) as Background[]), textured, objects, marks };
}

function describe(rng: Rng, scene: Scene): string {
  const [a, b] = scene.objects;
  const aPos = positionPhrase(rng, a.position);
  if (!b) {
    return pick(rng, [
      `${withArticle(a.phrase)} ${aPos}`,
      `${a.phrase} ${aPos}`,
      `a photo of ${withArticle(a.phrase)} ${aPos}`,
      `there is ${withArticle(a.phrase)} ${aPos}`,
      `${withArticle(a.phrase)} ${aPos} on a ${scene.background} background`,
    ]);
  }
  const bPos = positionPhrase(rng, b.position);
  return pick(rng, [
    `${withArticle(a.phrase)} ${aPos} and ${withArticle(b.phrase)} ${bPos}`,
    `${a.phrase} ${aPos} next to ${withArticle(b.phrase)}`,
    `${withArticle(a.phrase)} and ${withArticle(b.phrase)}`,
    `${a.phrase} ${aPos}, ${b.phrase} ${bPos}`,
    `two shapes: ${withArticle(a.phrase)} ${aPos} and ${withArticle(b.phrase)} ${bPos}`,
  ]);
}

function sceneSvg(scene: Scene, side: number): string {
  const fmt = (n: number) => n.toFixed(2);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}">`];
  parts.push(`<rect width="${side}" height="${side}" fill="${BACKGROUNDS[scene.background]}"/>`);
  for (const m of scene.marks) parts.push(`<circle cx="${m.x}" cy="${m.y}" r="${m.r}" fill="#000000" fill-opacity="0.06"/>`);
  for (const o of scene.objects) {
    const fill = COLOURS[o.colour];
    const { cx, cy, r } = objectGeometry(o, side);
    if (o.shape === 'circle') {
      parts.push(`<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(r)}" fill="${fill}"/>`);
    } else {
      const pts = shapePoints(o.shape, cx, cy, r).map(([x, y]) => `${fmt(x)},${fmt(y)}`).join(' ');
      parts.push(`<polygon points="${pts}" fill="${fill}"/>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

function objectGeometry(o: DemoObject, side: number): { cx: number; cy: number; r: number } {
  const row = o.position === 'center' || o.position === 'left' || o.position === 'right' ? 1 : o.position.startsWith('top') ? 0 : 2;
  const col = o.position.endsWith('left') ? 0 : o.position.endsWith('right') ? 2 : 1;
  return { cx: CELL_CENTRE[col] * side, cy: CELL_CENTRE[row] * side, r: RADIUS[o.size] * side };
}

async function renderScene(scene: Scene, side: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const img = sharp(Buffer.from(sceneSvg(scene, side)));
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 92 }).toBuffer();
}

/** A PNG whose (CRC-correct) header claims width x height, with almost no pixel data behind it. */
export function pngBombBytes(width = 100_000, height = 100_000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, adaptive filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const b of bytes) crc = crcTable[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const signature = (scene: Scene) => scene.objects.map((o) => `${o.colour} ${o.shape}`).sort().join('+');

/**
 * Picks `k` images and rotates their captions one step along a random cycle, so each gets
 * another's caption. Cycles where neighbours show the same objects are reshuffled, so every
 * swapped caption really is wrong for its image.
 */
function planSwaps(rng: Rng, scenes: Scene[], k: number): Map<number, number> {
  const donorOf = new Map<number, number>();
  if (k < 2) return donorOf;
  const chosen = shuffle(rng, scenes.map((_, i) => i)).slice(0, k);
  for (let attempt = 0; attempt < 50; attempt++) {
    const clash = chosen.some((idx, i) => signature(scenes[idx]) === signature(scenes[chosen[(i + 1) % k]]));
    if (!clash) break;
    shuffle(rng, chosen);
  }
  chosen.forEach((idx, i) => donorOf.set(idx, chosen[(i + 1) % k]));
  return donorOf;
}

export async function makeDemoCorpus(dir: string, opts: DemoCorpusOptions = {}): Promise<DemoCorpusInfo> {
  const count = opts.count ?? 240;
  const swapFraction = opts.swapFraction ?? 0.1;
  const seed = opts.seed ?? 1;
  const side = opts.size ?? 128;
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  if (!(swapFraction >= 0 && swapFraction <= 1)) throw new Error(`swapFraction must be in [0, 1], got ${swapFraction}`);
  if (!Number.isInteger(side) || side < 32) throw new Error(`size must be an integer >= 32, got ${side}`);

  const rng = mulberry32(seed);
  const imagesDir = path.join(dir, 'images');
  await rm(imagesDir, { recursive: true, force: true }); // only the folder this script owns
  await mkdir(imagesDir, { recursive: true });

  const ids = Array.from({ length: count }, (_, i) => `img-${String(i).padStart(5, '0')}`);
  const scenes = ids.map(() => makeScene(rng, side));
  const trueCaptions = scenes.map((s) => describe(rng, s));
  const donorOf = planSwaps(rng, scenes, Math.round(count * swapFraction));
  const formats = ids.map((_, i): 'jpeg' | 'png' => (i % 4 === 3 ? 'png' : 'jpeg'));
  const fileOf = (i: number) => `${ids[i]}.${formats[i] === 'png' ? 'png' : 'jpg'}`;

  const limit = pLimit(4);
  await Promise.all(
    ids.map((id, i) =>
      limit(async () => {
        const donor = donorOf.get(i);
        await writeFile(path.join(imagesDir, fileOf(i)), await renderScene(scenes[i], side, formats[i]));
        await writeFile(path.join(imagesDir, `${id}.txt`), `${trueCaptions[donor ?? i]}\n`);
      }),
    ),
  );

  // Broken inputs, each with the reject it must produce.
  const extraScene = () => makeScene(rng, side);
  const truncatedScene = extraScene();
  const noCaptionScene = extraScene();
  const blankCaptionScene = extraScene();
  const fullJpeg = await renderScene(truncatedScene, side, 'jpeg');
  const bad: (ExpectedReject & { write: [string, Buffer | string][]; objects?: DemoObject[] })[] = [
    { id: 'truncated', file: 'truncated.jpg', stage: 'decode', reason: 'decode_failed', objects: truncatedScene.objects,
      write: [['truncated.jpg', fullJpeg.subarray(0, fullJpeg.length >> 1)], ['truncated.txt', `${describe(rng, truncatedScene)}\n`]] },
    { id: 'empty', file: 'empty.jpg', stage: 'decode', reason: 'empty_file',
      write: [['empty.jpg', Buffer.alloc(0)], ['empty.txt', 'a small green star in the center\n']] },
    { id: 'not-an-image', file: 'not-an-image.jpg', stage: 'decode', reason: 'not_image',
      write: [['not-an-image.jpg', '<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n'], ['not-an-image.txt', 'a large blue square on the left\n']] },
    { id: 'bomb', file: 'bomb.png', stage: 'decode', reason: 'too_many_pixels',
      write: [['bomb.png', pngBombBytes()], ['bomb.txt', 'a large red circle in the middle\n']] },
    { id: 'no-caption', file: 'no-caption.jpg', stage: 'source', reason: 'caption_missing', objects: noCaptionScene.objects,
      write: [['no-caption.jpg', await renderScene(noCaptionScene, side, 'jpeg')]] },
    { id: 'blank-caption', file: 'blank-caption.jpg', stage: 'caption', reason: 'caption_missing', objects: blankCaptionScene.objects,
      write: [['blank-caption.jpg', await renderScene(blankCaptionScene, side, 'jpeg')], ['blank-caption.txt', '  \n\t \n']] },
    { id: 'orphan-caption', file: 'orphan-caption.txt', stage: 'source', reason: 'image_missing',
      write: [['orphan-caption.txt', 'a small purple triangle at the top\n']] },
  ];
  for (const b of bad) for (const [name, data] of b.write) await writeFile(path.join(imagesDir, name), data);

  const samples: Record<string, unknown> = {};
  ids.forEach((id, i) => {
    const donor = donorOf.get(i);
    samples[id] = {
      file: fileOf(i),
      caption: trueCaptions[donor ?? i],
      true_caption: trueCaptions[i],
      swapped: donor !== undefined,
      swapped_with: donor !== undefined ? ids[donor] : null,
      background: scenes[i].background,
      textured: scenes[i].textured,
      objects: scenes[i].objects,
    };
  });
  const swapped = ids.filter((_, i) => donorOf.has(i));
  const badOut = bad.map(({ write: _write, ...rest }) => rest);
  const truth = {
    generator: 'make-demo-corpus',
    seed,
    count,
    size: side,
    swap_fraction: swapFraction,
    box_format: '[x_min, y_min, x_max, y_max] in pixels of the generated image',
    swapped,
    samples,
    bad: badOut,
  };
  const truthPath = path.join(dir, 'truth.json');
  await writeFile(truthPath, JSON.stringify(truth, null, 2) + '\n');
  return { dir, imagesDir, truthPath, count, swapped, bad: badOut.map(({ id, file, stage, reason }) => ({ id, file, stage, reason })) };
}

export function parseArgs(argv: string[]): { dir: string; opts: DemoCorpusOptions } {
  const opts: DemoCorpusOptions = {};
  let dir: string | undefined;
  const number = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--count') opts.count = number(a, argv[++i]);
    else if (a === '--seed') opts.seed = number(a, argv[++i]);
    else if (a === '--swap-fraction') opts.swapFraction = number(a, argv[++i]);
    else if (a === '--size') opts.size = number(a, argv[++i]);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else if (dir === undefined) dir = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!dir) throw new Error('usage: make-demo-corpus.ts OUT_DIR [--count N] [--seed N] [--swap-fraction F] [--size PX]');
  return { dir, opts };
}
