// Decode a paired colour and depth frame into pixels, whatever the layout stored them as.
// Consumes RgbdPairCandidate, emits RgbdDecoded. Drops: `rgb_missing` / `depth_missing` (a
// listed file does not exist), `decode_failed` (corrupt PNG, JPEG, PPM or PGM),
// `depth_not_16bit` (8-bit depth where 16-bit is expected), `size_mismatch` (colour and
// depth frames of different sizes).
import { readFile } from 'node:fs/promises';
import { DropError, mapStage, type Stage, type Traceable } from '../../core/stage.ts';
import type { Intrinsics } from '../../schemas/rgbd.ts';
import type { RgbdSourceConfig } from '../../schemas/rgbd-config.ts';
import { decodeDepthPng, sunrgbdDecodeBits, type DepthMap } from './depth-png.ts';
import { decodeRgb, type RgbImage } from './rgb-image.ts';
import { parseNetpbm } from './netpbm.ts';
import { DEFAULT_DEPTH_SCALE, type DepthEncoding, type FrameRef, type RgbdLayout } from '../sources/rgbd/frames.ts';
import { readSunrgbdIntrinsics } from '../sources/rgbd/sunrgbd.ts';

/** A colour frame and the depth frame paired with it, not yet read. */
export interface RgbdPairCandidate extends Traceable {
  kind: 'rgbd';
  sequence: string;
  layout: RgbdLayout;
  rgbFrame: FrameRef;
  depthFrame: FrameRef;
  /** rgb - (depth + offset) in seconds; null when paired by name. */
  skew: number | null;
  depthEncoding: DepthEncoding;
  intrinsics: Intrinsics | null;
}

export interface RgbdDecoded extends RgbdPairCandidate {
  rgbImage: RgbImage;
  /** Colour file bytes, kept to store PNG/JPEG sources unchanged. */
  rgbBytes: Uint8Array;
  /** Depth in `depthScale` units per metre. */
  depthMap: DepthMap;
  depthScale: number;
  /** The depth file's bytes when they can be stored as they are (a 16-bit PNG in depthScale units). */
  depthPngBytes: Uint8Array | null;
}

const RGBD_DECODE_STAGE = 'rgbd_decode';

export function rgbdDecodeStage(source: RgbdSourceConfig, concurrency = 2): Stage<RgbdPairCandidate, RgbdDecoded> {
  return mapStage(RGBD_DECODE_STAGE, (c) => decodeRgbdPair(c, source), { concurrency, errorReason: 'decode_failed' });
}

async function decodeRgbdPair(c: RgbdPairCandidate, source: RgbdSourceConfig): Promise<RgbdDecoded> {
  const [rgbBytes, depthBytes] = await Promise.all([readOrDrop(c.rgbFrame, 'rgb_missing'), readOrDrop(c.depthFrame, 'depth_missing')]);
  // The two decodes run at once (each on its own libuv thread): a pair's latency is the slower
  // decode, not their sum. Where both fail, the colour frame's reason is the one recorded, as
  // when they ran one after the other, whichever failed first.
  const [rgb, depth] = await Promise.allSettled([decodeRgb(rgbBytes, c.rgbFrame.path), decodeDepth(depthBytes, c.depthEncoding, c.layout, source)]);
  if (rgb.status === 'rejected') throw rgb.reason;
  if (depth.status === 'rejected') throw depth.reason;
  const rgbImage = rgb.value;
  const { depthMap, depthScale, depthPngBytes } = depth.value;
  if (rgbImage.width !== depthMap.width || rgbImage.height !== depthMap.height) {
    throw new DropError('size_mismatch', `rgb ${rgbImage.width}x${rgbImage.height}, depth ${depthMap.width}x${depthMap.height}`);
  }
  const intrinsics = c.intrinsics ?? (c.rgbFrame.intrinsicsPath ? await readSunrgbdIntrinsics(c.rgbFrame.intrinsicsPath) : null);
  return { ...c, intrinsics, rgbImage, rgbBytes, depthMap, depthScale, depthPngBytes };
}

async function decodeDepth(
  bytes: Uint8Array,
  encoding: DepthEncoding,
  layout: RgbdLayout,
  source: RgbdSourceConfig,
): Promise<{ depthMap: DepthMap; depthScale: number; depthPngBytes: Uint8Array | null }> {
  switch (encoding) {
    case 'png16':
      return { depthMap: await decodeDepthPng(bytes), depthScale: source.depth_scale ?? DEFAULT_DEPTH_SCALE[layout], depthPngBytes: bytes };
    case 'sunrgbd_png': {
      const stored = await decodeDepthPng(bytes);
      return { depthMap: { ...stored, data: sunrgbdDecodeBits(stored.data) }, depthScale: 1000, depthPngBytes: null };
    }
    case 'pgm16': {
      let img;
      try {
        img = parseNetpbm(bytes, { byteOrder: source.byte_order });
      } catch (err) {
        throw new DropError('decode_failed', `depth: ${(err as Error).message}`);
      }
      if (img.channels !== 1) throw new DropError('decode_failed', `depth: ${img.magic} is not a grey image`);
      if (!(img.data instanceof Uint16Array)) throw new DropError('depth_not_16bit', `depth PGM has maxval ${img.maxval}, expected 16-bit samples`);
      const map = { width: img.width, height: img.height, data: img.data };
      if (source.nyu_depth === 'kinect_disparity') return { depthMap: { ...map, data: kinectDisparityToMillimetres(img.data) }, depthScale: 1000, depthPngBytes: null };
      return { depthMap: map, depthScale: source.depth_scale ?? DEFAULT_DEPTH_SCALE[layout], depthPngBytes: null };
    }
  }
}

/**
 * Kinect raw disparity to millimetres with the NYU Depth v2 toolbox formula
 * metres = 351.3 / (1092.5 - raw); 2047 (no return) and anything outside (0, 10 m] become 0.
 */
function kinectDisparityToMillimetres(raw: Uint16Array): Uint16Array {
  const out = new Uint16Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    if (r >= 2047) continue;
    const metres = 351.3 / (1092.5 - r);
    if (metres > 0 && metres <= 10) out[i] = Math.round(metres * 1000);
  }
  return out;
}

/** Details name the file relative to its sequence folder: the ledger must not hold machine paths. */
async function readOrDrop(frame: FrameRef, missingReason: string): Promise<Uint8Array> {
  try {
    return await readFile(frame.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DropError(missingReason, `${frame.name} does not exist`);
    throw new DropError('read_failed', `${frame.name}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`);
  }
}
