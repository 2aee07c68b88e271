// Text -> fixed-length id rows for a text encoder, from a Hugging Face tokenizer.json (+ the
// optional tokenizer_config.json) through @huggingface/tokenizers. The special tokens come from
// the files' post-processor (CLIP: start 49406 ... end 49407), never from this code. Rows are
// padded with the pad token to the context length; a long text is cut so that it still ends
// with its end token, as CLIP's tokenizer does with truncation on.
import { Tokenizer } from '@huggingface/tokenizers';

export interface TokenizerFiles {
  /** Parsed tokenizer.json. */
  tokenizer: Record<string, unknown>;
  /** Parsed tokenizer_config.json, or {} when absent. */
  config: Record<string, unknown>;
}

export interface TokenBatch {
  /** Row-major [texts.length, length] ids and attention mask (1 for real tokens). */
  ids: number[];
  mask: number[];
  length: number;
  /** Real tokens per text (mask sum). */
  counts: number[];
}

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  /** Fixed sequence length, or null to pad to the longest text of each batch. */
  readonly contextLength: number | null;
  readonly padId: number;
  /** Ids the post-processor adds at the end of every sequence (kept when cutting). */
  private readonly trailingSpecial: number;

  constructor(files: TokenizerFiles, contextLength?: number | null) {
    // A WordLevel model needs unk_token from the config in tokenizers.js; take it from the model.
    const modelUnk = (files.tokenizer.model as { unk_token?: string } | undefined)?.unk_token;
    this.tokenizer = new Tokenizer(files.tokenizer, modelUnk ? { unk_token: modelUnk, ...files.config } : files.config);
    this.contextLength = contextLength ?? contextLengthFrom(files);
    this.padId = padIdFrom(files, this.tokenizer);
    // How many special ids the post-processor appends: compare one word with and without them.
    const bare = this.tokenizer.encode('x', { add_special_tokens: false }).ids;
    const full = this.tokenizer.encode('x', { add_special_tokens: true }).ids;
    const lead = Math.max(0, full.indexOf(bare[0]));
    this.trailingSpecial = bare.length === 0 ? 0 : Math.max(0, full.length - lead - bare.length);
  }

  /** Ids of one text with its special tokens, uncut and unpadded. */
  encodeOne(text: string): number[] {
    const { ids, tokens } = this.tokenizer.encode(text, { add_special_tokens: true });
    const missing = ids.findIndex((id: number | undefined) => typeof id !== 'number');
    if (missing >= 0) throw new Error(`tokenizer has no id for token ${JSON.stringify(tokens[missing])} and no unk_token`);
    return ids;
  }

  /** Token strings for ids (for reports and phrase matching). */
  tokensOf(ids: number[]): string[] {
    return ids.map((id) => this.tokenizer.id_to_token(id) ?? '');
  }

  encode(texts: string[]): TokenBatch {
    const rows = texts.map((t) => this.encodeOne(t));
    const length = this.contextLength ?? Math.max(1, ...rows.map((r) => r.length));
    const ids: number[] = [];
    const mask: number[] = [];
    const counts: number[] = [];
    for (const row of rows) {
      const cut = row.length <= length ? row : [...row.slice(0, length - this.trailingSpecial), ...row.slice(row.length - this.trailingSpecial)];
      counts.push(cut.length);
      for (let i = 0; i < length; i++) {
        ids.push(i < cut.length ? cut[i] : this.padId);
        mask.push(i < cut.length ? 1 : 0);
      }
    }
    return { ids, mask, length, counts };
  }
}

function contextLengthFrom(files: TokenizerFiles): number | null {
  const truncation = files.tokenizer.truncation as { max_length?: number } | null | undefined;
  if (truncation?.max_length) return truncation.max_length;
  const padding = files.tokenizer.padding as { strategy?: { Fixed?: number } } | null | undefined;
  if (padding?.strategy?.Fixed) return padding.strategy.Fixed;
  // transformers writes a huge sentinel (1e30) when a tokenizer has no limit.
  const max = files.config.model_max_length;
  if (typeof max === 'number' && max > 0 && max < 1e6) return max;
  return null;
}

function padIdFrom(files: TokenizerFiles, tokenizer: Tokenizer): number {
  const padding = files.tokenizer.padding as { pad_id?: number } | null | undefined;
  if (typeof padding?.pad_id === 'number') return padding.pad_id;
  for (const key of ['pad_token', 'eos_token']) {
    const token = files.config[key];
    const content = typeof token === 'string' ? token : (token as { content?: string } | undefined)?.content;
    const id = content === undefined ? undefined : tokenizer.token_to_id(content);
    if (id !== undefined) return id;
  }
  return 0;
}
