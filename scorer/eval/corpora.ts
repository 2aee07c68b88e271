// The two corpora the reference scorer is trained and evaluated on, as image-caption pairs:
// the synthetic shapes corpus (scripts/make-demo-corpus.ts; every object, its phrase and box
// known) and Debian's openclipart-svg rendered small (scripts/make-openclipart-corpus.ts; real,
// noisy captions typed by the artists). Both are generated on demand into a cache folder and
// reused while their options match.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import parquet from 'parquetjs-lite';
import { makeDemoCorpus, type DemoObject } from '../../corpora/demo-corpus.ts';
import { makeOpenclipartCorpus } from '../../corpora/openclipart-corpus.ts';
import type { TrainingPair } from '../reference-trainer.ts';

export interface CorpusPair extends TrainingPair {
  /** Synthetic pairs: the objects drawn, with phrases and pixel boxes. */
  objects?: DemoObject[];
  /** Side of the square synthetic image in pixels. */
  side?: number;
  /** Openclipart pairs: the category folder the drawing came from. */
  collection?: string;
}

export interface SyntheticOptions {
  count: number;
  seed: number;
  /** Image side in pixels (default 64). */
  size?: number;
}

/** Clean synthetic pairs (no swapped captions, no broken files), generated into `dir` unless already there. */
export async function syntheticCorpus(dir: string, o: SyntheticOptions): Promise<CorpusPair[]> {
  const size = o.size ?? 64;
  const truthPath = path.join(dir, 'truth.json');
  const truth = await readJson(truthPath);
  if (!(truth && truth.count === o.count && truth.seed === o.seed && truth.size === size && truth.swap_fraction === 0)) {
    await makeDemoCorpus(dir, { count: o.count, seed: o.seed, size, swapFraction: 0 });
  }
  return loadSyntheticCorpus(dir);
}

interface SyntheticTruth {
  count: number;
  seed: number;
  size: number;
  swap_fraction: number;
  samples: Record<string, { file: string; true_caption: string; objects: DemoObject[] }>;
}

/** The good samples of a make-demo-corpus folder, each with its true caption. */
async function loadSyntheticCorpus(dir: string): Promise<CorpusPair[]> {
  const truth = (await readJson(path.join(dir, 'truth.json'))) as SyntheticTruth | null;
  if (!truth) throw new Error(`${dir}: no truth.json (not a make-demo-corpus folder)`);
  const pairs: CorpusPair[] = [];
  for (const [id, s] of Object.entries(truth.samples).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const image = await fs.readFile(path.join(dir, 'images', s.file));
    pairs.push({ id, image, caption: s.true_caption, objects: s.objects, side: truth.size });
  }
  return pairs;
}

export interface OpenclipartCorpusOptions {
  /** SVGs to pick (default 9000: all of Debian's ~8100). */
  count?: number;
  /** Longest side of the rendering (default 64). */
  size?: number;
  /** Folder of the SVG tree (default Debian's). */
  root?: string;
}

/**
 * Openclipart drawings with their captions, rendered into `dir` unless already there. Drawings
 * are flattened onto white, as a web page shows them: their transparent background would
 * otherwise turn black and hide black outlines.
 */
export async function openclipartCorpus(dir: string, o: OpenclipartCorpusOptions = {}): Promise<CorpusPair[]> {
  const count = o.count ?? 9000;
  const size = o.size ?? 64;
  const info = await readJson(path.join(dir, 'corpus.json'));
  if (!(info && info.count === count && info.size === size)) await makeOpenclipartCorpus(dir, { count, size, ...(o.root ? { root: o.root } : {}) });
  return loadOpenclipartCorpus(dir);
}

async function loadOpenclipartCorpus(dir: string): Promise<CorpusPair[]> {
  const reader = await parquet.ParquetReader.openFile(path.join(dir, 'urls.parquet'));
  const rows: Record<string, unknown>[] = [];
  try {
    const cursor = reader.getCursor(['url', 'caption', 'keywords', 'collection', 'svg']);
    for (let row = await cursor.next(); row; row = await cursor.next()) rows.push(row);
  } finally {
    await reader.close();
  }
  const pairs: CorpusPair[] = [];
  for (const row of rows) {
    const caption = withKeywords(String(row.caption ?? '').trim(), String(row.keywords ?? ''));
    if (!caption) continue;
    const name = decodeURIComponent(String(row.url).split('/').pop() ?? '');
    const png = await fs.readFile(path.join(dir, 'images', name));
    const image = await sharp(png).flatten({ background: '#ffffff' }).png().toBuffer();
    pairs.push({ id: String(row.svg), image, caption, collection: String(row.collection ?? '') });
  }
  return pairs;
}

/**
 * The page caption followed by the drawing's keywords, as alt text and tags come together on a
 * web page. The keywords are what most often names the subject in plain words ("Echidna" is
 * tagged mammal, monotreme, australian, animal), and they are as noisy as the rest (author
 * names, "hash", file-name fragments). A caption that already is the keyword list stays as it is.
 */
export function withKeywords(caption: string, keywords: string): string {
  const tags = keywords.trim();
  if (!tags || captionKey(caption) === captionKey(tags)) return caption;
  return caption ? `${caption}. ${tags}` : tags;
}


/** Captions compared as the tokenizer sees them: lower-cased words only. */
export function captionKey(caption: string): string {
  return (caption.normalize('NFKC').toLowerCase().match(/\w+/gu) ?? []).join(' ');
}

/**
 * Openclipart retrieval sets: one item per distinct caption of the test split (so a query has
 * one right answer), and the subset whose caption never occurs in training (near-duplicate
 * drawings of one collection share captions, which makes a random split leaky).
 */
export function distinctCaptionSets<T extends TrainingPair>(train: T[], test: T[]): { distinct: T[]; novel: T[] } {
  const seen = new Set<string>();
  const distinct = test.filter((p) => {
    const key = captionKey(p.caption);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const trained = new Set(train.map((p) => captionKey(p.caption)));
  return { distinct, novel: distinct.filter((p) => !trained.has(captionKey(p.caption))) };
}

async function readJson(file: string): Promise<Record<string, any> | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return null;
  }
}
