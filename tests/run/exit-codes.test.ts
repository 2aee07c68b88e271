// Exit codes as documented, through spawned `node bin/weft.js`: 2 for every usage or config
// error (one line on stderr naming what is wrong), 1 for a run that fails, 0 for success.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const weft = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'weft.js');
let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-exit-'));
  await mkdir(path.join(work, 'src'));
  for (const [i, colour] of ['#a02020', '#2020a0'].entries()) {
    await writeFile(path.join(work, 'src', `${i}.png`), await sharp({ create: { width: 20, height: 14, channels: 3, background: colour } }).png().toBuffer());
    await writeFile(path.join(work, 'src', `${i}.txt`), `square number ${i}`);
  }
  const yaml = (name: string, extra = '') => `name: ${name}\nsource: { kind: image_text, path: src }\ndecode: { image_size: 16 }\n${extra}`;
  await writeFile(path.join(work, 'ok.yaml'), yaml('ok', 'score: { scorer: none }\n'));
  await writeFile(path.join(work, 'missing-source.yaml'), 'name: m\nsource: { kind: image_text, path: nowhere }\n');
  await writeFile(path.join(work, 'missing-scorer.yaml'), yaml('s', 'score: { scorer: no-such-scorer-folder }\n'));
});
after(() => rm(work, { recursive: true, force: true }));

function weftCmd(...args: string[]) {
  const r = spawnSync(process.execPath, [weft, ...args], { encoding: 'utf8', env: { ...process.env, WEFT_REDIS_URL: '' } });
  return { code: r.status, stderr: r.stderr };
}

test('usage and config errors exit 2 with one line naming the problem', async () => {
  const cases: [string[], RegExp][] = [
    [['run', path.join(work, 'missing-source.yaml'), '--out', path.join(work, 'o-ms')], /source\.path: .*nowhere does not exist/],
    [['run', path.join(work, 'missing-scorer.yaml'), '--out', path.join(work, 'o-sc')], /score\.scorer: scorer folder .*no-such-scorer-folder does not exist/],
    [['run', path.join(work, 'no-such-config.yaml'), '--out', path.join(work, 'o-nc')], /no-such-config\.yaml/],
    [['queue', 'status', path.join(work, 'ok.yaml'), '--redis', 'not-a-url'], /--redis: "not-a-url" is not a URL/],
    [['bench', 'no-such-bench'], /unknown benchmark "no-such-bench"/],
    [['inspect', path.join(work, 'nothing-here')], /nothing-here: no such file or folder/],
    [['run', path.join(work, 'ok.yaml'), '--out', 's3://bucket/x'], /--out s3:\/\/bucket\/x: only local folders/],
    [['run', path.join(work, 'ok.yaml'), '--out', 'gs://bucket/x'], /only local folders/],
    [['run', path.join(work, 'ok.yaml'), '--out', path.join(work, 'o-rank'), '--rank', '3', '--world-size', '2'], /rank/],
  ];
  for (const [args, message] of cases) {
    const r = weftCmd(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.ok(!existsSync('s3:'), 'no local folder named after the URL scheme');
});

test('merge into a non-empty folder exits 2; a good run exits 0; a failed unit exits 1', async () => {
  const out = path.join(work, 'o-ok');
  const ok = weftCmd('run', path.join(work, 'ok.yaml'), '--out', out, '--no-progress', '--log-level', 'error');
  assert.equal(ok.code, 0, ok.stderr);
  const full = path.join(work, 'full');
  await mkdir(full);
  await writeFile(path.join(full, 'keep.txt'), 'something');
  const merge = weftCmd('merge', out, '--out', full);
  assert.equal(merge.code, 2, merge.stderr);
  assert.match(merge.stderr, /is not empty/);
  // A list naming an image that is not there: the unit fails (read failure), exit 1.
  await writeFile(path.join(work, 'list.jsonl'), `${JSON.stringify({ image: 'src/gone.png', caption: 'not there' })}\n`);
  await writeFile(path.join(work, 'list.yaml'), 'name: l\nsource: { kind: image_text, path: list.jsonl }\nscore: { scorer: none }\n');
  const failed = weftCmd('run', path.join(work, 'list.yaml'), '--out', path.join(work, 'o-list'), '--no-progress', '--log-level', 'error');
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /gone\.png: ENOENT/);
});

test('two inputs on one unit id are a config error at planning time naming both files (exit 2), nothing written', async () => {
  // Two tar names that slug alike and whose sha256 share the first 8 hex digits (found by search),
  // so pathUnitId gives both the same id: the planning-time check must catch it.
  const names = ['c__ __ ___  _    __ _.tar', 'c ____    _ ______  _.tar'];
  const tars = path.join(work, 'colliding-tars');
  await mkdir(tars, { recursive: true });
  for (const n of names) await writeFile(path.join(tars, n), '');
  await writeFile(path.join(work, 'collide.yaml'), 'name: collide\nsource: { kind: web, path: colliding-tars }\n');
  const out = path.join(work, 'o-collide');
  const r = weftCmd('run', path.join(work, 'collide.yaml'), '--out', out, '--no-progress');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /two inputs map to unit id c_+\.tar-82c25616/);
  for (const n of names) assert.ok(r.stderr.includes(n), `names ${n}: ${r.stderr}`);
  assert.ok(!existsSync(path.join(out, 'completions')), 'nothing committed');
});
