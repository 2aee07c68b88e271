// Caption rules for image-caption items: normalise the caption text, then drop captions that
// are empty, too short, too wordless or too long.
//
// Consumes and emits ImageTextRaw (the emitted item carries the normalised caption). Drops, at
// stage `caption`: caption_missing, caption_too_short, caption_too_few_words, caption_too_long.
// Lengths are counted in Unicode code points, so an emoji or a CJK character counts once.
import type { CaptionConfig } from '../../schemas/config.ts';
import type { ImageTextRaw } from '../../schemas/image-text.ts';
import { drop, mapStage, type Drop, type Stage } from '../../core/stage.ts';

// Control characters (C0, DEL, C1) and the byte-order mark; whitespace controls become spaces.
const WHITESPACE_CONTROLS = /[\t\n\v\f\r\u0085]/g;
const OTHER_CONTROLS = /[\u0000-\u001f\u007f-\u009f\ufeff]/g;
/** A word has at least one letter or digit; a lone dash or emoji is not a word. */
const WORD = /[\p{L}\p{N}]/u;

/** NFC, control characters removed, whitespace runs collapsed to one space, trimmed. */
export function normaliseCaption(s: string): string {
  return s.normalize('NFC').replace(WHITESPACE_CONTROLS, ' ').replace(OTHER_CONTROLS, '').replace(/\s+/gu, ' ').trim();
}

/**
 * Checks an already normalised caption against the limits. Words are whitespace-separated
 * tokens with a letter or digit, so unspaced scripts (Chinese, Japanese) count as few words.
 */
export function checkCaption(caption: string, cfg: CaptionConfig): true | Drop {
  const chars = [...caption].length;
  if (chars === 0) return drop('caption_missing', 'caption is empty after normalisation');
  if (chars < cfg.min_chars) return drop('caption_too_short', `${chars} chars < min_chars ${cfg.min_chars}`, { value: chars, threshold: cfg.min_chars });
  const words = caption.split(' ').filter((w) => WORD.test(w)).length;
  if (words < cfg.min_words) return drop('caption_too_few_words', `${words} words < min_words ${cfg.min_words}`, { value: words, threshold: cfg.min_words });
  if (chars > cfg.max_chars) return drop('caption_too_long', `${chars} chars > max_chars ${cfg.max_chars}`, { value: chars, threshold: cfg.max_chars });
  return true;
}

export function captionRulesStage(cfg: CaptionConfig): Stage<ImageTextRaw, ImageTextRaw> {
  return mapStage<ImageTextRaw, ImageTextRaw>('caption', (item) => {
    const caption = normaliseCaption(item.caption);
    const verdict = checkCaption(caption, cfg);
    return verdict === true ? { ...item, caption } : verdict;
  });
}
