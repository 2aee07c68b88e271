// Colour frames of RGB-D sources, decoded to interleaved 8-bit RGB for the registration check.
// PNG and JPEG go through sharp; PPM (NYU raw) through the strict Netpbm parser.
import sharp from 'sharp';
import { DropError } from '../../core/stage.ts';
import { parseNetpbm } from './netpbm.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major, R G B. */
  data: Uint8Array;
}

export function isNetpbmPath(path: string): boolean {
  return /\.(ppm|pgm|pnm)$/i.test(path);
}

/** Decode PNG/JPEG/PPM bytes; a corrupt or truncated file throws DropError `decode_failed`. */
export async function decodeRgb(bytes: Uint8Array, path: string): Promise<RgbImage> {
  if (isNetpbmPath(path)) {
    let img;
    try {
      img = parseNetpbm(bytes);
    } catch (err) {
      throw new DropError('decode_failed', `rgb: ${(err as Error).message}`);
    }
    if (img.channels !== 3) throw new DropError('decode_failed', `rgb: ${img.magic} is not a colour image`);
    if (img.data instanceof Uint8Array && img.maxval === 255) return { width: img.width, height: img.height, data: img.data };
    // Rescale other maxvals (including 16-bit PPM) to 8 bits.
    const data = new Uint8Array(img.data.length);
    for (let i = 0; i < data.length; i++) data[i] = Math.round((img.data[i] * 255) / img.maxval);
    return { width: img.width, height: img.height, data };
  }
  try {
    const { data, info } = await sharp(bytes, { failOn: 'truncated' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    throw new DropError('decode_failed', `rgb: ${(err as Error).message}`);
  }
}

/** Lossless PNG of an RGB frame (used when the source format is not one a dataset loader reads). */
export async function encodeRgbPng(image: RgbImage): Promise<Uint8Array> {
  const buf = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
