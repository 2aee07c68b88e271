// Decode stage for image-caption items: reads the image, checks it, resizes and re-encodes it.
//
// Consumes ImageTextRaw (imageBytes, or imagePath on disk). Emits ImageTextSample with the
// stored bytes, their sha256 and both the stored and the original size. Drops, at stage `decode`:
//   read_failed      the file cannot be read (missing, unreadable), or there is nothing to read
//   empty_file       zero bytes
//   not_image        leading bytes are no known raster format (an HTML page saved as .jpg);
//                    the detail names what they look like, never the bytes
//   unsupported_format  a raster format the installed sharp cannot decode (BMP, HEIC)
//   not_regular_file, too_large   a local file that is no regular file, or above max_file_bytes
//   too_many_pixels  width x height from the header exceeds max_pixels (decompression bombs)
//   too_small        shorter side below min_side
//   aspect_ratio     long/short side above max_aspect_ratio
//   decode_failed    truncated or corrupt pixel data, or a header sharp cannot read
//
// Resize modes follow img2dataset's resizer:
//   none                keep the decoded size
//   keep_ratio          scale so the SHORTER side is image_size, aspect kept (img2dataset's
//                       SmallestMaxSize)
//   keep_ratio_largest  scale so the LONGER side is image_size, aspect kept
//   center_crop         shorter side to image_size, then the central image_size x image_size square
//   border              longer side to image_size, then pad to a centred square with border_color
// Like img2dataset, images are scaled up as well as down unless resize_only_if_bigger is set,
// EXIF orientation is applied first and transparency is flattened onto white. With
// skip_reencode, an image that none of that would change, already in encode_format, is
// stored as it came.
//
// The resized pixels are held raw once, then encoded, and their perceptual hash is computed
// from them (`pixelHash`, read by the phash stage), so no later stage decodes the image again.
// Blur boxes (a URL list's bbox_column, fractions of the image after EXIF orientation) are
// blurred in those raw pixels first (blur-boxes.ts). Optionally the original's EXIF
// (extract_exif, exif.ts) and a hash of the original bytes (original_hash) are kept.
import { createHash } from 'node:crypto';
import path from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { DecodeConfig } from '../../schemas/config.ts';
import type { ImageTextRaw, ImageTextSample } from '../../schemas/image-text.ts';
import { drop, isDrop, isReadFailure, mapStage, errorMessage, readFailure, type Drop, type Stage } from '../../core/stage.ts';
import { decodableBySharp, describeLeadingBytes, sniffImageFormat, type ImageFormat } from './image-sniff.ts';
import { readFileBounded } from '../sources/bounded-read.ts';
import { perceptualHashOfPixels, type PixelHashed } from './pixel-hash.ts';
import { exifJson } from './exif.ts';
import { blurRegions, type PixelMapping } from './blur-boxes.ts';

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
  /** `original`: the input bytes are stored as they came (skip_reencode). */
  stored: 'reencoded' | 'original';
  /** pHash of the stored pixels before encoding; absent for outputs too large to hold raw
   *  (the phash stage then decodes the stored bytes). */
  pixelHash?: bigint;
  /** decode.extract_exif: the original's EXIF as JSON, null when it had none or it was unreadable. */
  exif?: string | null;
  /** The EXIF block was there but could not be parsed (the image itself is fine). */
  exifUnreadable?: boolean;
  /** decode.original_hash of the input bytes. */
  originalHash?: string;
  /** Blur boxes applied to the stored pixels (those visible after a crop). */
  blurredBoxes?: number;
}

/** A decoded sample, with the pixel hash for the phash stage when there is one. */
export type DecodedImageTextSample = ImageTextSample & PixelHashed;

/** Cap on a local image read when the source set none (source.max_file_bytes). */
const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Outputs above this many pixels are encoded straight from the decoder, never held raw. */
const MAX_RAW_OUTPUT_PIXELS = 4 * 1024 * 1024;
/** An original kept as it came is hashed from a copy at most this many pixels on a side. */
const HASHED_SIDE_LIMIT = 512;

// 'truncated' rejects cut-off or corrupt pixel data but keeps images whose decoder merely
// warns (e.g. stray bytes between JPEG markers), which are common on the web and decode fine.
const FAIL_ON = 'truncated' as const;

