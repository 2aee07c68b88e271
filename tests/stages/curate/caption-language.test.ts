// Caption language identification on multilingual alt-text style captions, and the
// caption_language stage's filter (reason `language`) and columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionSchema, type CaptionConfig } from '../../../schemas/config.ts';
import { IMAGE_TEXT, type ImageTextRaw } from '../../../schemas/image-text.ts';
import { captionLanguageStage, identifyLanguage } from '../../../stages/curate/caption-language.ts';
import { testContext } from '../../helpers/context.ts';

const CAPTIONS: [string, string][] = [
  ['eng', 'A golden retriever puppy playing with a red ball in the garden'],
  ['eng', 'Modern living room interior with a grey sofa and wooden coffee table'],
  ['eng', 'Vintage poster of the Paris Exhibition of 1889 showing the Eiffel Tower'],
  ['deu', 'Ein kleiner Hund spielt mit einem roten Ball im Garten hinter dem Haus'],
  ['deu', 'Blick auf die Altstadt von Heidelberg mit der Brücke über den Neckar'],
  ['fra', 'Un petit chien qui joue avec une balle rouge dans le jardin de la maison'],
  ['fra', 'Vue aérienne du château de Chambord entouré de forêts en automne'],
  ['spa', 'Un perro pequeño jugando con una pelota roja en el jardín de la casa'],
  ['spa', 'Vista de la catedral de Sevilla desde la plaza al atardecer'],
  ['ita', 'Un piccolo cane che gioca con una palla rossa nel giardino di casa'],
  ['por', 'Um cachorro pequeno brincando com uma bola vermelha no jardim da casa'],
  ['rus', 'Маленькая собака играет с красным мячом в саду возле дома'],
  ['jpn', '庭で赤いボールで遊んでいる小さな犬の写真です'],
  ['cmn', '一只小狗在花园里玩红色的球，阳光很好'],
  ['arb', 'كلب صغير يلعب بكرة حمراء في حديقة المنزل'],
];

test('captions in eleven languages are identified with their ISO 639-3 code', () => {
  for (const [lang, caption] of CAPTIONS) {
    const found = identifyLanguage(caption);
    assert.equal(found.lang, lang, caption);
    assert.ok(found.confidence > 0 && found.confidence <= 1, `${caption}: confidence ${found.confidence}`);
  }
  assert.deepEqual(identifyLanguage('12 34 !!'), { lang: 'und', confidence: 0 });
});

const item = (id: string, caption: string): ImageTextRaw => ({ id, kind: IMAGE_TEXT, source: id, caption });
const cfg = (over: Partial<CaptionConfig>): CaptionConfig => captionSchema.parse(over);

async function run(c: CaptionConfig) {
  const ctx = testContext();
  const out: ImageTextRaw[] = [];
  for await (const x of captionLanguageStage(c)(
    (async function* () {
      for (const [i, [, caption]] of CAPTIONS.entries()) yield item(`c${i}`, caption);
    })(),
    ctx,
  ))
    out.push(x);
  return { out, rejects: ctx.rejects.rows };
}

test('caption.languages keeps the listed languages and rejects the rest with reason language', async () => {
  const { out, rejects } = await run(cfg({ languages: ['eng', 'deu'] }));
  assert.deepEqual(out.map((x) => x.lang), ['eng', 'eng', 'eng', 'deu', 'deu']);
  assert.ok(out.every((x) => typeof x.langConfidence === 'number'));
  assert.equal(rejects.length, CAPTIONS.length - 5);
  assert.ok(rejects.every((r) => r.stage === 'caption_language' && r.reason === 'language'));
  assert.match(rejects[0].detail, /caption language fra .* not in eng, deu/);

  const all = await run(cfg({ identify_language: true }));
  assert.equal(all.out.length, CAPTIONS.length, 'identify_language alone drops nothing');
  assert.deepEqual(all.out.map((x) => x.lang), CAPTIONS.map(([l]) => l));

  const strict = await run(cfg({ identify_language: true, min_lang_confidence: 0.999 }));
  assert.ok(strict.rejects.length > 0 && strict.rejects.every((r) => r.reason === 'language' && /min_lang_confidence/.test(r.detail)));
});
