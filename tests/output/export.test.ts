// weft export: WebDataset tars read back with a tar reader and checked against index.parquet and
// the shards (keys, captions, media bytes, counts, sizes.json), for image-text (IPC file shards),
// RGB-D and video; the same input gives the same bytes; a rerun skips finished shards; --where
// selects by SQL, and bad SQL is a usage error (exit 2) from the real CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import * as arrow from 'apache-arrow';
import { exportOutDir } from '../../output/export.ts';
import { duckQuery, sqlString } from '../helpers/duckdb.ts';
import { runKind, type KindName } from '../helpers/kind-runs.ts';
import { readJson } from '../helpers/out-dir.ts';

let work: string;
const outs = new Map<KindName, string>();

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-export-'));
  outs.set('image_text', await runKind('image_text', work, { seed: 5, extraYaml: ['output: { arrow_format: file }'] }));
  outs.set('rgbd', await runKind('rgbd', work, { seed: 4 }));
  outs.set('video', await runKind('video', work, { seed: 2 }));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every entry of a tar, in order, with its header. */
async function readTar(file: string): Promise<{ name: string; body: Buffer; header: tar.Header }[]> {
  const extract = tar.extract();
  const entries: { name: string; body: Buffer; header: tar.Header }[] = [];
  Readable.from(await readFile(file)).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    entries.push({ name: entry.header.name, body: Buffer.concat(chunks), header: entry.header });
  }
  return entries;
}

/** key -> {ext -> bytes}, per tar, split as WebDataset does (key up to the first dot). */
async function readExport(dir: string): Promise<{ tars: string[]; samples: Map<string, Map<string, Buffer>>; perTar: Map<string, number> }> {
  const tars = (await readdir(dir)).filter((f) => f.endsWith('.tar')).sort();
  const samples = new Map<string, Map<string, Buffer>>();
  const perTar = new Map<string, number>();
  for (const t of tars) {
    const keys = new Set<string>();
    for (const e of await readTar(path.join(dir, t))) {
      assert.equal(e.header.mtime?.getTime(), 0, 'fixed mtime');
      assert.equal(e.header.uid, 0);
      assert.equal(e.header.mode, 0o644);
      const dot = e.name.indexOf('.');
      const key = e.name.slice(0, dot);
      keys.add(key);
      if (!samples.has(key)) samples.set(key, new Map());
      samples.get(key)!.set(e.name.slice(dot + 1), e.body);
    }
    perTar.set(t, keys.size);
  }
  return { tars, samples, perTar };
}

