// Eval-set decontamination through weft run on image_text: resized and re-encoded copies of eval
// images are dropped with reason eval_contamination (or marked, with drop: false); other images
// are kept; a folder without images is an error naming the key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '../../../core/random.ts';
import { parseConfig } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { evalImageHashes } from '../../../stages/curate/decontaminate.ts';
import { parquetRows } from '../../helpers/out-dir.ts';

let root: string;
let imagesDir: string;
let evalDir: string;
const EVAL = ['pic-02', 'pic-09', 'pic-20'];

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-decontaminate-'));
  // Distinct pictures: random 6x6 colour fields smoothly upscaled (sizes and aspects vary).
  imagesDir = path.join(root, 'images');
  await fs.mkdir(imagesDir, { recursive: true });
  const rand = mulberry32(31);
  const images = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      sharp(Buffer.from(Array.from({ length: 6 * 6 * 3 }, () => Math.floor(rand() * 256))), { raw: { width: 6, height: 6, channels: 3 } })
        .resize(96 + (i % 4) * 20, 96, { kernel: 'cubic' })
        .png()
        .toBuffer(),
    ),
  );
  for (const [i, bytes] of images.entries()) {
    const id = `pic-${String(i).padStart(2, '0')}`;
    await fs.writeFile(path.join(imagesDir, `${id}.png`), bytes);
    await fs.writeFile(path.join(imagesDir, `${id}.txt`), `picture number ${i}`);
  }
  evalDir = path.join(root, 'eval', 'set');
  await fs.mkdir(evalDir, { recursive: true });
  // The eval set holds bigger, re-encoded versions of three corpus images.
  for (const id of EVAL) await sharp(path.join(imagesDir, `${id}.png`)).resize({ width: 200 }).webp({ quality: 80 }).toFile(path.join(evalDir, `${id}-eval.webp`));
});

after(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const run = async (drop: boolean, out: string) => {
  const config = parseConfig({ source: { kind: 'image_text', path: imagesDir, rows_per_unit: 15 }, decode: { image_size: 64 }, curate: { decontaminate: { eval_images: path.join(root, 'eval'), drop } } });
  await runPipeline({ loaded: { config, baseDir: root }, outDir: out });
  return { index: await parquetRows(path.join(out, 'index.parquet')), rejects: await parquetRows(path.join(out, 'rejects.parquet')) };
};

test('copies of eval images are dropped with reason eval_contamination; the rest is kept', async () => {
  const { index, rejects } = await run(true, path.join(root, 'out-drop'));
  const contaminated = rejects.filter((r) => r.reason === 'eval_contamination');
  assert.deepEqual(contaminated.map((r) => String(r.id)).sort(), EVAL);
  for (const r of contaminated) {
    assert.equal(r.stage, 'decontaminate');
    assert.match(String(r.detail), new RegExp(`pHash distance \\d+ <= 6 to eval image set/${r.id}-eval\\.webp`));
  }
  assert.ok(index.length === 27 && index.every((r) => !EVAL.includes(String(r.id))));
  assert.ok(!('eval_contamination' in index[0]), 'no column when contaminated samples are dropped');
});

test('with drop false the samples stay, marked with the eval image they match', async () => {
  const { index, rejects } = await run(false, path.join(root, 'out-mark'));
  assert.equal(rejects.filter((r) => r.reason === 'eval_contamination').length, 0);
  const marked = index.filter((r) => r.eval_contamination !== null);
  assert.deepEqual(marked.map((r) => [String(r.id), r.eval_contamination]).sort(), EVAL.map((id) => [id, `set/${id}-eval.webp`]));
});

test('an eval folder without images is an error naming the key', async () => {
  const empty = path.join(root, 'empty');
  await fs.mkdir(empty, { recursive: true });
  await assert.rejects(evalImageHashes(empty), /curate\.decontaminate\.eval_images: no images/);
});
