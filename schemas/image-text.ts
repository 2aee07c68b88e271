// Sample types for web-crawled / local image-caption pairs.
import type { Traceable } from '../core/stage.ts';
import type { Media } from './media.ts';

export const IMAGE_TEXT = 'image_text' as const;

/** What the download of a web item found (set by the fetch stage, carried to the output). */
export interface FetchInfo {
  /** allowed | opt_out_x_robots_tag | opt_out_robots_txt | unchecked */
  consent: string;
  finalUrl: string;
  status: number;
  contentType: string | null;
  /** Image container found from magic bytes. */
  mediaType: string;
  attempts: number;
  ms: number;
  /** Set on a row that shares its URL with an earlier row of the unit (one download, several
   *  captions): the id of that first row. Siblings are captions of one image, not near duplicates. */
  urlSiblingOf?: string;
}

/** What a source emits before decode: a caption and where its image is. */
export interface ImageTextRaw extends Traceable {
  kind: typeof IMAGE_TEXT;
  caption: string;
  /** Local file path of the image (folder and list sources). */
  imagePath?: string;
  /** Read cap for imagePath (source.max_file_bytes), enforced while streaming. */
  maxFileBytes?: number;
  /** Image bytes already in memory (tar sources, fetched URLs). */
  imageBytes?: Uint8Array;
  /** URL the image was (or will be) fetched from. */
  url?: string;
  /** Extra columns from the input list, carried into the output as strings. */
  extra?: Record<string, string>;
  fetched?: FetchInfo;
  /** Regions to blur before storing, as fractions [x_min, y_min, x_max, y_max] of the original. */
  blurBoxes?: number[][];
  /** Caption language (ISO 639-3, `und` when unknown) and its confidence, when identified. */
  lang?: string;
  langConfidence?: number;
}

/** A decoded, resized, re-encoded sample ready for pairing checks, scoring and the sink. */
export interface ImageTextSample extends Traceable {
  kind: typeof IMAGE_TEXT;
  caption: string;
  image: Media;
  /** Stored image size (after resize). */
  width: number;
  height: number;
  /** Size of the decoded source image. */
  originalWidth: number;
  originalHeight: number;
  /** sha256 hex of image.bytes (the stored, re-encoded bytes). */
  sha256: string;
  url?: string;
  extra?: Record<string, string>;
  fetched?: FetchInfo;
  /** The original's EXIF tags as JSON (decode.extract_exif); null when it had none. */
  exif?: string | null;
  /** Hex hash of the original bytes (decode.original_hash). */
  originalHash?: string;
  /** Regions blurred before storing (source bbox_column). */
  blurredBoxes?: number;
  /** Caption language and confidence (stage caption_language), carried from the raw item. */
  lang?: string;
  langConfidence?: number;
}

import * as arrow from 'apache-arrow';
import { hf, mediaType, type ColumnSpec, type KindSchema } from './kind-schema.ts';

export const imageTextSchema: KindSchema<ImageTextSample> = {
  kind: IMAGE_TEXT,
  maxRowsPerBatch: 100,
  columns: [
    { name: 'id', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.id },
    { name: 'source', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.source },
    { name: 'caption', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.caption },
    { name: 'image', type: mediaType(), hf: hf.image, get: (s) => ({ bytes: s.image.bytes, path: s.image.path }) },
    { name: 'width', type: new arrow.Int32(), hf: hf.int32, get: (s) => s.width },
    { name: 'height', type: new arrow.Int32(), hf: hf.int32, get: (s) => s.height },
    { name: 'original_width', type: new arrow.Int32(), hf: hf.int32, get: (s) => s.originalWidth },
    { name: 'original_height', type: new arrow.Int32(), hf: hf.int32, get: (s) => s.originalHeight },
    { name: 'sha256', type: new arrow.Utf8(), hf: hf.string, get: (s) => s.sha256 },
    { name: 'url', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.url ?? null },
    { name: 'extra_json', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => (s.extra ? JSON.stringify(s.extra) : null) },
  ],
  index: [
    { name: 'source', type: 'UTF8', get: (s) => s.source },
    { name: 'sha256', type: 'UTF8', get: (s) => s.sha256 },
    { name: 'width', type: 'INT32', get: (s) => s.width },
    { name: 'height', type: 'INT32', get: (s) => s.height },
  ],
};

/**
 * Optional image-text columns the config asks for: `exif` (decode.extract_exif),
 * `original_<algo>` (decode.original_hash) and `blurred_boxes` (a source bbox_column).
 */
export function optionalImageTextColumns(decode: { extract_exif: boolean; original_hash: string }, blurring: boolean): ColumnSpec<ImageTextSample>[] {
  const cols: ColumnSpec<ImageTextSample>[] = [];
  if (decode.extract_exif) cols.push({ name: 'exif', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.exif ?? null });
  if (decode.original_hash !== 'none') cols.push({ name: `original_${decode.original_hash}`, type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.originalHash ?? null });
  if (blurring) cols.push({ name: 'blurred_boxes', type: new arrow.Int32(), nullable: true, hf: hf.int32, get: (s) => s.blurredBoxes ?? 0 });
  return cols;
}
