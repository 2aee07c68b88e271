// Concept balance, as MetaCLIP: captions are matched against metadata entries (a user list, or
// word n-grams the corpus itself uses often enough), each entry counts the samples that match
// it, and a sample is kept with probability min(1, t / count) for each of its entries: kept if
// any entry keeps it. Head entries ("photo", "logo") are cut down towards t, tail entries keep
// everything. The draw for (sample, entry) is a seeded hash of the two, so the kept set is the
// same on any number of processes and in any order.
//
// Matching is Aho-Corasick (modern-ahocorasick) over the lower-cased, whitespace-normalised
// caption; a match counts only at word boundaries ("cat" is not found in "concatenate").
import AhoCorasick from 'modern-ahocorasick';
import type { Mergeable } from '../../core/mergeable.ts';
import { hashUniform } from './kmeans.ts';

export const normaliseForMatch = (caption: string) => caption.toLowerCase().normalize('NFC').replace(/\s+/gu, ' ').trim();
const WORD_CHAR = /[\p{L}\p{N}]/u;

/** Per-entry sample counts; merges by adding (units, ranks). */
export class EntryCounts implements Mergeable<EntryCounts> {
  readonly counts = new Map<string, number>();
  add(entry: string, n = 1): void {
    this.counts.set(entry, (this.counts.get(entry) ?? 0) + n);
  }
  get(entry: string): number {
    return this.counts.get(entry) ?? 0;
  }
  merge(other: EntryCounts): this {
    for (const [e, n] of other.counts) this.add(e, n);
    return this;
  }
  clone(): EntryCounts {
    return new EntryCounts().merge(this);
  }
}

// Function words of the commonest caption languages: a derived entry does not start or end with
// one ("the", "in the", "a red" are not concepts; "red car", "car on road" may be).
const FUNCTION_WORDS = new Set(
  ('a an the and or of in on at to for with from by over under near into onto is are was be this that these those it its ' +
    'some her his their our my your as up down off out very ' +
    'der die das ein eine und mit im auf le la les un une et des du de en el los las y con del il di da').split(' '),
);

/** Word n-grams (1..n words) of one caption, each once, none starting or ending with a function word. */
export function captionNgrams(caption: string, n: number): Set<string> {
  const words = normaliseForMatch(caption).split(/[^\p{L}\p{N}']+/u).filter((w) => w.length > 0);
  const out = new Set<string>();
  for (let len = 1; len <= n; len++) {
    for (let i = 0; i + len <= words.length; i++) {
      if (FUNCTION_WORDS.has(words[i]) || FUNCTION_WORDS.has(words[i + len - 1])) continue;
      out.add(words.slice(i, i + len).join(' '));
    }
  }
  return out;
}

/** Entries from a list file's text: one per line, trimmed, lower-cased, blank lines and # comments skipped. */
export function parseEntryList(text: string): string[] {
  const entries = text.split('\n').map((l) => normaliseForMatch(l)).filter((l) => l.length > 0 && !l.startsWith('#'));
  return [...new Set(entries)].sort();
}

/** Finds which entries a caption contains, at word boundaries. */
export class EntryMatcher {
  private readonly ac: AhoCorasick;
  constructor(readonly entries: string[]) {
    this.ac = new AhoCorasick(entries);
  }
  matches(caption: string): string[] {
    const text = normaliseForMatch(caption);
    if (this.entries.length === 0 || text.length === 0) return [];
    const found = new Set<string>();
    for (const m of this.ac.search(text)) {
      const before = m.start > 0 ? text[m.start - 1] : ' ';
      const after = m.end < text.length ? text[m.end] : ' ';
      if (!WORD_CHAR.test(before) && !WORD_CHAR.test(after)) found.add(m.pattern);
    }
    return [...found].sort();
  }
}

/** Whether a sample with these entries is kept: any entry e draws below min(1, t / count(e)). */
export function balanceKeeps(id: string, entries: string[], counts: EntryCounts, t: number, seed: number): boolean {
  for (const e of entries) {
    const p = Math.min(1, t / Math.max(1, counts.get(e)));
    if (p >= 1 || hashUniform(seed, `${id}\u0000${e}`) < p) return true;
  }
  return false;
}
