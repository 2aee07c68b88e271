// Caption rules for image-caption items: normalise the caption text, then drop captions that
// are empty, too short, too wordless or too long.
//
// Consumes and emits ImageTextRaw (the emitted item carries the normalised caption). Drops, at
// stage `caption`: caption_missing, caption_too_short, caption_too_few_words, caption_too_long,
// invalid_utf8 (with invalid_utf8: reject).
// Text hygiene is counted (counter group `caption`, in stats.json and the report):
//   invalid_utf8_repaired  U+FFFD characters: byte sequences the UTF-8 decoder had to replace
//   nul_removed, bidi_removed, controls_removed  characters removed by normalisation
// Lengths are counted in Unicode code points, so an emoji or a CJK character counts once.
import type { CaptionConfig } from '../../schemas/config.ts';
import type { ImageTextRaw } from '../../schemas/image-text.ts';
import { drop, mapStage, type Drop, type Stage } from '../../core/stage.ts';

// Control characters (C0, DEL, C1) and the byte-order mark; whitespace controls become spaces.
const WHITESPACE_CONTROLS = /[\t\n\v\f\r\u0085]/g;
const OTHER_CONTROLS = /[\u0000-\u001f\u007f-\u009f\ufeff]/g;
/** A word has at least one letter or digit; a lone dash or emoji is not a word. */
const WORD = /[\p{L}\p{N}]/u;

// Bidirectional formatting controls: invisible, and able to make a caption read differently
// from what it holds (the "Trojan Source" family).
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

export interface CaptionHygiene {
  invalidUtf8Repaired: number;
  nulRemoved: number;
  bidiRemoved: number;
  controlsRemoved: number;
}

const countOf = (s: string, re: RegExp) => s.match(re)?.length ?? 0;

/** NFC, control characters removed, whitespace runs collapsed to one space, trimmed. */
export function normaliseCaption(s: string, stripBidi = true): string {
  return normaliseCaptionCounted(s, stripBidi).text;
}

/** normaliseCaption, with the count of each kind of character it repaired or removed. */
export function normaliseCaptionCounted(s: string, stripBidi = true): { text: string; hygiene: CaptionHygiene } {
  const nfc = s.normalize('NFC');
  const hygiene: CaptionHygiene = {
    invalidUtf8Repaired: countOf(nfc, /\ufffd/g),
    nulRemoved: countOf(nfc, /\u0000/g),
    bidiRemoved: stripBidi ? countOf(nfc, BIDI_CONTROLS) : 0,
    controlsRemoved: 0,
  };
  const spaced = nfc.replace(WHITESPACE_CONTROLS, ' ');
  hygiene.controlsRemoved = countOf(spaced, OTHER_CONTROLS) - hygiene.nulRemoved;
  let text = spaced.replace(OTHER_CONTROLS, '');
  if (stripBidi) text = text.replace(BIDI_CONTROLS, '');
  return { text: text.replace(/\s+/gu, ' ').trim(), hygiene };
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
  return mapStage<ImageTextRaw, ImageTextRaw>('caption', (item, ctx) => {
    const { text: caption, hygiene } = normaliseCaptionCounted(item.caption, cfg.strip_bidi_controls);
    if (hygiene.invalidUtf8Repaired) ctx.stats.count('caption', 'invalid_utf8_repaired', hygiene.invalidUtf8Repaired);
    if (hygiene.nulRemoved) ctx.stats.count('caption', 'nul_removed', hygiene.nulRemoved);
    if (hygiene.bidiRemoved) ctx.stats.count('caption', 'bidi_removed', hygiene.bidiRemoved);
    if (hygiene.controlsRemoved) ctx.stats.count('caption', 'controls_removed', hygiene.controlsRemoved);
    if (hygiene.invalidUtf8Repaired && cfg.invalid_utf8 === 'reject') {
      return drop('invalid_utf8', `${hygiene.invalidUtf8Repaired} invalid UTF-8 sequence(s) in the caption`);
    }
    const verdict = checkCaption(caption, cfg);
    return verdict === true ? { ...item, caption } : verdict;
  });
}
