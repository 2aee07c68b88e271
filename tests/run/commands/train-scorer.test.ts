// weft train-scorer --image-tower: the backbone tower trains from shards through the CLI and
// writes a head-only folder that loadScorer opens; a bad tower name is a usage error (exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../../corpora/demo-corpus.ts';
import { parseConfig } from '../../../schemas/config-file.ts';
import { runPipeline } from '../../../run/executor.ts';
import { loadScorer } from '../../../scorer/scorer.ts';

const weft = (args: string[]) => spawnSync(process.execPath, ['bin/weft.js', ...args], { encoding: 'utf8' });

test('train-scorer --image-tower backbone trains a head-only scorer from shards; a bad tower exits 2', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-train-tower-'));
  try {
    const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 60, swapFraction: 0.2, size: 64, seed: 9 });
    const config = parseConfig({ name: 'pool', source: { kind: 'image_text', path: corpus.imagesDir, rows_per_unit: 60 }, decode: { resize_mode: 'center_crop', image_size: 64 } });
    const out = path.join(root, 'out');
    await runPipeline({ loaded: { config, baseDir: root }, outDir: out });

    const bad = weft(['train-scorer', out, '--out', path.join(root, 'bad'), '--image-tower', 'resnet']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--image-tower: backbone or random/);

    const model = path.join(root, 'model');
    const r = weft(['train-scorer', out, '--out', model, '--image-tower', 'backbone', '--folds', '2', '--epochs', '5', '--dim', '32', '--id', 'boot-backbone']);
    assert.equal(r.status, 0, r.stderr);
    const files = await fs.readdir(model);
    assert.ok(files.includes('vision_head.onnx') && !files.includes('vision_model.onnx'), files.join(', '));
    const scorer = await loadScorer(model, { threads: 1 });
    try {
      assert.equal(scorer.id, 'boot-backbone');
      assert.equal(scorer.modelFiles[0].path, 'vision_head.onnx+nsfwjs-mobilenet-v2');
    } finally {
      await scorer.close();
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
