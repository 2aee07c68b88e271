// Perceptual hash (pHash) of an image or of pixels already in memory: a codec shared by the
// decode stage (hashing the pixels it holds), the phash stage and the report.
//
// The hash (pHash, as phash.org defines it): the image flattened onto white, its luma
// (Rec. 601), area-averaged down to 32x32; its 2-D DCT-II; the 8x8 block of coefficients at
// rows and columns 1..8 (the lowest frequencies without the DC row and column, which carry
// only overall brightness and one-directional gradients); bit = coefficient > median of the
// 64. Bit 63 is coefficient (1,1), then row-major. Written as 16 lowercase hex digits. The
// reduction to 32x32 is plain JS over RGB pixels, so the decode stage can hash the pixels it
// already holds instead of decoding the stored image again (a third of the decode's cost).
import sharp from 'sharp';
const SIZE = 32;
const BLOCK = 8;

/** cos((2x + 1) u pi / 64) for u = 1..8 (row u - 1), x = 0..31. */
const COSINES: Float64Array[] = Array.from({ length: BLOCK }, (_, i) => {
  const u = i + 1;
  return Float64Array.from({ length: SIZE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * SIZE)));
});

/** Images with a longer side above this are first scaled down by sharp, to bound the raw buffer. */
const MAX_HASHED_SIDE = 512;

/** The 64-bit pHash of an encoded image (any format sharp reads). Throws when it cannot decode. */
export async function perceptualHash(bytes: Uint8Array): Promise<bigint> {
  const image = sharp(bytes)
    .rotate() // EXIF orientation, so a rotated-by-metadata copy hashes like the original
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb');
  const meta = await sharp(bytes).metadata();
  if (Math.max(meta.width, meta.height) > MAX_HASHED_SIDE) {
    // No JPEG/WebP shrink-on-load: its DCT-domain downscale differs from the resize kernel,
    // which moved an upscaled copy 8 bits away from its original instead of 2.
    image.resize(MAX_HASHED_SIDE, MAX_HASHED_SIDE, { fit: 'inside', fastShrinkOnLoad: false });
  }
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return perceptualHashOfPixels(data, info.width, info.height, info.channels);
}

/**
 * The pHash of decoded pixels: row-major, `channels` bytes per pixel (1 grey, 2 grey + alpha,
 * 3 RGB, 4 RGBA; alpha is ignored, so flatten first).
 */
export function perceptualHashOfPixels(data: Uint8Array, width: number, height: number, channels: number): bigint {
  return hashOfGrey(greyThumbnail(data, width, height, channels));
}

/** Luma area-averaged to SIZE x SIZE: every output cell is the mean of the source area it covers. */
function greyThumbnail(data: Uint8Array, width: number, height: number, channels: number): Float64Array {
  if (!(width > 0 && height > 0)) throw new Error(`cannot hash a ${width}x${height} image`);
  if (data.length < width * height * channels) throw new Error(`${data.length} bytes is too few for ${width}x${height}x${channels}`);
  if (width < SIZE || height < SIZE) {
    // Repeating every pixel rx x ry times leaves the area averages unchanged and gives sides
    // of at least SIZE, where no pixel spans more than two cells.
    const rx = Math.ceil(SIZE / width);
    const ry = Math.ceil(SIZE / height);
    const big = new Uint8Array(width * rx * height * ry * channels);
    for (let y = 0; y < height * ry; y++) {
      for (let x = 0; x < width * rx; x++) {
        const from = (Math.floor(y / ry) * width + Math.floor(x / rx)) * channels;
        big.set(data.subarray(from, from + channels), (y * width * rx + x) * channels);
      }
    }
    return greyThumbnail(big, width * rx, height * ry, channels);
  }
  const xs = cellSpans(width);
  const ys = coverage(height);
  // Each source row is reduced across to SIZE cells (whole pixels summed in a tight integer
  // loop, the one or two pixels a cell boundary splits added by their share), then added into
  // the one or two output rows it overlaps. This runs on the main thread for every image.
  const { start, end, leftShare, rightShare } = xs;
  // SIZE + 1 rows: the last is the overflow a bottom row adds its zero share to.
  const grey = new Float64Array((SIZE + 1) * (SIZE + 1));
  const rowCells = new Float64Array(SIZE);
  const colour = channels >= 3;
  const rowBytes = width * channels;
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let c = 0; c < SIZE; c++) {
      let sum = 0;
      const last = row + end[c] * channels;
      let o = row + start[c] * channels;
      if (colour) for (; o < last; o += channels) sum += 299 * data[o] + 587 * data[o + 1] + 114 * data[o + 2];
      else for (; o < last; o += channels) sum += 1000 * data[o];
      // A boundary inside a pixel splits it: the one before start, the one at end.
      if (leftShare[c] > 0) sum += leftShare[c] * lumaAt(data, row + (start[c] - 1) * channels, colour);
      if (rightShare[c] > 0) sum += rightShare[c] * lumaAt(data, row + end[c] * channels, colour);
      rowCells[c] = sum;
    }
    const first = ys.first[y];
    const second = ys.second[y];
    const to = ys.cell[y] * (SIZE + 1);
    for (let c = 0; c < SIZE; c++) {
      grey[to + c] += rowCells[c] * first;
      grey[to + SIZE + 1 + c] += rowCells[c] * second;
    }
  }
  // Luma was summed x1000 (integer weights 299/587/114).
  const cellArea = (width / SIZE) * (height / SIZE) * 1000;
  const out = new Float64Array(SIZE * SIZE);
  for (let v = 0; v < SIZE; v++) {
    for (let u = 0; u < SIZE; u++) out[v * SIZE + u] = grey[v * (SIZE + 1) + u] / cellArea;
  }
  return out;
}

