// The web benches' inputs: distinct photo-like JPEGs cached on disk, and parquet URL lists.
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import parquet from 'parquetjs-lite';
import sharp from 'sharp';
import { mulberry32 } from '../../core/random.ts';

const WIDTH = 640;
const HEIGHT = 480;

export const IMAGE_CACHE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'generated', 'bench-web-jpeg');

/** Image i is the same bytes on every run. */
const prng = mulberry32;

/**
 * A photo-like JPEG: a two-colour gradient, a few filled rectangles and discs, and mild
 * per-pixel noise (so it compresses like a photo, not like flat clip art). Distinct per index.
 */
async function renderBenchImage(index: number): Promise<Buffer> {
  const random = prng(index * 7919 + 17);
  const colour = () => [random() * 255, random() * 255, random() * 255];
  const pixels = Buffer.alloc(WIDTH * HEIGHT * 3);
  const [from, to] = [colour(), colour()];
  const angle = random() * Math.PI * 2;
  const dx = Math.cos(angle) / WIDTH;
  const dy = Math.sin(angle) / HEIGHT;
  const shapes = Array.from({ length: 3 + Math.floor(random() * 4) }, () => ({
    disc: random() < 0.5,
    x: random() * WIDTH,
    y: random() * HEIGHT,
    r: 20 + random() * 120,
    colour: colour(),
  }));
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + (x - WIDTH / 2) * dx + (y - HEIGHT / 2) * dy));
      let c = [from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t, from[2] + (to[2] - from[2]) * t];
      for (const s of shapes) {
        const inside = s.disc ? (x - s.x) ** 2 + (y - s.y) ** 2 < s.r * s.r : Math.abs(x - s.x) < s.r && Math.abs(y - s.y) < s.r * 0.6;
        if (inside) c = s.colour;
      }
      const noise = (random() - 0.5) * 24;
      const o = (y * WIDTH + x) * 3;
      pixels[o] = c[0] + noise;
      pixels[o + 1] = c[1] + noise;
      pixels[o + 2] = c[2] + noise;
    }
  }
  return sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

export function benchImageName(index: number): string {
  return `${String(index).padStart(6, '0')}.jpg`;
}

/** Renders the images 0..count-1 that the cache folder lacks; returns their file names in order. */
export async function ensureBenchImages(folder: string, count: number): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const present = new Set(await readdir(folder));
  const names = Array.from({ length: count }, (_, i) => benchImageName(i));
  const limit = pLimit(Math.max(1, availableParallelism()));
  await Promise.all(
    names.map((name, i) =>
      present.has(name) ? undefined : limit(async () => {
        // Written under a temporary name first: a killed run must not leave a half image cached.
        const tmp = path.join(folder, `${name}.tmp`);
        await writeFile(tmp, await renderBenchImage(i));
        await rename(tmp, path.join(folder, name));
      }),
    ),
  );
  return names;
}

/** A parquet URL list of `urls` with a synthetic caption per row. */
export async function writeUrls(file: string, urls: string[]): Promise<void> {
  const schema = new parquet.ParquetSchema({ url: { type: 'UTF8' }, caption: { type: 'UTF8' } });
  const writer = await parquet.ParquetWriter.openFile(schema, file);
  for (const [i, url] of urls.entries()) {
    await writer.appendRow({ url, caption: `synthetic photo number ${i} with coloured shapes on a gradient` });
  }
  await writer.close();
}

