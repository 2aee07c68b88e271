// The report's duplicate groups in bounded memory (streaming bottom-k of leaders, leaders spilled
// for the group count) equal what maps over every row give: the same counts, groups and example
// groups with their first members, also when the example set is evicted and refilled many times.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuplicateCollector } from '../../output/duplicate-groups.ts';
import { selectFlatParquetRowsById, writeFlatParquet } from '../../output/parquet-tables.ts';
import { BottomK } from '../../core/sketch/bottom-k.ts';
import { mulberry32 } from '../../core/random.ts';
import type { IndexRow } from '../../output/out-dir.ts';

let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-dupgroups-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('duplicate groups: counts, group numbers and example groups equal those of maps over every row', async () => {
  const rand = mulberry32(5);
  const rows: IndexRow[] = [];
  for (let i = 0; i < 6000; i++) {
    const earlier = () => `s${Math.floor(rand() * Math.max(1, i))}`;
    rows.push({
      id: `s${i}`,
      kind: 'image_text',
      shard: `shards/u${Math.floor(i / 1000)}.arrow`,
      row: i % 1000,
      unit: `u${Math.floor(i / 1000)}`,
      url_sibling_of: i > 0 && rand() < 0.2 ? earlier() : null,
      duplicate_of: i > 0 && rand() < 0.1 ? earlier() : null,
      near_dup_of: i > 0 && rand() < 0.3 ? `s${Math.floor(rand() * 40)}` : null,
    });
  }
  await writeFlatParquet(path.join(work, 'index.parquet'), [
    { name: 'id', type: 'UTF8', optional: false },
    { name: 'kind', type: 'UTF8', optional: false },
    { name: 'shard', type: 'UTF8', optional: false },
    { name: 'row', type: 'INT32', optional: false },
    { name: 'unit', type: 'UTF8', optional: false },
    { name: 'url_sibling_of', type: 'UTF8', optional: true },
    { name: 'duplicate_of', type: 'UTF8', optional: true },
    { name: 'near_dup_of', type: 'UTF8', optional: true },
  ], rows);
  // The examples' shard and row are read back for these ids only, in file order; an id not in the table gives nothing.
  const picked = ['s5999', 's0', 's1000', "it's", 'missing', 's17'];
  assert.deepEqual(
    await selectFlatParquetRowsById(path.join(work, 'index.parquet'), ['id', 'shard', 'row'], picked),
    rows.filter((r) => picked.includes(String(r.id))).map((r) => ({ id: r.id, shard: r.shard, row: r.row })),
  );
  for (const spillRecords of [undefined, 50]) {
    const spill = path.join(work, `spill-${spillRecords}`);
    const collector = new DuplicateCollector(spill, spillRecords);
    for (const r of rows) await collector.add(r);
    const summary = await collector.summary(work);
    assert.equal(summary.kept, rows.length);
    for (const col of ['url_sibling_of', 'duplicate_of', 'near_dup_of']) {
      const groups = new Map<string, string[]>();
      for (const r of rows) if (typeof r[col] === 'string') groups.set(r[col] as string, [...(groups.get(r[col] as string) ?? []), String(r.id)]);
      const examples = [...groups].sort((a, b) => (BottomK.priority(a[0]) < BottomK.priority(b[0]) ? -1 : 1)).slice(0, 4).map(([leader, members]) => [leader, ...members.slice(0, 3)]);
      const got = summary.marks.find((m) => m.column === col)!;
      assert.equal(got.marked, [...groups.values()].reduce((a, m) => a + m.length, 0), `${col} marked`);
      assert.equal(got.groups, groups.size, `${col} groups`);
      assert.deepEqual(got.examples.map((g) => g.map((x) => x.id)), examples, `${col} examples`);
    }
    assert.deepEqual(await readdir(spill).catch(() => []), [], 'the spilled leaders are removed');
  }
});