async function shardValues(out: string): Promise<Map<string, Record<string, any>>> {
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const byId = new Map<string, Record<string, any>>();
  for (const s of manifest.shards) {
    const table = arrow.tableFromIPC(await readFile(path.join(out, s.path)));
    for (let i = 0; i < table.numRows; i++) byId.set(String(table.getChild('id')!.get(i)), table.get(i)!.toJSON());
  }
  return byId;
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
const magicExt = (b: Uint8Array) => (b[0] === 0xff && b[1] === 0xd8 ? 'jpg' : b[0] === 0x89 && b[1] === 0x50 ? 'png' : 'webp');

test('image-text to WebDataset: keys, captions, image bytes and counts match the index; same input, same bytes; resume', async () => {
  const out = outs.get('image_text')!;
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const first = await readFile(path.join(out, manifest.shards[0].path));
  assert.equal(first.subarray(0, 6).toString(), 'ARROW1', 'the run wrote IPC file shards');
  const index = await duckQuery(`select * from read_parquet(${sqlString(path.join(out, 'index.parquet'))}) order by shard, "row"`);
  assert.ok(index.length >= 5);
  const dir = path.join(work, 'wds-it');
  const m = await exportOutDir(out, dir, { format: 'webdataset', samplesPerShard: 3 });
  assert.equal(m.selected, index.length);
  assert.equal(m.index_rows, index.length);
  const { tars, samples, perTar } = await readExport(dir);
  assert.equal(tars.length, Math.ceil(index.length / 3));
  assert.deepEqual(await readJson(path.join(dir, 'sizes.json')), Object.fromEntries(perTar));
  assert.deepEqual([...samples.keys()], index.map((_, i) => String(i).padStart(6, '0')));
  const values = await shardValues(out);
  for (const [i, row] of index.entries()) {
    const files = samples.get(String(i).padStart(6, '0'))!;
    const meta = JSON.parse(files.get('json')!.toString());
    assert.equal(meta.id, row.id);
    assert.equal(meta.source, row.source);
    assert.equal(meta.width, row.width);
    const v = values.get(String(row.id))!;
    assert.equal(files.get('txt')!.toString(), v.caption);
    const ext = magicExt(v.image.bytes);
    assert.deepEqual(files.get(ext), Buffer.from(v.image.bytes), `${row.id}: .${ext} holds the stored bytes`);
    assert.deepEqual([...files.keys()].sort(), [ext, 'json', 'txt'].sort());
  }

  // Determinism: a second export of the same input is byte-identical.
  const again = path.join(work, 'wds-it-again');
  await exportOutDir(out, again, { format: 'webdataset', samplesPerShard: 3 });
  for (const t of tars) assert.equal(await sha(path.join(again, t)), await sha(path.join(dir, t)), t);

  // Resume: a lost last shard is rewritten identically; finished shards are not touched.
  const last = tars.at(-1)!;
  const before = await sha(path.join(dir, last));
  const firstStat = await stat(path.join(dir, tars[0]));
  const exportJson = await readJson(path.join(dir, 'export.json'));
  await rm(path.join(dir, last));
  const resumed = await exportOutDir(out, dir, { format: 'webdataset', samplesPerShard: 3 });
  assert.equal(await sha(path.join(dir, last)), before);
  assert.equal((await stat(path.join(dir, tars[0]))).mtimeMs, firstStat.mtimeMs, 'first shard kept as it was');
  assert.deepEqual(resumed.shards, exportJson.shards);
  await assert.rejects(exportOutDir(out, dir, { format: 'webdataset', samplesPerShard: 4 }), /other options/);
});

test('--where selects by SQL over the index; the expression and counts go into export.json; a byte cap splits shards', async () => {
  const out = outs.get('image_text')!;
  const where = "width > 0 AND id <> (select min(id) from read_parquet('" + path.join(out, 'index.parquet').replace(/'/g, "''") + "'))";
  const expected = await duckQuery(`select id from read_parquet(${sqlString(path.join(out, 'index.parquet'))}) where ${where} order by shard, "row"`);
  const dir = path.join(work, 'wds-where');
  const m = await exportOutDir(out, dir, { format: 'webdataset', where, samplesPerShard: 100, maxShardBytes: 8000 });
  assert.equal(m.where, where);
  assert.equal(m.selected, expected.length);
  assert.ok(m.selected < m.index_rows);
  const { samples, tars } = await readExport(dir);
  assert.ok(tars.length >= 2, `byte cap gave ${tars.length} shards`);
  for (const t of tars) {
    const size = (await stat(path.join(dir, t))).size;
    // Padding and the end-of-archive blocks come on top of the entries.
    assert.ok(size <= 8000 + 1024 + 10240 || m.shards.find((s) => s.name === t)!.count === 1, `${t}: ${size} bytes`);
  }
  assert.deepEqual([...samples.values()].map((f) => JSON.parse(f.get('json')!.toString()).id), expected.map((r) => r.id));
  assert.deepEqual((await readJson(path.join(dir, 'export.json'))).where, where);
});

test('RGB-D to WebDataset: .rgb.<ext> and .depth.png as stored', async () => {
  const out = outs.get('rgbd')!;
  const dir = path.join(work, 'wds-rgbd');
  const m = await exportOutDir(out, dir, { format: 'webdataset', samplesPerShard: 4 });
  const values = await shardValues(out);
  const { samples } = await readExport(dir);
  assert.equal(samples.size, m.selected);
  assert.ok(m.selected > 0);
  for (const files of samples.values()) {
    const v = values.get(JSON.parse(files.get('json')!.toString()).id)!;
    assert.deepEqual(files.get(`rgb.${magicExt(v.rgb.bytes)}`), Buffer.from(v.rgb.bytes));
    assert.deepEqual(files.get('depth.png'), Buffer.from(v.depth.bytes));
  }
});

test('video to WebDataset: numbered frame jpgs and a .wav per key', async () => {
  const out = outs.get('video')!;
  const dir = path.join(work, 'wds-video');
  const m = await exportOutDir(out, dir, { format: 'webdataset', samplesPerShard: 2 });
  const values = await shardValues(out);
  const { samples } = await readExport(dir);
  assert.equal(samples.size, m.selected);
  assert.ok(m.selected > 0);
  for (const files of samples.values()) {
    const v = values.get(JSON.parse(files.get('json')!.toString()).id)!;
    const frames = [...v.frames];
    assert.ok(frames.length > 1);
    frames.forEach((f: any, i: number) => assert.deepEqual(files.get(`${String(i).padStart(3, '0')}.jpg`), Buffer.from(f.image.bytes)));
    assert.equal(files.get('wav')!.subarray(0, 4).toString(), 'RIFF');
    assert.deepEqual(files.get('wav'), Buffer.from(v.audio.bytes));
  }
});

