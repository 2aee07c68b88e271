// Region blurring before an image is stored, as img2dataset's --bbox_col does for face boxes in
// DataComp-style metadata. Boxes come from a URL-list column as fractions of the original image,
// [[x_min, y_min, x_max, y_max], ...]; they are mapped through the resize (and the crop or
// padding) onto the stored pixels and blurred there, before the pixels are encoded or hashed,
// so no stored byte and no perceptual hash holds the unblurred region.
//
// The box column is parsed where the rows are read (stages/sources/blur-box-column.ts).
import sharp from 'sharp';

/** Where the original's pixels land in the stored image: scaled to `scaled`, then shifted by `offset` (crop < 0, padding > 0). */
export interface PixelMapping {
  scaled: { width: number; height: number };
  offset: { left: number; top: number };
  width: number;
  height: number;
}

/** A fractional box as whole stored pixels (rounded outwards, clipped); null when nothing of it is visible. */
export function boxToPixels(box: number[], m: PixelMapping): { left: number; top: number; width: number; height: number } | null {
  const [x0, y0, x1, y1] = box;
  const left = Math.max(0, Math.floor(x0 * m.scaled.width + m.offset.left));
  const top = Math.max(0, Math.floor(y0 * m.scaled.height + m.offset.top));
  const right = Math.min(m.width, Math.ceil(x1 * m.scaled.width + m.offset.left));
  const bottom = Math.min(m.height, Math.ceil(y1 * m.scaled.height + m.offset.top));
  if (right <= left || bottom <= top) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * Blurs each box of raw interleaved pixels in place: a Gaussian with sigma a quarter of the
 * box's longer side (at least 2 px), strong enough that a face is not recognisable. Returns
 * how many boxes were blurred (boxes wholly outside the stored image, e.g. cropped away, are not).
 */
export async function blurRegions(raw: Buffer, info: { width: number; height: number; channels: 1 | 2 | 3 | 4 }, boxes: number[][], mapping: PixelMapping): Promise<number> {
  let blurred = 0;
  for (const box of boxes) {
    const r = boxToPixels(box, mapping);
    if (!r) continue;
    const sigma = Math.max(2, Math.max(r.width, r.height) / 4);
    // Extract with a margin so the blur near the box edge sees real neighbours, not a mirror.
    const margin = Math.ceil(sigma * 2);
    const outer = {
      left: Math.max(0, r.left - margin),
      top: Math.max(0, r.top - margin),
      width: 0,
      height: 0,
    };
    outer.width = Math.min(info.width, r.left + r.width + margin) - outer.left;
    outer.height = Math.min(info.height, r.top + r.height + margin) - outer.top;
    const region = await sharp(raw, { raw: info }).extract(outer).blur(sigma).raw().toBuffer();
    const rowBytes = r.width * info.channels;
    for (let y = 0; y < r.height; y++) {
      const from = ((r.top - outer.top + y) * outer.width + (r.left - outer.left)) * info.channels;
      region.copy(raw, ((r.top + y) * info.width + r.left) * info.channels, from, from + rowBytes);
    }
    blurred += 1;
  }
  return blurred;
}
