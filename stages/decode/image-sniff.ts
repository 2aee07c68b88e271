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

/** A short description of unknown leading bytes, for a reject's detail. */
export function describeLeadingBytes(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 16);
  const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const printable = head.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
  return printable ? `starts with text ${JSON.stringify(Buffer.from(head).toString('latin1'))}` : `starts with bytes ${hex}`;
}
