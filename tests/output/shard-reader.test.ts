// The TS shard reader: the rows the index lists, in order, from IPC stream and IPC file shards;
// a SQL selection; a seeded shuffle buffer; rank/world-size shares that cover every row once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { readShards } from '../../output/shard-reader.ts';
import { duckQuery, sqlString } from '../helpers/duckdb.ts';
import { runKind } from '../helpers/kind-runs.ts';
import { readJson } from '../helpers/out-dir.ts';

let work: string;
let streamOut: string;
let fileOut: string;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-reader-'));
  streamOut = await runKind('image_text', work, { seed: 6 });
  const fileWork = path.join(work, 'file');
  await mkdir(fileWork);
  fileOut = await runKind('image_text', fileWork, { seed: 6, extraYaml: ['output: { arrow_format: file }'] });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const collect = async <T>(it: AsyncIterable<T>) => {
  const xs: T[] = [];
  for await (const x of it) xs.push(x);
  return xs;
};

test('reads the rows the index lists, in shard and row order, with the stored values, from stream and file shards', async () => {
  const index = await duckQuery(`select id, shard, "row" from read_parquet(${sqlString(path.join(streamOut, 'index.parquet'))}) order by shard, "row"`);
  const got = await collect(readShards(streamOut));
  assert.deepEqual(got.map((s) => s.index.id), index.map((r) => r.id));
  const manifest = await readJson(path.join(streamOut, 'manifest.json'));
  const table = arrow.tableFromIPC(await readFile(path.join(streamOut, manifest.shards[0].path)));
  const first = got.find((s) => s.index.shard === manifest.shards[0].path && s.index.row === 1)!;
  assert.equal(first.values.caption, table.getChild('caption')!.get(1));
  assert.deepEqual((first.values.image as any).bytes, table.getChild('image')!.get(1).bytes);
  const fromFile = await collect(readShards(fileOut));
  assert.deepEqual(fromFile.map((s) => [s.index.id, s.values.caption, s.values.sha256]), got.map((s) => [s.index.id, s.values.caption, s.values.sha256]));
  assert.deepEqual(Object.keys((await collect(readShards(streamOut, { columns: ['id', 'caption'] })))[0].values), ['id', 'caption']);
});

test('a where selection, ranks that split the rows exactly, and a seeded shuffle', async () => {
  const all = (await collect(readShards(streamOut))).map((s) => String(s.index.id));
  const where = 'width > 0 AND "row" % 2 = 0';
  const expected = await duckQuery(`select id from read_parquet(${sqlString(path.join(streamOut, 'index.parquet'))}) where ${where} order by shard, "row"`);
  assert.deepEqual((await collect(readShards(streamOut, { where }))).map((s) => s.index.id), expected.map((r) => r.id));

  for (const worldSize of [2, 3, 5]) {
    const shares = await Promise.all(Array.from({ length: worldSize }, (_, rank) => collect(readShards(streamOut, { rank, worldSize, shuffleBuffer: 4, seed: 1 }))));
    const ids = shares.flat().map((s) => String(s.index.id));
    assert.deepEqual([...ids].sort(), [...all].sort(), `world ${worldSize}: every row once`);
    const sizes = shares.map((s) => s.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
  }
  await assert.rejects(collect(readShards(streamOut, { rank: 2, worldSize: 2 })), /rank 2/);

  const a = (await collect(readShards(streamOut, { shuffleBuffer: 5, seed: 7 }))).map((s) => String(s.index.id));
  const b = (await collect(readShards(streamOut, { shuffleBuffer: 5, seed: 7 }))).map((s) => String(s.index.id));
  const c = (await collect(readShards(streamOut, { shuffleBuffer: 5, seed: 8 }))).map((s) => String(s.index.id));
  assert.deepEqual(a, b, 'same seed, same order');
  assert.deepEqual([...a].sort(), [...all].sort());
  assert.notDeepEqual(a, all, 'shuffled');
  assert.notDeepEqual(a, c, 'another seed, another order');
});
