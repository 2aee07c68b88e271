// WebDataset shards built in the test with tar-stream, including hostile members, read back
// through the real reader: samples grouped by key, captions from .txt or .json, every
// unusable member or key rejected with a reason, nothing written to disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import sharp from 'sharp';
import type { ImageTextRaw } from '../../../schemas/image-text.ts';
import { webSourceConfig } from '../../../schemas/web-config.ts';
import { listWebUnits, readWebUnit } from '../../../stages/sources/url-list.ts';
import { listWebDatasetUnits, readWebDatasetTar, splitMemberName, tarUnitId, unsafeMemberName } from '../../../stages/sources/webdataset-tar.ts';
import { testContext } from '../../helpers/context.ts';
import { readSource } from '../../../core/stage.ts';

let dir: string;
/** The unit id (and sample id prefix) of shard-000.tar. */
const U = tarUnitId('shard-000.tar');
let png: Buffer;
let jpeg: Buffer;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-wds-'));
  png = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#c03030' } }).png().toBuffer();
  jpeg = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#3030c0' } }).jpeg().toBuffer();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Member = { name: string; data?: Buffer | string; type?: tar.Header['type']; linkname?: string };

async function tarBytes(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const m of members) {
    const type = m.type ?? 'file';
    const data = m.data === undefined ? undefined : Buffer.from(m.data);
    await new Promise<void>((resolve, reject) => {
      const header: Partial<tar.Header> & { name: string } = { name: m.name, type, ...(m.linkname ? { linkname: m.linkname } : {}), ...(data ? { size: data.length } : {}) };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) pack.entry(header, data, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function readTar(file: string, options = {}) {
  const ctx = testContext();
  const items: ImageTextRaw[] = [];
  for await (const item of readSource('source', (c) => readWebDatasetTar(file, c, options), ctx)) items.push(item);
  return { items, ctx };
}

test('member names: key up to the first dot of the base name; unsafe paths named', () => {
  assert.deepEqual(splitMemberName('shard/0001.seg.txt'), { key: 'shard/0001', extension: 'seg.txt' });
  assert.deepEqual(splitMemberName('a.b/0002.JPG'), { key: 'a.b/0002', extension: 'jpg' });
  assert.deepEqual(splitMemberName('noext'), { key: 'noext', extension: '' });
  assert.equal(unsafeMemberName('ok/0001.jpg'), undefined);
  assert.equal(unsafeMemberName('..foo/x.jpg'), undefined); // `..foo` is a name, not a parent step
  assert.match(unsafeMemberName('../evil.jpg')!, /'\.\.'/);
  assert.match(unsafeMemberName('a/../../b.jpg')!, /'\.\.'/);
  assert.match(unsafeMemberName('a\\..\\b.jpg')!, /'\.\.'/);
  assert.match(unsafeMemberName('/etc/x.jpg')!, /absolute/);
  assert.match(unsafeMemberName('C:/x.jpg')!, /absolute/);
});

test('samples grouped by key with .txt or .json captions; bad keys and hostile members rejected; nothing extracted', async () => {
  const file = path.join(dir, 'shard-000.tar');
  await writeFile(
    file,
    await tarBytes([
      { name: 'shard/', type: 'directory' },
      { name: 'shard/0001.jpg', data: jpeg },
      { name: 'shard/0001.txt', data: '\ufeffa blue square' },
      { name: 'shard/0002.png', data: png },
      { name: 'shard/0002.json', data: JSON.stringify({ caption: 'a red square', url: 'http://x.test/r.png', similarity: 0.31 }) },
      { name: 'shard/0003.webp', data: jpeg }, // bytes are checked later by decode, not here
      { name: 'shard/0003.json', data: JSON.stringify({ text: 'text field caption' }) },
      { name: '../evil.jpg', data: jpeg },
      { name: '/abs/0004.jpg', data: jpeg },
      { name: 'shard/0005.jpg', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'shard/0006.jpg', type: 'link', linkname: 'shard/0001.jpg' },
      { name: 'shard/0007.txt', data: 'caption without image' },
      { name: 'shard/0008.jpg', data: jpeg },
      { name: 'shard/0009.jpg', data: jpeg },
      { name: 'shard/0009.json', data: '[1, 2]' },
      { name: 'shard/0010.jpg', data: jpeg },
      { name: 'shard/0010.txt', data: 'ten' },
      { name: 'shard/0001.cls', data: '3' }, // key 0001 again, after others
      { name: 'shard/0011.jpg', data: Buffer.alloc(3000) },
      { name: 'shard/0011.txt', data: 'eleven' },
    ]),
  );
  const before = (await readdir(dir, { recursive: true })).sort();
  const { items, ctx } = await readTar(file, { extraColumns: ['url', 'similarity'], maxMemberBytes: 2048 });
  assert.deepEqual(
    items.map((i) => [i.id, i.source, i.caption, i.extra]),
    [
      [`${U}:shard/0001`, 'shard-000.tar:shard/0001', 'a blue square', undefined],
      [`${U}:shard/0002`, 'shard-000.tar:shard/0002', 'a red square', { url: 'http://x.test/r.png', similarity: '0.31' }],
      [`${U}:shard/0003`, 'shard-000.tar:shard/0003', 'text field caption', {}],
      [`${U}:shard/0010`, 'shard-000.tar:shard/0010', 'ten', undefined],
    ],
  );
  assert.deepEqual(Buffer.from(items[1].imageBytes!), png);
  assert.equal(items[0].url, undefined); // bytes are here already: nothing to fetch
  assert.deepEqual(
    ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]),
    [
      [`${U}:../evil.jpg`, 'source', 'unsafe_tar_member'],
      [`${U}:/abs/0004.jpg`, 'source', 'unsafe_tar_member'],
      [`${U}:shard/0005.jpg`, 'source', 'unsafe_tar_member'],
      [`${U}:shard/0006.jpg`, 'source', 'unsafe_tar_member'],
      [`${U}:shard/0007`, 'source', 'image_missing'],
      [`${U}:shard/0008`, 'source', 'caption_missing'],
      [`${U}:shard/0009`, 'source', 'bad_row'],
      [`${U}:shard/0001.cls`, 'source', 'duplicate_key'],
      [`${U}:shard/0011`, 'source', 'member_too_large'],
    ],
  );
  assert.match(ctx.rejects.rows[2].detail, /symlink entry -> \/etc\/passwd/);
  const stats = ctx.stats.stage('source');
  assert.equal(stats.out, 4);
  assert.equal(stats.droppedTotal, 9);
  assert.equal(stats.in, 13);
  assert.deepEqual((await readdir(dir, { recursive: true })).sort(), before);
  await assert.rejects(readdir(path.join(path.dirname(dir), 'evil.jpg')));
});

test('a folder of shards (.tar and .tar.gz) gives one unit per shard; the web source dispatches to it', async () => {
  const folder = path.join(dir, 'shards');
  await rm(folder, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(folder));
  await writeFile(path.join(folder, '00001.tar'), await tarBytes([{ name: 'k1.jpg', data: jpeg }, { name: 'k1.txt', data: 'one' }]));
  await writeFile(path.join(folder, '00000.tar.gz'), gzipSync(await tarBytes([{ name: 'k0.png', data: png }, { name: 'k0.txt', data: 'zero' }])));
  await writeFile(path.join(folder, 'notes.txt'), 'not a shard');
  const src = webSourceConfig({ path: 'shards' });
  const units = await listWebUnits(src, dir);
  const [u0, u1] = [tarUnitId('00000.tar.gz'), tarUnitId('00001.tar')];
  assert.match(u0, /^00000\.tar\.gz-[0-9a-f]{8}$/);
  assert.deepEqual(units.map((u) => [u.id, u.source]), [[u0, '00000.tar.gz'], [u1, '00001.tar']]);
  const ctx = testContext();
  const captions: string[] = [];
  for (const unit of units) for await (const item of readSource('source', (c) => readWebUnit(unit, src, c), ctx)) captions.push(`${item.id}=${item.caption}`);
  assert.deepEqual(captions, [`${u0}:k0=zero`, `${u1}:k1=one`]);
  // A single tar is one unit too, whatever format says.
  assert.equal((await listWebUnits(webSourceConfig({ path: 'shards/00001.tar' }), dir)).length, 1);
});

test('a truncated tar keeps the samples before the cut and rejects once with tar_corrupt', async () => {
  const whole = await tarBytes([
    { name: 'a.jpg', data: jpeg },
    { name: 'a.txt', data: 'first' },
    { name: 'b.jpg', data: Buffer.alloc(4000, 7) },
    { name: 'b.txt', data: 'second' },
  ]);
  const file = path.join(dir, 'cut.tar');
  await writeFile(file, whole.subarray(0, 512 * 4 + jpeg.length + 1000)); // inside b.jpg's data
  const { items, ctx } = await readTar(file);
  assert.deepEqual(items.map((i) => i.caption), ['first']);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.reason]), [[`${tarUnitId('cut.tar')}:b`, 'tar_corrupt']]);
  await writeFile(path.join(dir, 'garbage.tar'), Buffer.alloc(2048, 0x41));
  const garbage = await readTar(path.join(dir, 'garbage.tar'));
  assert.equal(garbage.items.length, 0);
  assert.deepEqual(garbage.ctx.rejects.rows.map((r) => r.reason), ['tar_corrupt']);
});

