import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { sourceSchema } from '../../../schemas/config.ts';
import type { ImageTextRaw } from '../../../schemas/image-text.ts';
import type { StageContext } from '../../../core/stage.ts';
import type { Unit } from '../../../core/units.ts';
import { listImageTextUnits, readImageTextUnit, type ImageTextSourceConfig, type ImageTextUnitSpec } from '../../../stages/sources/image-text-local.ts';
import { testContext } from '../../helpers/context.ts';
import { readSource } from '../../../core/stage.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-source-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function source(over: Record<string, unknown>): ImageTextSourceConfig {
  return sourceSchema.parse({ kind: 'image_text', ...over }) as ImageTextSourceConfig;
}

function makeCtx(): StageContext {
  return testContext();
}

async function readAll(units: Unit<ImageTextUnitSpec>[], src: ImageTextSourceConfig, ctx = makeCtx()): Promise<{ items: ImageTextRaw[]; ctx: StageContext }> {
  const items: ImageTextRaw[] = [];
  for (const unit of units) for await (const item of readSource('source', (c) => readImageTextUnit(unit, src, c), ctx)) items.push(item);
  return { items, ctx };
}

async function files(root: string, entries: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(entries)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
}

test('folder: pairs sidecar captions recursively, in path order, and rejects the unpaired', async () => {
  const root = path.join(dir, 'folder');
  await files(root, {
    'b.jpg': 'img',
    'b.txt': 'caption b',
    'a.png': 'img',
    'a.txt': '\ufeffcaption a\n',
    'a.json': '{"meta": true}', // metadata next to an image is not an image
    'sub/c.webp': 'img',
    'sub/c.txt': 'caption c',
    'sub/d.JPEG': 'img', // no caption
    'e.txt': 'caption without image',
    'f.heic': 'img', // unknown extension, but it has a caption: decode decides
    'f.txt': 'caption f',
    'notes.md': 'ignored',
    '.hidden.jpg': 'ignored',
    '.git/x.jpg': 'ignored',
  });
  const src = source({ path: 'folder', rows_per_unit: 2 });
  const units = await listImageTextUnits(src, dir);
  assert.deepEqual(units.map((u) => u.id), ['folder-00000', 'folder-00001', 'folder-00002']);
  assert.deepEqual(units.map((u) => u.source), ['folder: a.png .. b.jpg', 'folder: e.txt .. f.heic', 'folder: sub/c.webp .. sub/d.JPEG']);
  const { items, ctx } = await readAll(units, src);
  assert.deepEqual(
    items.map((i) => [i.id, i.source, i.caption]),
    [
      ['a', 'a.png', 'caption a\n'],
      ['b', 'b.jpg', 'caption b'],
      ['f', 'f.heic', 'caption f'],
      ['sub/c', 'sub/c.webp', 'caption c'],
    ],
  );
  assert.equal(items[0].imagePath, path.join(root, 'a.png'));
  assert.equal(items[0].kind, 'image_text');
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.source, r.stage, r.reason]), [
    ['e', 'e.txt', 'source', 'image_missing'],
    ['sub/d', 'sub/d.JPEG', 'source', 'caption_missing'],
  ]);
  assert.match(ctx.rejects.rows[1].detail, /no sidecar sub\/d\.txt/);
  const stats = ctx.stats.stage('source');
  assert.deepEqual([stats.in, stats.out, stats.droppedTotal], [6, 4, 2]);
});

test('folder: images sharing a stem get distinct ids; an empty folder gives no units', async () => {
  const root = path.join(dir, 'twins');
  await files(root, { 'x.jpg': 'img', 'x.png': 'img', 'x.txt': 'twin caption' });
  const src = source({ path: root });
  const { items } = await readAll(await listImageTextUnits(src, '/unused'), src);
  assert.deepEqual(items.map((i) => [i.id, i.caption]), [['x.jpg', 'twin caption'], ['x.png', 'twin caption']]);
  await mkdir(path.join(dir, 'empty'));
  assert.deepEqual(await listImageTextUnits(source({ path: 'empty' }), dir), []);
});

const JSONL_ROWS = [
  JSON.stringify({ image: 'imgs/0.jpg', caption: 'zero', license: 'cc-by', score: 0.5 }),
  JSON.stringify({ image: 'https://example.com/1.jpg', caption: 'one', license: 'cc0' }),
  '{not json',
  '',
  JSON.stringify({ caption: 'no image' }),
  JSON.stringify({ image: '/abs/4.jpg' }),
  JSON.stringify({ image: 'file:///abs/5.jpg', caption: 5, meta: { a: 1 } }),
  JSON.stringify(['an', 'array']),
].join('\n');

test('jsonl list: row ranges, URLs, relative paths, extra columns and bad rows', async () => {
  await files(dir, { 'lists/caps.jsonl': JSONL_ROWS + '\n' });
  // allow_paths_outside_root: row 5 names /abs/5.jpg (refused by default: local-file-guard.test.ts).
  const src = source({ path: 'lists/caps.jsonl', rows_per_unit: 3, extra_columns: ['license', 'score', 'meta'], allow_paths_outside_root: true });
  const units = await listImageTextUnits(src, dir);
  // 7 non-blank rows in units of 3.
  assert.deepEqual(units.map((u) => u.id), ['caps-00000', 'caps-00001', 'caps-00002']);
  assert.deepEqual(units.map((u) => u.source), ['lists/caps.jsonl rows 0-2', 'lists/caps.jsonl rows 3-5', 'lists/caps.jsonl rows 6-6']);
  const { items, ctx } = await readAll(units, src);
  assert.deepEqual(items.map((i) => i.id), ['caps:0', 'caps:1', 'caps:5']);
  assert.equal(items[0].imagePath, path.join(dir, 'lists/imgs/0.jpg'));
  assert.equal(items[0].source, 'caps.jsonl:0');
  assert.deepEqual(items[0].extra, { license: 'cc-by', score: '0.5' });
  assert.equal(items[1].url, 'https://example.com/1.jpg');
  assert.equal(items[1].imagePath, undefined);
  assert.equal(items[2].caption, '5');
  assert.equal(items[2].imagePath, path.resolve('/abs/5.jpg'));
  assert.deepEqual(items[2].extra, { meta: '{"a":1}' });
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [
    ['caps:2', 'bad_row'],
    ['caps:3', 'bad_row'],
    ['caps:4', 'caption_missing'],
    ['caps:6', 'bad_row'],
  ]);
  assert.match(ctx.rejects.rows[0].detail, /row 2: line 3 is not valid JSON/);
  assert.match(ctx.rejects.rows[1].detail, /no value in image column 'image'/);
  const stats = ctx.stats.stage('source');
  assert.deepEqual([stats.in, stats.out], [7, 3]);
});