function lumaAt(data: Uint8Array, o: number, colour: boolean): number {
  return colour ? 299 * data[o] + 587 * data[o + 1] + 114 * data[o + 2] : 1000 * data[o];
}

/**
 * The SIZE cells across a side of `length` >= SIZE pixels: cell c spans [c, c + 1) x length /
 * SIZE, so it holds the whole pixels start[c]..end[c] - 1, plus `leftShare` of pixel
 * start[c] - 1 and `rightShare` of pixel end[c] where a boundary falls inside a pixel (share 0
 * where it falls between pixels, so those pixels are never read out of range).
 */
function cellSpans(length: number) {
  const spans = { start: new Int32Array(SIZE), end: new Int32Array(SIZE), leftShare: new Float64Array(SIZE), rightShare: new Float64Array(SIZE) };
  for (let c = 0; c < SIZE; c++) {
    const from = (c * length) / SIZE;
    const to = ((c + 1) * length) / SIZE;
    spans.start[c] = Math.ceil(from);
    spans.end[c] = Math.floor(to);
    spans.leftShare[c] = Math.ceil(from) - from;
    spans.rightShare[c] = to - Math.floor(to);
  }
  return spans;
}

/**
 * How each source pixel along a side of `length` >= SIZE pixels splits over the output cells
 * (SIZE of them, each length / SIZE >= 1 pixels wide, so a pixel touches at most two):
 * `first[x]` of it falls in cell `cell[x]`, `second[x]` in the next one.
 */
function coverage(length: number): { cell: Int32Array; first: Float64Array; second: Float64Array } {
  const cellWidth = length / SIZE;
  const cell = new Int32Array(length);
  const first = new Float64Array(length);
  const second = new Float64Array(length);
  for (let x = 0; x < length; x++) {
    const c = Math.min(SIZE - 1, Math.floor(x / cellWidth));
    const boundary = (c + 1) * cellWidth;
    cell[x] = c;
    first[x] = Math.min(x + 1, boundary) - x;
    second[x] = c + 1 < SIZE ? Math.max(0, x + 1 - boundary) : 0;
  }
  return { cell, first, second };
}

/** pHash bits of a 32x32 greyscale image given row-major. */
export function hashOfGrey(grey: Float64Array): bigint {
  // Separable DCT, only the 8x8 block needed: rows first (32 rows x 8 frequencies)...
  const rows = new Float64Array(SIZE * BLOCK);
  for (let y = 0; y < SIZE; y++) {
    for (let u = 0; u < BLOCK; u++) {
      const c = COSINES[u];
      let sum = 0;
      for (let x = 0; x < SIZE; x++) sum += grey[y * SIZE + x] * c[x];
      rows[y * BLOCK + u] = sum;
    }
  }
  // ...then columns: coefficient (v, u) for v, u = 1..8.
  const coefficients = new Float64Array(BLOCK * BLOCK);
  for (let v = 0; v < BLOCK; v++) {
    const c = COSINES[v];
    for (let u = 0; u < BLOCK; u++) {
      let sum = 0;
      for (let y = 0; y < SIZE; y++) sum += rows[y * BLOCK + u] * c[y];
      // Rounded so that floating-point noise cannot set bits: a flat image hashes to 0.
      coefficients[v * BLOCK + u] = Math.round(sum * 1e6) / 1e6;
    }
  }
  const sorted = Float64Array.from(coefficients).sort();
  const median = (sorted[31] + sorted[32]) / 2;
  let hash = 0n;
  for (const value of coefficients) hash = (hash << 1n) | (value > median ? 1n : 0n);
  return hash;
}

export function phashHex(hash: bigint): string {
  return hash.toString(16).padStart(16, '0');
}

export function parsePhash(hex: string): bigint {
  checkPhashHex(hex);
  return BigInt(`0x${hex}`);
}

/** The high and low 32 bits of a hex pHash, without a BigInt (for passes over many hashes). */
export function phashWords(hex: string): { hi: number; lo: number } {
  checkPhashHex(hex);
  return { hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8), 16) };
}

function checkPhashHex(hex: string): void {
  if (!/^[0-9a-f]{16}$/i.test(hex)) throw new Error(`not a 64-bit hex pHash: ${JSON.stringify(hex.slice(0, 40))}`);
}

export function hammingDistance(a: bigint, b: bigint): number {
  const x = BigInt.asUintN(64, a ^ b);
  return popcount32(Number(x & 0xffffffffn)) + popcount32(Number(x >> 32n));
}

export function popcount32(n: number): number {
  n = n - ((n >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Set by the decode stage on a sample: the pHash of the stored pixels before their lossy
 *  encode (perceptualHashOfPixels), so this stage need not decode the image again. */
export interface PixelHashed {
  pixelHash?: bigint;
}