test('arrow export: the selected rows in shards of N, readable as the run\'s own', async () => {
  const out = outs.get('image_text')!;
  const dir = path.join(work, 'arrow-export');
  const m = await exportOutDir(out, dir, { format: 'arrow', samplesPerShard: 4, arrowFormat: 'file' });
  const files = (await readdir(dir)).filter((f) => f.endsWith('.arrow')).sort();
  assert.equal(files.length, Math.ceil(m.selected / 4));
  let rows = 0;
  for (const f of files) {
    const bytes = await readFile(path.join(dir, f));
    assert.equal(bytes.subarray(0, 6).toString(), 'ARROW1');
    const t = arrow.tableFromIPC(bytes);
    rows += t.numRows;
    assert.ok(t.schema.metadata.get('huggingface'));
  }
  assert.equal(rows, m.selected);
});

test('CLI: weft export writes tars; bad SQL in --where is a usage error naming the problem (exit 2)', () => {
  const out = outs.get('image_text')!;
  const ok = spawnSync(process.execPath, ['bin/weft.js', 'export', out, '--out', path.join(work, 'cli-wds'), '--samples-per-shard', '5', '--where', 'width >= 1'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /index rows where width >= 1 in \d+ webdataset shard/);
  const bad = spawnSync(process.execPath, ['bin/weft.js', 'export', out, '--out', path.join(work, 'cli-bad'), '--where', 'no_such_column > 1'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /no_such_column/);
  const syntax = spawnSync(process.execPath, ['bin/weft.js', 'export', out, '--out', path.join(work, 'cli-bad2'), '--where', 'width >'], { encoding: 'utf8' });
  assert.equal(syntax.status, 2, syntax.stderr);
  assert.match(syntax.stderr, /syntax error/i);
});

test('parquet export: the selected rows with captions and image bytes, read back by DuckDB', async () => {
  const out = outs.get('image_text')!;
  const dir = path.join(work, 'parquet-export');
  const m = await exportOutDir(out, dir, { format: 'parquet', samplesPerShard: 5 });
  const files = (await readdir(dir)).filter((f) => f.endsWith('.parquet')).sort();
  assert.equal(files.length, Math.ceil(m.selected / 5));
  const values = await shardValues(out);
  const glob = sqlString(path.join(dir, '*.parquet'));
  const rows = await duckQuery(`select id, caption, width, md5(image.bytes) as md5, octet_length(image.bytes)::INTEGER as n from read_parquet(${glob}) order by id`);
  assert.equal(rows.length, m.selected);
  for (const r of rows) {
    const v = values.get(String(r.id))!;
    assert.equal(r.caption, v.caption);
    assert.equal(r.width, v.width);
    assert.equal(r.n, v.image.bytes.byteLength);
    assert.equal(r.md5, createHash('md5').update(v.image.bytes).digest('hex'));
  }
  const meta = await duckQuery(`select decode(key) as k from parquet_kv_metadata(${sqlString(path.join(dir, files[0]))})`);
  assert.ok(meta.some((x) => x.k === 'huggingface'));
});

test('parquet export of RGB-D and video: nested media and frame lists read back by DuckDB', async () => {
  for (const kind of ['rgbd', 'video'] as const) {
    const out = outs.get(kind)!;
    const dir = path.join(work, `parquet-${kind}`);
    const m = await exportOutDir(out, dir, { format: 'parquet', samplesPerShard: 3 });
    const values = await shardValues(out);
    const glob = sqlString(path.join(dir, '*.parquet'));
    const media = kind === 'rgbd' ? 'md5(depth.bytes)' : 'len(frames)::INTEGER';
    const rows = await duckQuery(`select id, ${media} as v from read_parquet(${glob}) order by id`);
    assert.equal(rows.length, m.selected, kind);
    for (const r of rows) {
      const v = values.get(String(r.id))!;
      if (kind === 'rgbd') assert.equal(r.v, createHash('md5').update(v.depth.bytes).digest('hex'));
      else assert.equal(r.v, [...v.frames].length);
    }
  }
});