test('gzipped lists read the same as plain ones; a middle unit reads only its rows', async () => {
  await writeFile(path.join(dir, 'lists/caps.jsonl.gz'), gzipSync(JSONL_ROWS));
  const plain = source({ path: 'lists/caps.jsonl', rows_per_unit: 2, allow_paths_outside_root: true });
  const gz = source({ path: 'lists/caps.jsonl.gz', rows_per_unit: 2, allow_paths_outside_root: true });
  const gzUnits = await listImageTextUnits(gz, dir);
  assert.deepEqual(gzUnits.map((u) => u.id), ['caps-00000', 'caps-00001', 'caps-00002', 'caps-00003']);
  const a = await readAll(await listImageTextUnits(plain, dir), plain);
  const b = await readAll(gzUnits, gz);
  // Only `source` differs: it names the file actually read.
  const withoutSource = <T extends { source: string }>(xs: T[]) => xs.map(({ source: _s, ...rest }) => rest);
  assert.deepEqual(withoutSource(b.items), withoutSource(a.items));
  assert.deepEqual(withoutSource(b.ctx.rejects.rows), withoutSource(a.ctx.rejects.rows));
  assert.equal(b.items[0].source, 'caps.jsonl.gz:0');
  const middle = await readAll([gzUnits[2]], gz);
  assert.deepEqual(middle.items.map((i) => i.id), ['caps:5']);
  assert.deepEqual(middle.ctx.rejects.rows.map((r) => r.id), ['caps:4']);
});

test('csv list: quoted captions with commas and line breaks, custom columns, wrong field counts', async () => {
  const csv = [
    'url,text,license',
    'http://h/0.jpg,"a dog, running",cc0',
    'http://h/1.jpg,"two\nlines ""quoted""",cc-by',
    'http://h/2.jpg,too,many,fields',
    ',empty image,cc0',
    'http://h/4.jpg,,cc0',
  ].join('\r\n');
  await files(dir, { 'lists/web.csv': csv });
  const src = source({ path: 'lists/web.csv', image_column: 'url', caption_column: 'text', extra_columns: ['license', 'missing'] });
  const units = await listImageTextUnits(src, dir);
  assert.deepEqual(units.map((u) => u.id), ['web-00000']);
  const { items, ctx } = await readAll(units, src);
  assert.deepEqual(items.map((i) => [i.id, i.url, i.caption, i.extra]), [
    ['web:0', 'http://h/0.jpg', 'a dog, running', { license: 'cc0' }],
    ['web:1', 'http://h/1.jpg', 'two\nlines "quoted"', { license: 'cc-by' }],
    // An empty caption passes the source; the caption rules reject it.
    ['web:4', 'http://h/4.jpg', '', { license: 'cc0' }],
  ]);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [['web:2', 'bad_row'], ['web:3', 'bad_row']]);
  assert.match(ctx.rejects.rows[0].detail, /line 5 has 4 fields, the header has 3/);
});

test('tsv.gz list with the format given explicitly', async () => {
  await writeFile(path.join(dir, 'lists/cc.tsv.gz'), gzipSync('caption\timage\n"a, b"\tx.jpg\nplain "quote"\ty.jpg\n'));
  const src = source({ path: 'lists/cc.tsv.gz', format: 'tsv' });
  const { items } = await readAll(await listImageTextUnits(src, dir), src);
  assert.deepEqual(items.map((i) => [i.caption, path.basename(i.imagePath!)]), [['a, b', 'x.jpg'], ['plain "quote"', 'y.jpg']]);
});

test('clear errors for a missing path, an unknown format and a format that does not fit', async () => {
  await assert.rejects(listImageTextUnits(source({ path: 'nowhere' }), dir), (err: Error) => err.message.includes(path.join(dir, 'nowhere')));
  await files(dir, { 'lists/data.xml': '<x/>' });
  await assert.rejects(listImageTextUnits(source({ path: 'lists/data.xml' }), dir), /data\.xml: unknown format/);
  await assert.rejects(listImageTextUnits(source({ path: 'lists', format: 'csv' }), dir), /format 'csv' needs a file/);
  await assert.rejects(listImageTextUnits(source({ path: 'lists/web.csv', format: 'folder' }), dir), /format 'folder' needs a folder/);
});

test('unit ids sort in unit order past 100000 units', async () => {
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ image: `${i}.jpg`, caption: `c${i}` })).join('\n');
  await files(dir, { 'lists/many.jsonl': rows });
  const units = await listImageTextUnits(source({ path: 'lists/many.jsonl', rows_per_unit: 1 }), dir);
  const ids = units.map((u) => u.id);
  assert.equal(ids[0], 'many-00000');
  assert.deepEqual([...ids].sort(), ids);
});
