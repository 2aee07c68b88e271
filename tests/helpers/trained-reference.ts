// A tiny reference scorer trained on a clean synthetic corpus, for tests that need scores that
// mean something. Built once into fixtures/generated/ (git-ignored) and reused by later runs.
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { trainReferenceScorer } from '../../scorer/reference-trainer.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = 1;

/** Tiny-model options shared by the tests (a few seconds of training on 2 cores). */
export const TINY = { channels: [8, 16, 16] as [number, number, number], dim: 32, epochs: 25, batchSize: 64, learningRate: 5e-3, whiteningPatches: 2000, threads: 1 };

/** The folder of a tiny reference scorer (id `tiny-reference`), trained on first use. */
export async function tinyReferenceScorer(): Promise<string> {
  const dir = path.join(repo, 'fixtures', 'generated', `test-reference-v${VERSION}`);
  if (existsSync(path.join(dir, 'scorer.json'))) return dir;
  // A fresh clone has no fixtures/generated/ until some test makes it.
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const scratch = await fs.mkdtemp(`${dir}.tmp-`);
  try {
    const corpus = await makeDemoCorpus(path.join(scratch, 'corpus'), { count: 200, swapFraction: 0, size: 64, seed: 11 });
    const pairs = await readCaptionFolder(corpus.imagesDir);
    const result = await trainReferenceScorer(pairs, { seed: 11, ...TINY });
    const model = path.join(scratch, 'model');
    await writeReferenceScorer(model, result.weights, { id: 'tiny-reference' });
    await fs.rename(model, dir).catch((err) => {
      // Another test process built it first: theirs is as good.
      if (!existsSync(path.join(dir, 'scorer.json'))) throw err;
    });
    return dir;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
