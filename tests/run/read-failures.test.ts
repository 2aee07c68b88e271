// Read errors are unit failures, content errors are rejects: through a spawned `weft run`, a
// missing input fails its unit (exit 1 naming it, nothing committed for it) and a rerun after
// the file is back commits it; a truncated .gz list commits the whole units before the break
// and fails the one holding it, naming the file and the byte offset.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { readWebDatasetTar } from '../../stages/sources/webdataset-tar.ts';
import { readSource, UnitFailure } from '../../core/stage.ts';
import { testContext } from '../helpers/context.ts';

const weft = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'weft.js');
let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-readfail-'));
  await mkdir(path.join(work, 'imgs'));
  for (let i = 0; i < 6; i++) {
    const png = await sharp({ create: { width: 16 + i, height: 12, channels: 3, background: { r: 40 * i, g: 90, b: 200 - 20 * i } } }).png().toBuffer();
    await writeFile(path.join(work, 'imgs', `${i}.png`), png);
  }
});
after(() => rm(work, { recursive: true, force: true }));

function weftRun(config: string, out: string) {
  const r = spawnSync(process.execPath, [weft, 'run', config, '--out', out, '--no-progress', '--log-level', 'error'], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

async function writeConfig(name: string, listFile: string): Promise<string> {
  const config = path.join(work, `${name}.yaml`);
  await writeFile(config, `name: ${name}\nsource: { kind: image_text, path: ${listFile}, rows_per_unit: 2 }\ndecode: { image_size: 16 }\nscore: { scorer: none }\n`);
  return config;
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ image: `imgs/${i}.png`, caption: `picture number ${i}` })).join('\n') + '\n';

test('a missing image fails its unit (exit 1, named, uncommitted); the rerun with the file back commits it', async () => {
  await writeFile(path.join(work, 'list.jsonl'), rows(6));
  const config = await writeConfig('missing', 'list.jsonl');
  const out = path.join(work, 'out-missing');
  await rename(path.join(work, 'imgs', '3.png'), path.join(work, 'away.png'));
  const first = weftRun(config, out);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /unit list-00001 .*failed: cannot read .*3\.png: ENOENT/);
  assert.deepEqual((await readdir(path.join(out, 'completions'))).sort(), ['list-00000.json', 'list-00002.json']);
  await rename(path.join(work, 'away.png'), path.join(work, 'imgs', '3.png'));
  const second = weftRun(config, out);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual((await readdir(path.join(out, 'completions'))).sort(), ['list-00000.json', 'list-00001.json', 'list-00002.json']);
});

test('a truncated .gz list: whole units before the break commit, the unit holding it fails naming file and offset', async () => {
  const gz = gzipSync(rows(6));
  // Cut inside the compressed stream, past the first rows.
  await writeFile(path.join(work, 'cut.jsonl.gz'), gz.subarray(0, gz.length - 12));
  const config = await writeConfig('cut', 'cut.jsonl.gz');
  const out = path.join(work, 'out-cut');
  const r = weftRun(config, out);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cut\.jsonl\.gz: gzip data broken near compressed byte \d+/);
  const committed = existsSync(path.join(out, 'completions')) ? (await readdir(path.join(out, 'completions'))).sort() : [];
  // Every committed unit is a whole one before the break; the failed unit is the last planned one.
  assert.ok(committed.length >= 1, r.stderr);
  const failedUnit = /unit (cut-\d+)/.exec(r.stderr)![1];
  assert.ok(!committed.includes(`${failedUnit}.json`));
  // A file that is not gzip at all fails the same way, never a silent empty run.
  await writeFile(path.join(work, 'notgz.jsonl.gz'), rows(3));
  const bad = weftRun(await writeConfig('notgz', 'notgz.jsonl.gz'), path.join(work, 'out-notgz'));
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /notgz\.jsonl\.gz: gzip data broken near compressed byte \d+/);
});

test('a tar that cannot be opened is a UnitFailure, not tar_corrupt', async () => {
  const ctx = testContext();
  await assert.rejects(
    (async () => {
      for await (const _ of readSource('source', (c) => readWebDatasetTar(path.join(work, 'gone.tar'), c), ctx));
    })(),
    (e: Error) => e instanceof UnitFailure && /gone\.tar: ENOENT/.test(e.message),
  );
  assert.deepEqual(ctx.rejects.rows, []);
});
