// Image preprocessing as the Hugging Face CLIP image processor does it, driven by
// preprocessor_config.json: resize (shortest side to N, bicubic), centre crop, rescale to [0, 1],
// normalise per channel, and lay out as CHW float32. sharp does the resize; the crop and the
// arithmetic are plain loops over the raw RGB bytes.
import sharp from 'sharp';
import { preprocessorConfigSchema, type PreprocessorConfig } from '../schemas/scorer.ts';

type Kernel = 'nearest' | 'linear' | 'cubic' | 'lanczos3';

/** Everything that decides the pixels a model sees; it is hashed into the preprocessing hash. */
export interface ImagePreprocessing {
  resize: { shortestEdge: number } | { height: number; width: number } | null;
  kernel: Kernel;
  crop: { height: number; width: number } | null;
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

// PIL resample codes to the nearest sharp kernel (sharp's cubic is Catmull-Rom, like PIL's bicubic).
const KERNELS: Kernel[] = ['nearest', 'lanczos3', 'linear', 'cubic', 'linear', 'linear'];

/** Reads a parsed preprocessor_config.json; throws a message naming the bad key. */
export function imagePreprocessingFrom(json: unknown): ImagePreprocessing {
  const parsed = preprocessorConfigSchema.safeParse(json ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`preprocessor_config.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c: PreprocessorConfig = parsed.data;
  const size = c.size;
  const crop = c.crop_size;
  return {
    resize: !c.do_resize
      ? null
      : typeof size === 'number'
        ? { shortestEdge: size }
        : 'shortest_edge' in size
          ? { shortestEdge: size.shortest_edge as number }
          : { height: size.height as number, width: size.width as number },
    kernel: KERNELS[c.resample],
    crop: !c.do_center_crop ? null : typeof crop === 'number' ? { height: crop, width: crop } : { height: crop.height, width: crop.width },
    rescale: c.do_rescale ? c.rescale_factor : 1,
    mean: (c.do_normalize ? c.image_mean : [0, 0, 0]) as [number, number, number],
    std: (c.do_normalize ? c.image_std : [1, 1, 1]) as [number, number, number],
  };
}

/** The output side lengths, when they do not depend on the input image. */
export function outputSize(p: ImagePreprocessing): { height: number; width: number } | null {
  if (p.crop) return p.crop;
  if (p.resize && 'height' in p.resize) return p.resize;
  return null;
}

/** The size HF's shortest-edge resize produces: short side = edge, long side scaled and truncated. */
export function shortestEdgeSize(width: number, height: number, edge: number): { width: number; height: number } {
  if (width <= height) return { width: edge, height: Math.trunc((edge * height) / width) };
  return { width: Math.trunc((edge * width) / height), height: edge };
}

/**
 * Decodes `bytes` and returns the model input for one image: float32 CHW, `height * width * 3`
 * values. Alpha is discarded (as PIL's convert('RGB') does); greyscale becomes RGB.
 */
export async function preprocessImage(bytes: Uint8Array, p: ImagePreprocessing): Promise<{ data: Float32Array; height: number; width: number }> {
  // Decoded once to 8-bit sRGB (PIL's convert('RGB')), then resized from those pixels only when
  // the size has to change: an image already at the model's size costs one sharp call.
  let { data: rgb, info } = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  if (p.resize) {
    const target = 'shortestEdge' in p.resize ? shortestEdgeSize(info.width, info.height, p.resize.shortestEdge) : p.resize;
    if (target.width !== info.width || target.height !== info.height) {
      ({ data: rgb, info } = await sharp(rgb, { raw: { width: info.width, height: info.height, channels: 3 } })
        .resize(target.width, target.height, { fit: 'fill', kernel: p.kernel, fastShrinkOnLoad: false })
        .raw()
        .toBuffer({ resolveWithObject: true }));
    }
  }
  return normaliseCrop(rgb, info.width, info.height, p);
}

/** Centre crop (zero padding where the image is smaller, as HF does), rescale, normalise, HWC -> CHW. */
function normaliseCrop(rgb: Uint8Array, width: number, height: number, p: ImagePreprocessing): { data: Float32Array; height: number; width: number } {
  const outH = p.crop?.height ?? height;
  const outW = p.crop?.width ?? width;
  const top = Math.floor((height - outH) / 2);
  const left = Math.floor((width - outW) / 2);
  const data = new Float32Array(3 * outH * outW);
  const plane = outH * outW;
  // One lookup table per channel: byte value -> normalised value (the padding value is lut[0]).
  const luts = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v * p.rescale - p.mean[c]) / p.std[c]));
  const [r, g, b] = luts;
  data.fill(r[0], 0, plane);
  data.fill(g[0], plane, 2 * plane);
  data.fill(b[0], 2 * plane);
  const y0 = Math.max(0, -top);
  const y1 = Math.min(outH, height - top);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(outW, width - left);
  for (let y = y0; y < y1; y++) {
    let src = ((y + top) * width + x0 + left) * 3;
    let dst = y * outW + x0;
    for (let x = x0; x < x1; x++, src += 3, dst++) {
      data[dst] = r[rgb[src]];
      data[dst + plane] = g[rgb[src + 1]];
      data[dst + 2 * plane] = b[rgb[src + 2]];
    }
  }
  return { data, height: outH, width: outW };
}
