// Finalise's run-wide dedup in bounded memory (output/run-wide-marks.ts) gives exactly the marks
// of the in-memory pass (stages/curate/run-wide-dedup.ts): on synthetic rows dense in URL
// siblings, equal bytes and near pHashes, and on a real web run finalised with spill thresholds
// small enough to force many sorted runs and near-duplicate blocks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { runWideDedupMarks, type DedupRow } from '../../stages/curate/run-wide-dedup.ts';
import { StreamedMarks, streamRunWideMarks } from '../../output/run-wide-marks.ts';
import { finaliseOutDir } from '../../output/finalise.ts';
import { readCompletions, readUnitIndexRows } from '../../output/out-dir.ts';
import { readFlatParquet } from '../../output/parquet-tables.ts';
import { webRun } from '../helpers/real-runs.ts';

let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-marks-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function* asAsync<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

function hex(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, '0');
}

/** Rows with many collisions: URLs from a small pool (some differing only in case of the host), bytes from a small pool, pHashes a few bits from a few bases. */
function syntheticRows(count: number, seed: number): DedupRow[] {
  const rand = mulberry32(seed);
  const bases = Array.from({ length: 40 }, () => (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32)));
  const rows: DedupRow[] = [];
  for (let i = 0; i < count; i++) {
    let h = bases[Math.floor(rand() * bases.length)];
    const flips = Math.floor(rand() * 9);
    for (let f = 0; f < flips; f++) h ^= 1n << BigInt(Math.floor(rand() * 64));
    const u = Math.floor(rand() * 300);
    rows.push({
      id: `u${String(Math.floor(i / 97)).padStart(3, '0')}:${i % 97}${i % 5 ? '' : 'é\u{1F600}\ud800'}`,
      url: rand() < 0.1 ? undefined : rand() < 0.05 ? '' : `http://${u % 2 ? 'Example.com' : 'example.com'}/p/${u}.jpg`,
      sha256: rand() < 0.05 ? null : `sha-${Math.floor(rand() * 600)}`,
      phash: rand() < 0.05 ? undefined : hex(h),
    });
  }
  return rows;
}

async function streamed(rows: DedupRow[], distance: number | null, spillRecords?: number, blockRows?: number) {
  const dir = path.join(work, `spill-${spillRecords}-${blockRows}-${distance}`);
  const marks = await streamRunWideMarks(asAsync(rows), distance, { dir, spillRecords, blockRows });
  try {
    return await StreamedMarks.toMaps(marks, rows.map((r) => r.id));
  } finally {
    await marks.close();
  }
}

const sortedEntries = (m: Map<string, string>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));

test('streamed marks equal the in-memory marks on collision-dense rows, with several sorted runs and blocks', async () => {
  const rows = syntheticRows(1500, 17);
  for (const distance of [4, 0, 1, 10, 32, null]) {
    const memory = runWideDedupMarks(rows, distance);
    assert.ok(memory.urlSiblingOf.size > 50 && memory.duplicateOf.size > 50, 'the rows have URL siblings and content duplicates');
    if (distance !== null && distance > 0) assert.ok(memory.nearDupOf.size > 20, `the rows have near duplicates at distance ${distance}`);
    for (const [spill, block] of [[undefined, undefined], [7, 5], [64, 333], [2, 1]] as const) {
      const got = await streamed(rows, distance, spill, block);
      const what = `distance ${distance}, spill ${spill}, block ${block}`;
      assert.deepEqual(sortedEntries(got.urlSiblingOf), sortedEntries(memory.urlSiblingOf), `url_sibling_of, ${what}`);
      assert.deepEqual(sortedEntries(got.duplicateOf), sortedEntries(memory.duplicateOf), `duplicate_of, ${what}`);
      assert.deepEqual(sortedEntries(got.nearDupOf), sortedEntries(memory.nearDupOf), `near_dup_of, ${what}`);
    }
  }
});

test('a real web run finalised with tiny spill thresholds writes the in-memory marks and the same index as the default', async () => {
  const out = await webRun(work);
  const rows: DedupRow[] = [];
  for (const c of await readCompletions(out)) for (const r of await readUnitIndexRows(out, c.unit)) rows.push({ id: String(r.id), sha256: r.sha256, url: r.url, phash: r.phash });
  const memory = runWideDedupMarks(rows, 4);
  assert.ok(memory.urlSiblingOf.size >= 1 && memory.duplicateOf.size >= 1, 'the web run has a URL sibling and a content duplicate');
  const reference = (await readFlatParquet(path.join(out, 'index.parquet'))) as Record<string, unknown>[];
  const forced = path.join(work, 'web-forced');
  await cp(out, forced, { recursive: true });
  await rm(path.join(forced, 'index.parquet'));
  await finaliseOutDir(forced, { dedupSpill: { spillRecords: 1, blockRows: 2 } });
  const index = (await readFlatParquet(path.join(forced, 'index.parquet'))) as Record<string, unknown>[];
  assert.deepEqual(index, reference);
  for (const r of index) {
    const id = String(r.id);
    assert.equal(r.duplicate_of ?? null, memory.duplicateOf.get(id) ?? null, `duplicate_of of ${id}`);
    assert.equal(r.near_dup_of ?? null, memory.nearDupOf.get(id) ?? null, `near_dup_of of ${id}`);
    assert.equal(r.url_sibling_of ?? null, memory.urlSiblingOf.get(id) ?? null, `url_sibling_of of ${id}`);
  }
  assert.ok(index.some((r) => r.duplicate_of) && index.some((r) => r.url_sibling_of), 'marks reach index.parquet');
  assert.deepEqual((await readdir(forced)).filter((f) => f.startsWith('.finalise-spill-')), [], 'no scratch folder is left');
});
