// Decode stage for image-caption items: reads the image, checks it, resizes and re-encodes it.
//
// Consumes ImageTextRaw (imageBytes, or imagePath on disk). Emits ImageTextSample with the
// stored bytes, their sha256 and both the stored and the original size. Drops, at stage `decode`:
//   read_failed      the file cannot be read (missing, unreadable), or there is nothing to read
//   empty_file       zero bytes
//   not_image        leading bytes are no known raster format (an HTML page saved as .jpg)
//   too_many_pixels  width x height from the header exceeds max_pixels (decompression bombs)
//   too_small        shorter side below min_side
//   aspect_ratio     long/short side above max_aspect_ratio
//   decode_failed    truncated or corrupt pixel data, or a header sharp cannot read
//
// Resize modes follow img2dataset's resizer (resize_only_if_bigger off, the default there):
//   none         keep the decoded size
//   keep_ratio   scale so the SHORTER side is image_size, aspect kept (img2dataset's
//                SmallestMaxSize; its "keep_ratio_largest" is the longest-side variant)
//   center_crop  shorter side to image_size, then the central image_size x image_size square
//   border       longer side to image_size, then pad to a centred square with border_color
// Like img2dataset, images are scaled up as well as down, EXIF orientation is applied first and
// transparency is flattened onto white.
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { DecodeConfig } from '../../schemas/config.ts';
import type { ImageTextRaw, ImageTextSample } from '../../schemas/image-text.ts';
import { drop, isDrop, mapStage, errorMessage, type Drop, type Stage } from '../../pipeline/stage.ts';
import { describeLeadingBytes, sniffImageFormat, type ImageFormat } from './image-sniff.ts';

export interface DecodedImage {
  bytes: Buffer;
  /** sha256 hex of `bytes`. */
  sha256: string;
  width: number;
  height: number;
  /** Size of the source image after EXIF orientation, before resizing. */
  originalWidth: number;
  originalHeight: number;
  sourceFormat: ImageFormat;
}

// 'truncated' rejects cut-off or corrupt pixel data but keeps images whose decoder merely
// warns (e.g. stray bytes between JPEG markers), which are common on the web and decode fine.
const FAIL_ON = 'truncated' as const;

export function imageDecodeStage(cfg: DecodeConfig, concurrency: number): Stage<ImageTextRaw, ImageTextSample> {
  return mapStage<ImageTextRaw, ImageTextSample>('decode', (item) => decodeImageText(item, cfg), {
    concurrency,
    errorReason: 'decode_failed',
  });
}

export async function decodeImageText(item: ImageTextRaw, cfg: DecodeConfig): Promise<ImageTextSample | Drop> {
  const bytes = await readImageBytes(item);
  if (isDrop(bytes)) return bytes;
  const decoded = await decodeImage(bytes, cfg);
  if (isDrop(decoded)) return decoded;
  const sample: ImageTextSample = {
    id: item.id,
    kind: item.kind,
    source: item.source,
    caption: item.caption,
    image: { bytes: decoded.bytes, path: item.url ?? (item.imagePath ? path.basename(item.imagePath) : item.source) },
    width: decoded.width,
    height: decoded.height,
    originalWidth: decoded.originalWidth,
    originalHeight: decoded.originalHeight,
    sha256: decoded.sha256,
  };
  if (item.url !== undefined) sample.url = item.url;
  if (item.extra !== undefined) sample.extra = item.extra;
  if (item.fetched !== undefined) sample.fetched = item.fetched;
  return sample;
}

async function readImageBytes(item: ImageTextRaw): Promise<Uint8Array | Drop> {
  if (item.imageBytes) return item.imageBytes;
  if (!item.imagePath) return drop('read_failed', `no image bytes and no image path${item.url ? ` (url ${item.url} was not fetched)` : ''}`);
  try {
    return await readFile(item.imagePath);
  } catch (err) {
    return drop('read_failed', `${path.basename(item.imagePath)}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/** Check, resize and re-encode one image held in memory. */
export async function decodeImage(bytes: Uint8Array, cfg: DecodeConfig): Promise<DecodedImage | Drop> {
  if (bytes.length === 0) return drop('empty_file', '0 bytes');
  const sourceFormat = sniffImageFormat(bytes);
  if (!sourceFormat) return drop('not_image', `${describeLeadingBytes(bytes)} (${bytes.length} bytes)`);

  // The header alone gives the size: a 100000 x 100000 PNG is rejected before any pixel exists.
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
    width = meta.autoOrient?.width ?? meta.width;
    height = meta.autoOrient?.height ?? meta.height;
  } catch (err) {
    return drop('decode_failed', `cannot read ${sourceFormat} header: ${errorMessage(err)}`);
  }
  if (!(width > 0 && height > 0)) return drop('decode_failed', `${sourceFormat} header gives size ${width}x${height}`);
  const pixels = width * height;
  if (pixels > cfg.max_pixels) return drop('too_many_pixels', `${width}x${height} = ${pixels} pixels > max_pixels ${cfg.max_pixels}`);
  const shorter = Math.min(width, height);
  if (shorter < cfg.min_side) return drop('too_small', `shorter side ${shorter} px (${width}x${height}) < min_side ${cfg.min_side}`);
  const ratio = Math.max(width, height) / shorter;
  if (ratio > cfg.max_aspect_ratio) {
    return drop('aspect_ratio', `aspect ratio ${ratio.toFixed(2)} (${width}x${height}) > max_aspect_ratio ${cfg.max_aspect_ratio}`);
  }

  try {
    // limitInputPixels repeats the check above inside libvips, in case a header lied to metadata().
    const pipeline = sharp(bytes, { failOn: FAIL_ON, limitInputPixels: cfg.max_pixels, autoOrient: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb');
    resize(pipeline, cfg, width, height);
    if (cfg.encode_format === 'webp') pipeline.webp({ quality: cfg.encode_quality });
    else pipeline.jpeg({ quality: cfg.encode_quality });
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return {
      bytes: data,
      sha256: createHash('sha256').update(data).digest('hex'),
      width: info.width,
      height: info.height,
      originalWidth: width,
      originalHeight: height,
      sourceFormat,
    };
  } catch (err) {
    return drop('decode_failed', `${sourceFormat}: ${truncationOf(bytes, sourceFormat) ?? errorMessage(err)}`);
  }
}

/**
 * libvips reports errors through a shared buffer, so under concurrency the same corrupt file
 * can come back as "Unknown error". Where the container's own end marker is missing, say that
 * instead: the detail then depends only on the bytes.
 */
function truncationOf(bytes: Uint8Array, format: string): string | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--; // zero padding after the marker is harmless
  if (format === 'jpeg' && !(bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9)) return 'truncated: no end-of-image marker';
  if (format === 'png' && Buffer.from(bytes.subarray(Math.max(0, end - 8), end - 4)).toString('latin1') !== 'IEND') return 'truncated: no IEND chunk';
  return undefined;
}

function resize(pipeline: Sharp, cfg: DecodeConfig, width: number, height: number): void {
  const size = cfg.image_size;
  switch (cfg.resize_mode) {
    case 'none':
      return;
    case 'keep_ratio':
      pipeline.resize(width <= height ? { width: size } : { height: size });
      return;
    case 'center_crop':
      pipeline.resize({ width: size, height: size, fit: 'cover', position: 'centre' });
      return;
    case 'border': {
      const [r, g, b] = cfg.border_color;
      pipeline.resize({ width: size, height: size, fit: 'contain', position: 'centre', background: { r, g, b, alpha: 1 } });
      return;
    }
  }
}
