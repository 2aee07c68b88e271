// Local reads within bounds, on real files: symlinks inside and outside the source folder, a
// symlink to /dev/zero, a FIFO (mkfifo), a sparse file larger than the cap, list rows naming
// ../ and absolute paths. Each ends as a reject with its reason (never a hang, never a read of
// the whole file), through the real source reader and the real decode stage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sourceSchema, decodeSchema } from '../../../schemas/config.ts';
import type { ImageTextRaw } from '../../../schemas/image-text.ts';
import { readSource, isDrop } from '../../../core/stage.ts';
import { listImageTextUnits, readImageTextUnit, type ImageTextSourceConfig } from '../../../stages/sources/image-text-local.ts';
import { checkLocalFile } from '../../../stages/sources/local-file-guard.ts';
import { decodeImageText } from '../../../stages/decode/image-decode.ts';
import { testContext } from '../../helpers/context.ts';

let dir: string;
let outside: string;
let png: Buffer;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'weft-guard-'));
  outside = await mkdtemp(path.join(os.tmpdir(), 'weft-guard-outside-'));
  png = await sharp({ create: { width: 12, height: 10, channels: 3, background: '#40a040' } }).png().toBuffer();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

function source(over: Record<string, unknown>): ImageTextSourceConfig {
  return sourceSchema.parse({ kind: 'image_text', ...over }) as ImageTextSourceConfig;
}

/** Source reader then decode, as the pipeline runs them: [id, stage, reason] of every item. */
async function outcomes(src: ImageTextSourceConfig, base: string): Promise<[string, string, string][]> {
  const ctx = testContext();
  const items: ImageTextRaw[] = [];
  for (const unit of await listImageTextUnits(src, base)) for await (const item of readSource('source', (c) => readImageTextUnit(unit, src, c), ctx)) items.push(item);
  const out: [string, string, string][] = ctx.rejects.rows.map((r) => [r.id, 'source', r.reason]);
  for (const item of items) {
    const decoded = await decodeImageText(item, decodeSchema.parse({}));
    out.push([item.id, 'decode', isDrop(decoded) ? decoded.reason : 'kept']);
  }
  for (const r of ctx.rejects.rows) assert.doesNotMatch(r.detail, /root:x:0:0/, 'no file bytes in details');
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

test('folder: symlinks by follow_symlinks, a FIFO, /dev/zero, a sparse file past the cap', async () => {
  const root = path.join(dir, 'folder');
  await mkdir(path.join(root, 'sub'), { recursive: true });
  for (const stem of ['ok', 'inside', 'escape', 'zero', 'fifo', 'sparse', 'sub/deep']) await writeFile(path.join(root, `${stem}.txt`), `caption of ${stem}`);
  await writeFile(path.join(root, 'ok.png'), png);
  await writeFile(path.join(root, 'sub/deep.png'), png);
  await symlink(path.join(root, 'sub/deep.png'), path.join(root, 'inside.png'));
  await writeFile(path.join(outside, 'secret.png'), png);
  await symlink(path.join(outside, 'secret.png'), path.join(root, 'escape.png'));
  await symlink('/dev/zero', path.join(root, 'zero.jpg'));
  execFileSync('mkfifo', [path.join(root, 'fifo.jpg')]);
  await writeFile(path.join(root, 'sparse.jpg'), '');
  await truncate(path.join(root, 'sparse.jpg'), 1536 * 1024 * 1024); // 1.5 GB, no blocks on disk

  const src = source({ path: 'folder', max_file_bytes: 1024 * 1024 });
  assert.deepEqual(await outcomes(src, dir), [
    ['escape', 'source', 'symlink_outside_root'],
    ['fifo', 'source', 'not_regular_file'],
    ['inside', 'decode', 'kept'],
    ['ok', 'decode', 'kept'],
    ['sparse', 'source', 'too_large'],
    ['sub/deep', 'decode', 'kept'],
    ['zero', 'source', 'symlink_outside_root'],
  ]);
  const never = await outcomes(source({ path: 'folder', follow_symlinks: 'never', max_file_bytes: 1024 * 1024 }), dir);
  assert.deepEqual(never.filter(([, , r]) => r === 'symlink_refused').map(([id]) => id), ['escape', 'inside', 'zero']);
  const always = await outcomes(source({ path: 'folder', follow_symlinks: 'always', max_file_bytes: 1024 * 1024 }), dir);
  assert.deepEqual(
    always.filter(([id]) => id === 'escape' || id === 'zero'),
    [
      ['escape', 'decode', 'kept'],
      ['zero', 'source', 'not_regular_file'], // /dev/zero is a character device: never read
    ],
  );
});

test('list: ../ and absolute paths refused unless allow_paths_outside_root; the details hold no file bytes', async () => {
  const listDir = path.join(dir, 'lists', 'inner');
  await mkdir(listDir, { recursive: true });
  await writeFile(path.join(listDir, 'good.png'), png);
  await writeFile(path.join(dir, 'lists', 'up.png'), png);
  await writeFile(path.join(outside, 'passwd.jpg'), 'root:x:0:0:root:/root:/bin/bash\n');
  const rows = [
    { image: 'good.png', caption: 'inside the list folder' },
    { image: '../up.png', caption: 'one folder up' },
    { image: path.join(outside, 'passwd.jpg'), caption: 'absolute path outside' },
    { image: `file://${path.join(outside, 'passwd.jpg')}`, caption: 'file URL outside' },
    { image: 'good.png/../../up.png', caption: 'dotted back out' },
  ];
  await writeFile(path.join(listDir, 'rows.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  assert.deepEqual(await outcomes(source({ path: 'lists/inner/rows.jsonl' }), dir), [
    ['rows:0', 'decode', 'kept'],
    ['rows:1', 'source', 'path_outside_root'],
    ['rows:2', 'source', 'path_outside_root'],
    ['rows:3', 'source', 'path_outside_root'],
    ['rows:4', 'source', 'path_outside_root'],
  ]);
  // Allowed: the rows are read, and a text file named .jpg is not_image with a detail naming its type only.
  const ctx = testContext();
  const src = source({ path: 'lists/inner/rows.jsonl', allow_paths_outside_root: true });
  const items: ImageTextRaw[] = [];
  for (const unit of await listImageTextUnits(src, dir)) for await (const item of readSource('source', (c) => readImageTextUnit(unit, src, c), ctx)) items.push(item);
  assert.equal(items.length, 5);
  const passwd = await decodeImageText(items[2], decodeSchema.parse({}));
  assert.ok(isDrop(passwd));
  assert.equal(passwd.reason, 'not_image');
  assert.doesNotMatch(passwd.detail, /root/);
  assert.match(passwd.detail, /plain text/);
});

test('checkLocalFile: missing files are errors for the caller, not rejects', async () => {
  const check = await checkLocalFile(path.join(dir, 'nope.png'), { root: dir, followSymlinks: 'inside_root', allowOutsideRoot: false, maxFileBytes: 10 });
  assert.ok(!check.ok && 'error' in check && check.error.code === 'ENOENT');
});
