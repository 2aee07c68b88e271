import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, configFingerprint, ConfigError } from '../../schemas/config-file.ts';

const weft = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'weft.js');
const base = { source: { kind: 'image_text', path: 'x' } };

test('defaults fill every section', () => {
  const c = parseConfig(base);
  assert.equal(c.decode.resize_mode, 'keep_ratio');
  assert.equal(c.output.rows_per_batch, 100);
  assert.equal(c.run.concurrency, 4);
});

test('errors name the key, the bad value and what is allowed', () => {
  assert.throws(() => parseConfig({ ...base, decode: { resize_mode: 'stretch' } }), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /decode\.resize_mode: got "stretch"; allowed: "none", "keep_ratio", "center_crop", "border"/);
    return true;
  });
  assert.throws(() => parseConfig({ ...base, output: { rows_per_batch: 500 } }), /output\.rows_per_batch: got 500; .*100/);
  assert.throws(() => parseConfig({ ...base, decod: {} }), /unknown key "decod"/);
  assert.throws(() => parseConfig({ source: { kind: 'imagetext', path: 'x' } }), /source\.kind/);
});

test('fingerprint ignores run-time knobs but not output-affecting settings', () => {
  const a = configFingerprint(parseConfig(base));
  assert.equal(a, configFingerprint(parseConfig({ ...base, run: { concurrency: 16 } })));
  assert.notEqual(a, configFingerprint(parseConfig({ ...base, decode: { image_size: 512 } })));
  assert.notEqual(a, configFingerprint(parseConfig(base), ['modelsha']));
});

test('weft run with an invalid or unreadable config exits 2 with one clear line', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-cfg-'));
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'source: { kind: image_text, path: x }\ndecode: { max_pixels: -5 }\n');
  let r = spawnSync(process.execPath, [weft, 'run', bad, '--out', path.join(dir, 'o')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /decode\.max_pixels: got -5/);
  await writeFile(bad, 'source: [unclosed\n');
  r = spawnSync(process.execPath, [weft, 'run', bad, '--out', path.join(dir, 'o')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not valid YAML/);
  r = spawnSync(process.execPath, [weft, 'run', path.join(dir, 'missing.yaml'), '--out', path.join(dir, 'o')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot read config .*ENOENT/);
});

test('weft --help and every command --help describe their flags', () => {
  const top = spawnSync(process.execPath, [weft, '--help'], { encoding: 'utf8' });
  assert.equal(top.status, 0);
  for (const cmd of ['run', 'demo', 'inspect', 'report', 'merge']) assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
  const run = spawnSync(process.execPath, [weft, 'run', '--help'], { encoding: 'utf8' });
  for (const flag of ['--out', '--rank', '--world-size', '--log-level', '--no-progress']) assert.ok(run.stdout.includes(flag), flag);
  const bad = spawnSync(process.execPath, [weft, 'run', 'x.yaml', '--out', 'o', '--rank', '3', '--world-size', '2'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--rank 3 must be below --world-size 2/);
});

test('the safety classifier is a config error on kinds without images to classify', () => {
  for (const source of [{ kind: 'rgbd', path: 'captures' }, { kind: 'video', path: 'videos' }]) {
    assert.throws(() => parseConfig({ source, safety: { enabled: true } }), (e: Error) => e instanceof ConfigError && /safety\.enabled/.test(e.message) && e.message.includes(source.kind));
    assert.doesNotThrow(() => parseConfig({ source }));
  }
  assert.doesNotThrow(() => parseConfig({ source: { kind: 'image_text', path: 'images' }, safety: { enabled: true } }));
});

test('preset datacomp_basic sets the basic filter under the config\'s own settings', () => {
  const c = parseConfig({ ...base, preset: 'datacomp_basic' });
  assert.deepEqual(c.caption.languages, ['eng']);
  assert.equal(c.caption.min_words, 3);
  assert.equal(c.caption.min_chars, 6);
  assert.equal(c.decode.min_side, 200);
  assert.equal(c.decode.max_aspect_ratio, 3);
  assert.equal(c.decode.image_size, 256, 'other keys keep their defaults');
  const own = parseConfig({ ...base, preset: 'datacomp_basic', decode: { min_side: 64 }, caption: { languages: ['eng', 'deu'] } });
  assert.equal(own.decode.min_side, 64);
  assert.equal(own.decode.max_aspect_ratio, 3);
  assert.deepEqual(own.caption.languages, ['eng', 'deu']);
  assert.equal(own.caption.min_words, 3);
  assert.throws(() => parseConfig({ ...base, preset: 'laion' }), /preset: got "laion"; allowed: "datacomp_basic"/);
  assert.throws(() => parseConfig({ ...base, caption: { languages: ['english'] } }), /caption\.languages\.0/);
});

test('corpus passes are config errors without what they need', () => {
  assert.throws(() => parseConfig({ ...base, curate: { corpus: { clusters: { k: 8 } } } }), /score\.scorer: .*need the scorer's embeddings/);
  assert.throws(() => parseConfig({ ...base, score: { scorer: 'reference' }, curate: { corpus: { semantic_dedup: { enabled: true } } } }), /curate\.corpus\.clusters\.k: .*set curate\.corpus\.clusters\.k/);
  assert.throws(() => parseConfig({ source: { kind: 'video', path: 'v' }, curate: { corpus: { balance: { enabled: true } } } }), /curate\.corpus: .*not video/);
  const c = parseConfig({ ...base, curate: { corpus: { balance: { enabled: true } } } });
  assert.equal(c.curate.corpus.balance.t, 20_000);
  assert.equal(c.curate.corpus.clusters.k, null);
});

test('a missing balance entries file is a config error naming the key', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-config-'));
  try {
    const file = path.join(dir, 'c.yaml');
    await writeFile(file, 'source: { kind: image_text, path: x }\ncurate: { corpus: { balance: { enabled: true, entries_file: nope.txt } } }\n');
    const { loadConfigFile } = await import('../../schemas/config-file.ts');
    await assert.rejects(loadConfigFile(file), (e: Error) => e instanceof ConfigError && /curate\.corpus\.balance\.entries_file: got ".*nope\.txt"; no such file/.test(e.message));
    await writeFile(path.join(dir, 'nope.txt'), 'cat\n');
    assert.equal((await loadConfigFile(file)).config.curate.corpus.balance.entries_file, path.join(dir, 'nope.txt'));
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(dir, { recursive: true, force: true });
  }
});
