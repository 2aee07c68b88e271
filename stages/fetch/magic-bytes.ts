// The media type of a body, decided from its first bytes. Content-Type is not trusted: servers
// label HTML error pages, placeholders and tracking pixels as image/jpeg all the time.

export type MediaType = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'tiff' | 'avif' | 'heif' | 'jxl';

/** Bytes needed to tell every supported type apart (ISO-BMFF brands sit in the first box). */
export const SNIFF_BYTES = 64;

const startsWith = (b: Uint8Array, sig: number[], at = 0) => sig.every((x, i) => b[at + i] === x);
const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
// BITMAPCOREHEADER .. BITMAPV5HEADER sizes; "BM" alone is too common a text prefix.
const BMP_DIB_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

/** The image type of `b` by its signature, or null when it is not a known image format. */
export function sniffImageType(b: Uint8Array): MediaType | null {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (b.length >= 18 && startsWith(b, [0x42, 0x4d]) && BMP_DIB_SIZES.has(b[14] | (b[15] << 8) | (b[16] << 16) | (b[17] << 24))) return 'bmp';
  if (startsWith(b, [0xff, 0x0a]) || startsWith(b, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) return 'jxl';
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp') return isoBmffImageType(b);
  return null;
}

function isoBmffImageType(b: Uint8Array): MediaType | null {
  // ftyp box: size(4) 'ftyp' major_brand(4) minor_version(4) compatible_brands(4 each)
  const boxSize = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const end = Math.min(b.length, Math.max(12, boxSize));
  const brands = [ascii(b, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(b, at, at + 4));
  if (brands.some((x) => AVIF_BRANDS.has(x))) return 'avif';
  if (brands.some((x) => HEIF_BRANDS.has(x))) return 'heif';
  return null;
}

/** A short printable view of a body's start, for reject details ("<!DOCTYPE html>..."). */
export function describeStart(b: Uint8Array, n = 24): string {
  if (b.length === 0) return 'empty body';
  const head = [...b.subarray(0, n)].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
  return `body starts with "${head}"`;
}
