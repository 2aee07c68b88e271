import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { ArrowShardWriter, huggingfaceMetadata } from '../../output/arrow-shard-writer.ts';
import { imageTextSchema, type ImageTextSample } from '../../schemas/image-text.ts';

function sample(i: number, bytes = 1000): ImageTextSample {
  const data = new Uint8Array(bytes).fill(i % 251);
  return {
    id: `s${i}`, kind: 'image_text', source: `src/${i}.jpg`, caption: `caption ${i}`,
    image: { bytes: data, path: `${i}.jpg` }, width: 10, height: 20, originalWidth: 30, originalHeight: 40,
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

test('writes Arrow IPC stream shards capped by bytes, batches capped by rows, with HF and weft metadata', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-shard-'));
  const w = new ArrowShardWriter<ImageTextSample>({
    schema: imageTextSchema, unitId: 'u-00000', stagingDir: dir, maxShardBytes: 60_000, rowsPerBatch: 100,
    metadata: { huggingface: huggingfaceMetadata(imageTextSchema), weft: { config_fingerprint: 'abc' } },
  });
  const locations = [];
  for (let i = 0; i < 230; i++) locations.push(await w.add(sample(i), 1200));
  const shards = await w.finish();
  assert.ok(shards.length >= 4, `expected several shards under a 60 kB cap, got ${shards.length}`);
  assert.equal(shards.reduce((a, s) => a + s.rows, 0), 230);
  assert.deepEqual((await readdir(dir)).sort(), shards.map((s) => path.basename(s.stagedPath)).sort());
  let seen = 0;
  for (const s of shards) {
    const bytes = await readFile(s.stagedPath);
    assert.equal(bytes.byteLength, s.bytes);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), s.sha256);
    assert.ok(s.bytes <= 60_000 + 50 * 1200, `shard ${s.path} is ${s.bytes} bytes`);
    // Stream format: starts with a continuation marker, not the "ARROW1" file magic.
    assert.notEqual(bytes.subarray(0, 6).toString(), 'ARROW1');
    const reader = arrow.RecordBatchReader.from(bytes);
    assert.ok(reader.isStream());
    const table = new arrow.Table(reader.readAll());
    assert.equal(table.numRows, s.rows);
    for (const b of table.batches) assert.ok(b.numRows <= 100);
    const hfMeta = JSON.parse(table.schema.metadata.get('huggingface')!);
    assert.deepEqual(hfMeta.info.features.image, { _type: 'Image' });
    assert.equal(JSON.parse(table.schema.metadata.get('weft')!).config_fingerprint, 'abc');
    const imageType = table.schema.fields.find((f) => f.name === 'image')!.type as arrow.Struct;
    assert.deepEqual(imageType.children.map((c) => [c.name, String(c.type)]), [['bytes', 'Binary'], ['path', 'Utf8']]);
    for (let r = 0; r < table.numRows; r++) {
      const row = table.get(r)!;
      const i = seen + r;
      assert.equal(row.id, `s${i}`);
      assert.equal(locations[i].shard, s.path);
      assert.equal(locations[i].row, r);
      assert.equal((row.image as any).bytes.byteLength, 1000);
      assert.equal((row.image as any).bytes[0], i % 251);
    }
    seen += s.rows;
  }
});

test('batches are capped by bytes as well as rows, and the rows read back in order, whole', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-shard-'));
  // Rows of 100 kB with a 1 MB batch cap: 10 rows a batch, well under the 100-row cap.
  const w = new ArrowShardWriter<ImageTextSample>({ schema: imageTextSchema, unitId: 'u', stagingDir: dir, maxShardBytes: 2 ** 30, rowsPerBatch: 100, maxBatchBytes: 1_000_000, metadata: {} });
  for (let i = 0; i < 35; i++) await w.add(sample(i, 100_000), 100_200);
  const [shard, ...more] = await w.finish();
  assert.equal(more.length, 0);
  const table = new arrow.Table(arrow.RecordBatchReader.from(await readFile(shard.stagedPath)).readAll());
  assert.deepEqual(table.batches.map((b) => b.numRows), [10, 10, 10, 5]);
  assert.equal(shard.bytes, (await readFile(shard.stagedPath)).byteLength);
  for (let i = 0; i < 35; i++) {
    const image = (table.get(i)!.image as any).bytes as Uint8Array;
    assert.equal(table.get(i)!.id, `s${i}`);
    assert.equal(image.byteLength, 100_000);
    assert.ok(image.every((b) => b === i % 251));
  }
});

test('abort removes staged files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-shard-'));
  const w = new ArrowShardWriter<ImageTextSample>({ schema: imageTextSchema, unitId: 'u', stagingDir: dir, maxShardBytes: 5000, rowsPerBatch: 2, metadata: {} });
  for (let i = 0; i < 20; i++) await w.add(sample(i), 1200);
  await w.abort();
  assert.deepEqual(await readdir(dir), []);
});

test('arrow_format file: IPC file shards (magic and footer) that a footer reader reads back, same rows as the stream', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-shard-file-'));
  try {
    const shardsOf = async (format: 'stream' | 'file') => {
      const w = new ArrowShardWriter<ImageTextSample>({
        schema: imageTextSchema, unitId: `u-${format}`, stagingDir: path.join(dir, format), maxShardBytes: 30_000, rowsPerBatch: 7, format,
        metadata: { huggingface: huggingfaceMetadata(imageTextSchema) },
      });
      for (let i = 0; i < 53; i++) await w.add(sample(i, 700 + (i % 5) * 90), 900);
      return w.finish();
    };
    const files = await shardsOf('file');
    const streams = await shardsOf('stream');
    assert.ok(files.length >= 2, `several shards, got ${files.length}`);
    const streamTables = await Promise.all(streams.map(async (s) => arrow.tableFromIPC(await readFile(s.stagedPath))));
    const streamIds = streamTables.flatMap((t) => [...t.getChild('id')!]);
    const fileIds: string[] = [];
    for (const s of files) {
      const bytes = await readFile(s.stagedPath);
      assert.equal(bytes.byteLength, s.bytes);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), s.sha256);
      assert.equal(bytes.subarray(0, 6).toString(), 'ARROW1');
      assert.equal(bytes.subarray(bytes.byteLength - 6).toString(), 'ARROW1');
      const reader = arrow.RecordBatchFileReader.from(bytes).open();
      assert.ok(reader.isFile());
      // The footer gives random access to any batch.
      const last = reader.readRecordBatch(reader.numRecordBatches - 1)!;
      assert.ok(last.numRows > 0);
      const table = new arrow.Table(reader.readAll());
      assert.equal(table.numRows, s.rows);
      assert.equal(table.schema.metadata.get('huggingface'), streamTables[0].schema.metadata.get('huggingface'));
      for (let r = 0; r < table.numRows; r++) {
        const i = fileIds.length;
        fileIds.push(table.getChild('id')!.get(r));
        assert.deepEqual(table.getChild('image')!.get(r).bytes, sample(i, 700 + (i % 5) * 90).image.bytes);
      }
    }
    assert.deepEqual(fileIds, streamIds);
    assert.equal(fileIds.length, 53);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
