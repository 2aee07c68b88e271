// Hashed character n-gram rows of the text tower: the hash, the n-grams, and a short training run
// whose text embeddings give unseen word forms the rows of the forms it trained on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDemoCorpus } from '../../corpora/demo-corpus.ts';
import { readCaptionFolder } from '../../scorer/caption-folder.ts';
import { charNgramBuckets, fnv1a, wordNgrams } from '../../scorer/char-ngrams.ts';
import { writeReferenceScorer } from '../../scorer/onnx/reference-model.ts';
import { trainReferenceScorer } from '../../scorer/reference-trainer.ts';
import { textEmbeddingsFromWeights } from '../../scorer/eval/weights-embed.ts';

test('FNV-1a 32-bit gives the published test vectors', () => {
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c);
  assert.equal(fnv1a('foobar'), 0xbf9cf968);
});

test("a word's n-grams carry its boundary marks, shortest first", () => {
  assert.deepEqual(wordNgrams('cat', 3, 4), ['<ca', 'cat', 'at>', '<cat', 'cat>']);
  assert.deepEqual(wordNgrams('a', 3, 5), ['<a>']);
});

test('n-gram buckets: punctuation gives none, unknown-only skips known words, word forms share buckets', () => {
  const o = { buckets: 1 << 20, min: 3, max: 3, words: 'all' as const };
  assert.deepEqual(charNgramBuckets(['.', ',', '-'], o), []);
  const cat = charNgramBuckets(['cat'], o);
  assert.equal(cat.length, 3);
  assert.ok(cat.every((b) => Number.isInteger(b) && b >= 0 && b < o.buckets));
  assert.deepEqual(charNgramBuckets(['cat', 'dog'], { ...o, words: 'unknown' }, (w) => w === 'cat'), charNgramBuckets(['dog'], o));
  const plural = new Set(charNgramBuckets(['mosquitoes'], o));
  const shared = charNgramBuckets(['mosquito'], o).filter((b) => plural.has(b));
  assert.ok(shared.length >= 6, `mosquito and mosquitoes share ${shared.length} trigram buckets`);
});

test('a training run with n-gram rows embeds unseen word forms near the trained ones, and refuses to export', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-ngrams-'));
  try {
    const corpus = await makeDemoCorpus(path.join(root, 'corpus'), { count: 160, swapFraction: 0, size: 64, seed: 4 });
    const pairs = await readCaptionFolder(corpus.imagesDir);
    const charNgrams = { buckets: 4096, min: 3, max: 4, words: 'all' as const };
    const result = await trainReferenceScorer(pairs, { seed: 4, channels: [8, 16, 16], dim: 32, epochs: 10, batchSize: 64, learningRate: 5e-3, whiteningPatches: 2000, threads: 1, charNgrams });
    const w = result.weights;
    assert.equal(w.ngramEmbeddings?.length, charNgrams.buckets * w.dim);
    assert.equal(w.bigramEmbeddings.length, (w.bigrams.length + 1) * w.dim);
    assert.ok(result.losses.at(-1)! < result.losses[0], `loss ${result.losses[0].toFixed(3)} -> ${result.losses.at(-1)!.toFixed(3)}`);

    // Misspelt forms the vocabulary never saw: the word rows alone give nothing, the n-gram rows
    // a vector nearer the caption they misspell than an unrelated one.
    const [typo, right, other] = textEmbeddingsFromWeights(w, ['circless redd', 'a red circle', 'a blue square']);
    const { charNgrams: _, ngramEmbeddings: __, ...plain } = w;
    const [typoPlain] = textEmbeddingsFromWeights(plain, ['circless redd']);
    assert.ok(typoPlain.every((v) => v === 0), 'the word rows alone know no word of the caption');
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
    t.diagnostic(`cos to the right caption ${cos(typo, right).toFixed(3)}, to another ${cos(typo, other).toFixed(3)}`);
    assert.ok(cos(typo, right) > cos(typo, other) + 0.1, `cos to the right caption ${cos(typo, right).toFixed(3)}, to another ${cos(typo, other).toFixed(3)}`);

    await assert.rejects(writeReferenceScorer(path.join(root, 'out'), w, { id: 'ngrams' }), /n-gram/);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
