// Caption language identification (franc-min: trigram profiles of 82 languages, ISO 639-3
// codes). Consumes ImageTextRaw after the caption rules; emits it with `lang` and
// `langConfidence`. Drops, at stage `caption_language`: `language` when the caption's language
// is not one of caption.languages or its confidence is below caption.min_lang_confidence.
//
// Confidence is the margin of the best language over the runner-up (franc scores the best 1 and
// the others relative to it): 1 - second; a caption franc cannot place (`und`, e.g. too short or
// no letters) has confidence 0.
import { francAll } from 'franc-min';
import type { CaptionConfig } from '../../schemas/config.ts';
import type { ImageTextRaw } from '../../schemas/image-text.ts';
import { drop, mapStage, type Stage } from '../../core/stage.ts';
import type { IndexColumnSpec } from '../../schemas/kind-schema.ts';

export const LANGUAGE_REASON = 'language';
/** franc's default (10 characters) leaves short captions `und`; DataComp keeps captions from 6. */
const MIN_LENGTH = 3;

export function identifyLanguage(text: string): { lang: string; confidence: number } {
  const ranked = francAll(text, { minLength: MIN_LENGTH });
  const [best, second] = ranked;
  if (!best || best[0] === 'und') return { lang: 'und', confidence: 0 };
  return { lang: best[0], confidence: round4(1 - (second?.[1] ?? 0)) };
}

/** Whether the caption section asks for language identification. */
export function languageIdOn(cfg: CaptionConfig): boolean {
  return cfg.identify_language || cfg.languages !== null;
}

export function captionLanguageStage(cfg: CaptionConfig): Stage<ImageTextRaw, ImageTextRaw> {
  const allowed = cfg.languages ? new Set(cfg.languages) : null;
  return mapStage<ImageTextRaw, ImageTextRaw>('caption_language', (item) => {
    const { lang, confidence } = identifyLanguage(item.caption);
    if (allowed && !allowed.has(lang)) return drop(LANGUAGE_REASON, `caption language ${lang} (confidence ${confidence}) not in ${[...allowed].join(', ')}`);
    if (confidence < cfg.min_lang_confidence) return drop(LANGUAGE_REASON, `caption language ${lang} confidence ${confidence} < min_lang_confidence ${cfg.min_lang_confidence}`);
    return { ...item, lang, langConfidence: confidence };
  });
}

export const languageIndexColumns: IndexColumnSpec<{ lang?: string; langConfidence?: number }>[] = [
  { name: 'lang', type: 'UTF8', get: (s) => s.lang ?? null },
  { name: 'lang_confidence', type: 'DOUBLE', get: (s) => s.langConfidence ?? null },
];

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
