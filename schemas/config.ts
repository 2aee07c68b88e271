// The run config schema. Every key has a default except source.path; `weft run` validates a
// YAML or JSON file against this and exits 2 naming the key, the bad value and what is allowed.
import { safetySchema } from './safety-config.ts';
import { z } from 'zod';
import { rgbdSourceSchema, rgbdQualitySchema } from './rgbd-config.ts';
import { webSourceSchema, dedupSchema } from './web-config.ts';
import { fetchConfigSchema } from './fetch-config.ts';
import { videoSourceSchema } from './video-config.ts';
import { scoreSchema } from './score-config.ts';
import { corpusEmbeddingsNeeded, curateSchema } from './curate-config.ts';

export const SCHEMA_VERSION = 1;

const imageTextSource = z
  .object({
    kind: z.literal('image_text'),
    /** A folder of images with sidecar .txt captions, or a .jsonl/.csv/.tsv list file. */
    path: z.string().min(1),
    format: z.enum(['auto', 'folder', 'jsonl', 'csv', 'tsv']).default('auto'),
    /** List column holding the image path (relative paths resolve against the list's folder). */
    image_column: z.string().default('image'),
    caption_column: z.string().default('caption'),
    /** Extra list columns copied into the output as strings. */
    extra_columns: z.array(z.string()).default([]),
    /** A list is split into units of this many rows; a folder is split into units of this many images. */
    rows_per_unit: z.number().int().positive().default(1000),
    /** Symlinked inputs: followed only when they resolve inside the source folder (inside_root), never, or always. */
    follow_symlinks: z.enum(['inside_root', 'never', 'always']).default('inside_root'),
    /** List rows may name images outside the list's folder (absolute paths, ../). */
    allow_paths_outside_root: z.boolean().default(false),
    /** Local files (images, captions) above this size are rejected as too_large, from stat and while reading. */
    max_file_bytes: z.number().int().positive().default(64 * 1024 * 1024),
  })
  .strict();

export const sourceSchema = z.discriminatedUnion('kind', [imageTextSource, webSourceSchema, rgbdSourceSchema, videoSourceSchema]);

export const decodeSchema = z
  .object({
    resize_mode: z.enum(['none', 'keep_ratio', 'center_crop', 'border', 'keep_ratio_largest']).default('keep_ratio'),
    /** Target side in pixels, as img2dataset: keep_ratio scales the shorter side to it,
     *  keep_ratio_largest the longer side; center_crop and border give image_size x image_size
     *  (crop after scaling the shorter side / pad after scaling the longer side). */
    image_size: z.number().int().positive().default(256),
    /** Never scale up: an image whose side that the mode scales (the shorter side for
     *  keep_ratio and center_crop, the longer for keep_ratio_largest and border) is at most
     *  image_size keeps its size; center_crop still crops a side longer than image_size and
     *  border still pads to the square. */
    resize_only_if_bigger: z.boolean().default(false),
    /** Reject originals whose shorter side is below this. */
    min_side: z.number().int().nonnegative().default(0),
    /** Reject originals whose long/short side ratio exceeds this. */
    max_aspect_ratio: z.number().positive().default(10),
    /** Reject, from the header alone, images with more pixels than this (decompression bombs). */
    max_pixels: z.number().int().positive().default(89_478_485),
    encode_format: z.enum(['jpeg', 'webp', 'png']).default('jpeg'),
    /** Quality of jpeg and webp output; png is lossless and ignores it. */
    encode_quality: z.number().int().min(1).max(100).default(90),
    /** Store the original bytes instead of re-encoding when nothing would change them: no
     *  resize, crop or pad, no EXIF rotation, no transparency to flatten, an RGB or grey
     *  image, and the source already in encode_format. */
    skip_reencode: z.boolean().default(false),
    /** Keep the original's EXIF tags as a JSON `exif` column (re-encoding drops them). */
    extract_exif: z.boolean().default(false),
    /** Also hash the original bytes, as they came, into an `original_<algo>` column
     *  (img2dataset's compute_hash); `sha256` of the stored bytes is always there. */
    original_hash: z.enum(['none', 'md5', 'sha256', 'sha512']).default('none'),
    /** Fill colour for the border resize mode, as [r, g, b]. */
    border_color: z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]).default([0, 0, 0]),
  })
  .strict();

export const captionSchema = z
  .object({
    min_words: z.number().int().nonnegative().default(1),
    min_chars: z.number().int().nonnegative().default(1),
    max_chars: z.number().int().positive().default(2000),
    /** Identify every caption's language (`lang`, `lang_confidence` index columns) without filtering. */
    identify_language: z.boolean().default(false),
    /** Keep only captions identified (franc, ISO 639-3 codes such as eng, deu) as one of these
     *  languages (reason `language`); null keeps every language. `lang` and `lang_confidence`
     *  are index columns whenever this is set. */
    languages: z.array(z.string().regex(/^[a-z]{3}$/, 'an ISO 639-3 code such as eng')).min(1).nullable().default(null),
    /** Also drop captions whose language confidence is below this (0: only the language counts). */
    min_lang_confidence: z.number().min(0).max(1).default(0),
    /** Text hygiene: U+FFFD from invalid UTF-8 is counted and kept (repair) or the caption dropped (reject). */
    invalid_utf8: z.enum(['repair', 'reject']).default('repair'),
    /** Remove (and count) bidirectional control characters (U+202A-202E, U+2066-2069, U+200E/F, U+061C). */
    strip_bidi_controls: z.boolean().default(true),
  })
  .strict();

