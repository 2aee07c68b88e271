// index.parquet and rejects.parquet answer the obvious questions: index columns have the types of
// the shard fields they copy (row/width/height are INTEGER, as Int32 in the shards), and rejects
// carry typed url/host, score/threshold and value/threshold columns where the reason has them.
// Read with DuckDB, independently of the writer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { duckQuery, sqlString } from '../helpers/duckdb.ts';
import { KIND_NAMES, runKind, type KindName } from '../helpers/kind-runs.ts';
import { readJson } from '../helpers/out-dir.ts';
import { tinyReferenceScorer } from '../helpers/trained-reference.ts';

let work: string;
const outs = new Map<KindName, string>();

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-index-types-'));
  const scorer = await tinyReferenceScorer();
  for (const k of KIND_NAMES) {
    // image_text: a caption rule and a score threshold that drop some pairs, to see their typed columns.
    const extraYaml = k === 'image_text' ? ['caption: { min_words: 7 }', `score: { scorer: ${JSON.stringify(scorer)}, threshold: 0.4 }`] : [];
    // rgbd: a valid-depth floor inside the fixture's range of valid ratios (about 0.96-0.99), so
    // some pairs are dropped with a measured value; registration alone drops none here.
    const rgbdSettings = 'max_registration_shift: 2, min_valid_ratio: 0.975';
    outs.set(k, await runKind(k, work, { extraYaml, rgbdSettings }));
  }
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// Arrow type of a shard field -> the DuckDB type of a Parquet column holding the same values.
const DUCK: Record<string, string> = { Utf8: 'VARCHAR', Int32: 'INTEGER', Int64: 'BIGINT', Float64: 'DOUBLE', Float32: 'FLOAT', Bool: 'BOOLEAN' };

async function describe(file: string): Promise<Map<string, string>> {
  const rows = await duckQuery(`describe select * from read_parquet(${sqlString(file)})`);
  return new Map(rows.map((r) => [String(r.column_name), String(r.column_type)]));
}

for (const kind of KIND_NAMES) {
  test(`${kind}: every index column that a shard field also holds has that field's type`, async () => {
    const out = outs.get(kind)!;
    const types = await describe(path.join(out, 'index.parquet'));
    assert.equal(types.get('row'), 'INTEGER');
    const manifest = await readJson(path.join(out, 'manifest.json'));
    const table = arrow.tableFromIPC(await readFile(path.join(out, manifest.shards[0].path)));
    let compared = 0;
    for (const f of table.schema.fields) {
      const indexType = types.get(f.name);
      const expected = DUCK[String(f.type)];
      if (!indexType || !expected) continue;
      assert.equal(indexType, expected, `${kind}: index ${f.name} is ${indexType}, shard field is ${f.type}`);
      compared++;
    }
    assert.ok(compared >= 2, `${kind}: compared ${compared} columns`);
    // The index rows point at the shard rows they describe.
    const first = await duckQuery(`select id, shard, "row" from read_parquet(${sqlString(path.join(out, 'index.parquet'))}) where shard = ${sqlString(manifest.shards[0].path)} order by "row" limit 1`);
    assert.equal(first[0].row, 0);
    assert.equal(first[0].id, table.getChild('id')!.get(0));
  });
}

test('rejects: typed columns exist for every kind', async () => {
  for (const kind of KIND_NAMES) {
    const types = await describe(path.join(outs.get(kind)!, 'rejects.parquet'));
    for (const [c, t] of [['url', 'VARCHAR'], ['host', 'VARCHAR'], ['score', 'DOUBLE'], ['value', 'DOUBLE'], ['threshold', 'DOUBLE']]) assert.equal(types.get(c), t, `${kind}: rejects.${c}`);
  }
});

test('rejects: web rows have url and host; score drops have score and threshold; measured drops have value and threshold', async () => {
  const q = (kind: KindName, sql: string) => duckQuery(sql.replace('REJECTS', `read_parquet(${sqlString(path.join(outs.get(kind)!, 'rejects.parquet'))})`));
  const web = await q('web', 'select reason, url, host from REJECTS');
  assert.ok(web.length > 0);
  for (const r of web) {
    assert.match(String(r.url), /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(r.host, '127.0.0.1');
  }
  assert.ok(web.some((r) => r.reason === 'http_404' && String(r.url).endsWith('/missing.jpg')));

  const scored = await q('image_text', "select score, threshold, detail from REJECTS where reason = 'score_below_threshold'");
  const captions = await q('image_text', "select value, threshold, detail from REJECTS where reason = 'caption_too_few_words'");
  assert.ok(captions.length > 0, 'the caption rule dropped some');
  for (const r of captions) {
    assert.equal(r.threshold, 7);
    assert.ok(Number(r.value) < 7 && String(r.detail).startsWith(`${r.value} words`), JSON.stringify(r));
  }
  assert.ok(scored.length > 0, 'the score threshold dropped some');
  for (const r of scored) {
    assert.equal(r.threshold, 0.4);
    assert.ok(Number(r.score) < 0.4);
    assert.ok(String(r.detail).includes(Number(r.score).toFixed(4)));
  }
  const nonScore = await q('image_text', "select count(*)::INTEGER as n from REJECTS where reason <> 'score_below_threshold' and score is not null");
  assert.equal(nonScore[0].n, 0, 'only score drops carry a score');

  const rgbd = await q('rgbd', "select reason, value, threshold from REJECTS where reason in ('misregistered', 'low_valid_depth', 'skew_too_large', 'low_registration_confidence')");
  assert.ok(rgbd.length > 0, 'the RGB-D fixture has measured drops');
  for (const r of rgbd) {
    assert.equal(typeof r.value, 'number');
    assert.equal(typeof r.threshold, 'number');
    if (r.reason === 'misregistered') assert.ok(Number(r.value) > Number(r.threshold));
  }
});
