// URL lists in every supported format, plain and gzipped, read through the real readers:
// parquet written by parquetjs-lite (small row groups, so ranges skip groups) and by DuckDB
// (as pyarrow-era tools write it), CSV/TSV/JSONL/JSON/TXT text files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import parquet from 'parquetjs-lite';
import { dedupConfig, webSourceConfig, webSourceSchema, type WebSourceConfig } from '../../../schemas/web-config.ts';
import type { ImageTextRaw } from '../../../schemas/image-text.ts';
import { listWebUnits, readWebUnit, urlListFormatOfPath } from '../../../stages/sources/url-list.ts';
import { parquetRows } from '../../../stages/sources/parquet-rows.ts';
import { JsonArraySplitter } from '../../../stages/sources/list-file.ts';
import { testContext } from '../../helpers/context.ts';
import { duckQuery, sqlString } from '../../helpers/duckdb.ts';
import { readSource } from '../../../core/stage.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-url-list-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(src: WebSourceConfig) {
  const ctx = testContext();
  const units = await listWebUnits(src, dir);
  const items: ImageTextRaw[] = [];
  for (const unit of units) for await (const item of readSource('source', (c) => readWebUnit(unit, src, c), ctx)) items.push(item);
  return { units, items, ctx };
}

const ROWS = [
  { url: 'http://img.test/a.jpg', caption: 'a cat', license: 'cc-by', width: 640 },
  { url: 'http://img.test/b.jpg', caption: 'a dog, "quoted"\nsecond line', license: 'cc0', width: 320 },
  { url: 'http://img.test/c.jpg', caption: 'a bird', license: 'cc-by', width: 100 },
];

const csvField = (v: unknown) => `"${String(v).replace(/"/g, '""')}"`;

const TEXT_FORMATS: Record<string, string> = {
  'list.csv': ['url,caption,license,width', ...ROWS.map((r) => [r.url, r.caption, r.license, r.width].map(csvField).join(','))].join('\n'),
  'list.tsv': ['url\tcaption\tlicense\twidth', ...ROWS.map((r) => [r.url, r.caption, r.license, r.width].map(csvField).join('\t'))].join('\r\n'),
  'list.jsonl': ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n',
  'list.json': JSON.stringify(ROWS, null, 2),
};

for (const [name, text] of Object.entries(TEXT_FORMATS)) {
  for (const gz of [false, true]) {
    const file = gz ? `${name}.gz` : name;
    test(`${file}: urls, captions and extra columns, format from the name`, async () => {
      await writeFile(path.join(dir, file), gz ? gzipSync(text) : text);
      const { items, ctx } = await readAll(webSourceConfig({ path: file, extra_columns: ['license', 'width', 'absent'] }));
      assert.deepEqual(items.map((i) => i.url), ROWS.map((r) => r.url));
      assert.deepEqual(items.map((i) => i.caption), ROWS.map((r) => r.caption));
      assert.deepEqual(items.map((i) => i.extra), ROWS.map((r) => ({ license: r.license, width: String(r.width) })));
      assert.equal(items[0].imageBytes, undefined);
      assert.equal(items[1].id, 'list:1');
      assert.equal(items[1].source, `${file}:1`);
      assert.equal(ctx.rejects.rows.length, 0);
    });
  }
}

test('txt lists: one URL per line, blank lines skipped, empty captions', async () => {
  await writeFile(path.join(dir, 'urls.txt.gz'), gzipSync('\ufeffhttp://a.test/1.jpg\n\n  http://a.test/2.png  \r\nhttp://a.test/3.webp'));
  const { items } = await readAll(webSourceConfig({ path: 'urls.txt.gz' }));
  assert.deepEqual(items.map((i) => [i.id, i.url, i.caption]), [
    ['urls:0', 'http://a.test/1.jpg', ''],
    ['urls:1', 'http://a.test/2.png', ''],
    ['urls:2', 'http://a.test/3.webp', ''],
  ]);
});

