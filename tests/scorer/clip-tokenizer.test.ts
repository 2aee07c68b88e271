import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextTokenizer } from '../../scorer/clip-tokenizer.ts';
import { buildClipBpe } from '../../scorer/clip-bpe.ts';

const CORPUS = ['a photo of a red circle', 'a photograph of a cat', 'a photo of two blue squares on the left'];
const clip = buildClipBpe(CORPUS, { merges: 60 });
const tokenizer = new TextTokenizer({ tokenizer: clip.tokenizer, config: clip.tokenizerConfig });

const row = (batch: { ids: number[]; length: number }, i: number) => batch.ids.slice(i * batch.length, (i + 1) * batch.length);

test('CLIP semantics: start 49406, end 49407, padded with the pad token to 77', () => {
  assert.equal(tokenizer.contextLength, 77);
  assert.equal(tokenizer.padId, 49407);
  const batch = tokenizer.encode(['a', 'a photo of a cat']);
  assert.equal(batch.length, 77);
  assert.equal(batch.ids.length, 2 * 77);
  // Single characters have CLIP's own ids: "a</w>" is 320 in openai/clip-vit-base-patch32.
  assert.deepEqual(row(batch, 0).slice(0, 4), [49406, 320, 49407, 49407]);
  assert.deepEqual(batch.counts, [3, tokenizer.encodeOne('a photo of a cat').length]);
  assert.deepEqual(batch.mask.slice(0, 4), [1, 1, 1, 0]);
  assert.equal(batch.mask.slice(0, 77).reduce((a, b) => a + b, 0), 3);
  const second = row(batch, 1);
  assert.equal(second[0], 49406);
  assert.equal(second[batch.counts[1] - 1], 49407);
  assert.ok(second.slice(1, batch.counts[1] - 1).every((id) => id < 49406));
});

test('BPE merges learned from the corpus apply; unseen words fall back to byte symbols', () => {
  const seen = tokenizer.tokensOf(tokenizer.encodeOne('photo'));
  assert.deepEqual(seen, ['<|startoftext|>', 'photo</w>', '<|endoftext|>']);
  const unseen = tokenizer.tokensOf(tokenizer.encodeOne('zyx'));
  assert.deepEqual(unseen, ['<|startoftext|>', 'z', 'y', 'x</w>', '<|endoftext|>']);
});

test('the normaliser lower-cases and collapses whitespace; the split keeps punctuation apart', () => {
  assert.deepEqual(tokenizer.encodeOne('A   PHOTO\tof a Cat'), tokenizer.encodeOne('a photo of a cat'));
  const tokens = tokenizer.tokensOf(tokenizer.encodeOne("it's red!"));
  assert.ok(tokens.includes('!</w>'));
  assert.ok(tokens.includes("'"));
});

test('a long text is cut to 77 and still ends with the end token', () => {
  const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
  const batch = tokenizer.encode([long]);
  assert.equal(batch.length, 77);
  assert.equal(batch.counts[0], 77);
  assert.equal(batch.ids[0], 49406);
  assert.equal(batch.ids[76], 49407);
  assert.ok(batch.ids.slice(1, 76).every((id) => id !== 49407));
  assert.ok(batch.mask.every((m) => m === 1));
});

test('special ids and lengths come from the tokenizer files, not the code', () => {
  const custom = buildClipBpe(CORPUS, { merges: 20, bosId: 1000, eosId: 1001, bosToken: '<s>', eosToken: '</s>', contextLength: 16 });
  const t = new TextTokenizer({ tokenizer: custom.tokenizer, config: custom.tokenizerConfig });
  assert.equal(t.contextLength, 16);
  assert.equal(t.padId, 1001);
  const batch = t.encode(['a', 'a b c d e f g h i j k l m n o p q r']);
  assert.deepEqual(batch.ids.slice(0, 4), [1000, 320, 1001, 1001]);
  assert.equal(batch.ids[16], 1000);
  assert.equal(batch.ids[31], 1001);
});

test('without any length in the files, rows are padded to the longest text of the batch', () => {
  const t = new TextTokenizer({ tokenizer: clip.tokenizer, config: { ...clip.tokenizerConfig, model_max_length: 1e30 } });
  assert.equal(t.contextLength, null);
  const batch = t.encode(['a', 'a photo of a cat']);
  assert.equal(batch.length, Math.max(...batch.counts));
  // An explicit length (scorer.json context_length) wins.
  assert.equal(new TextTokenizer({ tokenizer: clip.tokenizer, config: clip.tokenizerConfig }, 32).encode(['a']).length, 32);
});
