// SUN RGB-D-style sample folders: each sample is a folder with image/ (one JPEG or PNG),
// depth/ (one 16-bit PNG whose bits are rotated: `(d >> 3) | (d << 13)` gives millimetres)
// and intrinsics.txt (the 3x3 camera matrix, row-major). A unit is a range of the sample
// folders under one parent folder, since every sample is a single frame.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Intrinsics } from '../../../schemas/rgbd.ts';
import type { FrameRef, ListingReject, SequenceListing } from './frames.ts';
import { DEPTH_EXTENSIONS, IMAGE_EXTENSIONS } from './frames.ts';

/** Sample folder names under `parentDir`, sorted. */
export async function listSunrgbdSamples(parentDir: string): Promise<string[]> {
  const entries = await readdir(parentDir, { withFileTypes: true });
  const samples: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const inner = new Set(await readdir(join(parentDir, e.name)).catch(() => [] as string[]));
    // image/ marks a sample (a plain rgb/ + depth/ sequence folder also has depth/).
    if (inner.has('image')) samples.push(e.name);
  }
  return samples.sort();
}

/** List the given sample folders; a sample without a colour or depth file is rejected. */
export async function listSunrgbdSequence(parentDir: string, samples: string[], idPrefix: string): Promise<SequenceListing> {
  const rgb: FrameRef[] = [];
  const depth: FrameRef[] = [];
  const rejects: ListingReject[] = [];
  for (const sample of samples) {
    const dir = join(parentDir, sample);
    const first = async (sub: string, pattern: RegExp) => (await readdir(join(dir, sub)).catch(() => [] as string[])).filter((f) => pattern.test(f)).sort()[0];
    const image = await first('image', IMAGE_EXTENSIONS);
    const depthFile = await first('depth', DEPTH_EXTENSIONS);
    if (!image || !depthFile) {
      const reason = image ? 'depth_missing' : 'rgb_missing';
      rejects.push({ id: `${idPrefix}/${sample}`, source: dir, reason, detail: `no ${image ? 'depth/*.png' : 'image/*.jpg|png'} in ${sample}` });
      continue;
    }
    const intrinsicsPath = join(dir, 'intrinsics.txt');
    rgb.push({ path: join(dir, 'image', image), name: `${sample}/image/${image}`, timestamp: null, key: sample, intrinsicsPath });
    depth.push({ path: join(dir, 'depth', depthFile), name: `${sample}/depth/${depthFile}`, timestamp: null, key: sample });
  }
  return { layout: 'sunrgbd', rgb, depth, pairBy: 'key', depthEncoding: 'sunrgbd_png', rejects };
}

/** Parse intrinsics.txt (nine numbers, the row-major camera matrix); null when absent or malformed. */
export async function readSunrgbdIntrinsics(path: string): Promise<Intrinsics | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const k = text.trim().split(/\s+/).map(Number);
  if (k.length !== 9 || k.some((v) => !Number.isFinite(v)) || !(k[0] > 0) || !(k[4] > 0)) return null;
  return { fx: k[0], fy: k[4], cx: k[2], cy: k[5] };
}
