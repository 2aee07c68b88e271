// The RGB-D report's evidence picture: colour-image edges and depth discontinuities drawn in two
// colours over a dimmed copy of the colour frame. When depth is registered to colour the two
// edge sets lie on top of each other (drawn white); a misregistration shows as two parallel
// outlines, cyan (colour) and orange (depth), offset by the shift.
import sharp from 'sharp';
import { registrationEdgeMaps, type RegistrationEdges } from './rgbd-registration.ts';
import type { RgbImage } from '../decode/rgb-image.ts';
import type { DepthMap } from '../decode/depth-png.ts';

/** Edge colours of the overlay; the report's legend uses the same values. */
export const OVERLAY_COLOURS = {
  rgbEdge: [0, 216, 255],
  depthEdge: [255, 122, 26],
  both: [255, 255, 255],
} as const;

export const OVERLAY_HEX = {
  rgbEdge: '#00d8ff',
  depthEdge: '#ff7a1a',
  both: '#ffffff',
} as const;

export interface OverlayOptions {
  /** Longest side of the picture in pixels (never upscaled). Default 256. */
  maxSide?: number;
  /** Same meaning as in RegistrationOptions; defaults match it. */
  intensityThreshold?: number;
  relativeJump?: number;
  /** Edge pixels the registration already found (registration's keepEdges); found here otherwise. */
  edges?: RegistrationEdges;
}

/** Interleaved RGB pixels of the overlay at thumbnail size (exposed for tests). */
export async function overlayPixels(rgb: RgbImage, depth: DepthMap, options: OverlayOptions = {}): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { width, height } = rgb;
  if (depth.width !== width || depth.height !== height) throw new RangeError(`rgb ${width}x${height} and depth ${depth.width}x${depth.height} differ`);
  const maxSide = options.maxSide ?? 256;
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const tw = Math.max(1, Math.round(width * scale));
  const th = Math.max(1, Math.round(height * scale));
  const small = await sharp(rgb.data, { raw: { width, height, channels: 3 } }).resize(tw, th, { fit: 'fill' }).raw().toBuffer();
  const data = new Uint8Array(tw * th * 3);
  for (let i = 0; i < data.length; i++) data[i] = small[i] * 0.38;

  // Edges are found at full resolution (as the registration sees them) and then marked on the
  // thumbnail pixel they fall in, so a one-pixel edge stays a visible line after downscaling.
  const marks = new Uint8Array(tw * th);
  // The thumbnail column of each frame column, worked out once instead of once a pixel.
  const column = new Int32Array(width);
  for (let x = 0; x < width; x++) column[x] = Math.min(tw - 1, Math.floor(x * scale));
  const rowStart = new Int32Array(height);
  for (let y = 0; y < height; y++) rowStart[y] = Math.min(th - 1, Math.floor(y * scale)) * tw;
  const n = width * height;
  const mark = (pixels: Int32Array, bit: number) => {
    for (let q = 0; q < pixels.length; q++) {
      const i = pixels[q];
      if (!(i >= 0 && i < n)) throw new RangeError(`edge pixel ${i} lies outside the ${width}x${height} frame`);
      const y = Math.floor(i / width);
      marks[rowStart[y] + column[i - y * width]] |= bit;
    }
  };
  const edges = options.edges ?? (({ colour, depth: d }) => ({ colour: colour.pixels, depth: d.pixels }))(registrationEdgeMaps(rgb, depth, options));
  mark(edges.colour, 1);
  mark(edges.depth, 2);
  for (let i = 0; i < marks.length; i++) {
    if (!marks[i]) continue;
    const c = marks[i] === 1 ? OVERLAY_COLOURS.rgbEdge : marks[i] === 2 ? OVERLAY_COLOURS.depthEdge : OVERLAY_COLOURS.both;
    data.set(c, i * 3);
  }
  return { width: tw, height: th, data };
}

/**
 * Pictures already drawn from a registration's edge maps, so a pair that is both a worst example
 * and a dropped one (the report shows it in both places) is drawn once.
 */
const drawn = new WeakMap<RegistrationEdges, { rgb: RgbImage; depth: DepthMap; maxSide: number | undefined; uri: Promise<string> }>();

/** The overlay as a JPEG data URI (4:4:4 chroma, so the thin coloured lines stay crisp). */
export function registrationOverlay(rgb: RgbImage, depth: DepthMap, options: OverlayOptions = {}): Promise<string> {
  const edges = options.edges;
  if (!edges) return drawOverlay(rgb, depth, options);
  const known = drawn.get(edges);
  if (known && known.rgb === rgb && known.depth === depth && known.maxSide === options.maxSide) return known.uri;
  const uri = drawOverlay(rgb, depth, options);
  drawn.set(edges, { rgb, depth, maxSide: options.maxSide, uri });
  uri.catch(() => drawn.delete(edges));
  return uri;
}

async function drawOverlay(rgb: RgbImage, depth: DepthMap, options: OverlayOptions): Promise<string> {
  const px = await overlayPixels(rgb, depth, options);
  const jpeg = await sharp(px.data, { raw: { width: px.width, height: px.height, channels: 3 } })
    .jpeg({ quality: 82, chromaSubsampling: '4:4:4' })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