test('configurable columns; rows without a URL or caption are rejected with reasons, not lost', async () => {
  const lines = [
    JSON.stringify({ URL: 'http://x.test/1.jpg', TEXT: 'one' }),
    JSON.stringify({ URL: '', TEXT: 'no url' }),
    JSON.stringify({ URL: 'http://x.test/3.jpg' }),
    '{not json',
    JSON.stringify({ URL: 'http://x.test/5.jpg', TEXT: 5 }),
  ];
  await writeFile(path.join(dir, 'cols.jsonl'), lines.join('\n'));
  const { items, ctx } = await readAll(webSourceConfig({ path: 'cols.jsonl', url_column: 'URL', caption_column: 'TEXT' }));
  assert.deepEqual(items.map((i) => [i.id, i.caption]), [['cols:0', 'one'], ['cols:4', '5']]);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]), [
    ['cols:1', 'source', 'bad_row'],
    ['cols:2', 'source', 'caption_missing'],
    ['cols:3', 'source', 'bad_row'],
  ]);
  const stats = ctx.stats.stage('source');
  assert.deepEqual([stats.in, stats.out, stats.droppedTotal], [5, 2, 3]);

  const noCaptions = await readAll(webSourceConfig({ path: 'cols.jsonl', url_column: 'URL', caption_column: null }));
  assert.deepEqual(noCaptions.items.map((i) => i.id), ['cols:0', 'cols:2', 'cols:4']);
  assert.equal(noCaptions.items[1].caption, '');
});

test('a JSON array is read element by element across chunk boundaries; bad elements become bad_row', async () => {
  const splitter = new JsonArraySplitter();
  const text = '\ufeff [ {"url": "a,]}", "n": [1, {"x": "\\"]"}]},\n 7 ,\n{"url":"b"} , ] trailing';
  const elements = [...text].flatMap((c) => splitter.push(c)); // one character per chunk
  elements.push(...splitter.end());
  assert.deepEqual(elements.map((e) => [e.text, e.error !== undefined]), [
    ['{"url": "a,]}", "n": [1, {"x": "\\"]"}]}', false],
    ['7', false],
    ['{"url":"b"}', false],
    ['', true], // the trailing comma leaves an empty element
  ]);
  await writeFile(path.join(dir, 'arr.json'), '[{"url":"http://j.test/1.jpg","caption":"x"}, 3, {"url":"http://j.test/2.jpg","caption":"y"}');
  const { items, ctx } = await readAll(webSourceConfig({ path: 'arr.json' }));
  assert.deepEqual(items.map((i) => i.id), ['arr:0']);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [['arr:1', 'bad_row'], ['arr:2', 'bad_row']]);
  assert.match(ctx.rejects.rows[1].detail, /ends inside the JSON array/);
  await writeFile(path.join(dir, 'empty.json'), ' [ ] ');
  assert.equal((await readAll(webSourceConfig({ path: 'empty.json' }))).units.length, 0);
  await writeFile(path.join(dir, 'object.json'), '{"url": "x"}');
  await assert.rejects(listWebUnits(webSourceConfig({ path: 'object.json' }), dir), /expected a JSON array/);
});

async function writeParquetList(file: string, rows: Record<string, unknown>[], rowGroupSize: number): Promise<void> {
  const schema = new parquet.ParquetSchema({
    url: { type: 'UTF8' },
    caption: { type: 'UTF8', optional: true },
    similarity: { type: 'DOUBLE', optional: true },
    key: { type: 'INT64' },
  });
  const writer = await parquet.ParquetWriter.openFile(schema, file, { rowGroupSize });
  for (const row of rows) await writer.appendRow(row);
  await writer.close();
}

test('parquet: row-range units skip whole row groups and still give every row exactly once', async () => {
  const rows = Array.from({ length: 47 }, (_, i) => ({
    url: `http://p.test/${i}.jpg`,
    ...(i % 10 === 9 ? {} : { caption: `caption ${i}` }),
    similarity: i / 100,
    key: i * 1000,
  }));
  const file = path.join(dir, 'laion.parquet');
  await writeParquetList(file, rows, 5);
  const src = webSourceConfig({ path: 'laion.parquet', rows_per_unit: 12, extra_columns: ['similarity', 'key'] });
  const { units, items, ctx } = await readAll(src);
  assert.deepEqual(units.map((u) => u.source), ['laion.parquet rows 0-11', 'laion.parquet rows 12-23', 'laion.parquet rows 24-35', 'laion.parquet rows 36-46']);
  const keptIds = rows.map((_, i) => i).filter((i) => i % 10 !== 9);
  assert.deepEqual(items.map((i) => i.id), keptIds.map((i) => `laion:${i}`));
  assert.deepEqual(items[3].extra, { similarity: '0.03', key: '3000' });
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [9, 19, 29, 39].map((i) => [`laion:${i}`, 'caption_missing']));

  // A range in the middle of the file decodes only the groups that overlap it.
  const middle = [];
  for await (const row of parquetRows(file, { firstRow: 23, rowCount: 4, columns: ['url', 'not_in_file'] })) middle.push(row);
  assert.deepEqual(middle.map((r) => [r.row, r.values]), [23, 24, 25, 26].map((i) => [i, { url: `http://p.test/${i}.jpg` }]));
});

