// n independent ranks then `weft merge` must equal one process doing everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { loadConfigFile } from '../../schemas/config-file.ts';
import { runPipeline } from '../../run/executor.ts';
import { mergeOutDirs } from '../../output/merge.ts';
import { parquetRows, readJson } from '../helpers/out-dir.ts';

/** stats.json without the fields that measure time. */
function withoutTimings(stats: any) {
  const s = structuredClone(stats);
  for (const st of Object.values<any>(s.stages)) delete st.busy_ms;
  delete s.wall_ms;
  return s;
}

function manifestContent(m: any) {
  return { ...m, units: m.units.map((u: any) => ({ ...u, committed_at: undefined })) };
}

test('--rank/--world-size partitions are disjoint and merge to the single-process output', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'weft-rank-'));
  await makeDemoCorpus(path.join(work, 'corpus'), { count: 70, seed: 11 });
  const configPath = path.join(work, 'config.yaml');
  await writeFile(configPath, 'name: rank-test\nsource: { kind: image_text, path: corpus/images, rows_per_unit: 10 }\ndecode: { image_size: 48 }\noutput: { rows_per_batch: 5 }\n');
  const loaded = await loadConfigFile(configPath);

  const single = path.join(work, 'single');
  const one = await runPipeline({ loaded, outDir: single });
  assert.ok(one.unitsTotal >= 7);

  const worldSize = 3;
  const rankDirs: string[] = [];
  const unitSets: string[][] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    const dir = path.join(work, `rank-${rank}`);
    const r = await runPipeline({ loaded, outDir: dir, rank, worldSize });
    assert.ok(r.unitsThisRank > 0);
    rankDirs.push(dir);
    unitSets.push((await readJson(path.join(dir, 'manifest.json'))).units.map((u: any) => u.id));
  }
  const allUnits = unitSets.flat();
  assert.equal(new Set(allUnits).size, allUnits.length, 'ranks share no unit');
  assert.equal(allUnits.length, one.unitsTotal, 'ranks cover every unit');

  const merged = path.join(work, 'merged');
  await mergeOutDirs(rankDirs, merged);

  assert.deepEqual(manifestContent(await readJson(path.join(merged, 'manifest.json'))), manifestContent(await readJson(path.join(single, 'manifest.json'))));
  assert.deepEqual(await parquetRows(path.join(merged, 'index.parquet')), await parquetRows(path.join(single, 'index.parquet')));
  assert.deepEqual(await parquetRows(path.join(merged, 'rejects.parquet')), await parquetRows(path.join(single, 'rejects.parquet')));
  assert.deepEqual(withoutTimings(await readJson(path.join(merged, 'stats.json'))), withoutTimings(await readJson(path.join(single, 'stats.json'))));
  const singleManifest = await readJson(path.join(single, 'manifest.json'));
  for (const s of singleManifest.shards) {
    assert.deepEqual(await readFile(path.join(merged, s.path)), await readFile(path.join(single, s.path)), `${s.path} identical`);
  }

  // The same unit committed twice with identical content (at-least-once delivery) is kept once.
  const twice = path.join(work, 'twice');
  await mergeOutDirs([...rankDirs, single], twice);
  assert.deepEqual(await parquetRows(path.join(twice, 'index.parquet')), await parquetRows(path.join(single, 'index.parquet')));
  assert.ok(!existsSync(path.join(twice, 'superseded.json')));

  // A missing part: merge refuses, naming the units it lacks, unless allow-partial marks the output partial.
  const lacking = path.join(work, 'lacking');
  await assert.rejects(mergeOutDirs(rankDirs.slice(1), lacking), (e: Error) => /the parts miss \d+ planned unit\(s\): /.test(e.message));
  assert.ok(!existsSync(lacking), 'nothing left behind');
  const rank0Units = (await readdir(path.join(rankDirs[0], 'completions'))).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
  await mergeOutDirs(rankDirs.slice(1), lacking, { allowPartial: true });
  assert.deepEqual((await readJson(path.join(lacking, 'run.json'))).partial, { missing_units: rank0Units });

  // Committed twice with different content (a non-deterministic fetch): no abort; the earliest
  // commit is kept and the other recorded as superseded. The second commit's record is altered
  // here (later time, another shard hash) to stand for a redo that fetched other bytes.
  const altered = path.join(work, 'altered');
  await cp(single, altered, { recursive: true });
  const [first] = (await readdir(path.join(altered, 'completions'))).filter((f) => f.endsWith('.json')).sort();
  const record = await readJson(path.join(altered, 'completions', first));
  record.committed_at = '2999-01-01T00:00:00.000Z';
  if (record.shards[0]) record.shards[0].sha256 = 'f'.repeat(64);
  else record.kept += 1;
  await writeFile(path.join(altered, 'completions', first), JSON.stringify(record));
  for (const inputs of [[single, altered], [altered, single]]) {
    const merged2 = path.join(work, `diff-${inputs[0] === single ? 'a' : 'b'}`);
    await mergeOutDirs(inputs, merged2);
    const sup = await readJson(path.join(merged2, 'superseded.json'));
    assert.deepEqual(sup.map((x: { unit: string; kept: { dir: string }; superseded: { dir: string } }) => [x.unit, x.kept.dir, x.superseded.dir]), [[record.unit, single, altered]]);
    assert.deepEqual(await parquetRows(path.join(merged2, 'index.parquet')), await parquetRows(path.join(single, 'index.parquet')));
  }
});
