// A folder of images with sidecar .txt captions, read as training pairs (the demo corpus layout).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TrainingPair } from './reference-trainer.ts';

/** Images with a sidecar .txt caption in `dir`, sorted by name. */
export async function readCaptionFolder(dir: string): Promise<TrainingPair[]> {
  const names = (await fs.readdir(dir)).sort();
  const present = new Set(names);
  const pairs: TrainingPair[] = [];
  for (const name of names) {
    if (!/\.(jpe?g|png|webp)$/i.test(name)) continue;
    const stem = name.replace(/\.[^.]+$/, '');
    if (!present.has(`${stem}.txt`)) continue;
    const caption = (await fs.readFile(path.join(dir, `${stem}.txt`), 'utf8')).trim();
    if (!caption) continue;
    pairs.push({ id: stem, image: await fs.readFile(path.join(dir, name)), caption });
  }
  return pairs;
}