test('parquet written by DuckDB (dictionary pages, snappy, nulls, int64) reads the same', async () => {
  const file = path.join(dir, 'duck.parquet');
  await duckQuery(
    `COPY (SELECT 'http://d.test/' || i || '.jpg' AS url, CASE WHEN i % 4 = 0 THEN NULL ELSE 'cap ' || (i % 3) END AS caption, i AS n
       FROM range(30) t(i)) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION snappy)`,
  );
  const { items, ctx } = await readAll(webSourceConfig({ path: 'duck.parquet', rows_per_unit: 7, extra_columns: ['n'] }));
  assert.equal(items.length + ctx.rejects.rows.length, 30);
  assert.equal(ctx.rejects.rows.length, 8);
  assert.deepEqual(items[0], { id: 'duck:1', kind: 'image_text', source: 'duck.parquet:1', caption: 'cap 1', url: 'http://d.test/1.jpg', extra: { n: '1' } });
});

test('format detection and config validation', async () => {
  assert.equal(urlListFormatOfPath('a/b/meta.PARQUET'), 'parquet');
  assert.equal(urlListFormatOfPath('x.jsonl.gz'), 'jsonl');
  assert.equal(urlListFormatOfPath('x.json.gz'), 'json');
  assert.equal(urlListFormatOfPath('x.tar'), undefined);
  await writeFile(path.join(dir, 'data.bin'), 'x');
  await assert.rejects(listWebUnits(webSourceConfig({ path: 'data.bin' }), dir), /unknown format/);
  await assert.rejects(listWebUnits(webSourceConfig({ path: 'missing.csv' }), dir), /cannot be read: ENOENT/);
  // An explicit format wins over the name.
  await writeFile(path.join(dir, 'list.data'), 'http://a.test/x.jpg\n');
  assert.equal((await readAll(webSourceConfig({ path: 'list.data', format: 'txt' }))).items.length, 1);
  assert.throws(() => webSourceSchema.parse({ kind: 'web', path: 'x', format: 'xml' }));
  assert.throws(() => webSourceSchema.parse({ kind: 'web', path: 'x', urls: 'y' }), /urls/);
  const defaults = webSourceSchema.parse({ kind: 'web', path: 'x' });
  assert.deepEqual([defaults.format, defaults.url_column, defaults.caption_column, defaults.rows_per_unit], ['auto', 'url', 'caption', 1000]);
  assert.deepEqual(dedupConfig(), { url: true, exact: true, phash: true, phash_max_distance: 4 });
  assert.throws(() => dedupConfig({ phash_max_distance: 40 }));
  assert.throws(() => dedupConfig({ fuzzy: true } as never));
});

test('parquet list columns (written by DuckDB) are read: bbox_column boxes and nested extra columns', async () => {
  const file = path.join(dir, 'faces.parquet');
  await duckQuery(
    `copy (select 'http://img.test/a.jpg' as url, 'two faces' as caption, [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6]]::double[][] as faces, ['x', 'y'] as tags
           union all select 'http://img.test/b.jpg', 'no face', []::double[][], []::varchar[]
           union all select 'http://img.test/c.jpg', 'a box out of range', [[0.1, 0.2, 1.3, 0.4]]::double[][], ['z']) to ${sqlString(file)} (format parquet)`,
  );
  const { items, ctx } = await readAll(webSourceConfig({ path: 'faces.parquet', bbox_column: 'faces', extra_columns: ['tags'] }));
  assert.deepEqual(items.map((i) => i.caption), ['two faces', 'no face']);
  assert.deepEqual(items[0].blurBoxes, [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6]]);
  assert.equal(items[1].blurBoxes, undefined);
  assert.equal(items[0].extra!.tags, '["x","y"]');
  assert.equal(ctx.rejects.rows[0].reason, 'bad_blur_boxes');
  await assert.rejects(listWebUnits(webSourceConfig({ path: 'faces.parquet', format: 'webdataset', bbox_column: 'faces' }), dir), /bbox_column applies to URL lists/);
});
