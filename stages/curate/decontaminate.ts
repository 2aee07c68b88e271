// Eval-set decontamination: samples whose image is within a pHash distance of any image of an
// evaluation set (a folder) are `eval_contamination`. Consumes decoded image-caption samples;
// emits them with `evalContamination` (the eval image's file name, or null). Drops, at stage
// `decontaminate`: eval_contamination (when curate.decontaminate.drop, the default), with the
// eval image and the distance as detail. The pHash is the one the web kind's near-dup stage uses
// (robust to re-encoding and resizing); the eval hashes are a linear scan, fine for eval sets of
// thousands of images.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { drop, mapStage, type Stage } from '../../core/stage.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import type { IndexColumnSpec } from '../../schemas/kind-schema.ts';
import { hammingDistance, perceptualHash } from '../decode/pixel-hash.ts';

export const EVAL_CONTAMINATION = 'eval_contamination';
const IMAGE_FILE = /\.(png|jpe?g|webp|gif|tiff?|avif)$/i;

export interface EvalImageHash {
  name: string;
  hash: bigint;
}

/** pHashes of the images in `folder` (and its subfolders), sorted by relative path. */
/** The image files under `folder` (recursively), as paths relative to it, sorted. */
export async function imageFilesIn(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && IMAGE_FILE.test(e.name)).map((e) => path.relative(folder, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).sort();
}

export async function evalImageHashes(folder: string): Promise<EvalImageHash[]> {
  const files = await imageFilesIn(folder);
  if (files.length === 0) throw new Error(`curate.decontaminate.eval_images: no images in ${folder}`);
  const out: EvalImageHash[] = [];
  for (const name of files) {
    try {
      out.push({ name, hash: await perceptualHash(await readFile(path.join(folder, name))) });
    } catch (err) {
      throw new Error(`curate.decontaminate.eval_images: ${name} cannot be decoded (${(err as Error).message})`);
    }
  }
  return out;
}

/** The nearest eval image within `maxDistance` bits, or null. */
export function nearestEvalImage(hash: bigint, evalHashes: EvalImageHash[], maxDistance: number): { name: string; distance: number } | null {
  let best: { name: string; distance: number } | null = null;
  for (const e of evalHashes) {
    const d = hammingDistance(hash, e.hash);
    if (d <= maxDistance && (!best || d < best.distance)) best = { name: e.name, distance: d };
  }
  return best;
}

export type DecontaminatedSample = { evalContamination?: string | null };

export function decontaminateStage<S extends ImageTextSample>(o: { evalHashes: EvalImageHash[]; maxDistance: number; drop: boolean; concurrency: number }): Stage<S, S & DecontaminatedSample> {
  return mapStage<S, S & DecontaminatedSample>(
    'decontaminate',
    async (sample) => {
      const near = nearestEvalImage(await perceptualHash(sample.image.bytes), o.evalHashes, o.maxDistance);
      if (near && o.drop) return drop(EVAL_CONTAMINATION, `pHash distance ${near.distance} <= ${o.maxDistance} to eval image ${near.name}`);
      return { ...sample, evalContamination: near?.name ?? null };
    },
    { concurrency: o.concurrency },
  );
}

export const decontaminationIndexColumns: IndexColumnSpec<DecontaminatedSample>[] = [{ name: EVAL_CONTAMINATION, type: 'UTF8', get: (s) => s.evalContamination ?? null }];
