// Thumbnails for the report's example cards: a small JPEG inlined as a data URI, so the
// report needs no files next to it. The executor calls makeThumbnail when it records an
// example; the report only ever accepts thumbs that are inline raster data (see safeThumb).
import sharp from 'sharp';

/** Downscales (never upscales) so the longest side is at most maxSide; returns a JPEG data URI. */
export async function makeThumbnail(bytes: Uint8Array, maxSide = 96): Promise<string> {
  const jpeg = await sharp(bytes, { failOn: 'error', limitInputPixels: 89_478_485 })
    .rotate()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 70, mozjpeg: true })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

const INLINE_RASTER = /^data:image\/(jpeg|png|webp|gif);base64,([A-Za-z0-9+/]+={0,2})$/;

export interface InlineImage {
  uri: string;
  mime: string;
  /** Pixel size read from the image header; undefined when the header is not understood. */
  width?: number;
  height?: number;
}

/**
 * Accepts a thumb only when it is a base64 data URI of a raster image. Anything else (an
 * http URL that would make the report fetch, an svg that could carry script) is refused.
 */
export function safeThumb(value: unknown): InlineImage | undefined {
  if (typeof value !== 'string' || !value.startsWith('data:image/')) return undefined;
  const m = INLINE_RASTER.exec(value);
  if (!m) return undefined;
  const mime = `image/${m[1]}`;
  const size = imageSize(Buffer.from(m[2], 'base64'));
  return { uri: value, mime, ...size };
}

/** Width and height from a JPEG, PNG, GIF or WebP header, without decoding pixels. */
export function imageSize(b: Uint8Array): { width?: number; height?: number } {
  const u16be = (i: number) => (b[i] << 8) | b[i + 1];
  const u16le = (i: number) => b[i] | (b[i + 1] << 8);
  const u32be = (i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return { width: u32be(16), height: u32be(20) };
  }
  if (b.length >= 10 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) {
    return { width: u16le(6), height: u16le(8) };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // Walk the marker segments to the first start-of-frame (SOF0..SOF15 except DHT/JPG/DAC).
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return {};
      const marker = b[i + 1];
      if (marker === 0xff) {
        i++;
        continue;
      }
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof) return { height: u16be(i + 5), width: u16be(i + 7) };
      i += 2 + u16be(i + 2);
    }
    return {};
  }
  if (b.length >= 30 && String.fromCharCode(b[0], b[1], b[2], b[3]) === 'RIFF' && String.fromCharCode(b[8], b[9], b[10], b[11]) === 'WEBP') {
    const chunk = String.fromCharCode(b[12], b[13], b[14], b[15]);
    if (chunk === 'VP8X') return { width: 1 + (b[24] | (b[25] << 8) | (b[26] << 16)), height: 1 + (b[27] | (b[28] << 8) | (b[29] << 16)) };
    if (chunk === 'VP8 ') return { width: u16le(26) & 0x3fff, height: u16le(28) & 0x3fff };
    if (chunk === 'VP8L') {
      const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
  }
  return {};
}
