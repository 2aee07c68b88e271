// Image sets the finalise-time passes compare the corpus with, embedded by the run's scorer:
// the reference images of curate.corpus.image_cluster_filter and the eval images of
// curate.decontaminate (embedding_min_cosine). A set is a folder of image files (searched
// recursively, sorted by relative path) or a weft OUT folder (the images its index lists, in
// index order). The scorer is loaded from the run's config and must be the model that made
// the sidecars' embeddings (its sha256 is checked against the manifest's scorer entry).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunInfo } from './out-dir.ts';
import { readShards } from './shard-reader.ts';
import { imageFilesIn } from '../stages/curate/decontaminate.ts';
import { normalise } from '../stages/curate/kmeans.ts';
import { embedReadableImages, loadScorer, type Scorer } from '../scorer/scorer.ts';
import { scorerDir } from '../kinds/run-scorer.ts';

export interface ReferenceImage {
  name: string;
  vector: Float32Array;
}

const BATCH = 32;

/** Loads the run's scorer for a finalise-time pass; `key` names the config key in errors. */
export async function openRunScorerAgain(info: RunInfo, key: string): Promise<Scorer> {
  const setting = (info.config as { score?: { scorer?: string } } | null)?.score?.scorer ?? 'none';
  if (setting === 'none') throw new Error(`${key}: needs score.scorer`);
  const scorer = await loadScorer(scorerDir(setting, process.cwd()));
  const entry = info.scorers[0];
  if (entry && entry.model_sha256 !== scorer.modelSha256) {
    await scorer.close();
    throw new Error(`${key}: the scorer at ${setting} (model ${scorer.modelSha256.slice(0, 12)}) is not the one that embedded this run (${entry.model_sha256.slice(0, 12)})`);
  }
  return scorer;
}

/** Names and bytes of a reference set: a weft OUT folder's indexed images, or a folder's image files. */
async function* referenceImageBytes(set: string, key: string): AsyncGenerator<{ name: string; bytes: Uint8Array }> {
  if (existsSync(path.join(set, 'index.parquet'))) {
    for await (const s of readShards(set, { columns: ['image'] })) {
      const image = s.values.image as { bytes?: Uint8Array } | null;
      if (!image?.bytes) throw new Error(`${key}: ${set} row ${String(s.index.id)} has no image column`);
      yield { name: String(s.index.id), bytes: image.bytes };
    }
    return;
  }
  const files = await imageFilesIn(set);
  if (files.length === 0) throw new Error(`${key}: no images in ${set}`);
  for (const name of files) yield { name, bytes: await readFile(path.join(set, name)) };
}

/** Every image of the set, embedded (L2-normalised); an image that cannot be decoded is an error naming it. */
export async function embedImageSet(scorer: Scorer, set: string, key: string): Promise<ReferenceImage[]> {
  const out: ReferenceImage[] = [];
  let batch: { name: string; bytes: Uint8Array }[] = [];
  const flush = async () => {
    const r = await embedReadableImages(scorer, batch.map((b) => b.bytes), { detail: false });
    if (r.failed.length) throw new Error(`${key}: ${batch[r.failed[0].index].name} cannot be decoded (${r.failed[0].detail})`);
    batch.forEach((b, i) => out.push({ name: b.name, vector: normalise(Float32Array.from(r.pooled[i]!)) }));
    batch = [];
  };
  for await (const image of referenceImageBytes(set, key)) {
    batch.push(image);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length) await flush();
  if (out.length === 0) throw new Error(`${key}: no images in ${set}`);
  return out;
}
