// Binary Netpbm images: P5 (PGM, grey) and P6 (PPM, RGB), 8 or 16 bits per sample.
// sharp does not read these, and NYU Depth v2 raw dumps are made of them. The parser checks
// every bound before it reads, so a truncated or hostile file is an error, never a bad read.
// Samples wider than 8 bits are big-endian by the Netpbm spec; NYU raw depth is not, so the
// byte order of 16-bit samples is the caller's choice.

export type ByteOrder = 'big' | 'little';

export interface NetpbmImage {
  /** 'P5' grey (1 channel) or 'P6' RGB (3 channels). */
  magic: 'P5' | 'P6';
  width: number;
  height: number;
  channels: 1 | 3;
  maxval: number;
  /** Interleaved samples: Uint8Array when maxval < 256, else Uint16Array. */
  data: Uint8Array | Uint16Array;
}

export class NetpbmError extends Error {}

export interface NetpbmReadOptions {
  byteOrder?: ByteOrder;
  /** Refuse images with more pixels than this before allocating (decompression-bomb guard). */
  maxPixels?: number;
}

const MAX_SIDE = 1 << 16;

/** Parse a P5 or P6 file. Trailing bytes after the raster are ignored (the spec allows several images per file). */
export function parseNetpbm(bytes: Uint8Array, options: NetpbmReadOptions = {}): NetpbmImage {
  const byteOrder = options.byteOrder ?? 'big';
  const maxPixels = options.maxPixels ?? 100_000_000;
  if (bytes.length < 2 || bytes[0] !== 0x50 /* P */ || (bytes[1] !== 0x35 && bytes[1] !== 0x36)) {
    throw new NetpbmError('not a binary PGM/PPM (expected P5 or P6 magic)');
  }
  const magic = bytes[1] === 0x35 ? 'P5' : 'P6';
  const channels = magic === 'P5' ? 1 : 3;
  let pos = 2;

  // Header tokens are decimal numbers separated by whitespace, with `#` comments to end of line.
  const readNumber = (what: string): number => {
    while (pos < bytes.length) {
      const c = bytes[pos];
      if (c === 0x23 /* # */) {
        while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
      } else if (isSpace(c)) {
        pos++;
      } else break;
    }
    const start = pos;
    let value = 0;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) {
      value = value * 10 + (bytes[pos] - 0x30);
      if (value > 0xffffffff) throw new NetpbmError(`${what} is too large`);
      pos++;
    }
    if (pos === start) throw new NetpbmError(`missing or malformed ${what} in header`);
    return value;
  };

  const width = readNumber('width');
  const height = readNumber('height');
  const maxval = readNumber('maxval');
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) throw new NetpbmError(`bad size ${width}x${height}`);
  if (width * height > maxPixels) throw new NetpbmError(`${width}x${height} exceeds ${maxPixels} pixels`);
  if (maxval < 1 || maxval > 65535) throw new NetpbmError(`maxval ${maxval} outside 1..65535`);
  // Exactly one whitespace byte separates the header from the raster.
  if (pos >= bytes.length || !isSpace(bytes[pos])) throw new NetpbmError('no whitespace after maxval');
  pos++;

  const samples = width * height * channels;
  const bytesPerSample = maxval < 256 ? 1 : 2;
  const need = samples * bytesPerSample;
  if (bytes.length - pos < need) {
    throw new NetpbmError(`raster truncated: ${bytes.length - pos} of ${need} bytes`);
  }

  let data: Uint8Array | Uint16Array;
  if (bytesPerSample === 1) {
    data = bytes.slice(pos, pos + need);
    if (maxval < 255) checkMaxval(data, maxval);
  } else {
    const out = new Uint16Array(samples);
    const view = new DataView(bytes.buffer, bytes.byteOffset + pos, need);
    const little = byteOrder === 'little';
    for (let i = 0; i < samples; i++) out[i] = view.getUint16(i * 2, little);
    if (maxval < 65535) checkMaxval(out, maxval);
    data = out;
  }
  return { magic, width, height, channels, maxval, data };
}

/** Encode a P5 (channels 1) or P6 (channels 3) image; 16-bit when maxval > 255. */
export function encodeNetpbm(
  image: { width: number; height: number; channels: 1 | 3; maxval: number; data: Uint8Array | Uint16Array },
  byteOrder: ByteOrder = 'big',
): Uint8Array {
  const { width, height, channels, maxval, data } = image;
  const samples = width * height * channels;
  if (data.length !== samples) throw new NetpbmError(`expected ${samples} samples, got ${data.length}`);
  const header = new TextEncoder().encode(`${channels === 1 ? 'P5' : 'P6'}\n${width} ${height}\n${maxval}\n`);
  const bytesPerSample = maxval < 256 ? 1 : 2;
  const out = new Uint8Array(header.length + samples * bytesPerSample);
  out.set(header, 0);
  if (bytesPerSample === 1) {
    for (let i = 0; i < samples; i++) out[header.length + i] = data[i];
  } else {
    const view = new DataView(out.buffer, header.length);
    const little = byteOrder === 'little';
    for (let i = 0; i < samples; i++) view.setUint16(i * 2, data[i], little);
  }
  return out;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

function checkMaxval(data: Uint8Array | Uint16Array, maxval: number): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] > maxval) throw new NetpbmError(`sample ${data[i]} at ${i} exceeds maxval ${maxval}`);
  }
}
