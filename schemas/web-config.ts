// Config for web-crawled image-caption input: the `web` source kind (URL lists and WebDataset
// tars) and the `dedup:` section. The `fetch:` section lives in fetch-config.ts.
import { z } from 'zod';

const URL_LIST_FORMATS = ['parquet', 'csv', 'tsv', 'jsonl', 'json', 'txt'] as const;
export type UrlListFormat = (typeof URL_LIST_FORMATS)[number];

export const webSourceSchema = z
  .object({
    kind: z.literal('web'),
    /** A URL list file (optionally .gz), a WebDataset .tar, or a folder of .tar shards. */
    path: z.string().min(1),
    /** `auto` decides from the file name: .parquet, .csv, .tsv, .jsonl, .json, .txt (each
     *  optionally .gz), .tar/.tar.gz/.tgz or a folder of them for webdataset. */
    format: z.enum(['auto', ...URL_LIST_FORMATS, 'webdataset']).default('auto'),
    url_column: z.string().min(1).default('url'),
    /** null: the list has no captions (every sample gets an empty caption). A .txt list never has. */
    caption_column: z.string().min(1).nullable().default('caption'),
    /** Extra list columns (or WebDataset .json fields) copied into the output as strings. */
    extra_columns: z.array(z.string()).default([]),
    /** URL-list column of regions to blur before the image is stored (img2dataset's bbox_col,
     *  e.g. face boxes): [[x_min, y_min, x_max, y_max], ...] as fractions 0..1 of the original
     *  image, a JSON string or a list. null: no blurring. */
    bbox_column: z.string().min(1).nullable().default(null),
    /** A URL list is split into units of this many rows; a WebDataset tar is always one unit. */
    rows_per_unit: z.number().int().positive().default(1000),
    /** WebDataset members larger than this are rejected unread (`member_too_large`). */
    max_member_bytes: z.number().int().positive().default(64 * 1024 * 1024),
  })
  .strict();

export const dedupSchema = z
  .object({
    /** Download each normalised URL once per unit; every caption stays its own sample. */
    url: z.boolean().default(true),
    /** Drop later samples whose stored image bytes equal an earlier one's (sha256). */
    exact: z.boolean().default(true),
    /** Compute a 64-bit perceptual hash per sample and mark near duplicates. */
    phash: z.boolean().default(true),
    /** Hashes at most this many bits apart are near duplicates. */
    phash_max_distance: z.number().int().min(0).max(32).default(4),
  })
  .strict();

export type WebSourceConfig = z.infer<typeof webSourceSchema>;
export type DedupConfig = z.infer<typeof dedupSchema>;

/** A complete DedupConfig from a partial one (defaults filled in, values validated). */
export function dedupConfig(partial: Partial<z.input<typeof dedupSchema>> = {}): DedupConfig {
  return dedupSchema.parse(partial);
}

/** A complete web source config from a partial one. */
export function webSourceConfig(partial: Omit<Partial<z.input<typeof webSourceSchema>>, 'kind'> & { path: string }): WebSourceConfig {
  return webSourceSchema.parse({ kind: 'web', ...partial });
}
