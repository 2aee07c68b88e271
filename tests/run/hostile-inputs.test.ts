// Hostile local inputs through the real CLI (node bin/weft.js run): every input ends as exactly
// one ledger row (kept or rejected with its own reason), nothing outside the source folder is
// read, no file bytes reach rejects.parquet or the report, and caption hygiene is counted in
// stats.json and shown in the report.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { readFlatParquet } from '../../output/parquet-tables.ts';

let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-hostile-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const weft = (args: string[]) => spawnSync(process.execPath, ['bin/weft.js', ...args], { encoding: 'utf8' });
const square = (r: number, g: number, b: number) => sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();

async function ledger(out: string) {
  const index = await readFlatParquet(path.join(out, 'index.parquet'));
  const rejects = await readFlatParquet(path.join(out, 'rejects.parquet'));
  return { index, rejects, reasons: Object.fromEntries(rejects.map((r) => [String(r.source), String(r.reason)])) };
}

test('a folder of hostile files: one ledger row per input, each with its reason, no bytes leaked, hygiene counted', async () => {
  const images = path.join(work, 'folder', 'images');
  await mkdir(images, { recursive: true });
  const at = (f: string) => path.join(images, f);
  await writeFile(at('a.jpg'), await square(200, 30, 30));
  await writeFile(at('a.txt'), 'a red square on white');
  await writeFile(at('b.jpg'), await square(20, 30, 200));
  await writeFile(at('b.txt'), Buffer.concat([Buffer.from('a blue '), Buffer.from([0xff, 0xfe]), Buffer.from(' square\u0000 here \u202e ok')]));
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic'), Buffer.alloc(32)]);
  await writeFile(at('c.heic'), heic);
  await writeFile(at('c.txt'), 'a heic picture here');
  await writeFile(at('d.heic'), heic); // alone: no caption
  await writeFile(at('e.bmp'), Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)])); // alone
  await symlink('/etc/passwd', at('f.jpg'));
  await writeFile(at('f.txt'), 'the password file');
  assert.equal(spawnSync('mkfifo', [at('g.jpg')]).status, 0);
  await writeFile(at('g.txt'), 'a fifo named like a picture');
  await symlink('/dev/zero', at('h.jpg'));
  await writeFile(at('h.txt'), 'endless zeros here');
  await writeFile(at('i.jpg'), 'root:x:0:0:root:/root:/bin/bash\n');
  await writeFile(at('i.txt'), 'text posing as a picture');
  const config = path.join(work, 'folder', 'c.yaml');
  await writeFile(config, 'name: hostile\nsource: { kind: image_text, path: images, rows_per_unit: 4 }\n');
  const out = path.join(work, 'folder', 'out');
  const r = weft(['run', config, '--out', out, '--no-progress']);
  assert.equal(r.status, 0, r.stderr);

  const { index, rejects, reasons } = await ledger(out);
  assert.deepEqual(index.map((x) => String(x.source)).sort(), ['a.jpg', 'b.jpg']);
  assert.deepEqual(reasons, {
    'c.heic': 'unsupported_format',
    'd.heic': 'caption_missing',
    'e.bmp': 'caption_missing',
    'f.jpg': 'symlink_outside_root',
    'g.jpg': 'not_regular_file',
    'h.jpg': 'symlink_outside_root',
    'i.jpg': 'not_image',
  });
  assert.equal(index.length + rejects.length, 9, 'every input is one ledger row');
  const report = await readFile(path.join(out, 'report.html'), 'utf8');
  for (const text of [JSON.stringify(rejects), report]) assert.doesNotMatch(text, /root:x/, 'no file bytes in rejects or the report');
  const stats = JSON.parse(await readFile(path.join(out, 'stats.json'), 'utf8'));
  const caption = JSON.stringify(stats);
  assert.match(caption, /"invalid_utf8_repaired":\s*2/);
  assert.match(caption, /"nul_removed":\s*1/);
  assert.match(caption, /"bidi_removed":\s*1/);
  assert.match(report, /invalid_utf8_repaired/);
  const b = index.find((x) => x.source === 'b.jpg')!;
  assert.doesNotMatch(String(b.caption ?? ''), /[\u0000\u202e]/);
});

test('a list naming files outside its folder: rejected without reading them, unless allow_paths_outside_root', async () => {
  const dir = path.join(work, 'list');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'ok.jpg'), await square(30, 200, 30));
  await writeFile(path.join(work, 'outside.jpg'), await square(30, 30, 30));
  const rows = [
    { image: 'ok.jpg', caption: 'a green square here' },
    { image: '/etc/passwd', caption: 'the password file' },
    { image: '../outside.jpg', caption: 'a picture next door' },
    { image: '../../../../../../etc/hostname', caption: 'far outside the folder' },
  ];
  await writeFile(path.join(dir, 'list.jsonl'), rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const config = path.join(dir, 'c.yaml');
  await writeFile(config, 'name: hostile-list\nsource: { kind: image_text, path: list.jsonl }\n');
  const r = weft(['run', config, '--out', path.join(dir, 'out'), '--no-progress']);
  assert.equal(r.status, 0, r.stderr);
  const { index, rejects } = await ledger(path.join(dir, 'out'));
  assert.equal(index.length, 1);
  assert.equal(rejects.length, 3);
  assert.ok(rejects.every((x) => /outside/.test(String(x.reason))), JSON.stringify(rejects.map((x) => x.reason)));
  assert.doesNotMatch(JSON.stringify(rejects), /root:x/);
  // With allow_paths_outside_root the file next door is read (and kept); /etc/passwd is not an image.
  await writeFile(config, 'name: hostile-list\nsource: { kind: image_text, path: list.jsonl, allow_paths_outside_root: true }\n');
  const open = weft(['run', config, '--out', path.join(dir, 'out-open'), '--no-progress']);
  assert.equal(open.status, 0, open.stderr);
  const opened = await ledger(path.join(dir, 'out-open'));
  assert.equal(opened.index.length, 2);
  assert.doesNotMatch(JSON.stringify(opened.rejects), /root:x/);
});