/** Counts `decode/kept_original_bytes` per image stored as it came (skip_reencode). */
export function imageDecodeStage(cfg: DecodeConfig, concurrency: number): Stage<ImageTextRaw, DecodedImageTextSample> {
  return mapStage<ImageTextRaw, DecodedImageTextSample>(
    'decode',
    async (item, ctx) => {
      const bytes = await readImageBytes(item);
      if (isDrop(bytes)) return bytes;
      const decoded = await decodeImage(bytes, cfg, item.blurBoxes);
      if (isDrop(decoded)) return decoded;
      if (decoded.stored === 'original') ctx.stats.count('decode', 'kept_original_bytes');
      if (decoded.exifUnreadable) ctx.stats.count('decode', 'exif_unreadable');
      if (decoded.blurredBoxes) ctx.stats.count('decode', 'blurred_boxes', decoded.blurredBoxes);
      return toSample(item, decoded);
    },
    { concurrency, errorReason: 'decode_failed' },
  );
}

export async function decodeImageText(item: ImageTextRaw, cfg: DecodeConfig): Promise<DecodedImageTextSample | Drop> {
  const bytes = await readImageBytes(item);
  if (isDrop(bytes)) return bytes;
  const decoded = await decodeImage(bytes, cfg, item.blurBoxes);
  return isDrop(decoded) ? decoded : toSample(item, decoded);
}

