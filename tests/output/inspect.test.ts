// weft inspect reads IPC file shards (output.arrow_format: file) as it reads stream shards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runKind } from '../helpers/kind-runs.ts';
import { readJson } from '../helpers/out-dir.ts';

let work: string;
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('weft inspect on an IPC file shard: schema (every field nullable), metadata and rows', async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'weft-inspect-'));
  const out = await runKind('image_text', work, { seed: 8, extraYaml: ['output: { arrow_format: file }'] });
  const manifest = await readJson(path.join(out, 'manifest.json'));
  const shard = manifest.shards[0];
  const r = spawnSync(process.execPath, ['bin/weft.js', 'inspect', path.join(out, shard.path), '--rows', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${shard.rows} rows`));
  assert.match(r.stdout, /image: Struct<\{bytes:Binary, path:Utf8\}> \(nullable\)/);
  assert.match(r.stdout, /huggingface: .*"image":\{"_type":"Image"\}/);
  assert.match(r.stdout, /\[1\] \{"id":/);
});
