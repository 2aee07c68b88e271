import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionSchema, type CaptionConfig } from '../../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../../schemas/image-text.ts';
import { isDrop, type StageContext } from '../../../core/stage.ts';
import { captionRulesStage, checkCaption, normaliseCaption } from '../../../stages/curate/caption-rules.ts';
import { testContext } from '../../helpers/context.ts';

const cfg = (over: Partial<CaptionConfig> = {}): CaptionConfig => captionSchema.parse(over);

function reasonOf(caption: string, c: CaptionConfig): string {
  const verdict = checkCaption(caption, c);
  return isDrop(verdict) ? verdict.reason : 'kept';
}

test('normaliseCaption collapses whitespace, strips control characters and composes accents', () => {
  assert.equal(normaliseCaption('  a\t\tred \n\r\n circle  '), 'a red circle');
  assert.equal(normaliseCaption('a\u0000b\u0007c\u007f\u009bd'), 'abcd');
  assert.equal(normaliseCaption('\ufeffno\u00a0break\u2028line\u3000wide'), 'no break line wide');
  assert.equal(normaliseCaption('cafe\u0301'), 'caf\u00e9');
  assert.equal(normaliseCaption(' \n\t '), '');
  assert.equal(normaliseCaption('family 👨‍👩‍👧 emoji'), 'family 👨‍👩‍👧 emoji'); // zero-width joiners kept
});

test('checkCaption gives each reason with the measured value and the limit', () => {
  const c = cfg({ min_chars: 5, min_words: 2, max_chars: 20 });
  const verdicts = {
    '': checkCaption('', c),
    abc: checkCaption('abc', c),
    'hello - !': checkCaption('hello - !', c),
    long: checkCaption('a caption that is far too long', c),
  };
  assert.deepEqual(Object.values(verdicts).map((v) => (isDrop(v) ? [v.reason, v.detail] : v)), [
    ['caption_missing', 'caption is empty after normalisation'],
    ['caption_too_short', '3 chars < min_chars 5'],
    ['caption_too_few_words', '1 words < min_words 2'],
    ['caption_too_long', '30 chars > max_chars 20'],
  ]);
  assert.equal(checkCaption('a red circle', c), true);
  assert.equal(checkCaption('twenty chars exactly', c), true); // max is inclusive
});

test('lengths count code points, words need a letter or digit', () => {
  assert.equal(reasonOf('🐱🐱🐱', cfg({ min_chars: 3, min_words: 0 })), 'kept');
  assert.equal(reasonOf('🐱🐱', cfg({ min_chars: 3, min_words: 0 })), 'caption_too_short');
  assert.equal(reasonOf('🐱 🐱 🐱', cfg({ min_words: 1 })), 'caption_too_few_words');
  assert.equal(reasonOf('一只猫', cfg({ min_words: 1 })), 'kept');
  assert.equal(reasonOf('3 cats', cfg({ min_words: 2 })), 'kept');
});

test('the caption stage writes the normalised caption and ledgers drops', async () => {
  const item = (id: string, caption: string): ImageTextRaw => ({ id, kind: IMAGE_TEXT, source: `${id}.jpg`, caption });
  async function* input() {
    yield item('a', '  a  red\ncircle ');
    yield item('b', ' \t\n ');
    yield item('c', 'x');
    yield item('d', 'a blue square');
  }
  const ctx: StageContext = testContext();
  const out: ImageTextRaw[] = [];
  for await (const x of captionRulesStage(cfg({ min_chars: 3 }))(input(), ctx)) out.push(x);
  assert.deepEqual(out.map((x) => [x.id, x.caption, x.source]), [['a', 'a red circle', 'a.jpg'], ['d', 'a blue square', 'd.jpg']]);
  assert.deepEqual(ctx.rejects.rows.map((r) => [r.id, r.stage, r.reason]), [['b', 'caption', 'caption_missing'], ['c', 'caption', 'caption_too_short']]);
  const s = ctx.stats.stage('caption');
  assert.deepEqual([s.in, s.out, s.droppedByReason], [4, 2, { caption_missing: 1, caption_too_short: 1 }]);
});

test('text hygiene: invalid UTF-8 repaired and counted, NUL and bidi controls removed and counted; configurable', async () => {
  // Real bytes: a lone continuation byte and a truncated 3-byte sequence, decoded as the readers do.
  const broken = Buffer.concat([Buffer.from('caf'), Buffer.from([0x80]), Buffer.from(' au lait '), Buffer.from([0xe2, 0x82])]).toString('utf8');
  const item = (id: string, caption: string): ImageTextRaw => ({ id, kind: IMAGE_TEXT, source: `${id}.jpg`, caption });
  const items = [
    item('utf8', broken),
    item('nul', 'a\u0000red\u0000 circle'),
    item('bidi', 'price \u202e001$\u202c today \u2066x\u2069'),
    item('clean', 'a plain caption'),
  ];
  const run = async (over: Partial<CaptionConfig>) => {
    const ctx: StageContext = testContext();
    const out: ImageTextRaw[] = [];
    async function* input() {
      yield* items;
    }
    for await (const x of captionRulesStage(cfg(over))(input(), ctx)) out.push(x);
    return { out, ctx, counters: Object.fromEntries(ctx.stats.counters.get('caption') ?? []) };
  };
  const repaired = await run({});
  assert.deepEqual(repaired.out.map((x) => x.caption), ['caf\ufffd au lait \ufffd', 'ared circle', 'price 001$ today x', 'a plain caption']);
  assert.deepEqual(repaired.counters, { invalid_utf8_repaired: 2, nul_removed: 2, bidi_removed: 4 });
  const strict = await run({ invalid_utf8: 'reject', strip_bidi_controls: false });
  assert.deepEqual(strict.ctx.rejects.rows.map((r) => [r.id, r.reason]), [['utf8', 'invalid_utf8']]);
  assert.equal(strict.out.find((x) => x.id === 'bidi')!.caption, 'price \u202e001$\u202c today \u2066x\u2069');
  assert.equal(strict.counters.bidi_removed, undefined);
});
