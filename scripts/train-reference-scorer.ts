// Trains the reference scorer and writes it as a scorer folder with a training card.
//
//   node --import tsx scripts/train-reference-scorer.ts [--out DIR] [--corpus DIR]
//        [--count N] [--heldout N] [--epochs N] [--seed N] [--id ID]
//
// Without --corpus it generates the synthetic corpus (scripts/make-demo-corpus.ts, clean captions,
// 64 px) in a temp folder. A corpus is a folder of images with sidecar .txt captions. The held-out
// pairs are scored through loadScorer on the written folder, i.e. exactly as a run would.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { makeDemoCorpus } from './make-demo-corpus.ts';
import { writeReferenceScorer } from './onnx/reference-model.ts';
import { seededRandom } from './onnx/random.ts';
import { retrievalRecall, trainReferenceScorer, type ReferenceTrainingResult, type TrainingPair } from '../stages/score/reference-trainer.ts';
import { embedReadableImages, loadScorer } from '../stages/score/scorer.ts';

interface Args {
  out: string;
  corpus: string | null;
  count: number;
  heldout: number;
  epochs: number;
  seed: number;
  id: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { out: path.join('models', 'reference'), corpus: null, count: 6000, heldout: 1000, epochs: 40, seed: 1, id: 'weft-reference-synthetic' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--out') a.out = value;
    else if (flag === '--corpus') a.corpus = value;
    else if (flag === '--id') a.id = value;
    else if (flag === '--count' || flag === '--heldout' || flag === '--epochs' || flag === '--seed') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer, got ${value}`);
      a[flag.slice(2) as 'count' | 'heldout' | 'epochs' | 'seed'] = n;
    } else throw new Error(`unknown option ${flag}`);
  }
  return a;
}

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

function split<T>(items: T[], heldout: number, seed: number): { train: T[]; test: T[] } {
  const random = seededRandom(seed ^ 0x5eed);
  const order = items.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const test = new Set(order.slice(0, heldout));
  return { train: items.filter((_, i) => !test.has(i)), test: items.filter((_, i) => test.has(i)) };
}

function trainingCard(args: Args, source: string, result: ReferenceTrainingResult, counts: { train: number; test: number }, metrics: ReturnType<typeof retrievalRecall>, seconds: number, modelSha256: string): string {
  const o = result.options;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return `# ${args.id}: training card

Reference scorer of weft, trained by \`scripts/train-reference-scorer.ts\`.

## Data
- source: ${source}
- pairs: ${counts.train} for training, ${counts.test} held out (seeded random split, seed ${args.seed})
- skipped (unreadable images): ${result.skipped.length}

## Model
- image: ${o.imageSize} px; conv 5x5 (${o.channels[0]} filters from ZCA-whitened image patches) -> ReLU -> max-pool 2,
  conv 3x3 (${o.channels[1]}, random) -> ReLU -> max-pool 2, conv 3x3 (${o.channels[2]}, random) -> ReLU -> max-pool 2;
  spatial pyramid ${o.pyramid.map((g) => `${g}x${g}`).join(', ')} with a learned projection per region to ${o.dim}-d
- text: mean of learned embeddings of lower-cased words (${result.weights.vocab.length - 2} words) and adjacent bigrams (${result.weights.bigrams.length}), context ${o.contextLength}
- model sha256: ${modelSha256}

## Training
- symmetric InfoNCE, temperature ${o.temperature}; AdamW lr ${o.learningRate} (warm-up, cosine decay), weight decay ${o.weightDecay}
- batch ${o.batchSize}, ${o.epochs} epochs, ${result.steps} steps, seed ${o.seed}, ${seconds.toFixed(0)} s
- loss per epoch: ${result.losses.map((l) => l.toFixed(3)).join(' ')}

## Held-out retrieval (${counts.test} pairs, scored through loadScorer)
| direction | R@1 | R@5 | R@10 |
| --- | --- | --- | --- |
| image -> text | ${pct(metrics.imageToText[1])} | ${pct(metrics.imageToText[5])} | ${pct(metrics.imageToText[10])} |
| text -> image | ${pct(metrics.textToImage[1])} | ${pct(metrics.textToImage[5])} | ${pct(metrics.textToImage[10])} |
`;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const started = performance.now();
  let source: string;
  let pairs: TrainingPair[];
  let scratch: string | null = null;
  if (args.corpus) {
    pairs = await readCaptionFolder(args.corpus);
    source = `caption folder ${path.basename(path.resolve(args.corpus))} (${pairs.length} pairs)`;
  } else {
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-train-corpus-'));
    const info = await makeDemoCorpus(scratch, { count: args.count + args.heldout, swapFraction: 0, seed: args.seed, size: 64 });
    pairs = await readCaptionFolder(info.imagesDir);
    source = `synthetic corpus (scripts/make-demo-corpus.ts, seed ${args.seed}, ${args.count + args.heldout} images, 64 px, no swaps)`;
  }
  try {
    const { train, test } = split(pairs, Math.min(args.heldout, Math.floor(pairs.length / 5)), args.seed);
    console.log(`training on ${train.length} pairs, holding out ${test.length}`);
    const result = await trainReferenceScorer(train, { seed: args.seed, epochs: args.epochs, log: (line) => console.log(line) });
    await writeReferenceScorer(args.out, result.weights, { id: args.id, description: 'weft reference scorer (see TRAINING.md)' });

    const scorer = await loadScorer(args.out);
    let metrics: ReturnType<typeof retrievalRecall>;
    let heldout = 0;
    try {
      const images = await embedReadableImages(scorer, test.map((p) => p.image));
      const readable = test.map((_, i) => i).filter((i) => images.pooled[i] !== null);
      if (images.failed.length) console.log(`held out: ${images.failed.length} unreadable images left out`);
      const texts = await scorer.embedTexts(readable.map((i) => test[i].caption));
      metrics = retrievalRecall(readable.map((i) => images.pooled[i]!), texts.pooled);
      heldout = readable.length;
    } finally {
      await scorer.close();
    }
    const seconds = (performance.now() - started) / 1000;
    const sha = createHash('sha256');
    for (const f of ['vision_model.onnx', 'text_model.onnx']) sha.update(await fs.readFile(path.join(args.out, f)));
    await fs.writeFile(path.join(args.out, 'TRAINING.md'), trainingCard(args, source, result, { train: train.length - result.skipped.length, test: heldout }, metrics, seconds, sha.digest('hex')));
    console.log(JSON.stringify({ out: args.out, heldout, ...metrics, seconds: Math.round(seconds) }));
  } finally {
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`train-reference-scorer: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
