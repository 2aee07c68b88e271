import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFlatParquet, writeFlatParquet, REJECT_COLUMNS, INDEX_BASE_COLUMNS } from '../../output/parquet-tables.ts';
import { duckQuery, sqlString } from '../helpers/duckdb.ts';

test('flat Parquet tables read back identically with DuckDB', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-pq-'));
  const file = path.join(dir, 'rejects.parquet');
  const rows = Array.from({ length: 2500 }, (_, i) => ({
    id: `id-${i}`, kind: 'image_text', source: `s/${i}.jpg`, stage: i % 2 ? 'decode' : 'caption',
    reason: i % 3 ? 'decode_failed' : 'caption_too_short', detail: i === 7 ? "quote ' and unicode ✓" : `detail ${i}`,
  }));
  assert.equal(await writeFlatParquet(file, REJECT_COLUMNS, rows), 2500);
  assert.deepEqual(await readdir(dir), ['rejects.parquet'], 'no temp file left');
  const back = await duckQuery(`select * from read_parquet(${sqlString(file)}) order by cast(substr(id, 4) as integer)`);
  assert.equal(back.length, 2500);
  // Typed reject columns the rows do not set read back as null.
  assert.deepEqual(back[7], { ...rows[7], url: null, host: null, score: null, value: null, threshold: null });
  const counts = await duckQuery(`select reason, count(*)::INTEGER as n from read_parquet(${sqlString(file)}) group by reason order by reason`);
  assert.deepEqual(counts, [{ reason: 'caption_too_short', n: 834 }, { reason: 'decode_failed', n: 1666 }]);
});

test('optional columns may be absent; required ones may not', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-pq-'));
  const cols = [...INDEX_BASE_COLUMNS, { name: 'score', type: 'DOUBLE' as const, optional: true }];
  const file = path.join(dir, 'index.parquet');
  await writeFlatParquet(file, cols, [
    { id: 'a', kind: 'k', shard: 'shards/x.arrow', row: 0, unit: 'u', score: 0.25 },
    { id: 'b', kind: 'k', shard: 'shards/x.arrow', row: 1, unit: 'u' },
  ]);
  const back = await duckQuery(`select id, "row"::INTEGER as r, score from read_parquet(${sqlString(file)}) order by id`);
  assert.deepEqual(back, [{ id: 'a', r: 0, score: 0.25 }, { id: 'b', r: 1, score: null }]);
  await assert.rejects(writeFlatParquet(path.join(dir, 'bad.parquet'), cols, [{ id: 'a' }]), /required column kind/);
  assert.ok(!(await readdir(dir)).some((f) => f.startsWith('bad')), 'failed write leaves nothing');
});

test('an empty table is still a valid Parquet file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-pq-'));
  const file = path.join(dir, 'rejects.parquet');
  await writeFlatParquet(file, REJECT_COLUMNS, []);
  const back = await duckQuery(`select count(*)::INTEGER as n from read_parquet(${sqlString(file)})`);
  assert.deepEqual(back, [{ n: 0 }]);
});

test('strings keep NULs, newlines, quotes and non-BMP characters; a lone surrogate becomes U+FFFD', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-pq-'));
  const file = path.join(dir, 'index.parquet');
  const cols = [...INDEX_BASE_COLUMNS, { name: 'caption', type: 'UTF8' as const, optional: true }, { name: 'big', type: 'INT64' as const, optional: true }];
  const base = { kind: 'k', shard: 'shards/x.arrow', unit: 'u' };
  const captions = ['nul\u0000inside', 'new\nline\t"quoted" \\ back', 'emoji \u{1F600} ✓', 'lone \ud800 high'];
  await writeFlatParquet(file, cols, captions.map((caption, i) => ({ ...base, id: `r${i}`, row: i, caption, big: 2 ** 53 - 1 - i })), { weft: '{"k":"v"}' });
  const back = await duckQuery(`select caption, big::DOUBLE as big from read_parquet(${sqlString(file)}) order by "row"`);
  assert.deepEqual(back.map((r) => r.caption), [...captions.slice(0, 3), 'lone \ufffd high']);
  assert.deepEqual(back.map((r) => r.big), captions.map((_, i) => 2 ** 53 - 1 - i));
  const kv = await duckQuery(`select decode(value) as v from parquet_kv_metadata(${sqlString(file)}) where decode(key) = 'weft'`);
  assert.deepEqual(kv, [{ v: '{"k":"v"}' }]);
  assert.deepEqual(await readdir(dir), ['index.parquet'], 'no rows file left');
});

test('a table of several row groups reads back in order with the in-process reader too', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-pq-'));
  const file = path.join(dir, 'index.parquet');
  const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: `id-${i}`, kind: 'k', shard: `shards/${i % 7}.arrow`, row: i, unit: 'u' }));
  assert.equal(await writeFlatParquet(file, INDEX_BASE_COLUMNS, rows), rows.length);
  const groups = await duckQuery(`select count(distinct row_group_id)::INTEGER as n from parquet_metadata(${sqlString(file)})`);
  assert.deepEqual(groups, [{ n: 3 }]);
  assert.deepEqual(await readFlatParquet(file), rows);
  assert.deepEqual(await readdir(dir), ['index.parquet'], 'no rows file left');
});
