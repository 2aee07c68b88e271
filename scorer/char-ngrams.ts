// Hashed character n-grams of a caption's words (fastText's subword rows): each word, wrapped in
// boundary marks ("<cat>"), gives its n-grams of `min`..`max` characters, each hashed (FNV-1a,
// 32 bit) into one of `buckets` embedding rows. Words the vocabulary has never seen, and other
// forms of known ones ("mosquitoes" for "mosquito"), then still share rows with the training
// captions, where the word-level text tower sees only [UNK].

export interface CharNgramOptions {
  /** Number of hashed rows. */
  buckets: number;
  /** Shortest and longest n-gram, in characters, boundary marks included. */
  min: number;
  max: number;
  /** all: every word's n-grams; unknown: only those of words outside the vocabulary (fastText's out-of-vocabulary vectors). */
  words: 'all' | 'unknown';
}

/** FNV-1a over the UTF-16 code units of `s`, as an unsigned 32-bit integer. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The n-grams of one word, boundary marks included, in order (repeats kept: a word's rows are counted as often as they occur). */
export function wordNgrams(word: string, min: number, max: number): string[] {
  const marked = `<${word}>`;
  const out: string[] = [];
  for (let n = min; n <= max; n++) for (let i = 0; i + n <= marked.length; i++) out.push(marked.slice(i, i + n));
  return out;
}

/**
 * Bucket of every n-gram of `tokens` (the caption's words as the tokenizer splits them), in
 * order. Punctuation tokens (no letter or digit) give none; with words 'unknown', only tokens
 * `known` rejects give any.
 */
export function charNgramBuckets(tokens: string[], o: CharNgramOptions, known: (word: string) => boolean = () => false): number[] {
  const out: number[] = [];
  for (const t of tokens) {
    if (!/[\p{L}\p{N}]/u.test(t)) continue;
    if (o.words === 'unknown' && known(t)) continue;
    for (const g of wordNgrams(t, o.min, o.max)) out.push(fnv1a(g) % o.buckets);
  }
  return out;
}
