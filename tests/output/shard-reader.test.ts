// The TS shard reader: the rows the index lists, in order, from IPC stream and IPC file shards;
// a SQL selection; a seeded shuffle buffer; rank/world-size shares that cover every row once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { readBatches, readShards } from '../../output/shard-reader.ts';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { parseConfig } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { tinyReferenceScorer } from '../helpers/trained-reference.ts';
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

test('readBatches: batches of the rows, with distinctBy cluster_id at most one row of a cluster per batch while the clusters allow', async () => {
  const corpus = await makeDemoCorpus(path.join(work, 'clustered-corpus'), { count: 70, swapFraction: 0, size: 64, seed: 9 });
  const out = path.join(work, 'clustered');
  const config = parseConfig({ source: { kind: 'image_text', path: corpus.imagesDir, rows_per_unit: 25 }, decode: { image_size: 64 }, score: { scorer: await tinyReferenceScorer() }, curate: { corpus: { clusters: { k: 6, seed: 2, seed_sample: 70 } } } });
  await runPipeline({ loaded: { config, baseDir: work }, outDir: out });
  const all = await collect(readShards(out, { shuffleBuffer: 16, seed: 4 }));
  const sizes = new Map<number, number>();
  for (const s of all) sizes.set(Number(s.index.cluster_id), (sizes.get(Number(s.index.cluster_id)) ?? 0) + 1);
  assert.ok(sizes.size > 2, `${sizes.size} clusters`);
  for (const batchSize of [3, 5]) {
    const plain = await collect(readBatches(out, { batchSize, shuffleBuffer: 16, seed: 4 }));
    assert.deepEqual(plain.flat().map((s) => s.index.id), all.map((s) => s.index.id), 'without distinctBy: the reader order, cut into batches');
    const distinct = await collect(readBatches(out, { batchSize, shuffleBuffer: 16, seed: 4, distinctBy: 'cluster_id' }));
    assert.deepEqual(distinct.flat().map((s) => String(s.index.id)).sort(), all.map((s) => String(s.index.id)).sort(), 'every row once');
    distinct.slice(0, -1).forEach((b) => assert.equal(b.length, batchSize));
    const repeats = (batches: typeof distinct) => batches.reduce((n, b) => n + b.length - new Set(b.map((s) => s.index.cluster_id)).size, 0);
    // Repeats are forced only once the rows left over come from fewer clusters than a batch holds.
    const firstRepeat = distinct.findIndex((b) => new Set(b.map((s) => s.index.cluster_id)).size < b.length);
    assert.ok(repeats(distinct) < repeats(plain), `${repeats(distinct)} repeats vs ${repeats(plain)} in plain batches`);
    if (firstRepeat >= 0) assert.ok(firstRepeat > distinct.length / 3, `first batch with a repeated cluster: ${firstRepeat} of ${distinct.length}`);
  }
  await assert.rejects(collect(readBatches(streamOut, { batchSize: 4, distinctBy: 'cluster_id' })), /index has no column cluster_id/);
});
