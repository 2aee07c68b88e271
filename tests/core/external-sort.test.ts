// Packed records (core/packed-records.ts) come back exactly and compare as compareTuples does;
// the external sorter (core/external-sort.ts) gives the in-memory stable order whatever its
// spill thresholds, through real run files, multi-level merges and records longer than its
// read and write chunks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compareTuples, ExternalSorter } from '../../core/external-sort.ts';
import { RecordCodec } from '../../core/packed-records.ts';
import { mulberry32 } from '../../core/random.ts';

let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-packed-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Strings that break naive encodings: empty, NUL, lone and paired surrogates, units on both sides of the surrogate range, very long. */
const AWKWARD = [
  '',
  '\u0000',
  '\u0000\u0000a',
  'a',
  'a\u0000',
  'é',
  '\u{1F600}',
  '\ud800',
  '\udfff',
  'x\ud83dy',
  '\ue000',
  '\uffff',
  '\uffff\uffff',
  'https://example.com/p/1.jpg',
  'ü'.repeat(40_000), // longer than the 16 KiB read chunk and the 64 KiB write chunk
  'k'.repeat(9000) + '\u{1F600}',
];

test('packed records round-trip awkward strings, nulls and numbers exactly', () => {
  const codec = new RecordCodec(['str', 'num', 'str?'] as const);
  const numbers = [0, 1, 199_999, 2 ** 53 - 1, -3.5, 1e-300];
  let k = 0;
  for (const s of AWKWARD) {
    for (const other of [null, ...AWKWARD.slice(0, 5)]) {
      const record: [string, number, string | null] = [s, numbers[k++ % numbers.length], other];
      const buf = Buffer.alloc(codec.size(record) + 7);
      const written = codec.encode(record, buf, 7);
      assert.equal(written, codec.size(record));
      assert.deepEqual(codec.decode(buf, 7), record);
      // Decoding leaves the bytes as they were: a record can be decoded twice.
      assert.deepEqual(codec.decode(buf, 7), record);
    }
  }
  assert.throws(() => codec.encode([null as unknown as string, 1, null], Buffer.alloc(64), 0), /field 0: expected a string/);
  assert.throws(() => codec.encode(['a', '1' as unknown as number, null], Buffer.alloc(64), 0), /field 1: expected a number/);
});

test('packed records compare as compareTuples: code-unit order, shorter first, null first', () => {
  const codec = new RecordCodec(['str', 'num'] as const);
  const records = AWKWARD.flatMap((s, i) => [[s, i] as [string, number], [s, -i] as [string, number]]);
  const encoded = records.map((r) => {
    const b = Buffer.alloc(codec.size(r));
    codec.encode(r, b, 0);
    return b;
  });
  for (let i = 0; i < records.length; i++) {
    for (let j = 0; j < records.length; j++) {
      assert.equal(Math.sign(codec.compare(encoded[i], 0, encoded[j], 0)), Math.sign(compareTuples(records[i], records[j])), `${JSON.stringify(records[i]).slice(0, 40)} vs ${JSON.stringify(records[j]).slice(0, 40)}`);
    }
  }
  const nullable = new RecordCodec(['str?'] as const);
  const enc = (v: string | null) => {
    const b = Buffer.alloc(nullable.size([v]));
    nullable.encode([v], b, 0);
    return b;
  };
  assert.ok(nullable.compare(enc(null), 0, enc(''), 0) < 0, 'null before the empty string');
  assert.equal(nullable.compare(enc(null), 0, enc(null), 0), 0);
});

test('the external sorter gives the in-memory stable order whatever the spill thresholds', async () => {
  const rand = mulberry32(11);
  // Keys from a small pool (many ties), awkward strings among them, payloads that tell ties apart.
  const pool = [...AWKWARD, ...Array.from({ length: 40 }, (_, i) => `k${i}`)];
  const records = Array.from({ length: 3000 }, (_, i) => [pool[Math.floor(rand() * pool.length)], i % 7, `id-${i}`, rand() < 0.2 ? null : pool[i % pool.length]] as [string, number, string, string | null]);
  // Sorted on the first two fields only, so ties keep insertion order in the expectation.
  const expected = [...records].sort((a, b) => compareTuples([a[0], a[1]], [b[0], b[1]]));
  for (const [spillRecords, spillBytes] of [
    [1, undefined], // one run per record: 3000 runs, merged in levels of 64
    [7, undefined],
    [250, 4096], // the byte threshold cuts runs before the record count
    [100_000, 64 * 1024 * 1024], // everything in one arena, nothing on disk
  ] as const) {
    const dir = path.join(work, `sorter-${spillRecords}-${spillBytes}`);
    const sorter = new ExternalSorter(dir, ['str', 'num', 'num', 'str', 'str?'] as const, spillRecords, spillBytes);
    // The insertion number breaks ties in the sorter; dropped again before comparing.
    for (const [i, r] of records.entries()) await sorter.add([r[0], r[1], i, r[2], r[3]]);
    const runs = sorter.spilledRuns;
    const got: [string, number, string, string | null][] = [];
    for await (const r of sorter.sorted()) got.push([r[0], r[1], r[3], r[4]]);
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected, `spill ${spillRecords} records / ${spillBytes} bytes`);
    // The last arena is written by sorted(), after the count is taken.
    if (spillRecords === 1) assert.equal(runs, records.length - 1);
    if (spillBytes === 4096) assert.ok(runs > records.length / spillRecords, `the byte threshold cut runs: ${runs}`);
    if (spillRecords === 100_000) assert.equal(runs, 0);
    assert.deepEqual(await readdir(dir).catch(() => []), [], 'run files are removed');
  }
});

test('the external sorter keeps equal records in insertion order (stable) without a tie-breaking field', async () => {
  const sorter = new ExternalSorter(path.join(work, 'stable'), ['str'] as const, 3);
  const keys = ['b', 'a', '', 'b', '\ud800', 'a', '', '\u{1F600}'];
  for (const k of keys) await sorter.add([k]);
  const got: string[] = [];
  for await (const [k] of sorter.sorted()) got.push(k);
  assert.deepEqual(got, [...keys].sort((a, b) => compareTuples([a], [b])));
  await assert.rejects(sorter.add(['late']), /add after sorted/);
});
