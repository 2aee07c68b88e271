// Writes a CLIP-style byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) with a
// small vocabulary learned from a word list. The layout follows what Hugging Face's CLIP
// converter writes: NFC + whitespace collapse + lowercase normaliser, CLIP's split regex then
// ByteLevel pre-tokeniser, BPE with the `</w>` end-of-word suffix, and a start/end post-processor.
// Ids 0..511 are the 256 byte symbols and the same with `</w>`, in the same order as CLIP's
// vocabulary, so single characters get CLIP's own ids ("a" is 320); merges follow from 512.

/**
 * GPT-2/CLIP's reversible byte -> printable character table. `chars` is in CLIP's vocabulary
 * order (printable bytes first, then the rest mapped above U+0100); `byByte[b]` is byte b's character.
 */
function bytesToUnicode(): { chars: string[]; byByte: string[] } {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const codes = [...bytes];
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (bytes.includes(b)) continue;
    bytes.push(b);
    codes.push(256 + next++);
  }
  const chars = codes.map((c) => String.fromCodePoint(c));
  const byByte: string[] = new Array(256);
  bytes.forEach((b, i) => (byByte[b] = chars[i]));
  return { chars, byByte };
}

const BYTE_LEVEL = bytesToUnicode();

/** The byte-level character for each byte of `word`'s UTF-8 encoding. */
function byteLevel(word: string): string[] {
  return [...new TextEncoder().encode(word)].map((b) => BYTE_LEVEL.byByte[b]);
}

export interface ClipBpeOptions {
  /** How many merges to learn. */
  merges: number;
  /** Special token ids; CLIP's are 49406 and 49407 at the end of its 49408-token vocabulary. */
  bosId?: number;
  eosId?: number;
  bosToken?: string;
  eosToken?: string;
  contextLength?: number;
}

export interface ClipBpeFiles {
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Embedding table rows a text model needs: the largest id + 1. */
  vocabSize: number;
  /** The id sequences are padded with (CLIP pads with its end token). */
  padId: number;
}

/** CLIP's pre-tokeniser split: contractions, letter runs, single digits, other symbol runs. */
const CLIP_SPLIT_PATTERN = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Learns `options.merges` BPE merges from the words of `corpus` and returns the tokenizer files. */
export function buildClipBpe(corpus: string[], options: ClipBpeOptions): ClipBpeFiles {
  const bos = options.bosToken ?? '<|startoftext|>';
  const eos = options.eosToken ?? '<|endoftext|>';
  const bosId = options.bosId ?? 49406;
  const eosId = options.eosId ?? 49407;

  const symbols = BYTE_LEVEL.chars;
  const vocab = new Map<string, number>();
  symbols.forEach((c) => vocab.set(c, vocab.size));
  symbols.forEach((c) => vocab.set(c + '</w>', vocab.size));

  // Word frequencies over the same split CLIP uses (lower-cased letter runs are what matter here).
  const wordCounts = new Map<string, number>();
  const split = new RegExp(CLIP_SPLIT_PATTERN, 'gu');
  for (const line of corpus) {
    for (const w of line.toLowerCase().match(split) ?? []) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  const words = [...wordCounts].map(([w, n]) => {
    const chars = byteLevel(w);
    chars[chars.length - 1] += '</w>';
    return { parts: chars, n };
  });

  const merges: string[] = [];
  while (merges.length < options.merges) {
    const pairCounts = new Map<string, number>();
    for (const { parts, n } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = parts[i] + ' ' + parts[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + n);
      }
    }
    let best = '';
    let bestCount = 1; // a pair seen once is not worth a merge
    for (const [key, n] of pairCounts) {
      if (n > bestCount || (n === bestCount && best !== '' && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === '') break;
    const [a, b] = best.split(' ');
    merges.push(best);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(w.parts[i]);
      }
      w.parts = out;
    }
  }
  if (bosId < vocab.size || eosId < vocab.size) throw new Error(`special ids ${bosId}/${eosId} collide with ${vocab.size} learned tokens`);
  vocab.set(bos, bosId);
  vocab.set(eos, eosId);

  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bosId, bos), special(eosId, eos)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, eosId], cls: [bos, bosId], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: eos,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: options.contextLength ?? 77,
    bos_token: bos,
    eos_token: eos,
    pad_token: eos,
    unk_token: eos,
    do_lower_case: true,
    add_prefix_space: false,
    clean_up_tokenization_spaces: true,
  };
  return { tokenizer, tokenizerConfig, vocabSize: Math.max(bosId, eosId, vocab.size - 1) + 1, padId: eosId };
}
