// Tells the image container from its first bytes, before any decoder sees the data: an HTML
// error page saved as x.jpg should be rejected as `not_image`, not reach libvips.
// SVG is deliberately not accepted: it is a document that can reference other files and
// expand without bound, not a raster image.

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'avif' | 'heif';

export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const at = (offset: number, ...sig: number[]) => sig.every((b, i) => bytes[offset + i] === b);
  const ascii = (offset: number, text: string) => at(offset, ...Array.from(text, (c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (ascii(0, 'BM') && bytes.length >= 26) return 'bmp';
  if (ascii(4, 'ftyp')) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  return undefined;
}

/**
 * Whether the installed sharp (libvips) decodes a sniffed format. Prebuilt libvips has no BMP
 * loader (that needs ImageMagick) and its libheif reads AVIF only, not HEVC-coded HEIC.
 */
export function decodableBySharp(format: ImageFormat, formats: Record<string, { input: { buffer: boolean; fileSuffix?: string[] } } | undefined>): boolean {
  switch (format) {
    case 'bmp':
      return Boolean(formats.magick?.input.buffer);
    case 'avif':
      return Boolean(formats.heif?.input.buffer && (formats.heif.input.fileSuffix ?? []).includes('.avif'));
    case 'heif':
      return Boolean(formats.heif?.input.buffer && (formats.heif.input.fileSuffix ?? []).some((x) => x === '.heic' || x === '.heif'));
    default:
      return Boolean(formats[format]?.input.buffer);
  }
}

/**
 * What unknown leading bytes look like, for a reject's detail: the name of a recognised
 * non-image type, or "unrecognised header". Never the bytes themselves: a file can hold
 * anything (a password file named x.jpg), and details end up in rejects.parquet and the report.
 */
export function describeLeadingBytes(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 512));
  const text = head.toString('latin1').trimStart().toLowerCase();
  const at = (...sig: number[]) => sig.every((b, i) => head[i] === b);
  if (text.startsWith('<!doctype html') || text.startsWith('<html')) return 'an HTML document';
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg'))) return 'an SVG document (not a raster image)';
  if (text.startsWith('<?xml')) return 'an XML document';
  if (text.startsWith('%pdf-')) return 'a PDF document';
  if (at(0x1f, 0x8b)) return 'gzip data';
  if (at(0x50, 0x4b, 0x03, 0x04)) return 'a zip archive';
  if (at(0x7f, 0x45, 0x4c, 0x46)) return 'an ELF executable';
  if (text.startsWith('{') || text.startsWith('[')) return 'JSON-like text';
  const printable = head.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
  if (printable) return 'plain text';
  return 'an unrecognised header';
}
