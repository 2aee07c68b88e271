// The README's main job: `weft demo` on the generated corpus, then inspect and report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { idsInShards, parquetRows, readJson } from '../helpers/out-dir.ts';
import { duckQuery, sqlString } from '../helpers/duckdb.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const weft = path.join(repo, 'bin', 'weft.js');
const run = (...args: string[]) => spawnSync(process.execPath, [weft, ...args], { encoding: 'utf8', cwd: repo });

test('weft demo writes the whole OUT layout; bad files are rejects with their reasons; counts agree', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'weft-demo-'));
  const r = run('demo', '--out', out, '--no-progress');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /kept \d+, dropped \d+/);
  assert.match(r.stderr, /report\.html/);

  for (const f of ['manifest.json', 'index.parquet', 'rejects.parquet', 'stats.json', 'report.html']) {
    assert.ok((await stat(path.join(out, f))).size > 0, f);
  }
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const truth = await readJson(path.join(repo, 'fixtures', 'generated', 'demo', 'truth.json'));

  // Every bad file of the corpus is in rejects.parquet with its expected stage and reason.
  const rejects = await parquetRows(path.join(out, 'rejects.parquet'));
  for (const bad of truth.bad) {
    const row = rejects.find((x) => x.id === bad.id);
    assert.ok(row, `${bad.file} missing from rejects.parquet`);
    assert.equal(row.reason, bad.reason, bad.file);
    assert.equal(row.stage, bad.stage, bad.file);
    assert.ok(String(row.detail).length > 0);
  }

  // The reference scorer's calibrated p_aligned filters the swapped captions, and only those.
  const swapped = new Set<string>(truth.swapped);
  const calibrated = rejects.filter((x) => x.reason === 'p_aligned_below_min');
  const belowMin = calibrated.map((x) => String(x.id));
  assert.ok(belowMin.length >= swapped.size * 0.9, `${belowMin.length} of ${swapped.size} swapped captions dropped`);
  assert.ok(belowMin.every((id) => swapped.has(id)), 'no true pair dropped by min_p_aligned');
  assert.ok(calibrated.every((x) => x.stage === 'calibration' && /p_aligned 0\.\d+ < min_p_aligned 0\.5/.test(String(x.detail))));
  assert.ok(manifest.scorers.some((s: { id: string }) => s.id === 'weft-reference'));
  const rule = manifest.filters.find((f: any) => f.rule === 'min_p_aligned');
  assert.equal(rule.column, 'p_aligned_weft_reference');
  assert.ok(rule.mixture.high.mean > rule.mixture.low.mean);

  // Row counts agree: manifest totals, the shards themselves (the scored pool: kept pairs plus
  // those min_p_aligned left out of the index at finalise), index.parquet.
  const shardIds = await idsInShards(out);
  const index = await parquetRows(path.join(out, 'index.parquet'));
  assert.ok(index.every((r) => typeof r.p_aligned_weft_reference === 'number' && r.p_aligned_weft_reference >= 0.5));
  assert.equal(manifest.totals.kept + calibrated.length, shardIds.length);
  assert.equal(index.length, manifest.totals.kept);
  assert.equal(manifest.totals.dropped, rejects.length);
  assert.equal(manifest.totals.kept + manifest.totals.dropped, Object.keys(truth.samples).length + truth.bad.length);
  assert.equal(manifest.shards.reduce((a: number, s: any) => a + s.rows, 0), shardIds.length);
  assert.deepEqual((await readdir(path.join(out, 'shards'))).sort(), manifest.shards.map((s: any) => path.basename(s.path)).sort());

  // index.parquet points at the right shard and row.
  const probe = await duckQuery(`select shard, "row"::INTEGER as r, id from read_parquet(${sqlString(path.join(out, 'index.parquet'))}) order by id limit 1`);
  const { shard, r: rowNo, id } = probe[0] as { shard: string; r: number; id: string };
  const shown = run('inspect', path.join(out, shard), '--rows', String(rowNo + 1));
  assert.equal(shown.status, 0, shown.stderr);
  assert.ok(shown.stdout.includes(`"id":"${id}"`), 'inspect shows the indexed row');

  const stats = await readJson(path.join(out, 'stats.json'));
  assert.equal(stats.kinds.image_text.kept, manifest.totals.kept);
  // The config fingerprint is in every output: manifest, stats, shard metadata, Parquet footers.
  assert.equal(stats.config_fingerprint, manifest.config_fingerprint);
  for (const f of ['index.parquet', 'rejects.parquet']) {
    const kv = await duckQuery(`select decode(value) as v from parquet_kv_metadata(${sqlString(path.join(out, f))}) where decode(key) = 'weft'`);
    assert.equal(JSON.parse(String(kv[0].v)).config_fingerprint, manifest.config_fingerprint, f);
  }
  assert.ok(stats.stages.decode.in > 0);
  const html = await readFile(path.join(out, 'report.html'), 'utf8');
  // Codes carry <wbr> after their underscores (they wrap there on a narrow screen).
  for (const bad of truth.bad) assert.ok(html.replaceAll('<wbr>', '').includes(bad.reason), `report shows ${bad.reason}`);
  // The fitted mixture is drawn over the score histogram, with the score where p_aligned = 0.5.
  assert.match(html, /class="curve mixture-high"/);
  assert.match(html, /class="curve mixture-low"/);
  assert.ok(html.includes(`threshold ${Number(rule.score_cut.toPrecision(4))}`), "the calibrated cut is marked on the score histogram");

  // A second run of the same command resumes: everything is already committed.
  const again = run('demo', '--out', out, '--no-progress');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /0 run, \d+ already committed/);
});

test('weft inspect prints schema, metadata and first rows; weft report rebuilds report.html', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'weft-demo-'));
  assert.equal(run('demo', '--out', out, '--no-progress', '--log-level', 'warn').status, 0);
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const shard = path.join(out, manifest.shards[0].path);
  const r = run('inspect', shard, '--rows', '2');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /image: Struct<\{bytes:Binary, path:Utf8\}>/);
  assert.match(r.stdout, /huggingface: \{"info":\{"features"/);
  assert.match(r.stdout, /weft: \{.*"config_fingerprint":"[0-9a-f]{64}"/);
  assert.match(r.stdout, /\[1\] \{"id":/);
  assert.match(r.stdout, /<\d+ bytes>/, 'media bytes are summarised, not dumped');

  const summary = run('inspect', out);
  assert.equal(summary.status, 0);
  assert.match(summary.stdout, new RegExp(`kept ${manifest.totals.kept}`));

  await rm(path.join(out, 'report.html'));
  const rep = run('report', out);
  assert.equal(rep.status, 0, rep.stderr);
  assert.ok((await stat(path.join(out, 'report.html'))).size > 1000);

  const notOut = run('report', os.tmpdir());
  assert.equal(notOut.status, 2);
  assert.match(notOut.stderr, /not a weft OUT folder/);
});