test('tars whose names slug alike get distinct unit and sample ids (a.tar/a.tgz, "a b.tar"/a_b.tar)', async () => {
  const folder = await mkdtemp(path.join(dir, 'collide-'));
  const names = ['a.tar', 'a.tgz', 'a b.tar', 'a_b.tar', 'A.tar.gz'];
  for (const name of names) {
    const bytes = await tarBytes([
      { name: '0001.png', data: png },
      { name: '0001.txt', data: `from ${name}` },
    ]);
    await writeFile(path.join(folder, name), /gz$/i.test(name) ? gzipSync(bytes) : bytes);
  }
  const units = await listWebDatasetUnits(folder);
  assert.equal(units.length, names.length);
  assert.equal(new Set(units.map((u) => u.id)).size, names.length, units.map((u) => u.id).join(' '));
  for (const u of units) assert.match(u.id, /^[A-Za-z0-9._-]+-[0-9a-f]{8}$/);
  const sampleIds: string[] = [];
  for (const u of units) {
    const { items } = await readTar(u.spec.file);
    assert.deepEqual(items.map((i) => i.caption), [`from ${path.basename(u.spec.file)}`]);
    sampleIds.push(...items.map((i) => i.id));
  }
  assert.equal(new Set(sampleIds).size, names.length);
  // The id depends on the file's own name only, not on what else is in the folder.
  assert.deepEqual((await listWebDatasetUnits(path.join(folder, 'a b.tar'))).map((u) => u.id), [units.find((u) => u.source === 'a b.tar')!.id]);
});