const outputSchema = z
  .object({
    /** A shard is closed once its Arrow bytes pass this size. */
    max_shard_bytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Arrow IPC stream (what Hugging Face `datasets` memory-maps) or IPC file (with a footer:
     *  polars scan_ipc, pyarrow.ipc.open_file and other random-access readers). */
    arrow_format: z.enum(['stream', 'file']).default('stream'),
    /** Rows per Arrow record batch (at most 100 for media kinds). */
    rows_per_batch: z.number().int().min(1).max(100).default(100),
    /** Kept examples per category that the report shows. */
    report_examples: z.number().int().min(0).max(200).default(12),
  })
  .strict();

const runSchema = z
  .object({
    /** Items decoded at once within a unit. */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Units processed at once by one process (each commits on its own); as many more may be in
     *  their tail, waiting only on their last downloads or their commit (run/unit-pool.ts). */
    unit_concurrency: z.number().int().min(1).max(64).default(2),
    log_level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict();

/** Named presets: settings applied under the user's own (a key the config sets wins). */
export const PRESETS: Record<string, Record<string, Record<string, unknown>>> = {
  // DataComp's basic filter: English captions of more than 2 words and more than 5 characters,
  // images whose shorter side is at least 200 px and whose aspect ratio is at most 3.
  datacomp_basic: {
    caption: { languages: ['eng'], min_words: 3, min_chars: 6 },
    decode: { min_side: 200, max_aspect_ratio: 3 },
  },
};

/** Puts a preset's settings under the raw config's own, section by section. */
function applyPreset(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  const preset = typeof r.preset === 'string' ? PRESETS[r.preset] : undefined;
  if (!preset) return raw;
  const out: Record<string, unknown> = { ...r };
  for (const [section, values] of Object.entries(preset)) {
    const own = r[section];
    out[section] = own && typeof own === 'object' && !Array.isArray(own) ? { ...values, ...(own as Record<string, unknown>) } : own === undefined ? values : own;
  }
  return out;
}

const configObject = z
  .object({
    name: z.string().default('weft'),
    /** A named preset (datacomp_basic), applied under the config's own settings. */
    preset: z.enum(Object.keys(PRESETS) as [string, ...string[]]).nullable().default(null),
    source: sourceSchema,
    decode: decodeSchema.prefault({}),
    caption: captionSchema.prefault({}),
    /** HTTP fetching of web sources: politeness, timeouts, safety, consent (source.kind web). */
    fetch: fetchConfigSchema.prefault({}),
    /** URL, exact and perceptual dedup (source.kind web). */
    dedup: dedupSchema.prefault({}),
    /** RGB-D pair quality filters (source.kind rgbd). */
    rgbd: rgbdQualitySchema.prefault({}),
    score: scoreSchema.prefault({}),
    /** NSFW classifier over image kinds (image_text, web). */
    safety: safetySchema.prefault({}),
    /** Corpus-level passes at finalise: clusters, semantic dedup, concept balance (image_text, web). */
    curate: curateSchema.prefault({}),
    output: outputSchema.prefault({}),
    run: runSchema.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.safety.enabled && c.source.kind !== 'image_text' && c.source.kind !== 'web') {
      ctx.addIssue({ code: 'custom', path: ['safety', 'enabled'], message: `the NSFW classifier runs on image_text and web sources, not ${c.source.kind}` });
    }
    const corpus = c.curate.corpus;
    const imageKind = c.source.kind === 'image_text' || c.source.kind === 'web';
    const needsEmbeddings = corpusEmbeddingsNeeded(corpus, c.curate.decontaminate);
    if ((needsEmbeddings || corpus.balance.enabled) && !imageKind) {
      ctx.addIssue({ code: 'custom', path: ['curate', 'corpus'], message: `corpus passes run on image_text and web sources, not ${c.source.kind}` });
    } else if (needsEmbeddings && c.score.scorer === 'none') {
      ctx.addIssue({ code: 'custom', path: ['score', 'scorer'], message: 'curate.corpus clusters, semantic_dedup, image_cluster_filter, store_embeddings and curate.decontaminate.embedding_min_cosine need the scorer\'s embeddings; set score.scorer' });
    }
    if (corpus.image_cluster_filter.reference !== null && (corpus.clusters.k === null || corpus.clusters.embedding !== 'image')) {
      ctx.addIssue({ code: 'custom', path: ['curate', 'corpus', 'clusters'], message: 'image_cluster_filter compares image clusters; set curate.corpus.clusters.k with embedding: image' });
    }
    if (c.curate.decontaminate.embedding_min_cosine !== null && c.curate.decontaminate.eval_images === null) {
      ctx.addIssue({ code: 'custom', path: ['curate', 'decontaminate', 'eval_images'], message: 'embedding_min_cosine compares samples with the eval images; set curate.decontaminate.eval_images' });
    }
    if (corpus.semantic_dedup.enabled && corpus.clusters.k === null) {
      ctx.addIssue({ code: 'custom', path: ['curate', 'corpus', 'clusters', 'k'], message: 'semantic_dedup compares samples within clusters; set curate.corpus.clusters.k' });
    }
    if (c.curate.decontaminate.eval_images !== null && !imageKind) {
      ctx.addIssue({ code: 'custom', path: ['curate', 'decontaminate', 'eval_images'], message: `decontamination compares images of image_text and web sources, not ${c.source.kind}` });
    }
    if (c.caption.languages !== null && !imageKind) {
      ctx.addIssue({ code: 'custom', path: ['caption', 'languages'], message: `caption languages apply to image_text and web sources, not ${c.source.kind}` });
    }
  });

export const configSchema = z.preprocess(applyPreset, configObject);

export type WeftConfig = z.infer<typeof configSchema>;
export type DecodeConfig = z.infer<typeof decodeSchema>;
export type CaptionConfig = z.infer<typeof captionSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
