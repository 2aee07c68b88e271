// Read errors are unit failures, content errors are rejects: through a spawned `weft run`, a
// missing input fails its unit (exit 1 naming it, nothing committed for it) and a rerun after
// the file is back commits it; a truncated .gz list commits the whole units before the break
// and fails the one holding it, naming the file and the byte offset. A file without read
// permission (EACCES) and a process out of file handles (EMFILE) fail their units the same way,
// and the rerun, with the permission or the limit back, gives exactly the uninterrupted output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, mkdir, readdir, rm, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { readWebDatasetTar } from '../../stages/sources/webdataset-tar.ts';
import { readSource, UnitFailure } from '../../core/stage.ts';
import { testContext } from '../helpers/context.ts';
import { outputContent } from '../helpers/out-dir.ts';

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

function weftRun(config: string, out: string, options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [weft, 'run', config, '--out', out, '--no-progress', '--log-level', 'error'], { encoding: 'utf8', ...options });
  return { code: r.status, stderr: r.stderr };
}

const committedUnits = async (out: string) => (existsSync(path.join(out, 'completions')) ? (await readdir(path.join(out, 'completions'))).filter((f) => f.endsWith('.json')).sort() : []);

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

test('an input without read permission (EACCES) fails its unit, named; with the permission back the rerun gives the uninterrupted output', async (t) => {
  // Root reads through chmod 000, so as root the run is started as an unprivileged user, in a
  // folder that user can reach, with every other file readable.
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? { uid: 65534, gid: 65534 } : {};
  if (asRoot && spawnSync(process.execPath, [weft, '--version'], { ...user, env: { ...process.env, HOME: os.tmpdir() } }).status !== 0) {
    t.skip('the checkout is not readable by the unprivileged user 65534');
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-eacces-'));
  try {
    await chmod(dir, 0o777);
    await cp(path.join(work, 'imgs'), path.join(dir, 'imgs'), { recursive: true });
    await writeFile(path.join(dir, 'list.jsonl'), rows(6));
    const config = path.join(dir, 'c.yaml');
    await writeFile(config, 'name: eacces\nsource: { kind: image_text, path: list.jsonl, rows_per_unit: 2 }\ndecode: { image_size: 16 }\nscore: { scorer: none }\n');
    for (const p of [path.join(dir, 'imgs'), ...(await readdir(path.join(dir, 'imgs'))).map((f) => path.join(dir, 'imgs', f))]) await chmod(p, p.endsWith('imgs') ? 0o755 : 0o644);
    const env = { ...process.env, HOME: dir };
    const reference = path.join(dir, 'out-reference');
    assert.equal(weftRun(config, reference, { ...user, env }).code, 0);

    const out = path.join(dir, 'out');
    await chmod(path.join(dir, 'imgs', '3.png'), 0o000);
    const first = weftRun(config, out, { ...user, env });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /unit list-00001 .*failed: cannot read .*3\.png: EACCES/);
    assert.deepEqual(await committedUnits(out), ['list-00000.json', 'list-00002.json'], 'the unit holding the file stays uncommitted');
    await chmod(path.join(dir, 'imgs', '3.png'), 0o644);
    const second = weftRun(config, out, { ...user, env });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await outputContent(out), await outputContent(reference));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

test('a process out of file handles (EMFILE) fails its units, named, commits none of them; the rerun gives the uninterrupted output', { skip: !hasPrlimit && 'needs prlimit (util-linux) to lower the limit of the running process' }, async () => {
  // The limit is lowered on the running process once its first unit has committed (starting it
  // under a low `ulimit -n` fails while Node loads its modules, before any input is read): with
  // a soft limit of 3 (stdin, stdout and stderr are open) every open after that fails.
  await writeFile(path.join(work, 'many.jsonl'), Array.from({ length: 120 }, (_, i) => JSON.stringify({ image: `imgs/${i % 6}.png`, caption: `copy ${i} of picture ${i % 6}` })).join('\n') + '\n');
  const config = await writeConfig('emfile', 'many.jsonl');
  const reference = path.join(work, 'out-emfile-reference');
  assert.equal(weftRun(config, reference).code, 0);

  const out = path.join(work, 'out-emfile');
  const child = spawn(process.execPath, [weft, 'run', config, '--out', out, '--no-progress', '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  let limited = false;
  while (!done) {
    if ((await committedUnits(out)).length > 0) {
      limited = spawnSync('prlimit', ['--pid', String(child.pid), '--nofile=3:']).status === 0;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const code = await exited;
  assert.ok(limited, `the limit was lowered while the run went on (exit ${code}): ${stderr}`);
  assert.equal(code, 1, stderr);
  const failed = [...stderr.matchAll(/unit (many-\d+) .*failed: cannot read (\S+): EMFILE/g)];
  assert.ok(failed.length > 0, `a unit fails naming the input it could not open: ${stderr}`);
  for (const [, , file] of failed) assert.match(file, /many\.jsonl$|imgs\/\d\.png$/);
  const committed = await committedUnits(out);
  for (const [, unit] of failed) assert.ok(!committed.includes(`${unit}.json`), `${unit} failed and is not committed`);
  assert.ok(committed.length < 60, `${committed.length} of 60 units committed`);

  const rerun = weftRun(config, out);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(await outputContent(out), await outputContent(reference));
});
