// weft filter --where: rows of OUT's index where a SQL expression holds, through the real CLI;
// the expression and counts in the new manifest, the others as rejects; bad SQL exits 2.
// The source OUT has IPC file shards, and so has the filtered one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { duckQuery, sqlString } from '../../helpers/duckdb.ts';
import { runKind } from '../../helpers/kind-runs.ts';
import { readJson } from '../../helpers/out-dir.ts';

let work: string;
let out: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-filter-where-'));
  out = await runKind('image_text', work, { seed: 9, extraYaml: ['output: { arrow_format: file }'] });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const weft = (...args: string[]) => spawnSync(process.execPath, ['bin/weft.js', ...args], { encoding: 'utf8' });

test('filter --where keeps the rows the SQL selects, records the expression and counts, rejects the rest', async () => {
  const index = path.join(out, 'index.parquet');
  const where = "length(source) % 2 = 0 OR id LIKE '%0'";
  const expected = await duckQuery(`select id from read_parquet(${sqlString(index)}) where ${where} order by id`);
  const total = (await duckQuery(`select count(*)::INTEGER as n from read_parquet(${sqlString(index)})`))[0].n as number;
  assert.ok(expected.length > 0 && expected.length < total, `selection ${expected.length} of ${total}`);
  const to = path.join(work, 'filtered');
  const r = weft('filter', out, '--where', where, '--out', to);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`kept ${expected.length}, dropped`));
  const kept = await duckQuery(`select id from read_parquet(${sqlString(path.join(to, 'index.parquet'))}) order by id`);
  assert.deepEqual(kept, expected);
  const manifest = await readJson(path.join(to, 'manifest.json'));
  const entry = manifest.filters.find((f: any) => f.rule === 'where');
  assert.deepEqual({ expression: entry.expression, count: entry.count, kept: entry.kept, dropped: entry.dropped, materialised: entry.materialised }, { expression: where, count: total, kept: expected.length, dropped: total - expected.length, materialised: true });
  const rejects = await duckQuery(`select id from read_parquet(${sqlString(path.join(to, 'rejects.parquet'))}) where reason = 'where_false' order by id`);
  assert.equal(rejects.length, total - expected.length);
  const shard = await readFile(path.join(to, manifest.shards[0].path));
  assert.equal(shard.subarray(0, 6).toString(), 'ARROW1', 'filtered shards keep the IPC file format');
  assert.equal(arrow.tableFromIPC(shard).numRows, manifest.shards[0].rows);
  // The filter's own drops are sampled for the report, with pictures read from OUT's shards.
  const stats = await readJson(path.join(to, 'stats.json'));
  const set = stats.examples?.['dropped-reason:image_text:filter:where_false'];
  assert.ok(set && set.items.length > 0, `example sets: ${Object.keys(stats.examples ?? {}).join(', ')}`);
  assert.ok(set.items.length <= Math.min(12, total - expected.length));
  for (const e of set.items) assert.ok(typeof e.item.thumb === 'string' && e.item.thumb.length > 0 && typeof e.item.caption === 'string', `card ${e.item.id} has a picture and caption`);
  const dropped = new Set(rejects.map((r: any) => r.id));
  for (const e of set.items) assert.ok(dropped.has(e.item.id), `${e.item.id} was dropped by the filter`);
});

test('filter --where with bad SQL is a usage error naming the problem', () => {
  const r = weft('filter', out, '--where', 'nonexistent_col = 3', '--out', path.join(work, 'bad'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /nonexistent_col/);
  const none = weft('filter', out, '--out', path.join(work, 'none'));
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--keep-top, --threshold or --where/);
});
