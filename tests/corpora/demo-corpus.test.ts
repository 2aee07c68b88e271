import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { captionSchema, decodeSchema, sourceSchema } from '../../schemas/config.ts';
import type { ImageTextSample } from '../../schemas/image-text.ts';
import { readSource, pipe, type StageContext } from '../../core/stage.ts';
import { listImageTextUnits, readImageTextUnit, type ImageTextSourceConfig } from '../../stages/sources/image-text-local.ts';
import { captionRulesStage } from '../../stages/curate/caption-rules.ts';
import { imageDecodeStage } from '../../stages/decode/image-decode.ts';
import { COLOURS, makeDemoCorpus, mulberry32, SHAPES, type DemoCorpusInfo, type DemoObject } from '../../corpora/demo-corpus.ts';
import { testContext } from '../helpers/context.ts';

let tmp: string;
let first: DemoCorpusInfo;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'weft-demo-'));
  first = await makeDemoCorpus(path.join(tmp, 'a'), { count: 30, seed: 7 });
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await readdir(path.join(dir, 'images'))).sort()) out.set(name, await readFile(path.join(dir, 'images', name)));
  out.set('truth.json', await readFile(path.join(dir, 'truth.json')));
  return out;
}

test('mulberry32 is deterministic and spread over [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
});

test('same seed gives byte-identical files; another seed does not', async () => {
  const again = await makeDemoCorpus(path.join(tmp, 'b'), { count: 30, seed: 7 });
  const a = await snapshot(first.dir);
  const b = await snapshot(again.dir);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name} differs between runs`);
  const other = await snapshot((await makeDemoCorpus(path.join(tmp, 'c'), { count: 30, seed: 8 })).dir);
  assert.ok(!a.get('truth.json')!.equals(other.get('truth.json')!));
});

test('truth describes every image, its boxes, the swaps and the expected rejects', async () => {
  const truth = JSON.parse(await readFile(first.truthPath, 'utf8'));
  assert.equal(Object.keys(truth.samples).length, 30);
  assert.equal(first.swapped.length, 3); // round(30 * 0.1)
  assert.deepEqual(truth.swapped, first.swapped);
  assert.deepEqual(
    first.bad.map((b) => [b.id, b.stage, b.reason]),
    [
      ['truncated', 'decode', 'decode_failed'],
      ['empty', 'decode', 'empty_file'],
      ['not-an-image', 'decode', 'not_image'],
      ['bomb', 'decode', 'too_many_pixels'],
      ['no-caption', 'source', 'caption_missing'],
      ['blank-caption', 'caption', 'caption_missing'],
      ['orphan-caption', 'source', 'image_missing'],
    ],
  );
  for (const [id, s] of Object.entries<{ file: string; caption: string; true_caption: string; swapped: boolean; objects: DemoObject[] }>(truth.samples)) {
    const onDisk = (await readFile(path.join(first.imagesDir, `${id}.txt`), 'utf8')).trim();
    assert.equal(onDisk, s.caption);
    assert.equal(s.swapped, first.swapped.includes(id));
    if (s.swapped) assert.notEqual(s.caption, s.true_caption);
    else assert.equal(s.caption, s.true_caption);
    const meta = await sharp(path.join(first.imagesDir, s.file)).metadata();
    assert.deepEqual([meta.width, meta.height], [128, 128]);
    assert.ok(s.objects.length >= 1 && s.objects.length <= 2);
    for (const o of s.objects) {
      assert.ok(SHAPES.includes(o.shape) && o.colour in COLOURS);
      assert.ok(s.true_caption.includes(o.phrase), `${id}: "${s.true_caption}" should mention "${o.phrase}"`);
      const [x0, y0, x1, y1] = o.box;
      assert.ok(0 <= x0 && x0 < x1 && x1 <= 128 && 0 <= y0 && y0 < y1 && y1 <= 128, `${id} box ${o.box}`);
    }
  }
});

test('the object colour is really at the centre of its box', async () => {
  const truth = JSON.parse(await readFile(first.truthPath, 'utf8'));
  const s = truth.samples['img-00000'];
  const { data, info } = await sharp(path.join(first.imagesDir, s.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (const o of s.objects as DemoObject[]) {
    const x = Math.round((o.box[0] + o.box[2]) / 2);
    const y = Math.round((o.box[1] + o.box[3]) / 2);
    const i = (y * info.width + x) * info.channels;
    const want = COLOURS[o.colour].match(/[0-9a-f]{2}/g)!.map((h) => parseInt(h, 16));
    const got = [data[i], data[i + 1], data[i + 2]];
    assert.ok(got.every((v, k) => Math.abs(v - want[k]) < 40), `${o.phrase} at ${x},${y}: got ${got}, want ${want}`);
  }
});

test('source, caption and decode stages reject exactly the files truth expects', async () => {
  const src = sourceSchema.parse({ kind: 'image_text', path: first.imagesDir, rows_per_unit: 16 }) as ImageTextSourceConfig;
  const ctx: StageContext = testContext();
  const kept: ImageTextSample[] = [];
  for (const unit of await listImageTextUnits(src, tmp)) {
    const stages = pipe(readSource('source', (c) => readImageTextUnit(unit, src, c), ctx), ctx, captionRulesStage(captionSchema.parse({})), imageDecodeStage(decodeSchema.parse({ image_size: 64 }), 2));
    for await (const sample of stages) kept.push(sample);
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
  assert.deepEqual(
    ctx.rejects.rows.map((r) => ({ id: r.id, stage: r.stage, reason: r.reason })).sort(byId),
    first.bad.map((b) => ({ id: b.id, stage: b.stage, reason: b.reason })).sort(byId),
  );
  assert.equal(kept.length, 30);
  assert.ok(kept.every((k) => k.width === 64 && k.height === 64 && k.originalWidth === 128));
});

test('runs as a script', async () => {
  const out = path.join(tmp, 'cli');
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.resolve('scripts/make-demo-corpus.ts'), out, '--count', '5', '--seed', '3']);
  const info = JSON.parse(stdout);
  assert.equal(info.count, 5);
  assert.equal((await readdir(path.join(out, 'images'))).filter((f) => f.startsWith('img-')).length, 10);
});