function toSample(item: ImageTextRaw, decoded: DecodedImage): DecodedImageTextSample {
  const sample: DecodedImageTextSample = {
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
  if (item.lang !== undefined) sample.lang = item.lang;
  if (item.langConfidence !== undefined) sample.langConfidence = item.langConfidence;
  if (decoded.pixelHash !== undefined) sample.pixelHash = decoded.pixelHash;
  if (decoded.exif !== undefined) sample.exif = decoded.exif;
  if (decoded.originalHash !== undefined) sample.originalHash = decoded.originalHash;
  if (decoded.blurredBoxes !== undefined) sample.blurredBoxes = decoded.blurredBoxes;
  return sample;
}

async function readImageBytes(item: ImageTextRaw): Promise<Uint8Array | Drop> {
  if (item.imageBytes) return item.imageBytes;
  if (!item.imagePath) return drop('read_failed', `no image bytes and no image path${item.url ? ` (url ${item.url} was not fetched)` : ''}`);
  try {
    const read = await readFileBounded(item.imagePath, item.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, path.basename(item.imagePath));
    return 'bytes' in read ? read.bytes : drop(read.reason, read.detail);
  } catch (err) {
    // Missing, unreadable, I/O error: fails the unit (retried on rerun), never a permanent reject.
    if (isReadFailure(err)) throw readFailure(item.imagePath, err);
    return drop('read_failed', `${path.basename(item.imagePath)}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/** Check, resize and re-encode one image held in memory, blurring `blurBoxes` (fractions of the original) first. */
export async function decodeImage(bytes: Uint8Array, cfg: DecodeConfig, blurBoxes: number[][] = []): Promise<DecodedImage | Drop> {
  const decoded = await decodeChecked(bytes, cfg, blurBoxes);
  if (isDrop(decoded)) return decoded;
  if (cfg.original_hash !== 'none') decoded.originalHash = createHash(cfg.original_hash).update(bytes).digest('hex');
  return decoded;
}

async function decodeChecked(bytes: Uint8Array, cfg: DecodeConfig, blurBoxes: number[][]): Promise<DecodedImage | Drop> {
  if (bytes.length === 0) return drop('empty_file', '0 bytes');
  const sourceFormat = sniffImageFormat(bytes);
  if (!sourceFormat) return drop('not_image', `${describeLeadingBytes(bytes)} (${bytes.length} bytes)`);
  if (!decodableBySharp(sourceFormat, sharp.format as never)) return drop('unsupported_format', `${sourceFormat} is not decodable by the installed image library`);

  // The header alone gives the size: a 100000 x 100000 PNG is rejected before any pixel exists.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (err) {
    return drop('decode_failed', `cannot read ${sourceFormat} header: ${errorMessage(err)}`);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!(width > 0 && height > 0)) return drop('decode_failed', `${sourceFormat} header gives size ${width}x${height}`);
  const pixels = width * height;
  if (pixels > cfg.max_pixels) return drop('too_many_pixels', `${width}x${height} = ${pixels} pixels > max_pixels ${cfg.max_pixels}`, { value: pixels, threshold: cfg.max_pixels });
  const shorter = Math.min(width, height);
  if (shorter < cfg.min_side) return drop('too_small', `shorter side ${shorter} px (${width}x${height}) < min_side ${cfg.min_side}`, { value: shorter, threshold: cfg.min_side });
  const ratio = Math.max(width, height) / shorter;
  if (ratio > cfg.max_aspect_ratio) {
    return drop('aspect_ratio', `aspect ratio ${ratio.toFixed(2)} (${width}x${height}) > max_aspect_ratio ${cfg.max_aspect_ratio}`, { value: ratio, threshold: cfg.max_aspect_ratio });
  }

  const geometry = planGeometry(cfg, width, height);
  const original = { width, height, sourceFormat, ...exifOf(meta, cfg) };
  const blurring = blurBoxes.length > 0;
  if (cfg.skip_reencode && !blurring && geometry.unchanged && storableAsIs(meta, sourceFormat, cfg)) {
    // Decoded in full all the same: a truncated original must not be stored on the strength of
    // its header, and the pixels give the perceptual hash.
    try {
      const check = sharp(bytes, { failOn: FAIL_ON, limitInputPixels: cfg.max_pixels });
      if (Math.max(width, height) > HASHED_SIDE_LIMIT) check.resize(HASHED_SIDE_LIMIT, HASHED_SIDE_LIMIT, { fit: 'inside', fastShrinkOnLoad: false });
      const raw = await check.raw().toBuffer({ resolveWithObject: true });
      const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return { ...stored(data, width, height, original), stored: 'original', pixelHash: perceptualHashOfPixels(raw.data, raw.info.width, raw.info.height, raw.info.channels) };
    } catch (err) {
      return drop('decode_failed', `${sourceFormat}: ${truncationOf(bytes, sourceFormat) ?? errorMessage(err)}`);
    }
  }

  try {
    // limitInputPixels repeats the check above inside libvips, in case a header lied to metadata().
    const pipeline = sharp(bytes, { failOn: FAIL_ON, limitInputPixels: cfg.max_pixels, autoOrient: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb');
    applyGeometry(pipeline, geometry, cfg);
    if (!blurring && geometry.width * geometry.height > MAX_RAW_OUTPUT_PIXELS) {
      const { data, info } = await encode(pipeline, cfg).toBuffer({ resolveWithObject: true });
      return { ...stored(data, info.width, info.height, original), stored: 'reencoded' };
    }
    const raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
    const { width: w, height: h, channels } = raw.info;
    const blurred = blurring ? await blurRegions(raw.data, { width: w, height: h, channels }, blurBoxes, pixelMapping(geometry, w, h)) : undefined;
    const data = await encode(sharp(raw.data, { raw: { width: w, height: h, channels } }), cfg).toBuffer();
    const hashed = w * h <= MAX_RAW_OUTPUT_PIXELS ? { pixelHash: perceptualHashOfPixels(raw.data, w, h, channels) } : {};
    return { ...stored(data, w, h, original), stored: 'reencoded', ...hashed, ...(blurred !== undefined ? { blurredBoxes: blurred } : {}) };
  } catch (err) {
    return drop('decode_failed', `${sourceFormat}: ${truncationOf(bytes, sourceFormat) ?? errorMessage(err)}`);
  }
}

interface OriginalFacts {
  width: number;
  height: number;
  sourceFormat: ImageFormat;
  exif?: string | null;
  exifUnreadable?: boolean;
}

function stored(data: Buffer, width: number, height: number, original: OriginalFacts): Omit<DecodedImage, 'stored'> {
  return {
    bytes: data,
    sha256: createHash('sha256').update(data).digest('hex'),
    width,
    height,
    originalWidth: original.width,
    originalHeight: original.height,
    sourceFormat: original.sourceFormat,
    ...(original.exif !== undefined ? { exif: original.exif } : {}),
    ...(original.exifUnreadable ? { exifUnreadable: true } : {}),
  };
}

/** decode.extract_exif: the EXIF fields of a sample, from the header already read. */
function exifOf(meta: Metadata, cfg: DecodeConfig): { exif?: string | null; exifUnreadable?: boolean } {
  if (!cfg.extract_exif) return {};
  try {
    return { exif: exifJson(meta.exif) };
  } catch {
    return { exif: null, exifUnreadable: true };
  }
}

/** How original pixels map onto the stored image under a geometry (for blur boxes). */
function pixelMapping(g: Geometry, width: number, height: number): PixelMapping {
  const scaled = g.scaleTo ?? g.decoded;
  // center_crop takes the centre (negative offset); border pads around the centre (positive).
  const centre = (out: number, inner: number) => (out >= inner ? Math.floor((out - inner) / 2) : -Math.floor((inner - out) / 2));
  return { scaled, offset: { left: centre(width, scaled.width), top: centre(height, scaled.height) }, width, height };
}

function encode(pipeline: Sharp, cfg: DecodeConfig): Sharp {
  if (cfg.encode_format === 'webp') return pipeline.webp({ quality: cfg.encode_quality });
  if (cfg.encode_format === 'png') return pipeline.png();
  return pipeline.jpeg({ quality: cfg.encode_quality });
}

/** True when storing the input bytes as they are gives what re-encoding would, bar compression. */
function storableAsIs(meta: Metadata, sourceFormat: ImageFormat, cfg: DecodeConfig): boolean {
  return (
    sourceFormat === cfg.encode_format &&
    (meta.orientation === undefined || meta.orientation === 1) &&
    !meta.hasAlpha &&
    (meta.space === 'srgb' || meta.space === 'b-w') &&
    (meta.pages ?? 1) === 1
  );
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

/** What the resize mode does to a width x height image: the scale step and the final size. */
interface Geometry {
  /** Scale to this size first (aspect kept), or undefined to keep the decoded size. */
  scaleTo?: { width: number; height: number };
  /** Then crop (centred) or pad (centred, border_color) to this size. */
  width: number;
  height: number;
  /** The size before any of this (after EXIF orientation). */
  decoded: { width: number; height: number };
  unchanged: boolean;
}

function planGeometry(cfg: DecodeConfig, width: number, height: number): Geometry {
  const size = cfg.image_size;
  const decoded = { width, height };
  const keep = (): Geometry => ({ width, height, decoded, unchanged: true });
  const scaled = (factor: number) => ({ width: Math.max(1, Math.round(width * factor)), height: Math.max(1, Math.round(height * factor)) });
  const shorter = Math.min(width, height);
  const longer = Math.max(width, height);
  // resize_only_if_bigger: the side the mode scales must be above image_size to be scaled.
  const mayScale = (side: number) => side !== size && (!cfg.resize_only_if_bigger || side > size);
  switch (cfg.resize_mode) {
    case 'none':
      return keep();
    case 'keep_ratio':
      if (!mayScale(shorter)) return keep();
      return { scaleTo: scaled(size / shorter), ...scaled(size / shorter), decoded, unchanged: false };
    case 'keep_ratio_largest':
      if (!mayScale(longer)) return keep();
      return { scaleTo: scaled(size / longer), ...scaled(size / longer), decoded, unchanged: false };
    case 'center_crop': {
      const scaleTo = mayScale(shorter) ? scaled(size / shorter) : undefined;
      const w = Math.min(size, scaleTo?.width ?? width);
      const h = Math.min(size, scaleTo?.height ?? height);
      return { scaleTo, width: w, height: h, decoded, unchanged: !scaleTo && w === width && h === height };
    }
    case 'border': {
      const scaleTo = mayScale(longer) ? scaled(size / longer) : undefined;
      return { scaleTo, width: size, height: size, decoded, unchanged: !scaleTo && width === size && height === size };
    }
  }
}

function applyGeometry(pipeline: Sharp, g: Geometry, cfg: DecodeConfig): void {
  if (g.unchanged) return;
  const [r, green, b] = cfg.border_color;
  const background = { r, g: green, b, alpha: 1 };
  if (g.scaleTo) {
    // Scale and crop (cover) or pad (contain) in one step, as before resize_only_if_bigger.
    if (cfg.resize_mode === 'center_crop') pipeline.resize({ width: g.width, height: g.height, fit: 'cover', position: 'centre' });
    else if (cfg.resize_mode === 'border') pipeline.resize({ width: g.width, height: g.height, fit: 'contain', position: 'centre', background });
    else pipeline.resize({ width: g.scaleTo.width, height: g.scaleTo.height, fit: 'fill' });
    return;
  }
  // Not scaled: only center_crop's crop or border's padding is left to do, at the decoded size.
  const { width, height } = g.decoded;
  if (cfg.resize_mode === 'center_crop') {
    pipeline.extract({ left: Math.floor((width - g.width) / 2), top: Math.floor((height - g.height) / 2), width: g.width, height: g.height });
  } else if (cfg.resize_mode === 'border') {
    const left = Math.floor((g.width - width) / 2);
    const top = Math.floor((g.height - height) / 2);
    pipeline.extend({ left, right: g.width - width - left, top, bottom: g.height - height - top, background });
  }
}
