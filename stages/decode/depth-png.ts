// 16-bit single-channel depth PNGs, the storage format of TUM RGB-D, SUN RGB-D and weft's
// output depth column. sharp reads and writes them as long as the pixel format is said out
// loud: a Uint16Array input plus the grey16 colour space, and `raw({ depth: 'ushort' })` out.
import sharp, { type Metadata } from 'sharp';
import { DropError } from '../../core/stage.ts';

/** A depth map in the units of its source (divide by the depth scale to get metres); 0 = missing. */
export interface DepthMap {
  width: number;
  height: number;
  data: Uint16Array;
}

/**
 * Decode a 16-bit grey PNG. Throws DropError `depth_not_16bit` for an 8-bit PNG (a common
 * mistake: a visualisation saved instead of the measurement) and `decode_failed` for bytes that
 * are not a readable PNG.
 */
export async function decodeDepthPng(bytes: Uint8Array): Promise<DepthMap> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new DropError('decode_failed', `depth: ${(err as Error).message}`);
  }
  if (meta.format !== 'png') throw new DropError('decode_failed', `depth: expected PNG, got ${meta.format}`);
  if (meta.depth !== 'ushort') throw new DropError('depth_not_16bit', `depth PNG has ${meta.depth} samples, expected 16-bit`);
  if (meta.channels !== 1) throw new DropError('decode_failed', `depth PNG has ${meta.channels} channels, expected 1`);
  try {
    const { data, info } = await sharp(bytes, { failOn: 'truncated' })
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    // sharp's raw output is in host byte order, in a Buffer of its own: the samples are read in
    // place when it is 2-byte aligned (it always was in practice), and copied once otherwise.
    const n = info.width * info.height;
    if (data.byteLength < 2 * n) throw new Error(`raw output holds ${data.byteLength} bytes, expected ${2 * n}`);
    if (data.byteOffset % 2 === 0) return { width: info.width, height: info.height, data: new Uint16Array(data.buffer, data.byteOffset, n) };
    const values = new Uint16Array(n);
    new Uint8Array(values.buffer).set(data.subarray(0, 2 * n));
    return { width: info.width, height: info.height, data: values };
  } catch (err) {
    throw new DropError('decode_failed', `depth: ${(err as Error).message}`);
  }
}

/** Encode a depth map as a lossless 16-bit grey PNG. */
export async function encodeDepthPng(depth: DepthMap): Promise<Uint8Array> {
  const buf = await sharp(depth.data, { raw: { width: depth.width, height: depth.height, channels: 1 } })
    .toColourspace('grey16')
    .png({ compressionLevel: 6 })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * SUN RGB-D stores depth with its 16 bits rotated right by 3: the reader rotates them back,
 * `(d >> 3) | (d << 13)`, which yields millimetres.
 */
export function sunrgbdDecodeBits(stored: Uint16Array): Uint16Array {
  const out = new Uint16Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const d = stored[i];
    out[i] = ((d >> 3) | (d << 13)) & 0xffff;
  }
  return out;
}

/** Inverse of sunrgbdDecodeBits: what SUN RGB-D writes for a depth in millimetres. */
export function sunrgbdEncodeBits(millimetres: Uint16Array): Uint16Array {
  const out = new Uint16Array(millimetres.length);
  for (let i = 0; i < millimetres.length; i++) {
    const d = millimetres[i];
    out[i] = ((d << 3) | (d >> 13)) & 0xffff;
  }
  return out;
}
