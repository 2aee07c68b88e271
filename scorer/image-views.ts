// Augmented views of a training image for a locked image tower: the frozen backbone cannot learn
// invariance to crops and mirroring, but the head can, if each epoch shows it the features of
// another view of the same drawing. A view is a random crop (a square fraction `scale` of each
// side, drawn from [minScale, 1], at a random position) scaled back to the image's size, mirrored
// left to right with probability `flip`. Deterministic: the draw is seeded by the image's sha256
// and the view's index, so the feature cache (keyed by the view's bytes) is reused across runs.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { seededRandom } from './onnx/random.ts';

export interface ViewOptions {
  /** Views per image (besides the image itself). */
  count: number;
  /** Smallest crop side, as a fraction of the image's side; 1: no crop. */
  minScale: number;
  /** Probability that a view is mirrored. */
  flip: number;
}

export interface ViewDraw {
  scale: number;
  /** Crop position, as fractions of the room left on each axis. */
  x: number;
  y: number;
  mirrored: boolean;
}

/** The crop and mirror of view `k` of the image with sha256 `sha`. */
export function viewDraw(sha: string, k: number, o: ViewOptions): ViewDraw {
  const random = seededRandom(parseInt(sha.slice(0, 8), 16) ^ Math.imul(k + 1, 0x9e3779b1));
  const scale = o.minScale + (1 - o.minScale) * random();
  return { scale, x: random(), y: random(), mirrored: random() < o.flip };
}

/** View `k` of an encoded image, as a PNG of the same size. */
export async function imageView(image: Uint8Array, k: number, o: ViewOptions): Promise<Uint8Array> {
  const sha = createHash('sha256').update(image).digest('hex');
  const d = viewDraw(sha, k, o);
  const { width, height } = await sharp(image).metadata();
  if (!width || !height) throw new Error('image without a size');
  const w = Math.max(1, Math.round(width * d.scale));
  const h = Math.max(1, Math.round(height * d.scale));
  let pipeline = sharp(image)
    .extract({ left: Math.round((width - w) * d.x), top: Math.round((height - h) * d.y), width: w, height: h })
    .resize(width, height, { kernel: 'cubic' });
  if (d.mirrored) pipeline = pipeline.flop();
  return new Uint8Array(await pipeline.png().toBuffer());
}
