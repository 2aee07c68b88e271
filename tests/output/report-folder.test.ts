// weft report refuses an incomplete OUT, through the spawned CLI on real files: a folder missing
// a planned unit of its share (exit 2 naming it; --allow-partial reports it, marked partial in
// the manifest and report), and a folder whose lock a live process holds. run.json records the
// rank, world size and planned units that the check reads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const here = path.dirname(fileURLToPath(import.meta.url));
const weft = path.join(here, '..', '..', 'bin', 'weft.js');
let work: string;
let config: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-report-folder-'));
  await mkdir(path.join(work, 'imgs'));
  for (let i = 0; i < 8; i++) {
    const png = await sharp({ create: { width: 18 + i, height: 13, channels: 3, background: { r: 30 * i, g: 120, b: 220 - 25 * i } } }).png().toBuffer();
    await writeFile(path.join(work, 'imgs', `p${i}.png`), png);
    await writeFile(path.join(work, 'imgs', `p${i}.txt`), `picture ${i}`);
  }
  config = path.join(work, 'c.yaml');
  await writeFile(config, `name: report-folder\nsource: { kind: image_text, path: imgs, rows_per_unit: 2 }\ndecode: { image_size: 16 }\nscore: { scorer: none }\n`);
});
after(() => rm(work, { recursive: true, force: true }));

function weftCli(...args: string[]) {
  const r = spawnSync(process.execPath, [weft, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('run.json records rank, world size and planned units; a rank folder holding its whole share reports', async () => {
  const out = path.join(work, 'rank1');
  const r = weftCli('run', config, '--out', out, '--rank', '1', '--world-size', '2', '--no-progress', '--log-level', 'error');
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(info.rank, 1);
  assert.equal(info.world_size, 2);
  assert.deepEqual(info.planned_units, ['folder-00000', 'folder-00001', 'folder-00002', 'folder-00003']);
  const rep = weftCli('report', out);
  assert.equal(rep.code, 0, rep.stderr);
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.units.map((u: { id: string }) => u.id), ['folder-00001', 'folder-00003']);
  assert.equal(manifest.partial, undefined);
});

test('a folder missing a planned unit: report exits 2 naming it; --allow-partial reports it marked partial', async () => {
  const out = path.join(work, 'failed-unit');
  // A list row naming a missing image fails its unit (a read error), which stays uncommitted.
  await writeFile(path.join(work, 'pairs.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ image: `imgs/p${i}.png`, caption: `picture ${i}` }) + '\n').join(''));
  const listConfig = path.join(work, 'list.yaml');
  await writeFile(listConfig, (await readFile(config, 'utf8')).replace('path: imgs', 'path: pairs.jsonl'));
  await rename(path.join(work, 'imgs', 'p5.png'), path.join(work, 'p5.away'));
  try {
    const r = weftCli('run', listConfig, '--out', out, '--no-progress', '--log-level', 'error');
    assert.equal(r.code, 1, r.stderr); // pairs-00002 (rows 4, 5) cannot read p5
  } finally {
    await rename(path.join(work, 'p5.away'), path.join(work, 'imgs', 'p5.png'));
  }
  const refused = weftCli('report', out);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /misses 1 planned unit\(s\) with no commit: pairs-00002;/);
  assert.match(refused.stderr, /--allow-partial/);

  const partial = weftCli('report', out, '--allow-partial');
  assert.equal(partial.code, 0, partial.stderr);
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.partial, { missing_units: ['pairs-00002'] });
  assert.match(await readFile(path.join(out, 'report.html'), 'utf8'), /this output is partial/);

  // Finishing the run makes it complete again: report accepts it and the partial mark is gone.
  assert.equal(weftCli('run', listConfig, '--out', out, '--no-progress', '--log-level', 'error').code, 0);
  assert.equal(weftCli('report', out).code, 0);
  assert.equal(JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')).partial, undefined);
});

test('a folder whose lock a live process holds: report exits 2 and leaves the folder alone', async () => {
  const out = path.join(work, 'locked');
  assert.equal(weftCli('run', config, '--out', out, '--no-progress', '--log-level', 'error').code, 0);
  const before = await readFile(path.join(out, 'manifest.json'), 'utf8');
  const holder = spawn(process.execPath, ['--import', 'tsx', path.join(here, '..', 'helpers', 'lock-contender.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
  try {
    holder.stdin!.write(`${out}\n`);
    assert.equal((await lines.next()).value, 'ready');
    await writeFile(path.join(out, 'go'), '');
    assert.equal((await lines.next()).value, 'held');
    const refused = weftCli('report', out);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /being written by another weft process/);
    assert.equal(await readFile(path.join(out, 'manifest.json'), 'utf8'), before);
    await writeFile(path.join(out, 'release'), '');
    assert.equal((await lines.next()).value, 'released');
  } finally {
    holder.stdin!.end();
    holder.kill();
  }
  await rm(path.join(out, 'go'));
  await rm(path.join(out, 'release'));
  assert.equal(weftCli('report', out).code, 0);
});

test('weft report SIGKILLed while writing, then rerun: the derived files equal the first report and no temporary file is left', async () => {
  const out = path.join(work, 'killed-report');
  const r = weftCli('run', config, '--out', out, '--no-progress', '--log-level', 'error');
  assert.equal(r.code, 0, r.stderr);
  const { readdir } = await import('node:fs/promises');
  const files = ['manifest.json', 'index.parquet', 'rejects.parquet'];
  const before = await Promise.all(files.map((f) => readFile(path.join(out, f))));
  // Kill as soon as a temporary file of a derived output appears, so the kill lands mid-write.
  let killedWithTemp = 0;
  for (let trial = 0; trial < 3; trial++) {
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, [weft, 'report', out], { stdio: 'ignore' });
      const poll = setInterval(async () => {
        const names = await readdir(out).catch(() => [] as string[]);
        if (names.some((f) => f.endsWith('.tmp'))) {
          clearInterval(poll);
          if (child.exitCode === null) {
            child.kill('SIGKILL');
            killedWithTemp++;
          }
        }
      }, 1);
      child.on('exit', () => {
        clearInterval(poll);
        resolve();
      });
    });
  }
  assert.ok(killedWithTemp >= 1, 'a kill landed while a temporary file existed');
  const rerun = weftCli('report', out);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual((await readdir(out)).filter((f) => f.endsWith('.tmp') || f.startsWith('.finalise-spill-')), [], 'no temporary file is left');
  const after = await Promise.all(files.map((f) => readFile(path.join(out, f))));
  assert.deepEqual(JSON.parse(after[0].toString()).shards, JSON.parse(before[0].toString()).shards);
  assert.ok(after[1].equals(before[1]) && after[2].equals(before[2]), 'index and rejects are byte-identical');
});
