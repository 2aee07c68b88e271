// Resume keyed on input, through a spawned `weft run` on real files: a rerun after the input
// changed refuses (exit 2) naming the changed and vanished units; with --redo-changed the output
// equals a fresh run on the new input (same index, no reject row twice); a change of a cosmetic
// key (name) resumes; a change of an output-affecting key is refused naming the key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readFlatParquet } from '../../output/parquet-tables.ts';

const weft = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'weft.js');
let work: string;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-input-changes-'));
});
after(() => rm(work, { recursive: true, force: true }));

function weftRun(config: string, out: string, ...extra: string[]) {
  const r = spawnSync(process.execPath, [weft, 'run', config, '--out', out, '--no-progress', '--log-level', 'warn', ...extra], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

async function image(file: string, seed: number): Promise<void> {
  const png = await sharp({ create: { width: 20 + (seed % 7), height: 14 + (seed % 5), channels: 3, background: { r: (seed * 53) % 256, g: (seed * 97) % 256, b: (seed * 31) % 256 } } }).png().toBuffer();
  await writeFile(file, png);
}

/** A folder corpus: `names` images with a caption each, except those listed in `uncaptioned` (caption_missing rejects). */
async function folderCorpus(dir: string, names: string[], uncaptioned: string[] = []): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const n of names) {
    await image(path.join(dir, `${n}.png`), [...n].reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 9973, 7));
    if (!uncaptioned.includes(n)) await writeFile(path.join(dir, `${n}.txt`), `a picture called ${n}`);
  }
}

async function writeConfig(file: string, source: string, name = 'resume', imageSize = 16): Promise<string> {
  await writeFile(file, `name: ${name}\nsource: { kind: image_text, path: ${source}, rows_per_unit: 3 }\ndecode: { image_size: ${imageSize} }\nscore: { scorer: none }\n`);
  return file;
}

/** What a run's outputs say, without times: units, shards (by sha256), index and reject rows. */
async function outputOf(out: string) {
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  const index = (await readFlatParquet(path.join(out, 'index.parquet'))).map((r) => JSON.stringify(r)).sort();
  const rejects = (await readFlatParquet(path.join(out, 'rejects.parquet'))).map((r) => JSON.stringify(r)).sort();
  return {
    units: manifest.units.map((u: { id: string; source: string; kept: number; dropped: number }) => [u.id, u.source, u.kept, u.dropped]),
    shards: manifest.shards.map((s: { path: string; sha256: string; rows: number }) => [s.path, s.sha256, s.rows]),
    index,
    rejects,
    shardFiles: (await readdir(path.join(out, 'shards'))).sort(),
  };
}

const names = (...xs: string[]) => xs;

test('extra images: the rerun refuses naming the changed units; --redo-changed equals a fresh run on the new corpus', async () => {
  const corpus = path.join(work, 'grow');
  await folderCorpus(corpus, names('a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6'), ['a6']);
  const config = await writeConfig(path.join(work, 'grow.yaml'), corpus);
  const out = path.join(work, 'out-grow');
  assert.equal(weftRun(config, out).code, 0);

  // a4b sorts between a4 and a5: unit 0 (a0-a2) keeps its files, units 1 and 2 shift.
  await folderCorpus(corpus, names('a4b', 'a7'));
  const refused = weftRun(config, out);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /whose input changed: folder-00001, folder-00002/);
  assert.doesNotMatch(refused.stderr, /folder-00000/);
  assert.match(refused.stderr, /--redo-changed/);

  const redone = weftRun(config, out, '--redo-changed');
  assert.equal(redone.code, 0, redone.stderr);
  const fresh = path.join(work, 'out-grow-fresh');
  assert.equal(weftRun(config, fresh).code, 0);
  const got = await outputOf(out);
  assert.deepEqual(got, await outputOf(fresh));
  // The uncaptioned a6 is one reject row, not two.
  assert.equal(got.rejects.filter((r) => r.includes('a6')).length, 1);
  assert.equal(got.units.length, 3);
});

test('a caption rewritten: refused naming its unit; --redo-changed puts the new caption in the index', async () => {
  const corpus = path.join(work, 'touch');
  await folderCorpus(corpus, names('b0', 'b1', 'b2', 'b3', 'b4'));
  const config = await writeConfig(path.join(work, 'touch.yaml'), corpus);
  const out = path.join(work, 'out-touch');
  assert.equal(weftRun(config, out).code, 0);
  await new Promise((r) => setTimeout(r, 20));
  await writeFile(path.join(corpus, 'b4.txt'), 'a picture called b9'); // same length, new content and mtime
  const refused = weftRun(config, out);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /whose input changed: folder-00001\b/);
  assert.doesNotMatch(refused.stderr, /folder-00000/);
  assert.equal(weftRun(config, out, '--redo-changed').code, 0);
  const fresh = path.join(work, 'out-touch-fresh');
  assert.equal(weftRun(config, fresh).code, 0);
  assert.deepEqual(await outputOf(out), await outputOf(fresh));
  assert.ok((await outputOf(out)).index.some((r) => r.includes('b9')));
});

test('deleted inputs: a changed unit and a unit no longer in the input are named; --redo-changed removes the vanished commit', async () => {
  const corpus = path.join(work, 'shrink');
  await folderCorpus(corpus, names('c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6'));
  const config = await writeConfig(path.join(work, 'shrink.yaml'), corpus);
  const out = path.join(work, 'out-shrink');
  assert.equal(weftRun(config, out).code, 0);
  for (const n of ['c5', 'c6']) for (const ext of ['png', 'txt']) await rm(path.join(corpus, `${n}.${ext}`));
  await rm(path.join(corpus, 'c1.png')); // c1.txt stays: an image_missing reject
  const refused = weftRun(config, out);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /whose input changed: folder-00000, folder-00001;/);
  assert.match(refused.stderr, /no longer in the input: folder-00002/);
  assert.equal(weftRun(config, out, '--redo-changed').code, 0);
  const fresh = path.join(work, 'out-shrink-fresh');
  assert.equal(weftRun(config, fresh).code, 0);
  const got = await outputOf(out);
  assert.deepEqual(got, await outputOf(fresh));
  assert.deepEqual((await readdir(path.join(out, 'completions'))).sort(), ['folder-00000.json', 'folder-00001.json']);
  assert.ok(got.rejects.some((r) => r.includes('image_missing')));
});

test('a list with rows appended: only the units holding new rows are named; the rerun with --redo-changed equals a fresh run', async () => {
  const dir = path.join(work, 'list');
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < 9; i++) await image(path.join(dir, `${i}.png`), 100 + i);
  const row = (i: number) => JSON.stringify({ image: `${i}.png`, caption: `list picture ${i}` }) + '\n';
  await writeFile(path.join(dir, 'pairs.jsonl'), [0, 1, 2, 3, 4].map(row).join(''));
  const config = await writeConfig(path.join(work, 'list.yaml'), path.join(dir, 'pairs.jsonl'));
  const out = path.join(work, 'out-list');
  assert.equal(weftRun(config, out).code, 0);
  await appendFile(path.join(dir, 'pairs.jsonl'), [5, 6, 7, 8].map(row).join(''));
  const refused = weftRun(config, out);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /whose input changed: pairs-00001[;.]/);
  assert.doesNotMatch(refused.stderr, /pairs-00000/);
  assert.equal(weftRun(config, out, '--redo-changed').code, 0);
  const fresh = path.join(work, 'out-list-fresh');
  assert.equal(weftRun(config, fresh).code, 0);
  assert.deepEqual(await outputOf(out), await outputOf(fresh));

  // A local image a row names, rewritten: the list is the same, the unit is not.
  await new Promise((r) => setTimeout(r, 20));
  await image(path.join(dir, '7.png'), 999);
  const again = weftRun(config, out);
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /whose input changed: pairs-00002[;.]/);
});

test('changing only the name resumes (nothing redone, the new name recorded); changing decode.image_size is refused naming the key', async () => {
  const corpus = path.join(work, 'cosmetic');
  await folderCorpus(corpus, names('d0', 'd1', 'd2', 'd3'));
  const out = path.join(work, 'out-cosmetic');
  assert.equal(weftRun(await writeConfig(path.join(work, 'cosmetic.yaml'), corpus, 'first'), out).code, 0);
  const committed = await readFile(path.join(out, 'completions', 'folder-00000.json'), 'utf8');
  const renamed = await writeConfig(path.join(work, 'cosmetic.yaml'), corpus, 'second');
  await writeFile(renamed, (await readFile(renamed, 'utf8')) + 'run: { unit_concurrency: 1, concurrency: 2 }\noutput: { report_examples: 3 }\n');
  const resumed = weftRun(renamed, out);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(await readFile(path.join(out, 'completions', 'folder-00000.json'), 'utf8'), committed);
  assert.equal(JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')).config.name, 'second');

  const refused = weftRun(await writeConfig(path.join(work, 'cosmetic.yaml'), corpus, 'second', 24), out);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /keys that differ: decode\.image_size\)/);
});
